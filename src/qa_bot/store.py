"""The Chroma store: chunk vectors plus a per-document registry that makes document writes atomic.

Write protocol for one document (Chroma has no transactions):
1. upsert the new chunks (ids carry the content hash, so they never overwrite the live version);
2. upsert the registry record - the commit point: from here on the new version is the live one;
3. delete chunks of other versions; bump the collection version so BM25 side indexes rebuild.
A crash between steps leaves chunks that don't match the registry: readers ignore them and ``repair`` deletes them.
"""

from __future__ import annotations

import functools
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from .config import Settings
from .schema import Chunk, Document, QABotError

_BATCH = 1000


class StoreError(QABotError):
    pass


@dataclass(frozen=True)
class DocRecord:
    doc_id: str
    title: str
    source: str
    sha256: str
    n_chunks: int
    indexed_at: float | None = None  # epoch seconds of the last write; None for documents indexed before it was recorded


def _client(settings: Settings):
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    cached = str(settings.store_dir) in SharedSystemClient._identifier_to_system
    try:
        if settings.chroma_host:
            client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
            client.heartbeat()
            return client
        settings.store_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)
    except Exception as e:  # chromadb raises many unrelated types for a bad store or an absent server
        if not settings.chroma_host and not cached:
            # chromadb caches the system it failed to start; left there, it breaks every later client for this path.
            SharedSystemClient._identifier_to_system.pop(str(settings.store_dir), None)
        where, hint = _where_hint(settings)
        raise StoreError(f"cannot open the {where}: {type(e).__name__}: {str(e)[:200]}; {hint}") from e


def _where_hint(settings: Settings) -> tuple[str, str]:
    if settings.chroma_host:
        return f"Chroma server {settings.chroma_host}:{settings.chroma_port}", "is it running (`chroma run --path DIR --port PORT`)?"
    return f"store {settings.store_dir}", "it may be corrupt: rebuild it with `qa-bot ingest --rebuild`"


def _guarded(method):
    """A Chroma failure after opening (server gone, store damaged) becomes a StoreError with the same advice, not a traceback."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except QABotError:
            raise
        except Exception as e:
            where, hint = _where_hint(self.settings)
            raise StoreError(f"the {where} failed ({method.__name__}): {type(e).__name__}: {str(e)[:200]}; {hint}") from e

    return wrapper


_SEGMENT_DIR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def wipe_local_store(settings: Settings) -> None:
    """Delete an embedded store's Chroma files (``--rebuild`` of a store that can't even be opened).

    Only Chroma's own files go (its sqlite database and the UUID-named segment folders): the folder may hold other things.
    """
    d = settings.store_dir
    for name in ("chroma.sqlite3", "chroma.sqlite3-wal", "chroma.sqlite3-shm", "chroma.sqlite3-journal"):
        (d / name).unlink(missing_ok=True)
    if d.is_dir():
        for sub in d.iterdir():
            if sub.is_dir() and _SEGMENT_DIR.fullmatch(sub.name):
                shutil.rmtree(sub, ignore_errors=True)


class Store:
    def __init__(self, settings: Settings, embedder_id: str) -> None:
        self.settings = settings
        self.embedder_id = embedder_id
        self.client = _client(settings)
        self.name = settings.collection
        self._chunks = None
        self._docs = None

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
                raise StoreError(f"no documents are indexed in collection '{self.name}' yet: run `qa-bot ingest [PATHS]` first") from e
            raise StoreError(f"cannot open collection '{self.name}': {type(e).__name__}: {str(e)[:200]}; rebuild with `qa-bot ingest --rebuild`") from e
        built_with = (self._chunks.metadata or {}).get("embedder")
        if built_with and built_with != self.embedder_id:
            raise StoreError(
                f"collection '{self.name}' was built with the '{built_with}' embedder but '{self.embedder_id}' is configured: "
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
        for name in (self.name, f"{self.name}__docs"):
            try:
                self.client.delete_collection(name)
            except Exception:
                pass  # absent already
        self._chunks = self._docs = None

    # --- versions ----------------------------------------------------------------------------------------------
    @_guarded
    def version(self) -> str:
        """Changes on every write; fetched fresh so other processes' writes are seen."""
        meta = self.client.get_collection(self.name, embedding_function=None).metadata or {}
        return str(meta.get("version", "0"))

    def _bump(self) -> None:
        self.chunks.modify(metadata={"embedder": self.embedder_id, "version": uuid.uuid4().hex})

    # --- registry ----------------------------------------------------------------------------------------------
    @_guarded
    def registry(self, doc_ids: list[str] | None = None) -> dict[str, DocRecord]:
        """Every document's record, or only those of ``doc_ids`` (a search needs a handful, not all of them)."""
        if doc_ids is not None and not doc_ids:
            return {}
        got = self.docs.get(ids=doc_ids, include=["metadatas"])
        return {
            i: DocRecord(i, m.get("title", ""), m.get("source", ""), m.get("sha256", ""), int(m.get("n_chunks", 0)),
                         float(m["indexed_at"]) if m.get("indexed_at") is not None else None)
            for i, m in zip(got["ids"], got["metadatas"])
        }

    @_guarded
    def document_text(self, doc_id: str) -> str | None:
        got = self.docs.get(ids=[doc_id], include=["documents"])
        return got["documents"][0] if got["ids"] else None

    @_guarded
    def count(self) -> int:
        return self.chunks.count()

    # --- writes ------------------------------------------------------------------------------------------------
    @_guarded
    def write_document(self, doc: Document, chunks: list[Chunk], vectors: list[list[float]]) -> None:
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
        self.docs.upsert(
            ids=[doc.doc_id],
            embeddings=[[1.0]],
            documents=[doc.text],
            metadatas=[{"title": doc.title, "source": doc.source, "sha256": doc.sha256, "n_chunks": len(chunks), "indexed_at": time.time()}],
        )
        self.chunks.delete(where={"$and": [{"doc_id": doc.doc_id}, {"content_hash": {"$ne": doc.sha256}}]})
        self._bump()

    @_guarded
    def remove_document(self, doc_id: str) -> None:
        self.docs.delete(ids=[doc_id])
        self.chunks.delete(where={"doc_id": doc_id})
        self._bump()

    @_guarded
    def repair(self) -> int:
        """Delete chunks left by an interrupted write (no registry record, or a stale version). Returns how many."""
        registry = self.registry()
        live = {d.doc_id: d.sha256 for d in registry.values()}
        stale: list[str] = []
        have: dict[str, int] = {}
        for c in self.iter_chunks():
            if live.get(c.doc_id) != c.content_hash:
                stale.append(c.chunk_id)
            else:
                have[c.doc_id] = have.get(c.doc_id, 0) + 1
        for b in range(0, len(stale), _BATCH):
            self.chunks.delete(ids=stale[b : b + _BATCH])
        # Two writers racing on one server can delete each other's not-yet-committed chunks: a committed document
        # missing chunks loses its registry record, so this ingest writes it again instead of skipping it.
        incomplete = [d.doc_id for d in registry.values() if have.get(d.doc_id, 0) != d.n_chunks]
        if incomplete:
            self.docs.delete(ids=incomplete)
            self.chunks.delete(where={"doc_id": {"$in": incomplete}})
        if stale or incomplete:
            self._bump()
        return len(stale)

    # --- reads -------------------------------------------------------------------------------------------------
    def iter_chunks(self) -> Iterator[Chunk]:
        offset = 0
        while True:
            got = self._page(offset)
            if not got["ids"]:
                return
            for i, text, m in zip(got["ids"], got["documents"], got["metadatas"]):
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
        r = self.chunks.query(query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances", "embeddings"])
        return [
            (chunk_from_record(i, t, m), 1.0 - float(d), _floats(e))
            for i, t, m, d, e in zip(r["ids"][0], r["documents"][0], r["metadatas"][0], r["distances"][0], r["embeddings"][0])
        ]

    @_guarded
    def embeddings_for(self, ids: list[str]) -> dict[str, list[float]]:
        if not ids:
            return {}
        got = self.chunks.get(ids=ids, include=["embeddings"])
        return {i: _floats(e) for i, e in zip(got["ids"], got["embeddings"])}


def _floats(e) -> list[float]:
    """Chroma returns numpy rows: ``tolist()`` gives Python floats ~30x faster than ``list()`` (numpy scalars), which also
    made every later ``np.asarray`` slow."""
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
