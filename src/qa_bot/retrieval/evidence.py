"""Evidence selection: the few sentences of the retrieved passages that bear on the question, with context.

A 1.5B model reads a short, focused text far better than four 700-character chunks, and prompt processing is most of
the answer time. Each evidence item is a sentence window (the scored sentence and a neighbour) cut from one retrieved
passage; it becomes a ``SearchHit`` of its own whose chunk offsets point into the document. Attribution afterwards reads
the whole retrieved passages (a claim may rest on a sentence just outside a window).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from qa_bot.config import setting_default
from qa_bot.schema import SearchHit
from qa_bot.stages import Embedder
from qa_bot.text import content_tokens, key_terms, norm_token, passage_terms, sentence_spans

# Words that shape a question rather than describe its subject ("how many", "what kind of", "what is it called").
QUESTION_FORM = frozenset(norm_token(w) for w in ["many", "much", "often", "name", "named", "type", "kind", "called"])


@dataclass
class ScoredSentence:
    hit: int  # index into the retrieved hits
    start: int  # offsets within the hit's chunk text
    end: int
    text: str
    score: float
    lexical: float
    dense: float
    missing: frozenset[str] = frozenset()  # the question's numbers and names that this sentence's document lacks


def score_sentences(
    question: str,
    hits: list[SearchHit],
    embeddings: Embedder,
    lexical_weight: float,
    documents: Mapping[str, frozenset[str]] | None = None,
) -> list[ScoredSentence]:
    """Every sentence of every hit, scored by question-word coverage blended with embedding similarity, best first:
    ``lexical_weight`` on the coverage, the rest on the cosine (QA_BOT_EVIDENCE_LEXICAL_WEIGHT).

    ``documents``: the terms of each hit's whole document (by id, ``Retriever.document_terms``), where the question's
    numbers and names are looked for; without them, the passage alone."""
    q_tokens = set(content_tokens(question)) - QUESTION_FORM
    keys = key_terms(question)
    missing = {i: frozenset(keys - vouched_terms(h, documents)) for i, h in enumerate(hits)}
    cands: list[tuple[int, int, int, str]] = []
    for i, h in enumerate(hits):
        for s, e in sentence_spans(h.chunk.text):
            sent = h.chunk.text[s:e]
            if len(content_tokens(sent)) >= 3:
                cands.append((i, s, e, sent))
    if not cands:
        return []
    vecs = np.asarray(embeddings.embed_documents([c[3] for c in cands]), dtype=np.float32)
    q = np.asarray(embeddings.embed_query(question), dtype=np.float32)
    dense = vecs @ q
    out = []
    for (i, s, e, sent), d in zip(cands, dense, strict=True):
        lex = len(q_tokens & set(content_tokens(sent))) / max(1, len(q_tokens))
        out.append(
            ScoredSentence(
                i, s, e, sent, lexical_weight * lex + (1 - lexical_weight) * float(d), lex, float(d), missing[i]
            )
        )
    out.sort(key=lambda x: x.score, reverse=True)
    return out


def vouched_terms(hit: SearchHit, documents: Mapping[str, frozenset[str]] | None = None) -> frozenset[str]:
    """What a hit's document can vouch for: the terms of its whole text and title (the passage's, when the document's
    terms are not given). A passage need not repeat the year or the place its article states elsewhere: "the head of
    NATO's Military Committee who visited Tokyo in June 2022" is answered by a passage whose article dates the visit
    in a photo caption, and "according to UNN" by a passage of the article whose byline says UNN."""
    terms = (documents or {}).get(hit.chunk.doc_id)
    if not terms:
        return frozenset(passage_terms(hit.chunk.text))
    return terms | passage_terms(hit.chunk.title) | passage_terms(hit.chunk.text)


def known_terms(hits: list[SearchHit], documents: Mapping[str, frozenset[str]] | None = None) -> frozenset[str]:
    """Every term the hits' documents vouch for together (the ``premise`` signal): each document's whole text (its
    passages, when its terms are not given) and the titles. Unlike ``vouched_terms``, a document without its terms
    still counts its title: only the model path, which always passes the terms, reads this."""
    out: set[str] = set()
    for h in hits:
        out |= (documents or {}).get(h.chunk.doc_id) or passage_terms(h.chunk.text)
        out |= passage_terms(h.chunk.title)
    return frozenset(out)


def answerable(scored: list[ScoredSentence]) -> list[ScoredSentence]:
    """The sentences that can answer: those whose document holds every number and name the question states (a
    question about a year, person or place the documents never mention has a false premise)."""
    return [s for s in scored if not s.missing]


def agreement_sentences(scored: list[ScoredSentence], n: int) -> list[str]:
    """The ``n`` best-matching sentences an answer is compared with (the ``agreement`` signal): among those that can
    answer; when no retrieved document states every number and name of the question, among all of them (the
    ``premise`` signal already says so: counted twice, one missing year made a right answer's agreement 0)."""
    return [s.text for s in (answerable(scored) or scored)][:n]


def select_evidence(
    scored: list[ScoredSentence],
    hits: list[SearchHit],
    *,
    max_items: int,
    max_chars: int,
    window: int = 1,
    second_doc_ratio: float = setting_default("evidence_second_doc_ratio"),
) -> list[SearchHit]:
    """The best sentences as windows (``window`` neighbours each side, within the passage), every document among the
    strongest hits represented (its best sentence scoring ``second_doc_ratio`` of the best), overlapping windows
    merged, in document order within each document."""
    if not scored:
        return []
    best_per_doc: dict[str, ScoredSentence] = {}
    for s in scored:
        best_per_doc.setdefault(hits[s.hit].chunk.doc_id, s)
    top = scored[0].score
    # A second document earns a place when its best sentence is nearly as good: the question may need both.
    seeds = [scored[0]] + [s for s in best_per_doc.values() if s is not scored[0] and s.score >= second_doc_ratio * top]
    seeds += [s for s in scored if s not in seeds]
    windows: list[tuple[int, int, int, float]] = []  # (hit, start, end, score)
    used = 0
    for s in seeds:
        if len(windows) >= max_items:
            break
        spans = sentence_spans(hits[s.hit].chunk.text)
        idx = next((k for k, (a, b) in enumerate(spans) if a <= s.start < b), None)
        if idx is None:
            continue
        lo, hi = spans[max(0, idx - window)][0], spans[min(len(spans) - 1, idx + window)][1]
        overlap = _overlapping(windows, hits, s.hit, lo, hi)
        if overlap is not None:
            h, a, b, sc = windows[overlap]
            grow = max(b, hi) - min(a, lo) - (b - a)
            if h == s.hit and used + grow <= max_chars:  # same passage: one longer window
                used += grow
                windows[overlap] = (h, min(a, lo), max(b, hi), sc)
            continue  # an overlapping passage of the same document already shows this text
        if used + (hi - lo) > max_chars:
            # Too long with its neighbours: the sentence alone may still fit (the best one is always kept).
            lo, hi = s.start, s.end
            if used + (hi - lo) > max_chars and windows:
                continue
        windows.append((s.hit, lo, hi, s.score))
        used += hi - lo
    # Documents in the order of their best window, windows in reading order within a document.
    doc_rank: dict[str, int] = {}
    for h, _, _, _ in windows:
        doc_rank.setdefault(hits[h].chunk.doc_id, len(doc_rank))
    windows.sort(key=lambda w: (doc_rank[hits[w[0]].chunk.doc_id], hits[w[0]].chunk.start + w[1]))
    out = []
    for h, a, b, sc in windows:
        hit = hits[h]
        chunk = replace(hit.chunk, start=hit.chunk.start + a, end=hit.chunk.start + b, text=hit.chunk.text[a:b])
        out.append(replace(hit, chunk=chunk, score=sc))
    return out


def _overlapping(
    windows: list[tuple[int, int, int, float]], hits: list[SearchHit], hit: int, lo: int, hi: int
) -> int | None:
    """The index of a chosen window that overlaps document offsets [lo, hi) of ``hits[hit]``, if any."""
    doc, base = hits[hit].chunk.doc_id, hits[hit].chunk.start
    for k, (h, a, b, _) in enumerate(windows):
        c = hits[h].chunk
        if c.doc_id == doc and base + lo <= c.start + b and base + hi >= c.start + a:
            return k
    return None
