"""The Chroma store: chunk vectors plus a per-document registry that makes document writes atomic.

Write protocol for one document (Chroma has no transactions):
1. upsert the new chunks (ids carry the content hash, so they never overwrite the live version);
2. upsert the registry record - the commit point: from here on the new version is the live one;
3. delete chunks of other versions; bump the collection version so BM25 side indexes rebuild.
A crash between steps leaves chunks that don't match the registry: readers ignore them and ``repair`` deletes them.

The protocol assumes one writer at a time: every write runs under the writer lock of writelock.py. An embedded store is
reopened whenever another client wrote it (Chroma's embedded client keeps its vector index in memory and does not see
other processes' writes): by a writer right after taking the lock, by a reader when the version stamp changed.
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qa_bot.config import Settings
from qa_bot.index.embeddings import embedder_id
from qa_bot.index.writelock import FileWriterLock, LeaseWriterLock, Notify
from qa_bot.schema import Chunk, Document, QABotError

if TYPE_CHECKING:
    from chromadb import Collection

_BATCH = 1000


class StoreError(QABotError):
    pass


class NothingIndexed(StoreError):
    """The store has no collection yet: nothing was ever ingested into it."""


@dataclass(frozen=True)
class DocRecord:
    doc_id: str
    title: str
    source: str
    sha256: str
    n_chunks: int
    indexed_at: float | None = (
        None  # epoch seconds of the last write; None for documents indexed before it was recorded
    )


def _forget_chroma_system(store_dir: Path) -> None:
    """Make chromadb forget the System it caches for an embedded store, so the next client for it starts a fresh one.

    The one use of a private chromadb API (``SharedSystemClient._identifier_to_system``, chromadb 1.5). chromadb keeps
    one System per store path per process, shared by every ``PersistentClient`` of that path, and it has to be
    forgotten in two cases:

    * reading other processes' writes: a System keeps the vector index in memory and never sees them, so ``reopen``
      needs a new System while other handles of this process may still be mid-call on the old one (hence forgotten, not
      stopped: it goes when its clients are closed or collected);
    * a System that failed to start (a corrupt store) stays cached, and every later client of the path gets that broken
      one ("'RustBindingsAPI' object has no attribute 'bindings'"), even after ``--rebuild`` repaired the files.

    chromadb has no public per-path way: ``Client.close()`` stops the System only when the last client of the process
    lets go of it (``Store.close`` uses it to release a store), and ``clear_system_cache()`` forgets every path's System
    and zeroes every reference count (documented as for tests only). What would replace this function: a chromadb that
    caches a System only once it started, plus a per-path release (or an embedded client that sees other processes'
    writes)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(store_dir), None)


def _client(settings: Settings, fresh: bool = False):
    """A Chroma client. ``fresh``: an embedded store's client on a new chromadb System that reads the store from disk,
    instead of the process-wide shared one whose in-memory vector index lacks other processes' writes."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if fresh and not settings.store.chroma_host:
        _forget_chroma_system(settings.store.store_dir)
    try:
        if settings.store.chroma_host:
            client = chromadb.HttpClient(
                host=settings.store.chroma_host, port=settings.store.chroma_port, settings=chroma_settings
            )
            client.heartbeat()
            return client
        settings.store.store_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.store.store_dir), settings=chroma_settings)
    except Exception as e:  # chromadb raises many unrelated types for a bad store or an absent server
        if not settings.store.chroma_host:
            # chromadb keeps the System it failed to start; left there, it breaks every later client for this path.
            # (A healthy System of other handles, if that is what failed, is only forgotten: they keep using it.)
            _forget_chroma_system(settings.store.store_dir)
        where, hint = _where_hint(settings)
        raise StoreError(f"cannot open the {where}: {type(e).__name__}: {str(e)[:200]}; {hint}") from e


def _close_client(client) -> None:
    """Release a Chroma client (public API): chromadb stops the store's System when no other client of it is left."""
    with contextlib.suppress(Exception):  # already closed, or a server that went away: nothing left to release
        client.close()


def _where_hint(settings: Settings) -> tuple[str, str]:
    if settings.store.chroma_host:
        return (
            f"Chroma server {settings.store.chroma_host}:{settings.store.chroma_port}",
            "is it running (`chroma run --path DIR --port PORT`)?",
        )
    return f"store {settings.store.store_dir}", "it may be corrupt: rebuild it with `qa-bot ingest --rebuild`"


def _failure_hint(settings: Settings, write: bool) -> tuple[str, str]:
    """Advice after a failed call on an opened store. Never a rebuild: the store opened, so it is not known to be
    broken, and a rebuild deletes everything."""
    where, hint = _where_hint(settings)
    if not settings.store.chroma_host:
        hint = (
            "run the ingest again: it finishes interrupted writes"
            if write
            else "ask again; if it keeps failing, restart this process (another process may have changed the store)"
        )
    return where, hint


def _guarded(method=None, *, write: bool = False):
    """A Chroma failure after opening (server gone, store damaged) becomes a StoreError with advice, not a traceback.

    A read on an embedded store that fails is retried once on a freshly opened client: the usual cause is a write by
    another process after this client loaded its vector index (ids it holds were deleted, or it lacks new ones)."""
    if method is None:
        return functools.partial(_guarded, write=write)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except QABotError:
            raise
        except Exception as first:
            error = first
            if not write and not self.settings.store.chroma_host and not self._held():
                try:
                    self.reopen()
                    return method(self, *args, **kwargs)
                except QABotError:
                    raise
                except Exception as again:
                    error = again
            where, hint = _failure_hint(self.settings, write)
            raise StoreError(
                f"the {where} failed ({method.__name__}): {type(error).__name__}: {str(error)[:200]}; {hint}"
            ) from error

    return wrapper


_SEGMENT_DIR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def wipe_local_store(settings: Settings) -> None:
    """Delete an embedded store's Chroma files (``--rebuild`` of a store that can't even be opened).

    Only Chroma's own files go (its sqlite database and the UUID-named segment folders): the folder may hold other
    things.
    """
    d = settings.store.store_dir
    for name in ("chroma.sqlite3", "chroma.sqlite3-wal", "chroma.sqlite3-shm", "chroma.sqlite3-journal"):
        (d / name).unlink(missing_ok=True)
    if d.is_dir():
        for sub in d.iterdir():
            if sub.is_dir() and _SEGMENT_DIR.fullmatch(sub.name):
                shutil.rmtree(sub, ignore_errors=True)


def open_store(settings: Settings) -> Store:
    """A handle on the store these settings name, checked against the embedder they configure: the one way to open
    it."""
    return Store(settings, embedder_id(settings))


class Store:
    """A handle on one store (an embedded folder or a Chroma server's collection). Not for concurrent use: share it
    between threads only under a lock. ``close()`` releases it (``with open_store(s) as store:`` does too)."""

    def __init__(self, settings: Settings, embedder_id: str) -> None:
        self.settings = settings
        self.embedder_id = embedder_id
        self._client = _client(settings)
        self.name = settings.store.collection
        self._chunks: Collection | None = None
        self._docs: Collection | None = None
        self._seen: str | None = None  # the version stamp this client last saw (or wrote)
        self._lock: FileWriterLock | LeaseWriterLock | None = None

    # --- collections -------------------------------------------------------------------------------------------
    def _open(self, create: bool) -> None:
        if self._chunks is not None:
            return
        try:
            if create:
                self._chunks = self.client.get_or_create_collection(
                    self.name,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedder": self.embedder_id, "version": "0"},
                    embedding_function=None,
                )
                self._docs = self.client.get_or_create_collection(f"{self.name}__docs", embedding_function=None)
            else:
                self._chunks = self.client.get_collection(self.name, embedding_function=None)
                self._docs = self.client.get_collection(f"{self.name}__docs", embedding_function=None)
        except Exception as e:
            if not create and ("does not exist" in str(e) or "NotFound" in type(e).__name__):
                raise NothingIndexed(
                    f"no documents are indexed in collection '{self.name}' yet: run `qa-bot ingest [PATHS]` first"
                ) from e
            raise StoreError(
                f"cannot open collection '{self.name}': {type(e).__name__}: {str(e)[:200]}; "
                "rebuild with `qa-bot ingest --rebuild`"
            ) from e
        if self._seen is None:
            self._seen = str((self._chunks.metadata or {}).get("version", "0"))
        built_with = (self._chunks.metadata or {}).get("embedder")
        if built_with and built_with != self.embedder_id:
            raise StoreError(
                f"collection '{self.name}' was built with the '{built_with}' embedder "
                f"but '{self.embedder_id}' is configured: "
                "set QA_BOT_EMBEDDER back or re-index with `qa-bot ingest --rebuild`"
            )

    def open_for_write(self) -> Store:
        self._open(create=True)
        return self

    def open_for_read(self) -> Store:
        self._open(create=False)
        return self

    @property
    def chunks(self):
        self._open(create=False)
        return self._chunks

    @property
    def docs(self):
        self._open(create=False)
        return self._docs

    def reset(self) -> None:
        """Drop everything (``--rebuild``)."""
        with self.writing():
            for name in (self.name, f"{self.name}__docs"):
                with contextlib.suppress(Exception):  # absent already
                    self.client.delete_collection(name)
            self._chunks = self._docs = None

    def reopen(self) -> None:
        """See the embedded store as it is on disk now (a no-op for a server, whose clients always do)."""
        if self.settings.store.chroma_host:
            return
        old, self._client = self._client, None
        self._chunks = self._docs = None
        if old is not None:
            # Public first: when no other handle of this process uses the store, chromadb stops its System here and
            # the next client starts a new one. Otherwise that System is still theirs, and _client(fresh=True) forgets
            # it (they go on with it) so that this handle gets one of its own.
            _close_client(old)
        self._client = _client(self.settings, fresh=True)

    # --- the client ----------------------------------------------------------------------------------------------
    @property
    def client(self):
        """The Chroma client; opened again if this handle was closed."""
        if self._client is None:
            self._client = _client(self.settings)
        return self._client

    def close(self) -> None:
        """Release this handle's Chroma client. When no other handle of this process uses the store, chromadb stops its
        System (sqlite connection, in-memory index), so the folder can be deleted, or opened afresh at the same path.
        Using the handle again opens it again."""
        if self._lock is not None and self._lock.held:
            raise StoreError("the store is being written through this handle: close it after the write")
        client, self._client = self._client, None
        self._chunks = self._docs = None
        self._lock = None  # a server's lease lock holds the client
        if client is not None:
            _close_client(client)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the writer lock -----------------------------------------------------------------------------------------
    @contextmanager
    def writing(self, notify: Notify | None = None) -> Iterator[Store]:
        """Hold the store's writer lock (re-entrant). Every write method takes it; hold it around a whole run of writes
        (an ingest) so the registry it read stays true. A second writer waits up to ``write_wait`` seconds, then
        fails."""
        if self._lock is None:
            s = self.settings
            if s.store.chroma_host:
                where, _ = _where_hint(s)
                self._lock = LeaseWriterLock(
                    self.client, self.name, where, s.store.write_wait, s.store.write_lease_seconds
                )
            else:
                self._lock = FileWriterLock(s.store.store_dir, s.store.write_wait)
        if notify is not None and not self._held():
            self._lock.notify = notify
        first = not self._held()
        self._lock.acquire()
        try:
            if first:
                self.reopen()  # another writer may have written since this client loaded the store
            yield self
        finally:
            self._lock.release()

    def _held(self) -> bool:
        return self._lock is not None and self._lock.held

    def _check_lock(self) -> None:
        """Called before each step of a write, under ``writing()``: fails if the writer lock was lost (a server lease
        that expired)."""
        if self._lock is None:
            raise RuntimeError("a store write outside writing(): no writer lock is held")
        self._lock.check()

    # --- versions ----------------------------------------------------------------------------------------------
    @_guarded
    def version(self) -> str:
        """Changes on every write; fetched fresh so other processes' writes are seen."""
        meta = self.client.get_collection(self.name, embedding_function=None).metadata or {}
        return str(meta.get("version", "0"))

    def _bump(self) -> None:
        self._seen = uuid.uuid4().hex
        self.chunks.modify(metadata={"embedder": self.embedder_id, "version": self._seen})

    def refresh(self) -> str:
        """The current version stamp, after reopening an embedded store that another client wrote since this one looked.

        Readers call it before each search: without it, a long-running app process fails on every question about a
        document another process ingested (its in-memory vector index doesn't have it)."""
        version = self.version()
        if version != self._seen and not self.settings.store.chroma_host:
            self.reopen()
            version = self.version()
        self._seen = version
        return version

    # --- registry ----------------------------------------------------------------------------------------------
    @_guarded
    def registry(self, doc_ids: list[str] | None = None) -> dict[str, DocRecord]:
        """Every document's record, or only those of ``doc_ids`` (a search needs a handful, not all of them)."""
        if doc_ids is not None and not doc_ids:
            return {}
        got = self.docs.get(ids=doc_ids, include=["metadatas"])
        return {
            i: DocRecord(
                i,
                m.get("title", ""),
                m.get("source", ""),
                m.get("sha256", ""),
                int(m.get("n_chunks", 0)),
                float(m["indexed_at"]) if m.get("indexed_at") is not None else None,
            )
            for i, m in zip(got["ids"], got["metadatas"], strict=True)
        }

    @_guarded
    def document_text(self, doc_id: str) -> str | None:
        got = self.docs.get(ids=[doc_id], include=["documents"])
        return got["documents"][0] if got["ids"] else None

    @_guarded
    def count(self) -> int:
        return self.chunks.count()

    # --- writes ------------------------------------------------------------------------------------------------
    @_guarded(write=True)
    def write_document(self, doc: Document, chunks: list[Chunk], vectors: list[list[float]]) -> None:
        with self.writing():
            self._check_lock()
            for b in range(0, len(chunks), _BATCH):
                part = chunks[b : b + _BATCH]
                self.chunks.upsert(
                    ids=[c.chunk_id for c in part],
                    embeddings=vectors[b : b + _BATCH],
                    documents=[c.text for c in part],
                    metadatas=[c.metadata() for c in part],
                )
            # Bump before the commit too: a BM25 mirror built from here on holds the new chunks, so a crash between the
            # commit and the final bump can't leave every mirror at a version that lacks a committed document.
            self._bump()
            self._check_lock()
            self.docs.upsert(
                ids=[doc.doc_id],
                embeddings=[[1.0]],
                documents=[doc.text],
                metadatas=[
                    {
                        "title": doc.title,
                        "source": doc.source,
                        "sha256": doc.sha256,
                        "n_chunks": len(chunks),
                        "indexed_at": time.time(),
                    }
                ],
            )
            self.chunks.delete(where={"$and": [{"doc_id": doc.doc_id}, {"content_hash": {"$ne": doc.sha256}}]})
            self._bump()

    @_guarded(write=True)
    def remove_document(self, doc_id: str) -> None:
        with self.writing():
            self._check_lock()
            self.docs.delete(ids=[doc_id])
            self.chunks.delete(where={"doc_id": doc_id})
            self._bump()

    @_guarded(write=True)
    def repair(self) -> int:
        """Finish writes a crash interrupted: delete chunks with no registry record or of another version, and drop the
        record of a document whose chunks are incomplete (the next ingest writes it again). Returns the chunks deleted.

        Only under the writer lock, so no write is half-way: otherwise another writer's chunks, upserted just before its
        registry commit, look orphaned here. Deletions go by document (a ``doc_id`` filter), never by ids collected from
        offset pages, and a document's chunks are counted with that filter before anything of it is deleted."""
        with self.writing():
            self._check_lock()
            registry = self.registry()
            present = self._chunk_counts()  # one metadata scan, to find the documents worth a look
            deleted, changed = 0, False
            for doc_id in sorted(set(present) | set(registry)):
                rec = registry.get(doc_id)
                if rec is not None and present.get(doc_id) == {rec.sha256: rec.n_chunks}:
                    continue  # the usual case: exactly the registered version, complete
                hashes = self._hashes_of(doc_id)
                stale = sum(1 for h in hashes if rec is None or h != rec.sha256)
                if stale:
                    where = (
                        {"doc_id": doc_id}
                        if rec is None
                        else {"$and": [{"doc_id": doc_id}, {"content_hash": {"$ne": rec.sha256}}]}
                    )
                    self.chunks.delete(where=where)
                    deleted, changed = deleted + stale, True
                if rec is not None and len(hashes) - stale != rec.n_chunks:
                    # A committed document missing chunks loses its record, so the next ingest writes it again
                    # instead of skipping it.
                    self.docs.delete(ids=[doc_id])
                    self.chunks.delete(where={"doc_id": doc_id})
                    changed = True
            if changed:
                self._bump()
            return deleted

    def _chunk_counts(self) -> dict[str, dict[str, int]]:
        """doc_id -> {content hash -> chunks}, from metadata pages (read only: nothing is deleted while paging)."""
        counts: dict[str, dict[str, int]] = {}
        offset = 0
        while True:
            got = self.chunks.get(include=["metadatas"], limit=_BATCH, offset=offset)
            if not got["ids"]:
                return counts
            for m in got["metadatas"]:
                per = counts.setdefault(str(m.get("doc_id")), {})
                per[m.get("content_hash", "")] = per.get(m.get("content_hash", ""), 0) + 1
            offset += len(got["ids"])

    def _hashes_of(self, doc_id: str) -> list[str]:
        """The content hash of each of a document's chunks, selected by a doc_id filter."""
        got = self.chunks.get(where={"doc_id": doc_id}, include=["metadatas"])
        return [m.get("content_hash", "") for m in got["metadatas"]]

    # --- reads -------------------------------------------------------------------------------------------------
    def iter_chunks(self) -> Iterator[Chunk]:
        offset = 0
        while True:
            got = self._page(offset)
            if not got["ids"]:
                return
            for i, text, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield chunk_from_record(i, text, m)
            offset += len(got["ids"])

    @_guarded
    def _page(self, offset: int) -> dict:
        return self.chunks.get(include=["documents", "metadatas"], limit=_BATCH, offset=offset)

    @_guarded
    def query(self, vector: list[float], k: int) -> list[tuple[Chunk, float, list[float]]]:
        """Nearest chunks as (chunk, cosine similarity, embedding)."""
        # No count() first: it costs a scan (~30 ms at 100k chunks), and Chroma returns fewer than k results (none
        # for an empty collection) on its own.
        r = self.chunks.query(
            query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances", "embeddings"]
        )
        # A chunk another process deleted after this client loaded its vector index still comes back from that index,
        # with no text or metadata (chromadb 1.5): it is gone, so it is left out. Failing instead (and reopening, then
        # failing again when the next write lands in between) lost a busy reader's searches.
        return [
            (chunk_from_record(i, t, m), 1.0 - float(d), _floats(e))
            for i, t, m, d, e in zip(
                r["ids"][0], r["documents"][0], r["metadatas"][0], r["distances"][0], r["embeddings"][0], strict=True
            )
            if t is not None and m is not None
        ]

    @_guarded
    def embeddings_for(self, ids: list[str]) -> dict[str, list[float]]:
        if not ids:
            return {}
        got = self.chunks.get(ids=ids, include=["embeddings"])
        return {i: _floats(e) for i, e in zip(got["ids"], got["embeddings"], strict=True)}


def _floats(e) -> list[float]:
    """Chroma returns numpy rows: ``tolist()`` gives Python floats ~30x faster than ``list()`` (numpy scalars), which
    also made every later ``np.asarray`` slow."""
    return e.tolist() if hasattr(e, "tolist") else list(e)


def chunk_from_record(chunk_id: str, text: str, m: dict) -> Chunk:
    return Chunk(
        chunk_id=chunk_id,
        doc_id=m["doc_id"],
        title=m.get("title", ""),
        source=m.get("source", ""),
        start=int(m["start"]),
        end=int(m["end"]),
        text=text,
        content_hash=m.get("content_hash", ""),
    )
