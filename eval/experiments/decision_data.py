"""Experiment: does the calibrated decision gain from more dev data, or from a proximity signal? (no model calls)

Reads recorded ``QA_BOT_ABSTAIN=none`` dev runs: the seed set, the first 140 SQuAD dev questions the shipped decision
was fitted on (``dev-squad-doc-terms``) and the other 260 (``dev-squad-rest``, drafted after that fit, so they are
out of sample for it). Prints, for the shipped signals and for the shipped signals plus ``proximity``:

* ROC AUC of ``proximity`` per set: exp(-d / 4), d the fewest content words between a word of the draft (one the
  question does not have) and a word of the question in the same cited quote (the distance feature of sliding-window
  reading-comprehension baselines, Richardson et al. 2013);
* decision accuracy on the 260 fresh questions of a decision fitted on the 180 old drafts (an out-of-sample check);
* cross-validated accuracy over all 428 drafts (seed set and the 400 SQuAD dev questions as the two sets), 20
  shuffles of 5 folds, pooled / mean per set (the rule the threshold is chosen by).

    python eval/experiments/decision_data.py
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

from qa_bot.answer_format import strip_markers
from qa_bot.retrieval.evidence import QUESTION_FORM
from qa_bot.text import content_tokens
from qa_bot.verify.abstain import Signals, fit_logistic

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "eval" / "results"
SETS = {"seeds": "dev-seeds-doc-terms", "squad 1-140": "dev-squad-doc-terms", "squad 141-400": "dev-squad-rest"}
SHIPPED = [n for n in Signals.names() if n not in ("self_check", "first_token")]


def _fit_script():
    spec = importlib.util.spec_from_file_location("fit_abstention", ROOT / "eval" / "fit_abstention.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def proximity(question: str, draft: str, quotes: list[str], scale: float = 4.0) -> float:
    asked = set(content_tokens(question))
    answer = set(content_tokens(strip_markers(draft))) - asked
    asked -= QUESTION_FORM
    best = math.inf
    for quote in quotes:
        tokens = content_tokens(quote)
        at = [i for i, t in enumerate(tokens) if t in answer]
        qt = [i for i, t in enumerate(tokens) if t in asked]
        best = min([best, *(abs(i - j) for i in at for j in qt)])
    return 0.0 if best == math.inf else math.exp(-best / scale)


def roc_auc(xs: list[float], ys: list[int]) -> float:
    pos = [x for x, y in zip(xs, ys, strict=True) if y]
    neg = [x for x, y in zip(xs, ys, strict=True) if not y]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def main() -> None:
    fa = _fit_script()
    rows: dict[str, list[tuple[dict[str, float], int]]] = {}
    for name, folder in SETS.items():
        rows[name] = []
        for r in json.loads((RESULTS / folder / "results.json").read_text())["results"]:
            sig = fa.signals_of(r)
            if not sig or r.get("error"):
                continue
            question = r["standalone_question"] or r["question"]
            sig["proximity"] = proximity(question, r["draft"], [c["quote"] for c in r["citations"]])
            rows[name].append((sig, int(r["draft_correct"])))
        ys = [y for _, y in rows[name]]
        aucs = {n: roc_auc([s[n] for s, _ in rows[name]], ys) for n in ("proximity", "evidence_answers")}
        shown = ", ".join(f"{k} {v:.3f}" for k, v in aucs.items())
        print(f"{name}: {len(ys)} drafts, {sum(ys)} right; ROC AUC {shown}")

    def sigmoid(z: float) -> float:
        return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))

    # fit_abstention scores through the runtime Calibrator, which knows the shipped signals only
    fa.probabilities = lambda w, b, xs, names: [sigmoid(b + sum(a * v for a, v in zip(w, x, strict=True))) for x in xs]

    def data(sets: list[str], names: list[str]) -> tuple[list[list[float]], list[int], list[int]]:
        xs, ys, groups = [], [], []
        for name in sets:
            for s, y in rows[name]:
                xs.append([s[n] for n in names])
                ys.append(y)
                groups.append(0 if name == "seeds" else 1)
        return xs, ys, groups

    for label, names in (("shipped signals", SHIPPED), ("+ proximity", [*SHIPPED, "proximity"])):
        for l2 in (0.1, 0.3, 1.0):
            xs, ys, groups = data(["seeds", "squad 1-140"], names)
            w, b = fit_logistic(xs, ys, l2=l2)
            t, _ = fa.best_threshold(fa.probabilities(w, b, xs, names), ys, groups)
            xf, yf, _ = data(["squad 141-400"], names)
            fresh = sum((p >= t) == bool(y) for p, y in zip(fa.probabilities(w, b, xf, names), yf, strict=True))
            xa, ya, ga = data(list(SETS), names)
            pooled, per_set = fa.cross_validate(xa, ya, ga, names, l2, seeds=20)
            print(
                f"{label:16s} l2 {l2:g}: fitted on the 180 old drafts, decision accuracy on the 260 fresh questions "
                f"{fresh / len(yf):.3f}; CV over all 428 drafts {pooled:.3f} / {per_set:.3f}"
            )


if __name__ == "__main__":
    main()
