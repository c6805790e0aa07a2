"""The dev-data fitting script's threshold choice (eval/fit_abstention.py; no model, no result files)."""

from __future__ import annotations

import pytest
from support.project import load_eval_script


@pytest.fixture(scope="module")
def fit():
    return load_eval_script("fit_abstention")


def test_threshold_weighs_each_dev_set_the_same(fit):
    # Set 0 (2 answers, both right, P 0.3) and set 1 (4 wrong answers at P 0.3, one right at 0.6).
    ps = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.6]
    ys = [1, 1, 0, 0, 0, 0, 1]
    groups = [0, 0, 1, 1, 1, 1, 1]
    # Pooled, the larger set decides: refuse everything at 0.3 (5 of 7 decisions right).
    assert fit.best_threshold(ps, ys) == (0.6, pytest.approx(5 / 7))
    # Per set: answering at 0.3 is right for all of set 0 and 1 of 5 of set 1 (mean 0.6) > refusing (mean 0.5).
    assert fit.best_threshold(ps, ys, groups) == (0.3, pytest.approx(0.6))


def test_cross_validation_reports_pooled_and_per_set_held_out_accuracy(fit):
    from qa_bot.verify.abstain import Signals

    names = Signals.names()
    at = names.index("evidence_answers")

    def vector(v: float) -> list[float]:
        x = [0.5] * len(names)
        x[at] = v
        return x

    # Set 0: 10 answers the signal separates; set 1: 30 answers where it is noise (right and wrong at the same values).
    xs = [vector(0.9 if i % 2 else 0.1) for i in range(10)] + [vector(0.1 + 0.8 * (i % 3 == 0)) for i in range(30)]
    ys = [i % 2 for i in range(10)] + [int(i % 2 == 0) for i in range(30)]
    groups = [0] * 10 + [1] * 30
    pooled, per_set = fit.cross_validate(xs, ys, groups, names, l2=0.1)
    assert 0.0 <= pooled <= 1.0 and 0.0 <= per_set <= 1.0
    # The separable small set counts as much as the noisy large one: the per-set mean is above the pooled accuracy.
    assert per_set > pooled


def test_labels_are_regraded_by_today_s_grader_not_read_from_the_record(fit):
    q = "For how many years in a row has Kishida taken part in NATO's highest-level discussions?"
    base = {"question": q, "answers": ["third year", "three years"], "is_impossible": False}
    # recorded as wrong by the grader of the day, right by today's (the question already says "years")
    assert fit.label_of(base | {"draft": "Three [1]", "draft_correct": False}) == 1
    assert fit.label_of(base | {"draft": "Two [1]", "draft_correct": True}) == 0
    assert fit.label_of(base | {"draft": "", "draft_correct": True}) == 0  # refused before a draft
    assert fit.label_of(base | {"draft": "Three [1]", "is_impossible": True, "answers": []}) == 0
