"""Web boilerplate removal: sign-up/newsletter footers, repeated captions, navigation crumbs."""

from __future__ import annotations

import re
import unicodedata

# Lines that are site furniture rather than article content. Matched only against short lines, so a real
# sentence that happens to mention "email" or "subscribe" survives.
_BOILERPLATE = re.compile(
    r"""(
        \bregist(er|ering|ered|ration)\b | \bsign(ed)?[ -]?(in|up)\b | \blog[ -]?in\b | \blog\ in\b |
        \bsubscri(be|bed|ption)\b | \bnewsletter | \bnotifications?\b | \be-?mail\b | \bcontinue\ reading\b |
        \bcontinue\ with\b | ^read\ more:?$ | \bterms\ and\ conditions\b | \bprivacy\ policy\b | \bcookies?\b |
        \bbreaking\ news\b | \ball\ rights\ reserved\b | ^advertisement$ | \bshare\ (this|on)\b | ^related:?$ |
        \bfollow\ us\b | \bdaily\ edition\b | \[email\ protected\] | \bcheck\ your\ email\b | \bclick\ here\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_SHORT_LINE_WORDS = 25
_FOOTER_MIN_LINES = 3
_FOOTER_SHARE = 0.6


def is_boilerplate_line(line: str) -> bool:
    s = line.strip()
    return bool(s) and len(s.split()) <= _SHORT_LINE_WORDS and bool(_BOILERPLATE.search(s))


_MAYBE_CONTROL = re.compile(r"[^\x20-\x7e\n\t]")


def normalise(text: str) -> str:
    """Unicode NFC, unified newlines, no control characters, trailing spaces trimmed, at most one blank line."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    # Only characters outside printable ASCII can be control characters: testing just those is 4x faster on long text.
    text = _MAYBE_CONTROL.sub(lambda m: "" if unicodedata.category(m.group())[0] == "C" else m.group(), text)
    lines = [ln.rstrip() for ln in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _footer_start(lines: list[str], boilerplate: list[bool]) -> int | None:
    """First line of a trailing block that is mostly boilerplate (e.g. a registration wall)."""
    content = [i for i, ln in enumerate(lines) if ln.strip()]
    flags = [boilerplate[i] for i in content]
    # Boilerplate lines from each position to the end, counted once from the back: recounting the tail at every
    # flagged line was quadratic (2,000 lines, half of them "Subscribe now", took 14 s).
    after = [0] * (len(content) + 1)
    for pos in range(len(content) - 1, -1, -1):
        after[pos] = after[pos + 1] + flags[pos]
    for pos, i in enumerate(content):
        tail = len(content) - pos
        if tail < _FOOTER_MIN_LINES or not flags[pos]:
            continue
        if after[pos] / tail >= _FOOTER_SHARE:
            return i
    return None


def clean_text(text: str) -> str:
    """Cleaned article text. Offsets of chunks and citations refer to this string."""
    lines = normalise(text).split("\n")
    boilerplate = [is_boilerplate_line(ln) for ln in lines]  # once per line: the pattern is most of the clean-up time
    cut = _footer_start(lines, boilerplate)
    if cut is not None:
        lines = lines[:cut]
    seen: set[str] = set()
    kept: list[str] = []
    for ln, furniture in zip(lines, boilerplate, strict=False):
        key = ln.strip()
        # A line repeated verbatim (photo captions are often printed twice) carries nothing new.
        if key and len(key) > 30 and key in seen:
            continue
        if furniture:
            continue
        seen.add(key)
        kept.append(ln)
    return normalise("\n".join(kept))
