"""Reading txt, md, html and pdf files into cleaned ``Document``s, with one clear reason when a file can't be read."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from qa_bot.ingestion.clean import clean_text
from qa_bot.ingestion.htmltext import html_text
from qa_bot.schema import Document, QABotError

SUPPORTED = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".pdf": "pdf"}


class UnreadableFile(QABotError):
    """The file can't be turned into text; the message says why."""


def _decode(raw: bytes) -> str:
    utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 text is full of NUL bytes: check its BOM first
    if b"\x00" in raw[:8192] and not utf16:
        raise UnreadableFile("binary content (NUL bytes), not text")
    for enc in ("utf-8-sig", "utf-16") if utf16 else ("utf-8-sig",):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as e:
        raise UnreadableFile(f"not valid UTF-8 or Windows-1252 text ({e.reason} at byte {e.start})") from None
    return text


def _pdf_text(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs repair attempts ("EOF marker not found") to stderr; the UnreadableFile reason says it once.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise UnreadableFile("encrypted PDF")
        pages = [(p.extract_text() or "") for p in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except UnreadableFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise UnreadableFile(f"PDF could not be parsed ({type(e).__name__}: {e})") from None
    text = "\n\n".join(pages)
    if not text.strip():
        raise UnreadableFile("PDF has no extractable text (scanned images need OCR)")
    return text, str(meta_title)


def _first_line_title(text: str) -> str:
    for ln in text.split("\n"):
        s = ln.strip().lstrip("#").strip()
        if s:
            return s[:200]
    return ""


def doc_id_for(path: Path) -> str:
    return re.sub(r"[^\w.-]+", "_", path.stem) or "document"


def load_document(path: Path, max_mb: float = 50.0) -> Document:
    """Read and clean one file. Raises ``UnreadableFile`` with the reason."""
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        raise UnreadableFile(
            f"unsupported file type '{path.suffix or '(none)'}' (supported: {', '.join(sorted(SUPPORTED))})"
        )
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        # Linux allows any bytes in names; the store can't keep such a path (and aborted the whole ingest on it).
        raise UnreadableFile("the file name (or its folder's) is not valid UTF-8: rename it") from None
    try:
        size = path.stat().st_size
        if size > max_mb * 1024 * 1024:
            raise UnreadableFile(f"file is {size / 2**20:.0f} MB, over the {max_mb:g} MB limit (QA_BOT_MAX_FILE_MB)")
        raw = path.read_bytes()
    except PermissionError:
        raise UnreadableFile("permission denied") from None
    except FileNotFoundError:
        raise UnreadableFile("file not found") from None
    except IsADirectoryError:
        raise UnreadableFile("is a directory") from None
    except OSError as e:
        raise UnreadableFile(f"cannot read: {e.strerror or e}") from None
    if not raw.strip():
        raise UnreadableFile("empty file")
    title = ""
    if kind == "pdf":
        if not raw.startswith(b"%PDF"):
            raise UnreadableFile("not a PDF (missing %PDF header)")
        text, title = _pdf_text(path)
    else:
        text = _decode(raw)
        if kind == "html":
            text, title = html_text(text)
        elif kind == "markdown":
            m = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
            title = m.group(1).strip() if m else ""
    cleaned = clean_text(text)
    if not cleaned:
        raise UnreadableFile("no text left after cleaning (empty or only boilerplate)")
    return Document(
        doc_id=doc_id_for(path),
        title=(title.strip() or _first_line_title(cleaned))[:200],
        source=str(path),
        text=cleaned,
        sha256=hashlib.sha256(raw).hexdigest(),
    )
