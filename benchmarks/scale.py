"""Large synthetic-but-realistic collections for search benchmarks.

Embedding 100k chunks for real takes ~40 min on 2 cores, so a large collection is built from a *base* set of real
chunks (SQuAD Wikipedia paragraphs ingested with the real MiniLM embedder): replica ``r`` of a base document keeps the
real text of every chunk plus a distinct suffix, and its vectors are the real vectors plus small Gaussian noise,
re-normalised (cosine to the original ~0.93). Everything goes in through the project's ``Store.write_document``, so the
registry, the version stamp and the BM25 mirror are the real ones; searches then use the real ``Retriever``.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import QUESTIONS, peak_rss_mb, percentile

from qa_bot.config import Settings
from qa_bot.index.store import chunk_from_record, open_store
from qa_bot.schema import Chunk, Document


@dataclass
class BaseDoc:
    doc_id: str
    title: str
    texts: list[str]
    vectors: np.ndarray  # (n_chunks, dim), unit rows


def load_base(settings: Settings) -> list[BaseDoc]:
    """Every live chunk (text + real embedding) of an ingested store, grouped by document in chunk order."""
    by_doc: dict[str, list[tuple[Chunk, np.ndarray]]] = defaultdict(list)
    with open_store(settings) as store:  # below the service: the chunks' vectors as stored
        store.open_for_read()
        live = {d.doc_id: d.sha256 for d in store.registry().values()}
        offset = 0
        while True:
            got = store.chunks.get(include=["documents", "metadatas", "embeddings"], limit=1000, offset=offset)
            if not got["ids"]:
                break
            for i, t, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True):
                c = chunk_from_record(i, t, m)
                if live.get(c.doc_id) == c.content_hash:
                    by_doc[c.doc_id].append((c, np.asarray(e, dtype=np.float32)))
            offset += len(got["ids"])
    out = []
    for doc_id in sorted(by_doc):
        items = sorted(by_doc[doc_id], key=lambda x: x[0].start)
        out.append(BaseDoc(doc_id, items[0][0].title, [c.text for c, _ in items], np.stack([v for _, v in items])))
    return out


def _replica(
    base: BaseDoc, r: int, n: int | None, rng: np.random.Generator, noise: float
) -> tuple[Document, list[Chunk], list[list[float]]]:
    """Replica ``r`` of ``base`` (its first ``n`` chunks): real text + a distinct suffix, real vectors + noise."""
    doc_id = f"{base.doc_id}__r{r:04d}"
    texts = base.texts[:n] if n else base.texts
    pieces = [f"{t} [{doc_id}:{i}]" for i, t in enumerate(texts)]
    text = "\n\n".join(pieces)
    sha = hashlib.sha256(text.encode()).hexdigest()
    title = f"{base.title} (copy {r})"
    chunks, pos = [], 0
    for i, p in enumerate(pieces):
        chunks.append(
            Chunk(
                f"{doc_id}::{sha[:12]}::{i:05d}", doc_id, title, f"synthetic://{doc_id}.txt", pos, pos + len(p), p, sha
            )
        )
        pos += len(p) + 2
    v = base.vectors[: len(pieces)]
    if r > 0:  # replica 0 keeps the exact real vectors
        v = v + rng.normal(0.0, noise, size=v.shape).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
    return Document(doc_id, title, f"synthetic://{doc_id}.txt", text, sha), chunks, v.tolist()


def build_collection(
    settings: Settings, base: list[BaseDoc], n_chunks: int, noise: float = 0.02, seed: int = 0, log=print
) -> dict:
    """Write exactly ``n_chunks`` chunks (replicas of the base documents, round-robin) through ``Store.write_document``
    (below the service, which only ingests files: these chunks come with their vectors)."""
    rng = np.random.default_rng(seed)
    store = open_store(settings)
    store.reset()
    store.open_for_write()
    written = docs = 0
    t0 = time.perf_counter()
    r = 0
    next_log = 0
    while written < n_chunks:
        for b in base:
            if written >= n_chunks:
                break
            take = min(len(b.texts), n_chunks - written)
            doc, chunks, vecs = _replica(b, r, take, rng, noise)
            store.write_document(doc, chunks, vecs)
            written += len(chunks)
            docs += 1
            if written >= next_log:
                log(f"  ... {written:,}/{n_chunks:,} chunks ({time.perf_counter() - t0:.0f} s)")
                next_log += max(10_000, n_chunks // 5)
        r += 1
    info = {
        "chunks": store.count(),
        "documents": docs,
        "replicas": r,
        "write_seconds": round(time.perf_counter() - t0, 1),
    }
    store.close()
    return info


# --- measuring -------------------------------------------------------------------------------------------------------
def base_fingerprint(base: list[BaseDoc]) -> str:
    h = hashlib.sha256()
    for b in base:
        h.update(b.doc_id.encode())
        for t in b.texts:
            h.update(t.encode())
    return h.hexdigest()[:16]


def time_search(settings: Settings, questions: list[dict], gold_of=lambda doc_id: doc_id) -> dict:
    """The real search (``QABot.search``: dense + BM25 + fusion + MMR): open, first search (BM25 mirror load/build),
    then every question timed (wall and process CPU, which counts Chroma's and onnxruntime's threads too)."""
    import os

    from qa_bot.service import QABot

    service = QABot(settings)
    t = time.perf_counter()
    retriever = service.bot.retriever  # opens the store (and loads the embedder)
    open_s = time.perf_counter() - t
    t = time.perf_counter()
    service.search(questions[0]["question"])
    first_s = time.perf_counter() - t
    lat, cpu = [], []
    found = answerable = 0
    for q in questions[1:]:
        t, c = time.perf_counter(), time.process_time()
        hits = service.search(q["question"])
        lat.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        if q.get("gold_doc_id") and not q.get("is_impossible"):
            answerable += 1
            found += any(gold_of(h.chunk.doc_id) == q["gold_doc_id"] for h in hits)
    chunks = retriever.store.count()
    service.close()
    return {
        "chunks": chunks,
        "queries": len(lat),
        "k": settings.retrieval.top_k,
        "fetch_k": settings.retrieval.fetch_k,
        "p50_ms": round(percentile(lat, 0.5), 1),
        "p95_ms": round(percentile(lat, 0.95), 1),
        "mean_ms": round(float(np.mean(lat)), 1),
        "max_ms": round(max(lat), 1),
        "cpu_p50_ms": round(percentile(cpu, 0.5), 1),
        "cpu_mean_ms": round(float(np.mean(cpu)), 1),
        "retriever_open_ms": round(open_s * 1000, 1),
        "first_search_ms": round(first_s * 1000, 1),
        "gold_doc_in_top_k": round(found / answerable, 3) if answerable else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def replica_gold(doc_id: str) -> str:
    return doc_id.split("__r")[0]


def _settings(store: Path) -> Settings:
    return Settings(store_dir=store, chroma_host=None, collection="qa_bot", embedder="minilm")


def main(argv: list[str] | None = None) -> int:
    """Workers run by run_all.py in their own processes (clean peak RSS, no state shared between sizes).

    build  --base STORE --store DIR --n N : write N replicated chunks, then time the first search (BM25 mirror build)
    search --store DIR --questions FILE --queries Q : time Retriever.search
    """
    import argparse
    import json
    import os
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["build", "search"])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--base", type=Path)
    ap.add_argument("--n", type=int)
    ap.add_argument("--noise", type=float, default=0.02)
    ap.add_argument("--questions", type=Path, default=QUESTIONS)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    settings = _settings(a.store)
    if a.mode == "build":
        base = load_base(_settings(a.base))
        info = build_collection(settings, base, a.n, noise=a.noise, log=lambda m: print(m, file=sys.stderr, flush=True))
        from qa_bot.service import QABot

        t = time.perf_counter()
        with QABot(settings) as service:
            service.search("warm-up query that builds the BM25 mirror")
        info["bm25_build_s"] = round(time.perf_counter() - t, 1)
        info.update(n=a.n, noise=a.noise, base=base_fingerprint(base), base_chunks=sum(len(b.texts) for b in base))
        info["store_mb"] = round(sum(f.stat().st_size for f in a.store.rglob("*") if f.is_file()) / 2**20, 1)
        info["peak_rss_mb"] = round(peak_rss_mb(), 1)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_ingest_search import pick_questions

        info = time_search(settings, pick_questions(a.questions, a.queries + 1), gold_of=replica_gold)
    tmp = a.out.with_name(a.out.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
