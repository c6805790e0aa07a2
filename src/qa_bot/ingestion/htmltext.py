"""Article text and headline from HTML in one streaming pass: time and memory linear in the size of the page.

BeautifulSoup builds the whole tree first; a list of unclosed ``<li>`` then nests every item inside the previous one,
and asking each item for its text walks everything below it (quadratic: a 229 KB page took 11.5 s, and only the last
item's text survived). Here the standard library's tokenizer feeds a small state machine instead: the open-element
stack closes what HTML implies (a new ``<li>`` ends the open one, a new ``<p>`` the open paragraph) and every scan of
the stack is bounded, so no input makes the work grow faster than the input.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Text blocks: each becomes a paragraph of the document.
_BLOCKS = frozenset(
    {"h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "td", "th", "dt", "dd", "figcaption"}
)
# Site furniture and code: their text is never content (a headline inside <header> is still read as the title).
_SKIP = frozenset(
    {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg", "button", "template"}
)
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
_HEAD_CONTENT = frozenset({"head", "title", "meta", "link", "script", "style", "base", "noscript", "template"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Start tags that end an open <p> (HTML's implied end tags), and what ends an open list item, cell, row, term.
# fmt: off
_CLOSES_P = frozenset({
    "address", "article", "aside", "blockquote", "details", "div", "dl", "dd", "dt", "fieldset", "figcaption", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "table", "ul",
})
# fmt: on
_P, _P_SCOPE, _HEAD = frozenset({"p"}), frozenset({"button", "table", "td", "th"}), frozenset({"head"})
_IMPLIED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # start tag: (open elements it ends, elements that stop the search)
    "li": (frozenset({"li"}), frozenset({"ul", "ol", "menu", "table"})),
    "dt": (frozenset({"dt", "dd"}), frozenset({"dl", "table"})),
    "dd": (frozenset({"dt", "dd"}), frozenset({"dl", "table"})),
    "td": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "th": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "tr": (frozenset({"tr", "td", "th"}), frozenset({"table", "tbody", "thead", "tfoot"})),
    "option": (frozenset({"option"}), frozenset({"select", "datalist"})),
}
# How far down the open-element stack an implied end tag is looked for. Real pages need a few levels; a bound keeps a
# page of thousands of unclosed elements linear.
_SCAN = 24


@dataclass
class _Region:
    """The first <article> (or <main>): the old reader took only its text when the page had one."""

    tag: str
    depth: int = -1  # stack depth of its element while open; -1 before, -2 after
    blocks: list[str] = field(default_factory=list)
    loose: list[str] = field(default_factory=list)
    headline: str | None = None

    @property
    def seen(self) -> bool:
        return self.depth != -1

    @property
    def inside(self) -> bool:
        return self.depth >= 0


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.open = Counter[str]()
        self.skip = 0  # open elements of _SKIP
        self.block = 0  # open elements of _BLOCKS
        self.pieces: list[str] = []  # text of the current block
        self.blocks: list[str] = []
        self.loose: list[str] = []  # text outside every block (used when a page has no blocks at all)
        self.title: list[str] = []
        self.h1: list[str] | None = None
        self.first_h1: str | None = None
        self.regions = [_Region("article"), _Region("main")]

    # --- the open-element stack ---------------------------------------------------------------------------------
    def _push(self, tag: str) -> None:
        self.stack.append(tag)
        self.open[tag] += 1
        self.skip += tag in _SKIP
        self.block += tag in _BLOCKS
        if tag == "h1" and self.h1 is None:
            self.h1 = []
        for r in self.regions:
            if r.tag == tag and not r.seen:
                r.depth = len(self.stack) - 1

    def _pop(self) -> None:
        if self.stack[-1] in _BLOCKS:
            self._flush()  # while the regions it lies in are still open
        tag = self.stack.pop()
        self.open[tag] -= 1
        self.skip -= tag in _SKIP
        self.block -= tag in _BLOCKS
        if tag == "h1" and self.open["h1"] == 0 and self.h1 is not None:
            self._headline(" ".join(s for s in (p.strip() for p in self.h1) if s))
            self.h1 = None
        for r in self.regions:
            if r.depth == len(self.stack):
                r.depth = -2

    def _close(self, tags: frozenset[str], stop: frozenset[str] = frozenset()) -> None:
        """Pop up to and including the nearest open element in ``tags``, if one is within reach."""
        if not any(self.open[t] for t in tags):
            return
        for i in range(len(self.stack) - 1, max(-1, len(self.stack) - 1 - _SCAN), -1):
            if self.stack[i] in tags:
                while len(self.stack) > i:
                    self._pop()
                return
            if self.stack[i] in stop:
                return

    def _headline(self, text: str) -> None:
        if not text:
            return
        if self.first_h1 is None:
            self.first_h1 = text
        for r in self.regions:
            if r.inside and r.headline is None:
                r.headline = text

    # --- text ---------------------------------------------------------------------------------------------------
    def _flush(self) -> None:
        text = " ".join(s for s in (p.strip() for p in self.pieces) if s)
        self.pieces = []
        if text:
            self.blocks.append(text)
            for r in self.regions:
                if r.inside:
                    r.blocks.append(text)

    def handle_data(self, data: str) -> None:
        if self.open["title"] and not self.open["body"]:
            self.title.append(data)
            return
        if self.h1 is not None:
            self.h1.append(data)
        if self.skip or self.open["head"] or not data.strip():
            return
        if self.block:
            self.pieces.append(data)
            return
        self.loose.append(data.strip())
        for r in self.regions:
            if r.inside:
                r.loose.append(data.strip())

    # --- tags ---------------------------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs) -> None:
        self._start(tag, void=tag in _VOID)

    def handle_startendtag(self, tag: str, attrs) -> None:
        self._start(tag, void=True)

    def _start(self, tag: str, void: bool) -> None:
        if tag in _CLOSES_P:
            self._close(_P, _P_SCOPE)
        if tag in _IMPLIED:
            self._close(*_IMPLIED[tag])
        if tag in _HEADINGS and self.stack and self.stack[-1] in _HEADINGS:
            self._pop()
        if self.open["head"] and tag not in _HEAD_CONTENT:
            self._close(_HEAD)  # content without </head><body>: the body has begun
        if tag in _BLOCKS:
            self._flush()  # text before a nested block is a block of its own
        if not void:
            self._push(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open[tag]:
            return  # a stray end tag
        # Pops everything above it: each element is pushed once and popped once, so this is linear overall.
        while self.stack:
            top = self.stack[-1]
            self._pop()
            if top == tag:
                break

    def finish(self) -> None:
        self.close()
        while self.stack:
            self._pop()
        self._flush()


def html_text(html: str) -> tuple[str, str]:
    """(text, title) of an HTML page: the article's text blocks, one paragraph each, and its headline (or <title>)."""
    reader = _Reader()
    reader.feed(html)
    reader.finish()
    article, main = reader.regions
    region = article if article.seen else main if main.seen else None
    blocks, loose = (region.blocks, region.loose) if region else (reader.blocks, reader.loose)
    text = "\n\n".join(blocks) if blocks else "\n".join(loose)
    headline = (article.headline if article.seen else main.headline if main.seen else None) or reader.first_h1
    title = " ".join(s for s in (p.strip() for p in reader.title) if s)
    return text, headline or title
