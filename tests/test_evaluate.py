"""Evaluation harness: metric unit tests on hand-made cases, and the CI gate on the real seed question set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa_bot.evaluation import squad
from qa_bot.evaluation.evaluate import (
    Item,
    aggregate,
    check_thresholds,
    citation_scores,
    gold_spans,
    load_questions,
    passage_match,
    retrieval_scores,
)
from qa_bot.verify.answer_types import question_kind, short_answer, typed_span

ROOT = Path(__file__).resolve().parents[1]
SEEDS_QUESTIONS = ROOT / "eval" / "seeds_questions.jsonl"
THRESHOLDS = ROOT / "eval" / "thresholds.json"
SQUAD = ROOT / "eval" / "squad_v2"

KISHI = "Japanese Defense Minister Nobuo Kishi said after meeting with NATO Military Committee chief Rob Bauer that Japan hopes to strengthen its ties."
JETS = "The joint exercise involved four Japanese F-15 fighter jets and two US F-16s."


# --- SQuAD EM / F1 -----------------------------------------------------------------------------------------------
def test_em_f1_known_values():
    assert squad.exact("The Cat!", "cat") == 1
    assert squad.exact("cat", "a black cat") == 0
    # gold [cat, sat], prediction [cat, sat, on, mat]: precision 1/2, recall 1 -> F1 2/3
    assert squad.f1("the cat sat", "cat sat on the mat") == pytest.approx(2 / 3)
    assert squad.f1("Rob Bauer", "Bauer") == pytest.approx(2 * (1.0 * 0.5) / 1.5)
    assert squad.f1("Rob Bauer", "Kishi") == 0.0
    # abstention: "" is right only for an unanswerable question (no gold answers)
    assert squad.best_em_f1([], "") == (1, 1.0)
    assert squad.best_em_f1([], "Bauer") == (0, 0.0)
    assert squad.best_em_f1(["Rob Bauer"], "") == (0, 0.0)
    assert squad.best_em_f1(["Rob Bauer", "Bauer"], "Bauer") == (1, 1.0)  # max over gold answers


def test_containment_is_whole_words_after_normalisation():
    assert squad.contains(["Rob Bauer"], "It was Rob Bauer [1].")
    assert squad.contains(["the Sea of Japan"], "over Sea of Japan")
    assert not squad.contains(["art"], "The party went on.")
    assert not squad.contains([], "anything")


def test_our_em_f1_agree_with_the_official_script(tmp_path):
    questions = [
        {
            "id": "a",
            "question": "Who?",
            "answers": ["Rob Bauer", "Bauer"],
            "is_impossible": False,
            "gold_doc_id": "d",
            "gold_paragraph_id": "d#0",
        },
        {
            "id": "b",
            "question": "How many?",
            "answers": ["four"],
            "is_impossible": False,
            "gold_doc_id": "d",
            "gold_paragraph_id": "d#0",
        },
        {
            "id": "c",
            "question": "Budget?",
            "answers": [],
            "is_impossible": True,
            "gold_doc_id": "d",
            "gold_paragraph_id": "d#0",
        },
        {
            "id": "e",
            "question": "Base?",
            "answers": [],
            "is_impossible": True,
            "gold_doc_id": "d",
            "gold_paragraph_id": "d#0",
        },
    ]
    paragraphs = {"d#0": {"paragraph_id": "d#0", "doc_id": "d", "text": "Chief Rob Bauer saw four F-15 jets."}}
    preds = {"a": "chief Rob Bauer", "b": "four F-15 jets", "c": "", "e": "Tokyo"}
    official = squad.run_official(SQUAD / "evaluate-v2.0.py", squad.to_official(questions, paragraphs), preds, tmp_path)
    ours = [squad.best_em_f1(q["answers"], preds[q["id"]]) for q in questions]
    assert official["total"] == 4 and official["HasAns_total"] == 2 and official["NoAns_total"] == 2
    assert official["exact"] == pytest.approx(100 * sum(e for e, _ in ours) / 4)
    assert official["f1"] == pytest.approx(100 * sum(f for _, f in ours) / 4)
    assert official["f1"] == pytest.approx(100 * (0.8 + 0.5 + 1 + 0) / 4)


# --- short answers and answer types ------------------------------------------------------------------------------
def test_short_answer_by_question_type():
    assert short_answer("How many F-15 jets took part?", JETS + " [1]") == "four"
    assert short_answer("Who heads NATO's Military Committee?", KISHI + " [1]") == "Rob Bauer"
    assert (
        short_answer("When did the oil crisis begin?", "The 1973 oil crisis began in October 1973 [2].")
        == "October 1973"
    )
    assert short_answer("What is Japan's budget?", "The documents don't say.") == ""
    assert question_kind("In which city was the summit held?") == "place"
    assert question_kind("What did he say?") == "other"


def test_answer_type_check():
    assert typed_span("How many F-15 jets took part?", JETS) == "four"
    assert typed_span("How many member countries does NATO have?", KISHI) is None
    assert typed_span("What did Kishi say?", KISHI) is None  # "what" questions ask for no particular type


# --- retrieval ---------------------------------------------------------------------------------------------------
def test_recall_and_mrr():
    assert retrieval_scores([False, True, False, False]) == {"recall@1": 0.0, "recall@k": 1.0, "rr": 0.5}
    assert retrieval_scores([True, False]) == {"recall@1": 1.0, "recall@k": 1.0, "rr": 1.0}
    assert retrieval_scores([False, False, False, False]) == {"recall@1": 0.0, "recall@k": 0.0, "rr": 0.0}
    # two gold documents, one of them retrieved (at rank 3): recall@k 1/2
    assert retrieval_scores([False, False, True, False], n_gold=2, covered=1) == {
        "recall@1": 0.0,
        "recall@k": 0.5,
        "rr": pytest.approx(1 / 3),
    }


def test_gold_passage_matching():
    doc = "x" * 100 + "four Japanese F-15 fighter jets" + "y" * 100
    item = Item(id="q", type="single", question="?", gold_docs=["d"], gold_quotes=["four Japanese F-15 fighter jets"])
    spans = gold_spans(item, {"d": doc, "other": "four Japanese F-15 fighter jets"})
    assert spans == [("d", 100, 131, 0)]  # found in the gold document, not elsewhere
    assert passage_match(50, 150, "d", spans)  # holds the whole quote
    assert passage_match(110, 300, "d", spans)  # a chunk boundary cut the quote, but most of it is here
    assert not passage_match(125, 300, "d", spans)  # only a sliver of it
    assert not passage_match(50, 150, "other", spans)  # same offsets, another document
    para = [("d", 0, 1000, 0)]  # a long gold paragraph: a chunk inside it matches, one mostly outside doesn't
    assert passage_match(200, 900, "d", para) and not passage_match(800, 1700, "d", para)


# --- citations (ALCE) --------------------------------------------------------------------------------------------
def test_citation_right_and_deliberately_wrong():
    right = citation_scores("Japan sent four F-15 fighter jets [1].", {1: JETS})
    assert (right["precision"], right["recall"]) == (1.0, 1.0)
    wrong = citation_scores("Japan sent four F-15 fighter jets [1].", {1: KISHI})  # cites a passage that doesn't say it
    assert (wrong["precision"], wrong["recall"]) == (0.0, 0.0)


def test_citation_overcitation_and_missing_citation():
    over = citation_scores("Japan sent four F-15 fighter jets [1][2].", {1: JETS, 2: KISHI})
    assert over["recall"] == 1.0 and over["precision"] == 0.5  # [2] is not needed: ALCE counts it imprecise
    needed = citation_scores("Kishi met Rob Bauer and Japan sent four F-15 fighter jets [1][2].", {1: JETS, 2: KISHI})
    assert needed["recall"] == 1.0 and needed["precision"] == 1.0  # neither alone supports it; both are needed
    partial = citation_scores("Japan sent four F-15 fighter jets [1]. Kishi met Rob Bauer.", {1: JETS})
    assert partial["recall"] == 0.5 and partial["precision"] == 1.0  # the uncited sentence counts against recall


# --- aggregation and the gate ------------------------------------------------------------------------------------
def _result(impossible: bool, refused: bool, contains: bool, rank: int | None) -> dict:
    rel = [i + 1 == rank for i in range(4)]
    r = {
        "type": "unanswerable" if impossible else "single",
        "is_impossible": impossible,
        "refused": refused,
        "contains_gold": contains,
        "correct": refused if impossible else contains,
        "error": None,
        "em": 0,
        "f1": 0.0,
        "short_em": 0,
        "short_f1": 0.0,
        "timings": {"retrieve": 0.1, "generate": 0.2, "total": 0.3},
    }
    if not impossible:
        r["retrieval_doc"] = retrieval_scores(rel)
    return r


def test_aggregate_refusal_metrics():
    results = [
        _result(False, False, True, 1),
        _result(False, True, False, 2),
        _result(False, False, False, None),
        _result(False, False, True, 1),
        _result(True, True, False, None),
        _result(True, False, False, None),
    ]
    m = aggregate(results)
    assert m["answer_correctness"] == 0.5 and m["false_refusal_rate"] == 0.25
    assert m["refusal_accuracy"] == 0.5 and m["overall_accuracy"] == pytest.approx(3 / 6)
    assert m["doc_recall@k"] == 0.75 and m["doc_mrr"] == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert m["latency"]["total"]["p50"] == pytest.approx(0.3)


def test_check_thresholds():
    spec = {"min": {"answer_correctness": 0.8, "doc_recall@k": 0.9}, "max": {"false_refusal_rate": 0.1}}
    assert check_thresholds({"answer_correctness": 0.85, "doc_recall@k": 0.9, "false_refusal_rate": 0.05}, spec) == []
    failures = check_thresholds({"answer_correctness": 0.7, "doc_recall@k": None, "false_refusal_rate": 0.2}, spec)
    assert len(failures) == 3


def test_load_squad_questions():
    qs = load_questions(SQUAD / "questions_test.jsonl")
    assert qs.kind == "squad" and len(qs.items) == 200
    assert sum(i.is_impossible for i in qs.items) == 100
    dev = {json.loads(line)["id"] for line in (SQUAD / "questions_dev.jsonl").read_text().splitlines()}
    assert not dev & {i.id for i in qs.items}, "tuning questions must not overlap the test subset"
    assert all(i.gold_paragraph for i in qs.items)


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
