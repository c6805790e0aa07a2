"""Loaders and cleaning: every supported format to cleaned text + title, and one clear reason for each unreadable
file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from support.pdf import make_pdf
from support.project import AP_DOC, SEEDS

from qa_bot.ingestion.clean import clean_text, is_boilerplate_line
from qa_bot.ingestion.loaders import UnreadableFile, load_document

BOILERPLATE = ("register", "newsletter", "sign in", "email", "read more", "subscribed", "continue reading")
CAPTION = (
    "Japan's Emperor Naruhito, right, greets US President Joe Biden prior to a meeting at the Imperial Palace in Tokyo"
)

HTML_PAGE = (
    """<!doctype html>
<html><head><title>Otters return to the Thames | The Daily Site</title>
<script>window.dataLayer = ["trackingPixelQ7"];</script><style>.hero { color: red }</style></head>
<body>
<header><a href="/">The Daily Site</a>
  <nav><ul><li><a href="/">Home</a></li><li><a href="/world">World news</a></li>"""
    """<li><a href="/login">Sign in</a></li></ul></nav>
</header>
<main><article>
  <header><h1>Otters return to the Thames</h1><p class="byline">By A. Reporter</p></header>
  <p>Eurasian otters have been recorded breeding in the upper Thames for the first time in forty years, """
    """ecologists said.</p>
  <p>The survey team counted eleven adults along a twelve-mile stretch near Lechlade.</p>
  <figure><img src="otter.jpg"><figcaption>An otter photographed near Lechlade at dawn.</figcaption></figure>
</article></main>
<aside>Related: Beavers are back in Devon</aside>
<footer><p>Subscribe to our newsletter</p><p>&copy; 2024 The Daily Site. All rights reserved.</p></footer>
<script>console.log("analyticsBeaconZ3")</script>
</body></html>
"""
)


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def reason(path: Path, **kw) -> str:
    with pytest.raises(UnreadableFile) as e:
        load_document(path, **kw)
    return str(e.value)


# --- the seed article -----------------------------------------------------------------------------------------------
def test_seed_article_is_cleaned():
    path = SEEDS / f"{AP_DOC}.txt"
    doc = load_document(path)
    assert doc.doc_id == AP_DOC
    assert doc.title == "Japan and NATO agree to step up cooperation amid Russia’s aggression in Ukraine"
    assert doc.source == str(path)
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "joint flight drills over the Sea of Japan" in doc.text
    # the last real paragraph survives, the registration wall after it does not
    assert doc.text.rstrip().endswith("assertiveness in the Indo-Pacific.")
    low = doc.text.lower()
    for word in BOILERPLATE:
        assert word not in low, word
    # the photo caption is printed twice in the source and once in the cleaned text
    assert path.read_text().count(CAPTION) == 2
    assert doc.text.count(CAPTION) == 1


def test_cleaning_keeps_real_sentences_that_mention_boilerplate_words():
    sentence = (
        "Investigators said the suspect used a forged email address to register dozens of accounts with the agency, "
        "according to court papers filed in the district on Friday afternoon."
    )
    assert not is_boilerplate_line(sentence)  # long sentences are content, whatever words they use
    assert is_boilerplate_line("Sign in or Register")
    cleaned = clean_text(f"Headline\n\n{sentence}\n\nShare this article\nAdvertisement\n")
    assert sentence in cleaned
    assert "Share this" not in cleaned and "Advertisement" not in cleaned
    # short repeated lines (e.g. list items) are kept; only long verbatim repeats are dropped
    assert clean_text("Yes\nNo\nYes").split("\n") == ["Yes", "No", "Yes"]


def test_normalisation_of_whitespace_and_control_characters(tmp_path):
    doc = load_document(write(tmp_path / "ctl.txt", "Title line\r\n\r\n\r\n\r\nBody\x07 text   \r\nmore\x0c text\n"))
    assert doc.text == "Title line\n\nBody text\nmore text"


# --- formats ----------------------------------------------------------------------------------------------------------
def test_html_boilerplate_removed_and_title_from_article_headline(tmp_path):
    doc = load_document(write(tmp_path / "otters.html", HTML_PAGE))
    assert doc.doc_id == "otters"
    assert (
        doc.title == "Otters return to the Thames"
    )  # the <h1> inside <article><header>, not the <title> with the site name
    assert "recorded breeding in the upper Thames" in doc.text
    assert "eleven adults" in doc.text
    assert "An otter photographed near Lechlade at dawn." in doc.text
    for junk in (
        "trackingPixelQ7",
        "analyticsBeaconZ3",
        "color: red",
        "Home",
        "World news",
        "Sign in",
        "Beavers",
        "newsletter",
        "All rights reserved",
        "The Daily Site",
    ):
        assert junk not in doc.text, junk


def test_html_without_h1_uses_title_tag(tmp_path):
    html = (
        "<html><head><title>Bee census 2024</title></head>"
        "<body><p>Beekeepers counted 2,400 hives in the valley.</p></body></html>"
    )
    doc = load_document(write(tmp_path / "bees.htm", html))
    assert doc.title == "Bee census 2024"
    assert doc.text == "Beekeepers counted 2,400 hives in the valley."


def test_markdown_title_from_heading(tmp_path):
    doc = load_document(
        write(
            tmp_path / "notes.md", "Some preface line\n\n# Tidal power in Orkney\n\nThe turbines produce 2 MW each.\n"
        )
    )
    assert doc.title == "Tidal power in Orkney"
    assert "The turbines produce 2 MW each." in doc.text


def test_pdf_text_and_metadata_title(tmp_path):
    pdf = make_pdf(
        [
            "Lighthouse keepers of Skerryvore\nThe tower (built 1844) is 48 metres tall.",
            "The last keepers left in 1972.",
        ],
        title="Skerryvore Lighthouse",
    )
    doc = load_document(write(tmp_path / "skerryvore.pdf", pdf))
    assert doc.title == "Skerryvore Lighthouse"
    assert "The tower (built 1844) is 48 metres tall." in doc.text
    assert "The last keepers left in 1972." in doc.text  # page 2
    assert doc.text.index("48 metres") < doc.text.index("1972")


def test_pdf_without_metadata_title_uses_first_line(tmp_path):
    doc = load_document(
        write(tmp_path / "memo.pdf", make_pdf(["Quarterly memo on canal repairs\nLock 7 reopens in May."]))
    )
    assert doc.title == "Quarterly memo on canal repairs"


def test_cp1252_fallback_decodes_latin_text(tmp_path):
    raw = "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u201cquoted\u201d \u2013 cost \u20ac5".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    doc = load_document(write(tmp_path / "latin.txt", raw))
    assert doc.text == "Café naïve résumé “quoted” – cost €5"


def test_utf8_bom_is_stripped_and_utf16_with_bom_is_text(tmp_path):
    doc = load_document(write(tmp_path / "bom.txt", b"\xef\xbb\xbfHedgehogs hibernate in winter."))
    assert doc.text == "Hedgehogs hibernate in winter." and doc.title == doc.text
    u16 = write(tmp_path / "u16.txt", "Hedgehogs hibernate from November to March.".encode("utf-16"))
    assert b"\x00" in u16.read_bytes()  # NUL bytes, yet text: the BOM says so
    assert load_document(u16).text == "Hedgehogs hibernate from November to March."


# --- unreadable files: one clear reason each --------------------------------------------------------------------------
def test_unreadable_files_have_clear_reasons(tmp_path):
    assert reason(write(tmp_path / "empty.txt", b"")) == "empty file"
    assert reason(write(tmp_path / "blank.md", b"  \n\t\n")) == "empty file"
    assert (
        reason(write(tmp_path / "blob.txt", b"GIF89a\x00\x01\x02\x00binary")) == "binary content (NUL bytes), not text"
    )
    assert "not valid UTF-8 or Windows-1252 text" in reason(write(tmp_path / "bad.txt", b"ok \x81\x8d\x90 bytes"))
    assert reason(write(tmp_path / "slides.pptx", b"PK\x03\x04")).startswith("unsupported file type '.pptx'")
    assert reason(write(tmp_path / "README", b"text")).startswith("unsupported file type '(none)'")
    assert reason(write(tmp_path / "fake.pdf", b"hello, not a pdf")) == "not a PDF (missing %PDF header)"
    assert reason(write(tmp_path / "broken.pdf", b"%PDF-1.7\n" + bytes(range(1, 256)) * 20)).startswith(
        "PDF could not be parsed"
    )
    assert (
        reason(write(tmp_path / "scan.pdf", make_pdf([""]))) == "PDF has no extractable text (scanned images need OCR)"
    )
    assert reason(write(tmp_path / "wall.txt", "Sign in\nRegister for free\nSubscribe to our newsletter\n")) == (
        "no text left after cleaning (empty or only boilerplate)"
    )
    assert reason(tmp_path / "absent.txt") == "file not found"
    (tmp_path / "folder.txt").mkdir()
    assert reason(tmp_path / "folder.txt") == "is a directory"
    big = write(tmp_path / "big.txt", b"word " * 50_000)
    assert "over the 0.1 MB limit" in reason(big, max_mb=0.1)
    assert load_document(big, max_mb=1).text.startswith("word word")
