"""BM25 side index (bm25s) mirroring the Chroma collection, persisted beside it and rebuilt when the collection
changes."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import bm25s
import numpy as np

from qa_bot.index.store import Store, chunk_from_record
from qa_bot.schema import Chunk

try:
    import Stemmer

    _STEMMER = Stemmer.Stemmer("english")
except ImportError:  # PyStemmer is a dependency; stay usable without it
    _STEMMER = None


def _tokenize(texts: list[str], return_ids: bool = True):
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False, return_ids=return_ids)


def index_text(chunk: Chunk) -> str:
    # The title is indexed with every chunk: questions often name the topic only the headline states.
    return f"{chunk.title}\n{chunk.text}"


class LexicalIndex:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.version: str | None = None
        self.retriever: bm25s.BM25 | None = None
        self.chunks: list[Chunk] = []
        self._lock = threading.Lock()

    def ensure(self, store: Store, version: str | None = None) -> None:
        """Make this index match the store's version (``version`` if the caller just read it): load it from disk if
        saved there, else rebuild it from the store."""
        version = version if version is not None else store.version()
        if version == self.version:
            return
        with self._lock:
            if version == self.version:
                return
            if not self._load(version):
                self._build(store, version)

    def _load(self, version: str, attempts: int = 3) -> bool:
        """Load the saved index of ``version``: one consistent copy, though another process may swap the folder
        meanwhile.

        The index is several files read one after another. meta.json carries a nonce unique to each saved copy and is
        read before and after the others: the same nonce both times means no swap happened in between (every swap
        installs a new nonce), and the record counts must agree with meta. Otherwise try again, then give up (the caller
        rebuilds)."""
        for _ in range(attempts):
            try:
                info = json.loads((self.dir / "meta.json").read_text())
                if info.get("version") != version:
                    return False
                records = [json.loads(ln) for ln in (self.dir / "chunks.jsonl").read_text().splitlines()]
                chunks = [chunk_from_record(r["id"], r["text"], r["meta"]) for r in records]
                retriever = bm25s.BM25.load(str(self.dir / "bm25"), show_progress=False) if chunks else None
                again = json.loads((self.dir / "meta.json").read_text())
            except (OSError, ValueError, KeyError):
                continue  # absent, damaged, or swapped away mid-read
            n, nonce = info.get("n"), info.get("nonce")
            unswapped = nonce is not None and again.get("nonce") == nonce
            if unswapped and len(chunks) == n and (retriever is None or int(retriever.scores["num_docs"]) == n):
                self.retriever, self.chunks, self.version = retriever, chunks, version
                return True
        return False

    def _build(self, store: Store, version: str) -> None:
        chunks = list(store.iter_chunks())
        retriever = None
        if chunks:
            retriever = bm25s.BM25()
            retriever.index(_tokenize([index_text(c) for c in chunks]), show_progress=False)
        # Chunks are read page by page while a writer may be at work: a copy read across a write is used in memory but
        # not saved under a version it may not match (the next search rebuilds it, at the new version).
        if store.version() == version:
            self._save(chunks, retriever, version)
        self.retriever, self.chunks, self.version = retriever, chunks, version

    def _save(self, chunks: list[Chunk], retriever: bm25s.BM25 | None, version: str) -> None:
        """Write the index to a temporary folder, make it durable, then swap it in (readers never see half of one)."""
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.dir.parent, prefix=".bm25-"))
        try:
            if retriever is not None:
                retriever.save(str(tmp / "bm25"), show_progress=False)
            with open(tmp / "chunks.jsonl", "w") as f:
                for c in chunks:
                    f.write(json.dumps({"id": c.chunk_id, "text": c.text, "meta": c.metadata()}) + "\n")
            (tmp / "meta.json").write_text(
                json.dumps({"version": version, "n": len(chunks), "nonce": uuid.uuid4().hex})
            )
            # fsync before the swap: after a power cut the folder holds either the old copy or all of the new one.
            for path in [*tmp.rglob("*"), tmp]:
                _fsync(path)
            old = self.dir.with_name(self.dir.name + f".old-{os.getpid()}-{threading.get_ident()}")
            if self.dir.exists():
                os.replace(self.dir, old)
            os.replace(tmp, self.dir)
            _fsync(self.dir.parent)
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # the in-memory index still works; disk is only a cache

    def search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        if self.retriever is None or not self.chunks:
            return []
        # Query tokens go in as strings: the index maps them onto its own vocabulary and drops unknown ones.
        tokens = [[t for t in _tokenize([query], return_ids=False)[0] if t in self.retriever.vocab_dict]]
        if not tokens[0]:
            return []
        k = min(k, len(self.chunks))
        docs, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [
            (self.chunks[int(i)], float(s))
            for i, s in zip(np.asarray(docs[0]), np.asarray(scores[0]), strict=True)
            if s > 0
        ]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
