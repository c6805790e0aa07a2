"""Concurrent chat load on the web app's ``/ask`` API: latency, errors, lost and mixed-up answers.

    .venv/bin/python benchmarks/load_chat.py [--requests 50] [--timeout 300] [--out benchmarks/results/load_chat.json]

Builds a temporary store (the bundled seeds/ and four SQuAD articles), computes the reference answer of 50+ distinct
questions with the Python API (``qa_bot.answer``, extractive: deterministic), starts ``python app.py`` on a free
127.0.0.1 port on that store, submits every request at once through one ``gradio_client.Client`` (Gradio's queue serves
them with the app's concurrency limit), waits for all of them under one deadline, then stops the app. A request counts
as ok only when its reply echoes its own question and its text equals that question's reference answer, so a lost,
failed or mixed-up reply is counted as such.
Traffic goes only to 127.0.0.1 and is bounded: ``--requests`` (at most 200) requests, one deadline for all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import SQUAD, clean_env, free_port, percentile, server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SQUAD_DOCS = ["Force", "Black_Death", "Amazon_rainforest", "Ctenophora"]
# Questions about the bundled seeds/ with the phrase the answer must contain (as in tests/integration/test_answer.py).
SEED_QUESTIONS = [
    ("Which sea were the joint flight drills over?", "Sea of Japan"),
    ("Who did Stoltenberg give an interview to?", "Kyodo News"),
    ("Who is the chief of NATO's Military Committee?", "Rob Bauer"),
    ("Where were the NATO naval exercises that Japan's Maritime Self-Defense Force joined?", "Mediterranean"),
]


def prepare(store: Path, docs: Path, n: int) -> list[dict]:
    """Index seeds/ (+ SQuAD articles when present) into ``store``; n distinct questions with reference answers."""
    from qa_bot import QABot
    from qa_bot.config import Settings

    docs.mkdir(parents=True)
    for f in (ROOT / "seeds").iterdir():
        shutil.copy(f, docs / f.name)
    pool = [{"question": q, "phrase": p} for q, p in SEED_QUESTIONS]
    if (SQUAD / "corpus").is_dir():
        for d in SQUAD_DOCS:
            shutil.copy(SQUAD / "corpus" / f"{d}.txt", docs / f"{d}.txt")
        rows = [json.loads(ln) for ln in (SQUAD / "questions_dev.jsonl").read_text().splitlines() if ln.strip()]
        seen = {q["question"] for q in pool}
        for r in rows:
            if r["gold_doc_id"] in SQUAD_DOCS and not r["is_impossible"] and r["question"] not in seen:
                seen.add(r["question"])
                pool.append({"question": r["question"], "phrase": r["answers"][0] if r["answers"] else None})
    settings = Settings(store_dir=store, chroma_host=None, collection="qa_bot", generator="extractive")
    # Closed before the web app is started on the same store.
    with QABot(settings) as service:
        report = service.ingest([docs])
        if not report.ok:
            raise RuntimeError(f"could not index the load-test documents: {report.failed}")
        # Spread over the pool; with seeds only, questions repeat (then only the question echo tells requests apart).
        step = max(1, len(pool) // n)
        picked = (pool[::step] + pool)[:n] if len(pool) >= n else [pool[i % len(pool)] for i in range(n)]
        for q in picked:
            ref = service.answer(q["question"], generator="extractive")
            q["reference"] = ref.text
            q["echo"] = ref.question  # the question as the bot normalises it (stripped)
            q["reference_has_phrase"] = bool(q["phrase"]) and q["phrase"].lower() in ref.text.lower()
    return picked


def app_command(store: Path, port: int, concurrency: int | None) -> tuple[list[str], dict[str, str]]:
    """The web app on the extractive generator, without seeding: (command, environment)."""
    env = clean_env(QA_BOT_STORE_DIR=str(store), QA_BOT_GENERATOR="extractive")
    if concurrency:
        env["QA_BOT_UI_CONCURRENCY"] = str(concurrency)
    return [sys.executable, "app.py", "--port", str(port), "-g", "extractive", "--no-seed"], env


def load(url: str, questions: list[dict], timeout: float) -> dict:
    from gradio_client import Client

    client = Client(url, verbose=False)
    client.predict(
        questions[0]["question"], api_name="/ask"
    )  # warm-up (embedder, BM25 mirror): not part of the numbers
    jobs = []
    t0 = time.perf_counter()
    for i, q in enumerate(questions):
        start = time.perf_counter()
        job = client.submit(q["question"], None, "extractive", None, api_name="/ask")
        jobs.append({"i": i, **q, "start": start, "job": job, "done": None})
        job.add_done_callback(lambda _f, rec=jobs[-1]: rec.__setitem__("done", time.perf_counter()))
    deadline = t0 + timeout
    results = []
    for rec in jobs:
        row = {"i": rec["i"], "question": rec["question"]}
        try:
            got = rec["job"].result(timeout=max(0.1, deadline - time.perf_counter()))
        except TimeoutError:
            row["status"] = "lost"  # no answer before the deadline
        except Exception as e:  # an error reply is a result to count
            row.update(status="error", error=f"{type(e).__name__}: {str(e)[:200]}")
        else:
            row["latency_s"] = round((rec["done"] or time.perf_counter()) - rec["start"], 3)
            ok = isinstance(got, dict) and got.get("question") == rec["echo"] and got.get("text") == rec["reference"]
            row["status"] = "ok" if ok else "wrong"
            if not ok:
                row["expected"] = rec["reference"]
                row["got"] = (
                    {k: got.get(k) for k in ("question", "text", "refused")}
                    if isinstance(got, dict)
                    else repr(got)[:200]
                )
        results.append(row)
    wall = time.perf_counter() - t0
    for rec in jobs:
        if not rec["job"].done():
            rec["job"].cancel()
    lat = [r["latency_s"] for r in results if "latency_s" in r]
    return {
        "requests": len(questions),
        "distinct_questions": len({q["question"] for q in questions}),
        "ok": sum(r["status"] == "ok" for r in results),
        "errors": sum(r["status"] == "error" for r in results),
        "lost": sum(r["status"] == "lost" for r in results),
        "wrong": sum(r["status"] == "wrong" for r in results),
        "references_containing_the_gold_answer": sum(q["reference_has_phrase"] for q in questions),
        "latency_s": {
            "p50": round(percentile(lat, 0.5), 3) if lat else None,
            "p95": round(percentile(lat, 0.95), 3) if lat else None,
            "max": max(lat) if lat else None,
            "min": min(lat) if lat else None,
        },
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(lat) / wall, 2) if wall else None,
        "failures": [r for r in results if r["status"] != "ok"][:10],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=300, help="deadline for all requests together (s)")
    ap.add_argument(
        "--concurrency", type=int, help="server concurrency limit (QA_BOT_UI_CONCURRENCY; default: the app's)"
    )
    ap.add_argument("--out", type=Path, default=HERE / "results" / "load_chat.json")
    a = ap.parse_args(argv)
    if not (ROOT / "app.py").exists():
        print("app.py does not exist: nothing to load-test", file=sys.stderr)
        return 2
    n = max(1, min(a.requests, 200))
    tmp = Path(tempfile.mkdtemp(prefix="qa-load-"))
    port = free_port()
    questions = prepare(tmp / "store", tmp / "docs", n)
    cmd, env = app_command(tmp / "store", port, a.concurrency)
    url = f"http://127.0.0.1:{port}/"
    try:
        with server(cmd, url, env, tmp / "app.log") as (_, ready):
            res = load(url, questions, a.timeout)
    finally:
        log_tail = (tmp / "app.log").read_text(errors="replace")[-2000:]
        shutil.rmtree(tmp, ignore_errors=True)
    res.update(
        app_ready_s=round(ready, 2),
        server_concurrency=a.concurrency or "app default",
        generator="extractive",
        loadavg_1m=round(os.getloadavg()[0], 2),
    )
    if res["errors"] or res["lost"] or res["wrong"]:
        res["app_log_tail"] = log_tail
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    lat = res["latency_s"]
    print(
        f"{n} concurrent /ask requests: {res['ok']} ok, {res['errors']} errors, {res['lost']} lost, "
        f"{res['wrong']} wrong; "
        f"p50 {lat['p50']} s, p95 {lat['p95']} s, max {lat['max']} s; wall {res['wall_s']} s; wrote {a.out}"
    )
    return 0 if res["ok"] == n else 1


if __name__ == "__main__":
    sys.exit(main())
