"""Experiment: read every question with both answer-prompt forms and keep the draft whose cited quote the evidence
check rates higher (no new model calls: both runs recorded their drafts and signals).

Form A is the shipped prompt (question before and after the evidence; ``eval/results/seeds-local-fixed-grader/``,
``eval/results/dev-squad-doc-terms/``), form B the question-last prompt, run with
``QA_BOT_ANSWER_PROMPT=question-last QA_BOT_ABSTAIN=none`` into ``eval/results/dev-*-question-last-both-forms/``.
Prints, per mode (A, B, the selection, an oracle that keeps a right draft when either is), drafts right and the
decision's metrics under the shipped fit and under fits on the selected drafts. Labels by today's grader.

    python eval/experiments/two_forms.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "eval"))

import fit_abstention as fit  # noqa: E402  (the fitting script beside this folder)

from qa_bot.verify.abstain import Calibrator, Signals, fit_logistic  # noqa: E402

RESULTS = ROOT / "eval" / "results"
PAIRS = {
    "seeds": ("seeds-local-fixed-grader", "dev-seeds-question-last-both-forms"),
    "squad": ("dev-squad-doc-terms", "dev-squad-question-last-both-forms"),
}
NAMES = [n for n in Signals.names() if n not in ("self_check", "first_token")]


def judged(r: dict) -> bool:
    return bool(r.get("signals")) and not r.get("error")


def pick(a: dict, b: dict, mode: str) -> dict:
    if mode in ("A", "B"):
        return a if mode == "A" else b
    if not judged(a) or not judged(b):
        return a if judged(a) or not judged(b) else b
    if mode == "select":
        return b if b["signals"]["evidence_answers"] > a["signals"]["evidence_answers"] else a
    return b if fit.label_of(b) > fit.label_of(a) else a  # oracle


def load(name: str, mode: str) -> list[dict]:
    a_dir, b_dir = PAIRS[name]
    a = {r["id"]: r for r in json.loads((RESULTS / a_dir / "results.json").read_text())["results"]}
    b = {r["id"]: r for r in json.loads((RESULTS / b_dir / "results.json").read_text())["results"]}
    return [pick(a[k], b[k], mode) for k in a if k in b]


def metrics(rs: list[dict], cal: Calibrator) -> str:
    ans = [r for r in rs if not r["is_impossible"]]
    m = fit.replay_records(rs, cal)
    xs, ys = fit.vectors(rs, Signals.names())
    ps = [cal.probability(Signals(**dict(zip(Signals.names(), x, strict=True)))) for x in xs]
    accuracy = sum((p >= cal.threshold) == bool(y) for p, y in zip(ps, ys, strict=True)) / max(1, len(ys))
    return (
        f"drafts right {sum(fit.label_of(r) for r in ans)}/{len(ans)}, correct {100 * m['answer_correctness']:.1f}, "
        f"refusal {100 * m['refusal_accuracy']:.1f}, false refusals {100 * m['false_refusal_rate']:.1f}, "
        f"decided right {accuracy:.3f}, F1 {100 * m['f1']:.1f}"
    )


def main() -> None:
    d = json.loads((ROOT / "src" / "qa_bot" / "data" / "abstention.json").read_text())
    shipped = Calibrator(d["weights"], d["bias"], d["threshold"])
    for mode in ("A", "B", "select", "oracle"):
        sets = {n: load(n, mode) for n in PAIRS}
        print(f"{mode}, shipped decision:")
        for n, v in sets.items():
            print(f"    {n}: {metrics(v, shipped)}")
        xa, ya = fit.vectors(sets["seeds"], NAMES)
        xb, yb = fit.vectors(sets["squad"], NAMES)
        groups = [0] * len(xa) + [1] * len(xb)
        for l2 in (0.3, 1.0):
            w, b = fit_logistic(xa + xb, ya + yb, l2=l2)
            t, _ = fit.best_threshold(fit.probabilities(w, b, xa + xb, NAMES), ya + yb, groups)
            cv = fit.cross_validate(xa + xb, ya + yb, groups, NAMES, l2)
            cal = Calibrator(dict(zip(NAMES, w, strict=True)), b, t)
            print(f"{mode}, refitted (l2 {l2}; CV {cv[0]:.3f} / {cv[1]:.3f}):")
            for n, v in sets.items():
                print(f"    {n}: {metrics(v, cal)}")


if __name__ == "__main__":
    main()
