"""Citation verification: every marker must point at a retrieved passage that supports its sentence.

The support check is lexical and strict about facts: most of a sentence's content words must occur in the passage,
and every number and proper name it states must occur there too. It is the same check the evaluation uses for
citation precision and recall.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa_bot.answer_format import cited_numbers, strip_markers
from qa_bot.config import setting_default
from qa_bot.schema import Citation, SearchHit
from qa_bot.text import added_words, content_tokens, content_words, key_terms, norm_token, passage_terms, sentence_spans

# The judge of the evaluation's citation scores calls support() without a threshold: it keeps the default, so a
# tuned QA_BOT_SUPPORT_THRESHOLD cannot move the metric that judges it.
_DEFAULT_THRESHOLD: float = setting_default("support_threshold")
# Months and weekdays are dates, like numbers: a date the question gives may be restated ("... visited Tokyo in June").
# fmt: off
_CALENDAR = frozenset(norm_token(w) for w in (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
))
# fmt: on


@dataclass
class Support:
    score: float  # share of the sentence's content words present in the passage
    missing_terms: set[str]  # numbers/names stated in the sentence but absent from the passage
    adds: bool  # the passage backs something the sentence adds to the question (not only its restatement)
    threshold: float  # the score needed (QA_BOT_SUPPORT_THRESHOLD)

    @property
    def ok(self) -> bool:
        return self.score >= self.threshold and not self.missing_terms and self.adds


def support(sentence: str, passage: str, question: str = "", threshold: float = _DEFAULT_THRESHOLD) -> Support:
    """How well ``passage`` backs ``sentence``: ``ok`` when the share of its content words found reaches ``threshold``.

    With the ``question``: a number the question states ("in May 2022") may be restated without the passage repeating
    it, and a sentence must add something the passage backs ("Japan is named..." to "Besides Japan, which country...?"
    adds nothing). Names are never taken from the question: a false premise ("drills with Russian jets") must not pass.
    """
    claim = strip_markers(sentence)
    claim_words = content_words(claim)
    toks = [norm_token(w) for w in claim_words]
    have = passage_terms(passage)
    if not toks:
        return Support(0.0, set(), False, threshold)
    numbers = {t for t in key_terms(question) if t[:1].isdigit() or t in _CALENDAR} if question else set()
    score = sum(t in have or t in numbers for t in toks) / len(toks)
    missing = {t for t in key_terms(claim) if t not in have and t not in numbers}
    adds = not question or any(norm_token(w) in have for w in added_words(question, claim))
    return Support(score, missing, adds, threshold)


def best_quote(sentence: str, passage: str, question: str = "") -> tuple[int, int]:
    """Offsets (within the passage) of the passage sentence, or pair of adjacent sentences, that best supports
    ``sentence``.

    With the ``question``, its words break ties between sentences that contain the claim: a short answer ("Asia") is
    quoted from the sentence that attaches it to what was asked, not from the first sentence that happens to name it."""
    claim = set(content_tokens(strip_markers(sentence)))
    asked = set(content_tokens(question)) - claim
    spans = sentence_spans(passage)
    if not spans:
        return 0, len(passage)

    def score(s: int, e: int) -> tuple[int, float]:
        toks = set(content_tokens(passage[s:e]))
        return len(claim & toks), 0.5 * len(asked & toks) - 0.01 * len(toks)

    single = max(spans, key=lambda w: score(*w))
    # A pair of adjacent sentences only wins when it covers more of the claim than any single sentence.
    pairs = [(spans[i][0], spans[i + 1][1]) for i in range(len(spans) - 1)]
    pair = max(pairs, key=lambda w: score(*w), default=None)
    return pair if pair is not None and score(*pair)[0] > score(*single)[0] else single


def _supporting_pair(
    claim: str, passages: dict[int, SearchHit], checks: dict[int, Support], question: str, threshold: float
) -> list[int]:
    """Two passages that together support a claim neither supports alone ("both articles say ...", or two facts from
    neighbouring chunks), best single scores first; [] if none."""
    ranked = sorted(passages, key=lambda n: checks[n].score, reverse=True)[:6]
    for i, a in enumerate(ranked):
        for b in ranked[i + 1 :]:
            if support(claim, passages[a].chunk.text + "\n" + passages[b].chunk.text, question, threshold).ok:
                return sorted([a, b])
    return []


@dataclass
class Verified:
    text: str
    citations: list[Citation]
    flagged: list[str]  # sentences kept but not supported by any retrieved passage
    supported_sentences: int
    total_sentences: int


def verify(
    answer_text: str,
    hits: list[SearchHit],
    doc_texts: dict[str, str] | None = None,
    question: str = "",
    threshold: float = _DEFAULT_THRESHOLD,
    every_document: bool = False,
) -> Verified:
    """Check each sentence's markers against the passages; re-point, drop or add markers; renumber in order of use.

    ``hits[i]`` is passage ``[i+1]`` as the generator saw it. Citations carry the exact supporting span with offsets
    into the document's cleaned text (``doc_texts`` only double-checks them when given). ``every_document``: a
    supported sentence also cites the best supporting passage of each other document that supports it (a question
    about what "both articles" say is answered from both).
    """
    passages = {i + 1: h for i, h in enumerate(hits)}
    out_parts: list[str] = []
    flagged: list[str] = []
    order: dict[int, int] = {}  # passage number -> new marker
    quotes: dict[int, tuple[int, int, str, float]] = {}
    supported_n = total = 0
    cursor = 0
    for s, e in sentence_spans(answer_text):
        out_parts.append(answer_text[cursor:s])
        cursor = e
        sentence = answer_text[s:e]
        claim = strip_markers(sentence)
        if not claim or not content_tokens(claim):
            out_parts.append(claim if claim else "")
            continue
        total += 1
        cited = [n for n in cited_numbers(sentence) if n in passages]
        asked = set(content_tokens(question)) - set(content_tokens(claim))

        def _asked_in_quote(n: int, claim: str = claim, asked: set[str] = asked) -> int:
            text = passages[n].chunk.text
            qs, qe = best_quote(claim, text, question)
            return len(asked & set(content_tokens(text[qs:qe])))

        checks = {n: support(claim, passages[n].chunk.text, question, threshold) for n in passages}
        keep = [n for n in cited if checks[n].ok]
        if not keep:
            # The marker was wrong or missing: cite the passage that does support the sentence, if any. Among passages
            # that support it equally (a short answer is in several), the one whose quote is about what was asked.
            best = max(checks, key=lambda n: (checks[n].ok, checks[n].score, _asked_in_quote(n)), default=None)
            keep = [best] if best is not None and checks[best].ok else []
        if not keep:
            keep = _supporting_pair(claim, passages, checks, question, threshold)
        if keep and every_document:
            docs = {passages[n].chunk.doc_id for n in keep}
            for n in sorted(checks, key=lambda n: (-checks[n].score, -_asked_in_quote(n), n)):
                if checks[n].ok and passages[n].chunk.doc_id not in docs:
                    keep.append(n)
                    docs.add(passages[n].chunk.doc_id)
        if keep:
            supported_n += 1
        else:
            flagged.append(claim)
        marks = []
        for n in keep:
            new = order.setdefault(n, len(order) + 1)
            marks.append(f"[{new}]")
            if n not in quotes or checks[n].score > quotes[n][3]:
                qs, qe = best_quote(claim, passages[n].chunk.text, question)
                quotes[n] = (qs, qe, claim, checks[n].score)
        body = claim.rstrip()
        tail = ""
        if body and body[-1] in ".!?":
            body, tail = body[:-1], body[-1]
        out_parts.append(body + (" " + "".join(marks) if marks else "") + tail)
    out_parts.append(answer_text[cursor:])
    text = "".join(out_parts).strip()

    citations = []
    for n, marker in sorted(order.items(), key=lambda kv: kv[1]):
        h = passages[n]
        qs, qe, _, score = quotes[n]
        start, end = h.chunk.start + qs, h.chunk.start + qe
        quote = h.chunk.text[qs:qe]
        if doc_texts and h.chunk.doc_id in doc_texts:
            assert doc_texts[h.chunk.doc_id][start:end] == quote, "citation offsets drifted from the source text"
        citations.append(
            Citation(
                marker=marker,
                doc_id=h.chunk.doc_id,
                title=h.chunk.title,
                source=h.chunk.source,
                start=start,
                end=end,
                quote=quote,
                chunk_id=h.chunk.chunk_id,
                passage=h.chunk.text,
                passage_start=h.chunk.start,
                support=round(score, 3),
            )
        )
    return Verified(text, citations, flagged, supported_n, total)
