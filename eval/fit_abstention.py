"""Fit the abstention model on dev data only and write it to src/qa_bot/data/abstention.json.

Input: ``results.json`` files of ``qa-bot eval`` runs on DEV question sets made with ``QA_BOT_ABSTAIN=none`` (every
attributable answer kept, its signals recorded; any run records them, none is needed), e.g.::

    QA_BOT_ABSTAIN=none qa-bot eval eval/seeds_questions.jsonl -g local --out eval/results/dev-seeds-signals
    QA_BOT_ABSTAIN=none qa-bot eval eval/squad_v2/questions_dev.jsonl -g local --limit 160 --out eval/results/dev-squad-signals
    python eval/fit_abstention.py eval/results/dev-seeds-signals/results.json eval/results/dev-squad-signals/results.json

Label: 1 when the answer is correct (answerable question, answer contains a gold answer), else 0 (a wrong answer, or
any answer to an unanswerable question). The threshold maximises dev accuracy of the answer/abstain decision.
Prints 5-fold cross-validated accuracy so the fitted numbers can be judged, and writes a reliability diagram.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from qa_bot.abstain import Calibrator, Signals, fit_logistic
from qa_bot.report import write_reliability

ROOT = Path(__file__).resolve().parents[1]


def load(paths: list[Path]) -> tuple[list[list[float]], list[int], list[str]]:
    xs, ys, ids = [], [], []
    for p in paths:
        for r in json.loads(p.read_text())["results"]:
            sig = r.get("signals") or {}
            if not sig or r.get("error"):
                continue  # refused before the decision (nothing relevant retrieved, or nothing attributable)
            xs.append([float(sig[n]) for n in Signals.names()])
            ys.append(int(r["draft_correct"]))
            ids.append(r["id"])
    return xs, ys, ids


def probabilities(weights: list[float], bias: float, xs: list[list[float]]) -> list[float]:
    cal = Calibrator(dict(zip(Signals.names(), weights)), bias, 0.5)
    return [cal.probability(Signals(*x)) for x in xs]


def best_threshold(ps: list[float], ys: list[int]) -> tuple[float, float]:
    """The threshold with the highest decision accuracy (ties: the middle of the best run), and that accuracy."""
    cands = sorted(set([0.0, 1.0] + ps))
    scored = [(sum((p >= t) == bool(y) for p, y in zip(ps, ys)) / len(ys), t) for t in cands]
    top = max(a for a, _ in scored)
    best = [t for a, t in scored if a == top]
    return best[len(best) // 2], top


def cross_validate(xs, ys, l2: float, folds: int = 5, seed: int = 0) -> float:
    idx = list(range(len(xs)))
    random.Random(seed).shuffle(idx)
    right = 0
    for f in range(folds):
        test = set(idx[f::folds])
        tr = [i for i in idx if i not in test]
        w, b = fit_logistic([xs[i] for i in tr], [ys[i] for i in tr], l2=l2)
        t, _ = best_threshold(probabilities(w, b, [xs[i] for i in tr]), [ys[i] for i in tr])
        right += sum((p >= t) == bool(ys[i]) for p, i in zip(probabilities(w, b, [xs[i] for i in test]), test))
    return right / len(xs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", type=Path, help="results.json of dev runs made with QA_BOT_ABSTAIN=none")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "qa_bot" / "data" / "abstention.json")
    ap.add_argument("--plot", type=Path, default=ROOT / "eval" / "results" / "abstention" / "reliability.png")
    args = ap.parse_args(argv)
    for p in args.results:
        if "test" in p.as_posix():
            print(f"refusing to fit on {p}: tune on dev data only", file=sys.stderr)
            return 2
    xs, ys, _ = load(args.results)
    if len(set(ys)) < 2:
        print("need both correct and wrong answers to fit", file=sys.stderr)
        return 2
    w, b = fit_logistic(xs, ys, l2=args.l2)
    ps = probabilities(w, b, xs)
    t, acc = best_threshold(ps, ys)
    cv = cross_validate(xs, ys, args.l2)
    base = max(sum(ys), len(ys) - sum(ys)) / len(ys)
    cal = Calibrator(dict(zip(Signals.names(), [round(v, 4) for v in w])), round(b, 4), round(t, 4),
                     fitted_on=f"{len(ys)} dev answers ({sum(ys)} correct) from " + ", ".join(p.parent.name for p in args.results))
    args.out.write_text(cal.to_json())
    write_reliability(ps, ys, args.plot, f"abstention model on dev (n={len(ys)})")
    print(f"{len(ys)} answers, {sum(ys)} correct; always-answer accuracy {sum(ys) / len(ys):.3f}, majority {base:.3f}")
    print(f"fitted: dev accuracy {acc:.3f} at threshold {t:.3f}; 5-fold cross-validated accuracy {cv:.3f}")
    for n, v in zip(Signals.names(), w):
        print(f"  {n:18s} {v:+.3f}")
    print(f"  {'bias':18s} {b:+.3f}")
    print(f"wrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
