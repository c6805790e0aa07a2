"""The HTML reader and the clean-up stay linear in the size of the input (issue 11, item 14) and keep every block."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from qa_bot.ingestion import clean
from qa_bot.ingestion.htmltext import html_text
from qa_bot.ingestion.loaders import load_document


def _unclosed_list(n: int) -> str:
    items = "".join(f"<li>Item number {i} is a fine thing to have" for i in range(n))
    return (
        "<html><head><title>List</title></head>"
        f"<body><article><h1>A long list</h1><ul>{items}</ul></article></body></html>"
    )


def _best_time(path: Path, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        load_document(path)
        best = min(best, time.perf_counter() - t)
    return best


def test_unclosed_list_items_load_in_linear_time_and_every_item_is_kept(tmp_path):
    small, big = tmp_path / "small.html", tmp_path / "big.html"
    small.write_text(_unclosed_list(2_000))
    big.write_text(_unclosed_list(16_000))
    doc = load_document(small)
    # BeautifulSoup nested each unclosed item in the one before and kept only the innermost: 1 of 2,000.
    assert doc.text.split("\n\n") == ["A long list"] + [
        f"Item number {i} is a fine thing to have" for i in range(2_000)
    ]
    assert doc.title == "A long list"
    t_small, t_big = _best_time(small, 3), _best_time(big, 2)
    ratio = t_big / t_small
    print(
        f"\nHTML with unclosed <li>: {small.stat().st_size / 1e3:.0f} KB in {t_small:.3f} s, "
        f"{big.stat().st_size / 1e3:.0f} KB in {t_big:.3f} s ({big.stat().st_size / 1e6 / t_big:.1f} MB/s); "
        f"8x the size took {ratio:.1f}x the time (quadratic: 64x)"
    )
    assert ratio < 24, f"8x the input took {ratio:.1f}x the time: not linear"


def test_boilerplate_footer_detection_is_linear(monkeypatch):
    # Half the lines are "Subscribe now": the footer search used to recount the rest of the text at each of them.
    n = 1_000
    text = "\n".join("Subscribe now" if i % 2 else f"Real line number {i} of the article" for i in range(n))
    calls = 0
    original = clean.is_boilerplate_line

    def counted(line: str) -> bool:
        nonlocal calls
        calls += 1
        return original(line)

    monkeypatch.setattr(clean, "is_boilerplate_line", counted)
    out = clean.clean_text(text)
    assert out.count("Real line number") >= 495 and "Subscribe" not in out  # the last few count as a footer
    assert calls <= 2 * n, f"{calls:,} boilerplate checks for {n:,} lines"


@pytest.mark.parametrize(
    ("html", "text", "title"),
    [
        # text before a nested block is a block of its own (the tree reader skipped it), nested items each once
        (
            "<ul><li>Intro<ul><li>first</li><li>second</li></ul></li><li>last</li></ul>",
            "Intro\n\nfirst\n\nsecond\n\nlast",
            "",
        ),
        # unclosed paragraphs and cells end where HTML says they do; inline tags stay inside their block
        (
            "<p>One <b>bold</b> point<p>Two<table><tr><td>a<td>b<tr><td>c</table>",
            "One bold point\n\nTwo\n\na\n\nb\n\nc",
            "",
        ),
        # no </head> and no <body>: the content still counts, the <title> is the title
        ("<html><head><title>Bees &amp; wasps</title><p>Hives: 2,400.</p>", "Hives: 2,400.", "Bees & wasps"),
        # furniture and scripts go, the headline inside <header> is still the title, an unclosed <script> eats nothing
        # after it
        (
            "<header><h1>Head line</h1><nav>Menu</nav></header><p>Body text.</p><script>var x = '<p>no</p>';",
            "Body text.",
            "Head line",
        ),
        # only the first <article> counts when there is one
        ("<p>Outside</p><article><p>Inside</p></article><article><p>Second</p></article>", "Inside", ""),
        # stray end tags are ignored; a page without blocks falls back to its text lines
        ("</b></li></p><div>Just <span>loose</span> text</div>", "Just\nloose\ntext", ""),
    ],
)
def test_html_structure(html, text, title):
    assert html_text(html) == (text, title)
