"""Incremental ingestion: files -> cleaned documents -> sentence-aware chunks -> embeddings -> Chroma (+ BM25
rebuild)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from langchain_text_splitters import RecursiveCharacterTextSplitter

from qa_bot.config import Settings
from qa_bot.index.embeddings import EmbedderError, get_embeddings
from qa_bot.index.store import Store, StoreError, open_store, wipe_local_store
from qa_bot.index.writelock import FileWriterLock, Notify
from qa_bot.ingestion.loaders import SUPPORTED, UnreadableFile, load_document
from qa_bot.schema import Chunk, Document, FileIssue, IngestReport, QABotError
from qa_bot.stages import Embedder

# Paragraphs first, then sentence ends, then clauses: chunks end on sentence boundaries whenever the size allows.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]

Progress = Callable[[int, int, str], None]  # (files done, files total, current file)


def make_splitter(settings: Settings) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=settings.ingestion.chunk_size,
        chunk_overlap=min(settings.ingestion.chunk_overlap, settings.ingestion.chunk_size // 2),
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )


def chunk_document(doc: Document, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    """Chunks with exact character offsets: ``doc.text[c.start:c.end] == c.text`` always holds."""
    chunks: list[Chunk] = []
    cursor = 0
    for piece in splitter.split_text(doc.text):
        start = doc.text.find(piece, cursor)
        if start < 0:  # the splitter only strips whitespace, so this is a bug guard, not a path
            start = doc.text.find(piece)
        end = start + len(piece)
        chunks.append(
            Chunk(
                chunk_id=f"{doc.doc_id}::{doc.sha256[:12]}::{len(chunks):05d}",
                doc_id=doc.doc_id,
                title=doc.title,
                source=doc.source,
                start=start,
                end=end,
                text=piece,
                content_hash=doc.sha256,
            )
        )
        # Overlapping chunks start before the previous one ends; searching from just after its start finds them.
        cursor = start + 1
    return chunks


def embedding_text(chunk: Chunk) -> str:
    # The headline gives each chunk its topic; the stored text stays the exact source span.
    return f"{chunk.title}\n{chunk.text}" if chunk.title else chunk.text


def discover(paths: Iterable[Path], report: IngestReport) -> tuple[list[Path], list[Path]]:
    """Files to ingest, and the directory roots under which missing files count as deleted."""
    files: list[Path] = []
    roots: list[Path] = []
    for p in paths:
        p = Path(p).expanduser()
        if not p.exists():
            report.failed.append(FileIssue(str(p), "path does not exist"))
        elif p.is_dir():
            roots.append(p.resolve())
            files.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and f.suffix.lower() in SUPPORTED and not f.name.startswith(".")
                )
            )
        else:
            files.append(p)
    unique = list(dict.fromkeys(f.resolve() for f in files))
    return unique, roots


def _unique_doc_id(doc: Document, registry: dict, taken: set[str]) -> str:
    """File stem, unless another source already owns that id."""
    import hashlib

    rec = registry.get(doc.doc_id)
    if doc.doc_id not in taken and (rec is None or rec.source == doc.source):
        return doc.doc_id
    return f"{doc.doc_id}-{hashlib.sha1(doc.source.encode()).hexdigest()[:6]}"


def ingest(
    paths: Iterable[Path | str],
    settings: Settings,
    rebuild: bool = False,
    progress: Progress | None = None,
    prune: bool = True,
    on_wait: Notify | None = None,
    *,
    embeddings: Embedder | None = None,
) -> IngestReport:
    """Index the given files and folders. One bad file is reported and skipped; the rest goes on.

    The whole run holds the store's writer lock: the registry it read at the start (document ids, unchanged files)
    stays true until it ends. Another writer's run waits (``on_wait`` hears why), up to ``settings.store.write_wait``
    seconds.
    ``embeddings``: the embedder to use (a ``QABot`` passes its own); a new one is built when left out. The store handle
    this opens is closed at the end. Most callers want ``QABot.ingest`` (or ``qa_bot.ingest``), which call this.
    """
    t0 = time.perf_counter()
    report = IngestReport()
    files, roots = discover([Path(p) for p in paths], report)
    report.files = len(files)
    if embeddings is None:
        embeddings = get_embeddings(settings)
    try:
        store = open_store(settings)
    except StoreError:
        if not rebuild or settings.store.chroma_host:
            raise
        # An unreadable (e.g. corrupt) embedded store is exactly what --rebuild is for: start it over.
        with FileWriterLock(settings.store.store_dir, settings.store.write_wait, on_wait):
            wipe_local_store(settings)
        store = open_store(settings)
    with store, store.writing(on_wait):
        _ingest_locked(store, files, roots, settings, rebuild, progress, prune, embeddings, report)
    report.seconds = time.perf_counter() - t0
    return report


def _ingest_locked(
    store: Store,
    files: list[Path],
    roots: list[Path],
    settings: Settings,
    rebuild: bool,
    progress: Progress | None,
    prune: bool,
    embeddings,
    report: IngestReport,
) -> None:
    if rebuild:
        store.reset()
    store.open_for_write()
    store.repair()  # finish any write a crash interrupted before adding more
    registry = store.registry()
    by_source = {rec.source: rec for rec in registry.values()}
    splitter = make_splitter(settings)
    seen: set[str] = set()

    for n, path in enumerate(files):
        if progress:
            progress(n, len(files), path.name)
        try:
            doc = load_document(path, settings.ingestion.max_file_mb)
            doc = Document(_unique_doc_id(doc, registry, seen), doc.title, doc.source, doc.text, doc.sha256)
            seen.add(doc.doc_id)
            previous = by_source.get(doc.source)
            if previous and previous.sha256 == doc.sha256:
                report.skipped += 1
                report.doc_ids.append(previous.doc_id)
                continue
            chunks = chunk_document(doc, splitter)
            vectors = embeddings.embed_documents([embedding_text(c) for c in chunks])
            store.write_document(doc, chunks, vectors)
            if previous and previous.doc_id != doc.doc_id:
                store.remove_document(previous.doc_id)
            report.updated += 1 if previous else 0
            report.added += 0 if previous else 1
            report.chunks += len(chunks)
            report.doc_ids.append(doc.doc_id)
        except UnreadableFile as e:
            report.failed.append(FileIssue(str(path), str(e)))
        except EmbedderError as e:
            if e.fatal:
                raise  # a rejected key or an unreachable server fails every file the same way: stop with its message
            report.failed.append(FileIssue(str(path), str(e)))
        except QABotError:
            raise  # store or embedder trouble affects every file: stop with its message
        except Exception as e:  # a parser bug on one odd file must not end the run
            report.failed.append(FileIssue(str(path), f"{type(e).__name__}: {e}"))
    if progress:
        progress(len(files), len(files), "")

    if prune:
        for rec in registry.values():
            src = Path(rec.source)
            if not src.exists() and any(src.is_relative_to(r) for r in roots):
                store.remove_document(rec.doc_id)
                report.removed += 1


def remove(doc_ids: Iterable[str], settings: Settings, on_wait: Notify | None = None) -> list[str]:
    """Remove the documents of ``doc_ids`` that are indexed; returns those removed."""
    gone = []
    with open_store(settings) as store, store.writing(on_wait):
        registry = store.open_for_read().registry()
        for d in doc_ids:
            if d in registry:
                store.remove_document(d)
                gone.append(d)
    return gone
