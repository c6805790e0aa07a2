"""BM25 side index (bm25s) mirroring the Chroma collection, persisted beside it and rebuilt when the collection changes."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import bm25s
import numpy as np

from .schema import Chunk
from .store import Store, chunk_from_record

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

    def ensure(self, store: Store) -> None:
        """Make this index match the store's current version: load from disk if it matches, else rebuild."""
        version = store.version()
        if version == self.version:
            return
        with self._lock:
            if version == self.version:
                return
            if not self._load(version):
                self._build(store, version)

    def _load(self, version: str) -> bool:
        meta = self.dir / "meta.json"
        try:
            info = json.loads(meta.read_text())
            if info.get("version") != version:
                return False
            records = [json.loads(ln) for ln in (self.dir / "chunks.jsonl").read_text().splitlines()]
            chunks = [chunk_from_record(r["id"], r["text"], r["meta"]) for r in records]
            retriever = bm25s.BM25.load(str(self.dir / "bm25"), show_progress=False) if chunks else None
        except (OSError, ValueError, KeyError):
            return False  # absent or damaged: rebuild from the store, which is the source of truth
        self.retriever, self.chunks, self.version = retriever, chunks, version
        return True

    def _build(self, store: Store, version: str) -> None:
        chunks = list(store.iter_chunks())
        retriever = None
        if chunks:
            retriever = bm25s.BM25()
            retriever.index(_tokenize([index_text(c) for c in chunks]), show_progress=False)
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.dir.parent, prefix=".bm25-"))
        try:
            if retriever is not None:
                retriever.save(str(tmp / "bm25"), show_progress=False)
            with open(tmp / "chunks.jsonl", "w") as f:
                for c in chunks:
                    f.write(json.dumps({"id": c.chunk_id, "text": c.text, "meta": c.metadata()}) + "\n")
            (tmp / "meta.json").write_text(json.dumps({"version": version, "n": len(chunks)}))
            # Swap directories so a concurrent reader never sees half an index.
            old = self.dir.with_name(self.dir.name + f".old-{os.getpid()}")
            if self.dir.exists():
                os.replace(self.dir, old)
            os.replace(tmp, self.dir)
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # the in-memory index still works; disk is only a cache
        self.retriever, self.chunks, self.version = retriever, chunks, version

    def search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        if self.retriever is None or not self.chunks:
            return []
        # Query tokens go in as strings: the index maps them onto its own vocabulary and drops unknown ones.
        tokens = [[t for t in _tokenize([query], return_ids=False)[0] if t in self.retriever.vocab_dict]]
        if not tokens[0]:
            return []
        k = min(k, len(self.chunks))
        docs, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [(self.chunks[int(i)], float(s)) for i, s in zip(np.asarray(docs[0]), np.asarray(scores[0])) if s > 0]
