"""Evaluation metrics on hand-made cases: SQuAD EM/F1 (against the official script), answer types, retrieval
recall/MRR, ALCE citation scores, aggregation and the threshold gate. The gate on the real seed question set:
tests/integration/test_evaluate.py."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.project import ROOT

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

SQUAD = ROOT / "eval" / "squad_v2"

KISHI = (
    "Japanese Defense Minister Nobuo Kishi said after meeting with NATO Military Committee chief Rob Bauer "
    "that Japan hopes to strengthen its ties."
)
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


def test_a_number_word_and_its_digits_are_the_same_answer_and_a_list_needs_no_and():
    assert squad.contains(["four"], "4 [1]")
    assert squad.contains(["six to nine percent"], "6 to 9 percent [1]")
    assert squad.contains(["obesity, alcoholism, and drug use"], "Obesity, alcoholism, drug use [1]")
    assert not squad.contains(["four"], "14 [1]")
    assert not squad.contains(["obesity, alcoholism, and drug use"], "Obesity, alcoholism [1]")


def test_an_answer_may_leave_out_the_words_the_question_already_says():
    q = "For how many years in a row has Kishida taken part in NATO's highest-level discussions?"
    assert squad.contains(["three years"], "Three [1]", q)
    assert squad.contains(["three years"], "3 [1]", q)
    assert not squad.contains(["three years"], "Three [1]")  # without the question the unit is missing
    assert not squad.contains(["three years"], "Two [1]", q)
    # only words of the gold answer and the question: a longer answer is judged by containment alone
    assert not squad.contains(["three years"], "Three summits [1]", q)
    # the question's words alone are not an answer
    assert not squad.contains(["three years"], "years [1]", q)
    assert not squad.contains(["first Japanese leader"], "Japanese leader [1]", "What would Kishida become?")


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=3), st.text(max_size=60))
def test_every_gold_answer_is_a_correct_answer_whatever_the_question(golds, question):
    for g in golds:
        if any(t != "and" for t in squad.normalize(g).split()):
            assert squad.contains(golds, g, question)


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
