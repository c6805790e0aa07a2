"""Small text utilities shared by the support check, the extractive generator and evaluation."""

from __future__ import annotations

import re
from functools import lru_cache

try:
    import Stemmer

    _stem = Stemmer.Stemmer("english").stemWord
except ImportError:  # PyStemmer is a dependency; degrade to no stemming

    def _stem(w: str) -> str:
        return w


# fmt: off
STOPWORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "is",
    "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "he", "she", "they",
    "them", "his", "her", "their", "there", "here", "what", "which", "who", "whom", "whose", "when", "where", "why",
    "how", "do", "does", "did", "done", "has", "have", "had", "not", "no", "nor", "so", "than", "too", "very", "can",
    "could", "would", "should", "will", "shall", "may", "might", "must", "i", "you", "we", "us", "our", "your", "me",
    "my", "mine", "also", "into", "over", "under", "about", "after", "before", "between", "during", "while", "up",
    "down", "out", "off", "again", "further", "then", "once", "all", "any", "both", "each", "few", "more", "most",
    "other", "some", "such", "only", "own", "same", "just", "s", "t", "don", "now", "according", "said", "says", "say",
})
# fmt: on
_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "first": "1st",
    "second": "2nd",
    "third": "3rd",
    "fourth": "4th",
    "fifth": "5th",
}
# A nationality adjective names its country: "American F-16s" is what a passage saying "US F-16s" supports.
DEMONYMS = {
    "american": "us",
    "u.s": "us",
    "usa": "us",
    "japanese": "japan",
    "british": "uk",
    "u.k": "uk",
    "chinese": "china",
    "russian": "russia",
    "korean": "korea",
    "german": "germany",
    "french": "france",
    "ukrainian": "ukraine",
    "european": "europe",
    "italian": "italy",
    "australian": "australia",
    "indian": "india",
    "canadian": "canada",
    "spanish": "spain",
    "polish": "poland",
    "turkish": "turkey",
    "dutch": "netherlands",
    "swedish": "sweden",
    "finnish": "finland",
    "norwegian": "norway",
    "taiwanese": "taiwan",
    "filipino": "philippines",
}
_WORD = re.compile(r"[\w][\w'’-]*", re.UNICODE)
_ABBREV = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Gen|Lt|Col|Sgt|Rep|Sen|Gov|Inc|Ltd|Co|vs|etc|e\.g|i\.e|U\.S|U\.K|D\.C|No|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.$"
)
_SENT_END = re.compile(r"[.!?。]+[\"'”’)\]]*(?:\s*\[\d+(?:\s*,\s*\d+)*\])*(?=\s+|$)|\n+")


_MONTH_MAY = re.compile(r"\bMay\b")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


@lru_cache(maxsize=65536)
def norm_token(w: str, demonyms: bool = True) -> str:
    w = w.strip("'’-").removesuffix("'s")
    return _NUMBER_WORDS.get(w) or (demonyms and DEMONYMS.get(w)) or _stem(w)


def content_words(text: str) -> list[str]:
    """Lower-cased words, stopwords removed; the month "May", written capitalised, is kept (the answer "May" to "In
    which month ...?" was a stopword, so nothing in it could be attributed)."""
    month = _MONTH_MAY.search(text) is not None
    return [w for w in words(text) if (w not in STOPWORDS and len(w) > 1) or w.isdigit() or (month and w == "may")]


def added_words(question: str, text: str) -> list[str]:
    """The content words of ``text`` the question does not have: what an answer says beyond restating the question.
    Compared as written, nationality words kept: "the Sea of Japan" adds to "...did Japanese jets fly over?"."""
    asked = {norm_token(w, demonyms=False) for w in content_words(question)}
    return [w for w in content_words(text) if norm_token(w, demonyms=False) not in asked]


def content_tokens(text: str) -> list[str]:
    """Stemmed, lower-cased, stopwords removed; number words become digits."""
    return [norm_token(w) for w in content_words(text)]


def key_terms(text: str) -> set[str]:
    """Numbers and proper names: a sentence that states one of these must find it in its source."""
    terms = set()
    for m in re.finditer(r"\b\d[\d,.]*\b", text):
        terms.add(m.group().rstrip(".,").replace(",", ""))
    for w in words(text):
        if w in _NUMBER_WORDS and _NUMBER_WORDS[w].isdigit():
            terms.add(_NUMBER_WORDS[w])
    tokens = list(re.finditer(r"\b[A-Z][\w’'-]+", text))
    for m in tokens:
        start = m.start()
        before = text[:start].rstrip()
        sentence_start = not before or before[-1] in '.!?:"“\n]'
        word = m.group().lower().removesuffix("’s").removesuffix("'s")
        if not sentence_start and (word not in STOPWORDS or word == "may"):  # the month
            terms.add(norm_token(word))
    return terms


def passage_terms(text: str) -> set[str]:
    """Everything a passage can vouch for: stemmed words and numbers as written."""
    ws = words(text)
    terms = {norm_token(w) for w in ws}
    # "three-day" vouches for "3 days", "Japan-NATO" for "NATO".
    terms |= {norm_token(part) for w in ws if "-" in w for part in w.split("-") if part}
    terms |= {m.group().rstrip(".,").replace(",", "") for m in re.finditer(r"\b\d[\d,.]*\b", text)}
    return terms


def ends_with_abbreviation(text: str, end: int) -> bool:
    """Whether the full stop at ``text[end - 1]`` closes an abbreviation ("Mr.", "e.g."), not a sentence."""
    return bool(_ABBREV.search(text[max(0, end - 7) : end]))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; citation markers right after a full stop stay with their sentence."""
    spans = []
    start = 0
    for m in _SENT_END.finditer(text):
        end = m.end()
        piece = text[start:end]
        if m.group().startswith(".") and ends_with_abbreviation(text, m.start() + 1):
            continue
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        start = end
    if text[start:].strip():
        lead = len(text[start:]) - len(text[start:].lstrip())
        spans.append((start + lead, len(text.rstrip())))
    return spans
