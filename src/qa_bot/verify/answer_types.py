"""What kind of answer a question asks for, and short answer spans cut from sentence-style answers.

Used by the extractive generator (a "how many" question needs a sentence with a number in it) and by evaluation
(SQuAD compares short spans). Heuristics, not a reader model.
"""

from __future__ import annotations

import re

from qa_bot.answer_format import is_refusal, strip_markers
from qa_bot.text import STOPWORDS, added_words, content_tokens, content_words, sentence_spans

_NUM = r"(?:\$|US\$|£|€)?\d[\d,.]*(?:\s?%| percent| per cent)?(?:\s(?:million|billion|trillion|thousand|hundred))?"
_NUM_WORDS = (
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|"
    r"dozen|several)\b"
)
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = (
    r"(?<![\d,.])\b(?:\d{3,4}\s?[–-]\s?\d{2,4}|\d[\d,]*\s+years\s+ago"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{3,4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{3,4}}"
    rf"|{_MONTH}\s+\d{{3,4}}|{_MONTH}\s+\d{{1,2}}"
    r"|\d{3,4}s?(?:\s?(?:BC|AD|BCE|CE))?|(?:early |late |mid-?)?\d{1,2}(?:st|nd|rd|th) century)\b"
)
_NAME = r"\b[A-Z][\w'’.-]*(?:\s+(?:of|de|da|von|van|the|and)?\s*[A-Z][\w'’.-]*)*"
_WORD_RE = re.compile(r"[\w][\w'’.%$-]*|[,;:()\"“”]")


def echoes_question(question: str, answer_text: str) -> bool:
    """Whether the answer says nothing the question did not: every content word of it is one of the question's ("Japan's
    repeated ballistic missile launches" to "Whose repeated ballistic missile launches did Japan's ... cite?"). Words
    are compared as written (no demonym folding): "Sea of Japan" answers "Over which sea did Japanese jets fly?"."""
    claim = strip_markers(answer_text)
    return bool(content_words(claim)) and not is_refusal(answer_text) and not added_words(question, claim)


_DOCUMENTS = r"(?:articles?|reports?|documents?|stories|story|texts?|sources?|papers?|files?)"
_ACROSS = re.compile(
    rf"\bboth(?:\s+[\w'’-]+){{0,4}}?\s+{_DOCUMENTS}\b|\beach\s+(?:of the\s+)?{_DOCUMENTS}\b"
    r"|\b(?:all|the two|the three|all three|all the)\s+(?:articles|reports|documents|files)\b",
    re.I,
)


def asks_across_documents(question: str) -> bool:
    """Whether the question asks what several documents say ("cited in both articles", "mentioned both in the AP
    report and in the UNN report"): its answer is cited from each document that supports it."""
    return bool(_ACROSS.search(question))


def question_kind(question: str) -> str:
    q = question.lower()
    if re.search(
        r"\bhow (many|much)\b|\bwhat (percentage|percent|number|amount|fraction|proportion)\b"
        r"|\bhow (long|old|far|large|big|high|tall)\b",
        q,
    ):
        return "number"
    if re.search(
        r"^\s*(?:and |so |but )?when\b|\bwhat (year|century|decade|date|month|day|time|period)\b"
        r"|\bwhich (year|century|decade)\b|\bin what year\b",
        q,
    ):
        return "date"
    if re.search(
        r"^\s*(who|whom|whose)\b"
        r"|\b(what|which) (person|man|woman|king|queen|president|leader|scientist|emperor|company|organization|agency|"
        r"group|party|team)\b"
        r"|\bby whom\b",
        q,
    ):
        return "name"
    if re.search(r"^\s*where\b|\b(what|which) (city|country|state|region|place|sea|river|continent|island|town)\b", q):
        return "place"
    return "other"


_MONTHS_DAYS = {m.lower() for m in _MONTH[3:-1].split("|")} | {
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
}
_LEAD = STOPWORDS | {
    "another",
    "however",
    "although",
    "because",
    "since",
    "while",
    "thus",
    "therefore",
    "following",
    "earlier",
    "later",
    "many",
    "several",
    "one",
}


def _anchor_positions(sentence: str, q_tokens: set[str]) -> list[int]:
    return [
        m.start()
        for m in re.finditer(r"[\w][\w'’-]*", sentence)
        if (ct := content_tokens(m.group())) and ct[0] in q_tokens
    ]


def _candidates(kind: str, sentence: str, q_tokens: set[str]) -> list[tuple[int, str]]:
    """(offset, text) of every span of the wanted type that says something the question does not."""
    out = []
    if kind == "number":
        for m in list(re.finditer(_NUM, sentence)) + list(re.finditer(_NUM_WORDS, sentence, re.I)):
            t = m.group().strip(" ,.;:")
            # "15" in "F-15" is part of a name, not a quantity
            inside_word = m.start() > 0 and (sentence[m.start() - 1].isalnum() or sentence[m.start() - 1] == "-")
            if t and not inside_word and not (content_tokens(t) and all(x in q_tokens for x in content_tokens(t))):
                out.append((m.start(), t))
    elif kind == "date":
        for m in re.finditer(_DATE, sentence):
            t = m.group().strip(" ,.;:")
            if t and not (content_tokens(t) and all(x in q_tokens for x in content_tokens(t))):
                out.append((m.start(), t))
    elif kind in ("name", "place"):
        for m in re.finditer(_NAME, sentence):
            words = m.group().split()
            skip = 0
            while skip < len(words) and words[skip].lower().strip("'’.") in _LEAD:
                skip += 1
            words = words[skip:]
            while words and words[-1].lower() in ("of", "and", "the", "de", "da", "von", "van"):
                words.pop()
            t = " ".join(words).strip(" ,.;:")
            toks = content_tokens(t)
            if (
                not toks
                or all(x in q_tokens for x in toks)
                or all(w.lower().strip(",.") in _MONTHS_DAYS for w in words)
            ):
                continue
            out.append((m.start() + m.group().find(words[0]), t.removesuffix("'s").removesuffix("’s")))
    out.sort()
    return out


def typed_span(question: str, sentence: str, kind: str | None = None) -> str | None:
    """The number / date / name / place in ``sentence`` that answers ``question``, nearest the words they share;
    None when the question asks for no such type, or the sentence has none."""
    kind = kind or question_kind(question)
    if kind == "other":
        return None
    q_tokens = set(content_tokens(question))
    cands = _candidates(kind, sentence, q_tokens)
    if not cands:
        return None
    anchors = _anchor_positions(sentence, q_tokens)
    if kind == "number":
        # A count stands before what it counts ("four Japanese F-15 jets"): measure to the next shared word only.
        return min(cands, key=lambda c: (min((a - c[0] for a in anchors if a > c[0]), default=10**6), c[0]))[1]
    if kind == "date":
        # The most specific date wins ("October 1973" over a bare "1973" elsewhere), then the nearest.
        return min(cands, key=lambda c: (-len(c[1].split()), min((abs(c[0] - a) for a in anchors), default=0), c[0]))[1]
    return min(cands, key=lambda c: (min((abs(c[0] - a) for a in anchors), default=0), c[0]))[1]


def _novel_span(sentence: str, q_tokens: set[str], max_words: int) -> str:
    """The run of sentence words not in the question that sits closest to the words the question shares with it."""
    toks = [(m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(sentence)]
    if not toks:
        return ""
    kinds = []  # "q" shared with the question, "n" new content word, "s" stopword, "p" punctuation
    for w, _, _ in toks:
        lw = w.lower()
        if not re.match(r"\w", w):
            kinds.append("p")
        elif lw in STOPWORDS:
            kinds.append("s")
        else:
            ct = content_tokens(w)
            kinds.append("q" if ct and all(t in q_tokens for t in ct) else "n")
    runs = []
    i = 0
    while i < len(toks):
        if kinds[i] != "n":
            i += 1
            continue
        j = i
        while j + 1 < len(toks) and (
            kinds[j + 1] == "n" or (kinds[j + 1] == "s" and j + 2 < len(toks) and kinds[j + 2] == "n")
        ):
            j += 1 if kinds[j + 1] == "n" else 2
        runs.append((i, j))
        i = j + 1
    if not runs:
        return ""
    anchors = [k for k, kind in enumerate(kinds) if kind == "q"]

    def dist(run: tuple[int, int]) -> int:
        return min((min(abs(a - run[0]), abs(a - run[1])) for a in anchors), default=0)

    i, j = min(runs, key=lambda r: (dist(r), -min(r[1] - r[0] + 1, max_words), r[0]))
    j = min(j, i + max_words - 1)
    return sentence[toks[i][1] : toks[j][2]].strip(" ,.;:")


def short_answer(question: str, answer_text: str, max_words: int = 6) -> str:
    """A SQuAD-style short span from a sentence-style answer ("" when the answer is a refusal).

    Heuristic, not a reader model: the first answer sentence, then a number / date / name / place by question type,
    else the run of words the question does not already contain, nearest the words it does.
    """
    text = strip_markers(answer_text)
    if not text or is_refusal(text):
        return ""
    spans = sentence_spans(text)
    sentence = text[spans[0][0] : spans[0][1]] if spans else text
    sentence = strip_markers(sentence).rstrip(".!?")
    q_tokens = set(content_tokens(question))
    found = typed_span(question, sentence)
    return found or _novel_span(sentence, q_tokens, max_words) or sentence
