"""Evaluation harness end to end: the CI gate on the real seed question set (`qa-bot eval`, extractive generator) and
the LangChain peer recipe scored by the same evaluation. The metrics on hand-made cases:
tests/unit/test_eval_metrics.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.project import ROOT

from qa_bot.evaluation.evaluate import load_questions

SEEDS_QUESTIONS = ROOT / "eval" / "seeds_questions.jsonl"
THRESHOLDS = ROOT / "eval" / "thresholds.json"


# --- the CI gate: the real seed evaluation, extractive generator -------------------------------------------------
@pytest.fixture(scope="module")
def seed_eval(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "qa_bot.apps.cli",
            "eval",
            str(SEEDS_QUESTIONS),
            "-g",
            "extractive",
            "--out",
            str(out),
            "--thresholds",
            str(THRESHOLDS),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    return proc, out


def test_seed_eval_writes_every_output(seed_eval):
    proc, out = seed_eval
    assert (out / "results.json").is_file() and (out / "report.md").is_file(), proc.stderr[-3000:]
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = json.loads((out / "results.json").read_text())
    assert len(run["results"]) == len(load_questions(SEEDS_QUESTIONS).items)
    assert run["generator"] == "extractive" and run["metrics"]["errors"] == 0
    assert "## Metrics" in (out / "report.md").read_text()
    # Time to the first streamed text: measured per question, never after the whole answer.
    for r in run["results"]:
        assert 0 < r["timings"]["first_text"] <= r["timings"]["total"]
    assert "| first_text |" in (out / "report.md").read_text()
    # The passages are shown before the answer is written: retrieval is over before any answer text.
    for r in run["results"]:
        if "retrieve" in r["timings"]:
            assert 0 < r["timings"]["sources_shown"] <= r["timings"]["total"]
    assert "| sources_shown |" in (out / "report.md").read_text()


def _thresholds() -> list[tuple[str, str, float]]:
    spec = json.loads(THRESHOLDS.read_text())
    return [("min", k, v) for k, v in spec["min"].items()] + [("max", k, v) for k, v in spec.get("max", {}).items()]


@pytest.mark.parametrize(("bound", "metric", "limit"), _thresholds(), ids=lambda x: str(x))
def test_seed_eval_meets_threshold(seed_eval, bound, metric, limit):
    _, out = seed_eval
    value = json.loads((out / "results.json").read_text())["metrics"][metric]
    if bound == "min":
        assert value >= limit, f"{metric} regressed: {value:.3f} < {limit}"
    else:
        assert value <= limit, f"{metric} regressed: {value:.3f} > {limit}"


def test_seed_eval_gate_exit_code(seed_eval):
    proc, _ = seed_eval
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


# --- the peer (benchmarks/peer_langchain_rag.py) goes through the same metrics ---------------------------------------
def test_peer_langchain_recipe_is_scored_by_the_same_evaluation(smollm_gguf, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from peer_langchain_rag import RAG_PROMPT, peer_answer
    finally:
        sys.path.pop(0)
    from qa_bot.config import Settings
    from qa_bot.evaluation.evaluate import run_eval

    assert "If you don't know the answer, just say that you don't know" in RAG_PROMPT.messages[0].prompt.template
    settings = Settings(
        local_model_path=smollm_gguf, max_tokens=32, local_ctx=2048, openai_api_key=None, openai_base_url=None
    )
    run = run_eval(
        SEEDS_QUESTIONS,
        generator="local",
        limit=3,
        settings=settings,
        store_dir=tmp_path / "store",
        answerer=peer_answer,
    )
    assert len(run.results) == 3 and not any(r["error"] for r in run.results)
    for r in run.results:
        assert r["hits"] and len(r["hits"]) == 4  # top-4 similarity search over the same store
        assert r["citations"] == [] and r["confidence"] is None  # the recipe neither cites nor calibrates
    assert run.metrics["n"] == 3 and "total" in run.metrics["latency"]
