"""Hybrid retrieval: dense (Chroma) + BM25 (bm25s), fused by reciprocal rank, near-duplicates dropped, MMR-ordered."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from qa_bot.config import Settings
from qa_bot.index.embeddings import get_embeddings
from qa_bot.index.store import Store, open_store
from qa_bot.retrieval.lexical import LexicalIndex
from qa_bot.schema import Chunk, QABotError, SearchHit
from qa_bot.stages import Embedder
from qa_bot.text import passage_terms

# Term sets of whole documents kept for the next questions (a question reads at most top_k documents). The set, not the
# text: a long PDF is read from the store and tokenised once per version, and its text is not held in memory.
_DOCUMENT_TERMS_KEPT = 32


class Retriever:
    """Holds the store handle, the embedder and the BM25 mirror; safe to share between threads.

    ``embeddings`` and ``store``: given by the owner (a ``QABot`` shares its embedder, and gives the retriever a handle
    of its own that it closes itself); built here when left out, and then ``close()`` releases the store."""

    def __init__(self, settings: Settings, *, embeddings: Embedder | None = None, store: Store | None = None) -> None:
        self.settings = settings
        self.embeddings = embeddings if embeddings is not None else get_embeddings(settings)
        self._owns_store = store is None
        handle = store if store is not None else open_store(settings)
        try:
            self.store = handle.open_for_read()
        except BaseException:
            if self._owns_store:
                handle.close()
            raise
        self.lexical = LexicalIndex(settings.bm25_dir)
        self._lock = threading.Lock()
        self._terms: OrderedDict[tuple[str, str], frozenset[str] | None] = OrderedDict()

    def close(self) -> None:
        """Release the store handle, if this retriever opened it."""
        if self._owns_store:
            with self._lock:
                self.store.close()

    def search(self, query: str, k: int | None = None) -> list[SearchHit]:
        query = (query or "").strip()
        if not query:
            raise QABotError("the search query is empty")
        s = self.settings
        k = k or s.retrieval.top_k
        with self._lock:  # the embedded Chroma client and the BM25 swap are not meant for concurrent use
            # Another process's ingest: reopen an embedded store before reading it, and bring the BM25 mirror up to
            # date.
            self.lexical.ensure(self.store, self.store.refresh())
            qvec = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
            dense = self.store.query(qvec.tolist(), s.retrieval.fetch_k)
            lexical = self.lexical.search(query, s.retrieval.fetch_k)
            # Only the candidates' registry records: fetching all of them cost ~250 ms per query at 1.8k documents.
            doc_ids = sorted({c.doc_id for c, _, _ in dense} | {c.doc_id for c, _ in lexical})
            registry = {d.doc_id: d.sha256 for d in self.store.registry(doc_ids).values()}
        return fuse(qvec, dense, lexical, registry, s, k, self.store)

    def document_terms(self, doc_id: str, content_hash: str) -> frozenset[str] | None:
        key = (doc_id, content_hash)
        with self._lock:
            if key in self._terms:
                self._terms.move_to_end(key)
                return self._terms[key]
            text = self.store.document_text(doc_id)
        terms = frozenset(passage_terms(text)) if text else None  # outside the lock: searches need not wait for it
        with self._lock:
            self._terms[key] = terms
            while len(self._terms) > _DOCUMENT_TERMS_KEPT:
                self._terms.popitem(last=False)
        return terms


def fuse(qvec, dense, lexical, registry, s: Settings, k: int, store: Store) -> list[SearchHit]:
    hits: dict[str, SearchHit] = {}
    vectors: dict[str, np.ndarray] = {}
    for rank, (chunk, sim, emb) in enumerate(dense):
        h = hits.setdefault(chunk.chunk_id, SearchHit(chunk=chunk, score=0.0))
        h.dense = sim
        h.score += 1.0 / (s.retrieval.rrf_k + rank + 1)
        vectors[chunk.chunk_id] = np.asarray(emb, dtype=np.float32)
    for rank, (chunk, score) in enumerate(lexical):
        h = hits.setdefault(chunk.chunk_id, SearchHit(chunk=chunk, score=0.0))
        h.bm25 = score
        h.score += 1.0 / (s.retrieval.rrf_k + rank + 1)
    # Chunks of an interrupted or superseded write are invisible to readers.
    live = [h for h in hits.values() if registry.get(h.chunk.doc_id) == h.chunk.content_hash]
    missing = [h.chunk.chunk_id for h in live if h.chunk.chunk_id not in vectors]
    for cid, emb in store.embeddings_for(missing).items():
        vectors[cid] = np.asarray(emb, dtype=np.float32)
    for h in live:
        if h.dense is None and h.chunk.chunk_id in vectors:
            h.dense = float(vectors[h.chunk.chunk_id] @ qvec)
    live.sort(key=_rank_key, reverse=True)
    chosen = mmr(live, vectors, s.retrieval.mmr_lambda, s.retrieval.dedup_threshold, k)
    # MMR decides which passages; they are shown (and cited) best first.
    chosen.sort(key=_rank_key, reverse=True)
    for i, h in enumerate(chosen, 1):
        h.rank = i
    return chosen


def _rank_key(h: SearchHit) -> tuple[float, float]:
    # Reciprocal ranks tie whenever two chunks swap places between the retrievers: the closer meaning breaks the tie.
    return (round(h.score, 12), h.dense or 0.0)


def mmr(cands: list[SearchHit], vectors: dict[str, np.ndarray], lam: float, dup: float, k: int) -> list[SearchHit]:
    """Maximal marginal relevance over fused scores; candidates nearly identical to a chosen one are dropped."""
    if not cands:
        return []
    top = cands[0].score
    rel = {h.chunk.chunk_id: h.score / top for h in cands}
    chosen: list[SearchHit] = []
    pool = list(cands)
    while pool and len(chosen) < k:
        best, best_val = None, -1e9
        for h in pool:
            v = vectors.get(h.chunk.chunk_id)
            sim = max(
                (float(v @ vectors[c.chunk.chunk_id]) for c in chosen if v is not None and c.chunk.chunk_id in vectors),
                default=0.0,
            )
            if sim >= dup or _same_text(h.chunk, chosen):
                h.score = -1.0  # marks a duplicate for removal below
                continue
            val = lam * rel[h.chunk.chunk_id] - (1 - lam) * sim
            if val > best_val:
                best, best_val = h, val
        pool = [h for h in pool if h is not best and h.score >= 0]
        if best is None:
            break
        chosen.append(best)
    return chosen


def _same_text(chunk: Chunk, chosen: list[SearchHit]) -> bool:
    return any(chunk.text == c.chunk.text for c in chosen)
