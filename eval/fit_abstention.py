r"""Fit the abstention model on dev data only and write it to src/qa_bot/data/abstention.json.

Input: ``results.json`` files of ``qa-bot eval`` runs on DEV question sets made with ``QA_BOT_ABSTAIN=none`` (every
attributable answer kept, its signals recorded; any run records them, none is needed), e.g.::

    QA_BOT_ABSTAIN=none qa-bot eval eval/seeds_questions.jsonl -g local --out eval/results/dev-seeds-signals
    QA_BOT_ABSTAIN=none qa-bot eval eval/squad_v2/questions_dev.jsonl -g local --limit 160 \
        --out eval/results/dev-squad-signals
    python eval/fit_abstention.py eval/results/dev-seeds-signals/results.json \
        eval/results/dev-squad-signals/results.json

Label: 1 when the answer is correct (answerable question, answer gives a gold answer: ``squad.contains``), else 0 (a
wrong answer, or any answer to an unanswerable question). The threshold maximises dev accuracy of the answer/abstain
decision, averaged over the question sets given (each set counts the same).
Prints 5-fold cross-validated accuracy so the fitted numbers can be judged, and writes a reliability diagram.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from qa_bot.evaluation.report import write_reliability
from qa_bot.evaluation.squad import draft_is_right
from qa_bot.verify.abstain import Calibrator, Signals, answer_type_match, fit_logistic

ROOT = Path(__file__).resolve().parents[1]


def signals_of(r: dict) -> dict[str, float]:
    """The recorded signals, with those that are a pure function of question and draft recomputed by today's code (a
    fix to such a signal needs no new model run)."""
    sig = dict(r.get("signals") or {})
    if sig:
        sig["type_match"] = answer_type_match(r["standalone_question"] or r["question"], r["draft"])
        for name in Signals.names():
            sig.setdefault(name, 0.5)  # recorded before the signal existed: not computed, as the chain then records it
    return sig


def label_of(r: dict) -> int:
    """1 when the draft answers an answerable question right, graded by today's grader (so a grader fix, like a number
    word for its digits, needs no new model run)."""
    return int(draft_is_right(r["answers"], r["draft"], r["question"], r["is_impossible"]))


def vectors(records: list[dict], names: list[str]) -> tuple[list[list[float]], list[int]]:
    """Signal vectors (over ``names``) and labels of the records the decision judged."""
    xs, ys = [], []
    for r in records:
        sig = signals_of(r)
        if not sig or r.get("error"):
            continue  # refused before the decision (nothing relevant retrieved, or nothing attributable)
        xs.append([float(sig[n]) for n in names])
        ys.append(label_of(r))
    return xs, ys


def load(paths: list[Path], names: list[str]) -> tuple[list[list[float]], list[int], list[int]]:
    """Signal vectors, labels and the index of the file each came from."""
    xs, ys, groups = [], [], []
    for g, p in enumerate(paths):
        x, y = vectors(json.loads(p.read_text())["results"], names)
        xs += x
        ys += y
        groups += [g] * len(x)
    return xs, ys, groups


def probabilities(weights: list[float], bias: float, xs: list[list[float]], names: list[str]) -> list[float]:
    """P(correct) of each signal vector (over ``names``; signals left out count as 0) by the runtime's own formula."""
    cal = Calibrator(dict(zip(names, weights, strict=True)), bias, 0.5)
    full = [dict.fromkeys(Signals.names(), 0.0) | dict(zip(names, x, strict=True)) for x in xs]
    return [cal.probability(Signals(**v)) for v in full]


def replay(path: Path, cal: Calibrator) -> dict[str, float]:
    """The metrics a results.json would show had ``cal`` made its answer/abstain decisions (exact: the decision is a
    function of the recorded signals)."""
    return replay_records(json.loads(path.read_text())["results"], cal)


def replay_records(rs: list[dict], cal: Calibrator) -> dict[str, float]:
    """``replay`` of results records."""
    ans = [r for r in rs if not r["is_impossible"]]
    una = [r for r in rs if r["is_impossible"]]

    def answered(r: dict) -> bool:
        if not r.get("signals"):
            return not r["refused"]
        return cal.probability(Signals(**signals_of(r))) >= cal.threshold

    # Short-answer F1 scored as the official SQuAD 2.0 scorer scores abstentions: 1 for a refused unanswerable
    # question, 0 for a refused answerable one (the runs were made without a decision, so short_f1 is the draft's).
    f1 = [(r.get("short_f1") or 0.0) if answered(r) else float(r["is_impossible"]) for r in rs]
    return {
        "answer_correctness": sum(answered(r) and label_of(r) for r in ans) / max(1, len(ans)),
        "refusal_accuracy": sum(not answered(r) for r in una) / max(1, len(una)),
        "false_refusal_rate": sum(not answered(r) for r in ans) / max(1, len(ans)),
        "f1": sum(f1) / max(1, len(f1)),
    }


def best_threshold(ps: list[float], ys: list[int], groups: list[int] | None = None) -> tuple[float, float]:
    """The threshold with the highest decision accuracy (ties: the middle of the best run), and that accuracy.

    With ``groups`` (which dev set each answer came from), the accuracy is the mean of the sets' accuracies: every
    question set counts the same, so the larger one (SQuAD) does not set the threshold for the seed documents alone."""
    groups = groups or [0] * len(ps)
    sets = sorted(set(groups))

    def accuracy(t: float) -> float:
        per = []
        for g in sets:
            pairs = [(p, y) for p, y, gg in zip(ps, ys, groups, strict=True) if gg == g]
            per.append(sum((p >= t) == bool(y) for p, y in pairs) / len(pairs))
        return sum(per) / len(per)

    cands = sorted(set([0.0, 1.0, *ps]))
    scored = [(accuracy(t), t) for t in cands]
    top = max(a for a, _ in scored)
    best = [t for a, t in scored if a == top]
    return best[len(best) // 2], top


def cross_validate(xs, ys, groups, names: list[str], l2: float, folds: int = 5, seeds: int = 5) -> tuple[float, float]:
    """Held-out decision accuracy, averaged over ``seeds`` shuffles of ``folds`` folds: over all answers, and the mean
    of the question sets' accuracies (the rule the threshold is chosen by)."""
    right: dict[int, float] = {}
    for seed in range(seeds):
        for i, ok in _held_out(xs, ys, groups, names, l2, folds, seed):
            right[i] = right.get(i, 0.0) + ok / seeds
    sets = sorted(set(groups))
    per_set = [sum(right[i] for i in right if groups[i] == g) / groups.count(g) for g in sets]
    return sum(right.values()) / len(xs), sum(per_set) / len(per_set)


def _held_out(xs, ys, groups, names: list[str], l2: float, folds: int, seed: int) -> list[tuple[int, bool]]:
    """(answer index, decided right) for every answer, each decided by a model fitted without its fold."""
    idx = list(range(len(xs)))
    random.Random(seed).shuffle(idx)
    out = []
    for f in range(folds):
        test = set(idx[f::folds])
        tr = [i for i in idx if i not in test]
        w, b = fit_logistic([xs[i] for i in tr], [ys[i] for i in tr], l2=l2)
        t, _ = best_threshold(
            probabilities(w, b, [xs[i] for i in tr], names), [ys[i] for i in tr], [groups[i] for i in tr]
        )
        out += [
            (i, (p >= t) == bool(ys[i]))
            for p, i in zip(probabilities(w, b, [xs[i] for i in test], names), test, strict=True)
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", type=Path, help="results.json of dev runs made with QA_BOT_ABSTAIN=none")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument(
        "--without", nargs="*", default=[], choices=Signals.names(), help="fit without these signals (ablation)"
    )
    ap.add_argument(
        "--replay", nargs="*", type=Path, default=[], help="results.json files to score with the fitted decision"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "qa_bot" / "data" / "abstention.json")
    ap.add_argument("--plot", type=Path, default=ROOT / "eval" / "results" / "abstention" / "reliability.png")
    args = ap.parse_args(argv)
    for p in args.results:
        if "test" in p.as_posix():
            print(f"refusing to fit on {p}: tune on dev data only", file=sys.stderr)
            return 2
    names = [n for n in Signals.names() if n not in args.without]
    xs, ys, groups = load(args.results, names)
    if len(set(ys)) < 2:
        print("need both correct and wrong answers to fit", file=sys.stderr)
        return 2
    w, b = fit_logistic(xs, ys, l2=args.l2)
    ps = probabilities(w, b, xs, names)
    t, acc = best_threshold(ps, ys, groups)
    cv, cv_sets = cross_validate(xs, ys, groups, names, args.l2)
    base = max(sum(ys), len(ys) - sum(ys)) / len(ys)
    cal = Calibrator(
        {n: (round(v, 4) if n in names else 0.0) for n, v in zip(names, w, strict=True)}
        | {n: 0.0 for n in args.without},
        round(b, 4),
        round(t, 4),
        fitted_on=f"{len(ys)} dev answers ({sum(ys)} correct) from "
        + ", ".join(p.parent.name for p in args.results)
        + f"; l2 {args.l2:g}",
    )
    args.out.write_text(cal.to_json())
    write_reliability(ps, ys, args.plot, f"abstention model on dev (n={len(ys)})")
    print(f"{len(ys)} answers, {sum(ys)} correct; always-answer accuracy {sum(ys) / len(ys):.3f}, majority {base:.3f}")
    print(
        f"fitted: dev accuracy {acc:.3f} (mean over the {len(args.results)} question sets) at threshold {t:.3f}; "
        f"5-fold cross-validated accuracy {cv:.3f} (mean over the sets {cv_sets:.3f}; 5 shuffles)"
    )
    for n, v in zip(names, w, strict=True):
        print(f"  {n:18s} {v:+.3f}")
    print(f"  {'bias':18s} {b:+.3f}")
    for p in args.replay:
        m = replay(p, cal)
        print(f"replay {p}: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in m.items()))
    print(f"wrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
