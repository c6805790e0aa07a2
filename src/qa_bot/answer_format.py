"""How an answer is written down: the citation-marker grammar, the refusal sentence and the JSON shape of an answer.

A citation marker is one or more passage numbers in square brackets, separated by commas or semicolons: ``[1]``,
``[1, 2]``, ``[1; 3]``. The verifier reads markers with it, the evaluation scores them, the web app styles them.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from qa_bot.schema import Answer

# The whitespace before a marker belongs to it, so stripping a marker leaves no gap ("Japan [1]." -> "Japan.").
MARKER = re.compile(r"(?P<space>\s*)\[(?P<numbers>\d+(?:\s*[,;]\s*\d+)*)\]")
_SEPARATOR = re.compile(r"\s*[,;]\s*")

REFUSAL_TEXT = "The documents don't say."
_REFUSAL = re.compile(
    r"(documents?|passages?|sources?|context|provided (text|information)|articles?)\s+"
    r"(do(es)?\s*n[o']t|does not|do not)\s+(say|contain|mention|provide|specify|include|state|answer)"
    r"|not (mentioned|stated|specified|found|provided|contained|given) in the "
    r"(documents?|passages?|sources?|context|articles?|text)"
    r"|^\W*(the )?text (does not|doesn'?t) (say|mention|specify|state)"
    r"|no (information|mention) (about|on|of|regarding)"
    r"|(can ?no?t|unable to) (answer|find|determine)",
    re.IGNORECASE,
)


def cited_numbers(text: str) -> list[int]:
    """The passage numbers the markers in ``text`` cite, in order of first citation, each once."""
    return list(dict.fromkeys(int(n) for m in MARKER.finditer(text) for n in _SEPARATOR.split(m["numbers"])))


def strip_markers(text: str) -> str:
    """``text`` without its citation markers (and the space before each), trimmed."""
    return MARKER.sub("", text).strip()


def markers_html(escaped: str, css_class: str) -> str:
    """Already HTML-escaped text with each marker wrapped in ``<span class="css_class">``."""
    return MARKER.sub(lambda m: f'{m["space"]}<span class="{css_class}">[{m["numbers"]}]</span>', escaped)


def is_refusal(text: str) -> bool:
    """Whether a generated answer declines to answer (in any usual wording), or says nothing but markers."""
    return bool(_REFUSAL.search(text)) or not strip_markers(text)


def answer_to_dict(a: Answer, *, full_paths: bool = True) -> dict:
    """The one JSON shape of an answer: ``qa-bot ask --json``, the web app's ``/ask`` and ``/v1/chat/completions``.

    ``full_paths=False`` gives each citation's ``source`` as the bare file name: a server must not reveal its folders.
    Offsets (``start``/``end``) index the document's cleaned text, where ``quote`` is found verbatim.
    """
    return {
        "question": a.question,
        "text": a.text,
        "citations": [
            {
                "marker": c.marker,
                "doc_id": c.doc_id,
                "title": c.title,
                "source": c.source if full_paths or not c.source else PurePath(c.source).name,
                "start": c.start,
                "end": c.end,
                "quote": c.quote,
            }
            for c in a.citations
        ],
        "refused": a.refused,
        "standalone_question": a.standalone_question,
        "generator": a.generator,
        "timings": dict(a.timings),
        "flagged_sentences": list(a.flagged_sentences),
        "confidence": a.confidence,
    }
