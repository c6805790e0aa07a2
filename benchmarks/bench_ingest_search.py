"""Ingest throughput and search latency on a real corpus, into a fresh temporary embedded store.

    .venv/bin/python benchmarks/bench_ingest_search.py [--corpus DIR] [--questions FILE] [--queries 100]

Prints a summary and writes JSON to benchmarks/results/ingest_search.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import CORPUS, QUESTIONS, peak_rss_mb, percentile

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = CORPUS
DEFAULT_QUESTIONS = QUESTIONS


def current_rss_mb() -> float | None:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return None


def pick_questions(path: Path, n: int) -> list[dict]:
    """n questions spread evenly over the file (it is grouped by article), deterministic."""
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    if n >= len(rows):
        return rows
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of documents to ingest")
    ap.add_argument(
        "--questions",
        type=Path,
        default=DEFAULT_QUESTIONS,
        help="JSONL with a 'question' field (and optional 'gold_doc_id')",
    )
    ap.add_argument("--queries", type=int, default=100, help="number of timed search queries")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "ingest_search.json")
    ap.add_argument("--keep-store", action="store_true", help="don't delete the temporary store")
    args = ap.parse_args(argv)

    from qa_bot.config import Settings
    from qa_bot.ingestion.indexer import discover
    from qa_bot.schema import IngestReport
    from qa_bot.service import QABot

    if not args.corpus.is_dir():
        print(f"corpus folder not found: {args.corpus}", file=sys.stderr)
        return 2
    files, _ = discover([args.corpus], IngestReport())
    in_bytes = sum(f.stat().st_size for f in files)
    store_dir = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    settings = Settings(store_dir=store_dir, chroma_host=None)
    rss_start = peak_rss_mb()
    service = QABot(settings)
    try:
        t = time.perf_counter()
        service.embedder.embed_query("warm up")  # model load, reported apart from ingest
        model_load = time.perf_counter() - t

        # Time the two expensive stages inside ingest (embedding, Chroma writes) by wrapping them.
        from qa_bot.index.store import Store

        stage = {"embed": 0.0, "store_write": 0.0}
        emb = service.embedder
        orig_embed, orig_write = emb.embed_documents, Store.write_document

        def timed_embed(texts):
            t0 = time.perf_counter()
            try:
                return orig_embed(texts)
            finally:
                stage["embed"] += time.perf_counter() - t0

        def timed_write(self, *a, **kw):
            t0 = time.perf_counter()
            try:
                return orig_write(self, *a, **kw)
            finally:
                stage["store_write"] += time.perf_counter() - t0

        emb.embed_documents, Store.write_document = timed_embed, timed_write
        t, c = time.perf_counter(), time.process_time()
        try:
            report = service.ingest([args.corpus])
        finally:
            del emb.embed_documents
            Store.write_document = orig_write
        ingest_s, ingest_cpu = time.perf_counter() - t, time.process_time() - c
        rss_after_ingest = peak_rss_mb()
        if not report.ok:
            for issue in report.failed:
                print(f"failed: {issue.path}: {issue.reason}", file=sys.stderr)

        questions = pick_questions(args.questions, args.queries + 1)
        t = time.perf_counter()
        _ = service.bot  # opens the store for reading (and the answer chain around it)
        open_s = time.perf_counter() - t
        t = time.perf_counter()
        service.search(questions[0]["question"])  # warm-up: builds the BM25 mirror
        first_s = time.perf_counter() - t

        indexed = set(report.doc_ids)  # gold documents count only when they are in this corpus
        lat: list[float] = []
        found = top1 = answerable = 0
        for q in questions[1:]:
            t = time.perf_counter()
            hits = service.search(q["question"])
            lat.append(time.perf_counter() - t)
            gold = q.get("gold_doc_id")
            if gold in indexed and not q.get("is_impossible", False):
                answerable += 1
                docs = [h.chunk.doc_id for h in hits]
                found += gold in docs
                top1 += bool(docs) and docs[0] == gold

        # re-ingest of the unchanged corpus: the incremental no-op path
        t = time.perf_counter()
        again = service.ingest([args.corpus])
        reingest_s = time.perf_counter() - t
        store_mb = sum(f.stat().st_size for f in store_dir.rglob("*") if f.is_file()) / 2**20
    finally:
        service.close()
        if not args.keep_store:
            shutil.rmtree(store_dir, ignore_errors=True)

    import chromadb

    ms = [x * 1000 for x in lat]
    result = {
        "corpus": str(args.corpus),
        "files": report.files,
        "files_failed": len(report.failed),
        "input_mb": round(in_bytes / 2**20, 3),
        "chunks": report.chunks,
        "ingest_seconds": round(ingest_s, 2),
        "chunks_per_s": round(report.chunks / ingest_s, 1),
        "mb_per_s": round(in_bytes / 2**20 / ingest_s, 4),
        "ingest_cpu_seconds": round(ingest_cpu, 2),
        "ingest_embed_seconds": round(stage["embed"], 2),
        "ingest_store_write_seconds": round(stage["store_write"], 2),
        "model_load_seconds": round(model_load, 2),
        "reingest_noop_seconds": round(reingest_s, 2),
        "reingest_skipped": again.skipped,
        "store_mb": round(store_mb, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_rss_mb_after_ingest": round(rss_after_ingest, 1),
        "peak_rss_mb_at_start": round(rss_start, 1),
        "rss_mb_now": None if current_rss_mb() is None else round(current_rss_mb(), 1),
        "search": {
            "queries": len(ms),
            "k": settings.retrieval.top_k,
            "retriever_open_ms": round(open_s * 1000, 1),
            "first_search_ms_incl_bm25_build": round(first_s * 1000, 1),
            "p50_ms": round(percentile(ms, 0.50), 1),
            "p95_ms": round(percentile(ms, 0.95), 1),
            "mean_ms": round(statistics.fmean(ms), 1),
            "min_ms": round(min(ms), 1),
            "max_ms": round(max(ms), 1),
            "answerable_queries": answerable,
            "gold_doc_in_top_k": round(found / answerable, 3) if answerable else None,
            "gold_doc_at_rank_1": round(top1 / answerable, 3) if answerable else None,
        },
        "settings": {
            "chunk_size": settings.ingestion.chunk_size,
            "chunk_overlap": settings.ingestion.chunk_overlap,
            "embedder": settings.embedding.embedder,
            "embed_batch_size": settings.embedding.embed_batch_size,
            "fetch_k": settings.retrieval.fetch_k,
        },
        "env": {
            "cpus": os.cpu_count(),
            "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "chromadb": chromadb.__version__,
            "platform": platform.platform(),
        },
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, args.out)

    s = result["search"]
    print(
        f"ingest: {result['files']} files ({result['input_mb']} MB) -> {result['chunks']} chunks "
        f"in {result['ingest_seconds']} s "
        f"= {result['chunks_per_s']} chunks/s, {result['mb_per_s']} MB/s "
        f"(model load {result['model_load_seconds']} s apart); "
        f"no-op re-ingest {result['reingest_noop_seconds']} s\n"
        f"ingest stages: embedding {result['ingest_embed_seconds']} s, "
        f"Chroma writes {result['ingest_store_write_seconds']} s; "
        f"process CPU {result['ingest_cpu_seconds']} s\n"
        f"search: {s['queries']} queries, p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, mean {s['mean_ms']} ms "
        f"(first search incl. BM25 build {s['first_search_ms_incl_bm25_build']} ms); "
        f"gold doc in top-{s['k']}: {s['gold_doc_in_top_k']}, "
        f"at rank 1: {s['gold_doc_at_rank_1']}\n"
        f"peak RSS {result['peak_rss_mb']} MB; store {result['store_mb']} MB; "
        f"load avg {result['env']['loadavg_1m_at_end']} on "
        f"{result['env']['cpus']} CPUs\nwrote {args.out}"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
