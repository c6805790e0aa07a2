"""Experiment: a second reading of the best-matching sentence alone ("focused read").

The window draft is read from up to four sentence windows; with a distractor beside the answer sentence the 1.5B model
takes the wrong phrase ("By the end of the year" where the best sentence says "next spring"; "Japan and NATO" where it
says "China and Russia"). Read from the best sentence alone, it answers both right. This script records, for every
draft of a recorded ``QA_BOT_ABSTAIN=none`` dev run, the focused draft and the signals the chain's decision would
compute for it (``Bot.decide``: attribution, the evidence check on its quote), so that selection rules and the refitted
decision can be compared without another run.

    python eval/experiments/focused_read.py dev-seeds-agreement-fallback /tmp/seedstore   # one store per corpus
    python eval/experiments/focused_read.py --analyse

``--analyse`` prints, per selection rule (keep the window draft; always the focused one; the focused one when its
evidence check beats the window draft's by a margin, the decision reading that P(yes), the smaller or the mean of the
two), the drafts right and the decision's metrics on each set with a decision refitted on the seed set and SQuAD dev
1-140, and how many of the 260 fresh SQuAD dev drafts (141-400) that decision gets right (out of sample).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "eval" / "results"


def record(run: str, store: str) -> None:
    from qa_bot.answer_format import is_refusal, strip_markers
    from qa_bot.config import Settings
    from qa_bot.evaluation.squad import normalize
    from qa_bot.generation.prompts import answer_prompt, data_hits, defang, format_evidence
    from qa_bot.retrieval.evidence import score_sentences
    from qa_bot.schema import Answer
    from qa_bot.service import QABot
    from qa_bot.verify.answer_types import asks_across_documents, echoes_question

    bot = QABot(Settings(store_dir=store, abstain="none")).bot
    rows = json.loads((RESULTS / run / "results.json").read_text())["results"]
    out_path = RESULTS / run / "focused_read.jsonl"
    with out_path.open("w") as out:
        for r in rows:
            q = r["standalone_question"] or r["question"]
            row = {"id": r["id"], "skipped": ""}
            if not r.get("signals") or r.get("error"):
                row["skipped"] = "no draft"
            elif asks_across_documents(q):
                row["skipped"] = "across documents"
            else:
                hits = bot.retrieve(q, None)
                readable = data_hits(hits)
                docs = bot.document_terms(hits)
                weight = bot.settings.retrieval.evidence_lexical_weight
                scored = score_sentences(q, readable, bot.embedder, weight, docs)
                top = scored[0]
                row["in_top"] = normalize(strip_markers(r["draft"])) in normalize(top.text)
                h = readable[top.hit]
                one = [replace(h, chunk=replace(h.chunk, text=top.text))]
                messages = answer_prompt.format_messages(evidence=format_evidence(one), question=defang(q))
                t = time.perf_counter()
                raw = str(bot.model("local").invoke(messages).content)
                row["read_s"] = round(time.perf_counter() - t, 3)
                row["raw"] = raw
                if not raw.strip() or is_refusal(raw) or echoes_question(q, raw):
                    row["skipped"] = "no focused draft"
                else:
                    ans = Answer(question=r["question"], text="", generator="local")
                    ans.standalone_question = q
                    t = time.perf_counter()
                    bot.decide(ans, raw, hits, scored, "local", documents=docs)
                    row["decide_s"] = round(time.perf_counter() - t, 3)
                    row["draft"] = ans.draft or ans.text
                    row["signals"] = ans.signals
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(r["id"], row["skipped"] or f"{strip_markers(r['draft'])!r} -> {row.get('draft')!r}", file=sys.stderr)


RUNS = ["dev-seeds-agreement-fallback", "dev-squad-agreement-fallback", "dev-squad-rest-agreement-fallback"]


def choose(r: dict, f: dict | None, rule: str, margin: float) -> dict:
    """The record the chain would keep under ``rule``: the window draft ``r`` or the focused draft ``f``."""
    if rule == "window" or not f or f["skipped"] or not f.get("signals"):
        return r
    focused = dict(r, draft=f["draft"], signals=f["signals"])
    if rule == "focused":
        return focused
    e1, e2 = r["signals"]["evidence_answers"], f["signals"]["evidence_answers"]
    if e2 <= e1 + margin:
        return r
    judged = {"select": e2, "select-min": min(e1, e2), "select-mean": (e1 + e2) / 2}[rule]
    return dict(focused, signals=dict(f["signals"], evidence_answers=judged))


def analyse() -> None:
    sys.path.insert(0, str(ROOT / "eval"))
    import fit_abstention as fit

    from qa_bot.verify.abstain import Calibrator, Signals, fit_logistic

    names = [n for n in Signals.names() if n not in ("self_check", "first_token")]
    loaded = []
    for run in RUNS:
        rows = json.loads((RESULTS / run / "results.json").read_text())["results"]
        lines = (RESULTS / run / "focused_read.jsonl").read_text().splitlines()
        loaded.append((rows, {(f := json.loads(line))["id"]: f for line in lines}))
    rules = [("window", 0.0), ("focused", 0.0)] + [
        (rule, m) for rule in ("select", "select-min", "select-mean") for m in (0.0, 0.05, 0.1)
    ]
    for rule, margin in rules:
        sets = [[choose(r, fr.get(r["id"]), rule, margin) for r in rows] for rows, fr in loaded]
        (xa, ya), (xb, yb), (xc, yc) = (fit.vectors(s, names) for s in sets)
        for l2 in (0.3, 1.0):
            w, b = fit_logistic(xa + xb, ya + yb, l2=l2)
            t, _ = fit.best_threshold(fit.probabilities(w, b, xa + xb, names), ya + yb, [0] * len(xa) + [1] * len(xb))
            cal = Calibrator(dict(zip(names, w, strict=True)), b, t)
            fresh = sum((p >= t) == bool(y) for p, y in zip(fit.probabilities(w, b, xc, names), yc, strict=True)) / len(
                yc
            )
            cells = []
            for s in sets:
                ans = [r for r in s if not r["is_impossible"]]
                m = fit.replay_records(s, cal)
                cells.append(
                    f"right {sum(fit.label_of(r) for r in ans)}/{len(ans)} "
                    f"{100 * m['answer_correctness']:.1f}/{100 * m['refusal_accuracy']:.1f}/F1 {100 * m['f1']:.1f}"
                )
            print(f"{rule:11s} +{margin:.2f} l2 {l2}: fresh 260 decided right {fresh:.3f} | " + " | ".join(cells))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("run", nargs="?", help="a recorded QA_BOT_ABSTAIN=none dev run under eval/results/")
    ap.add_argument("store", nargs="?", help="a store holding that run's documents")
    ap.add_argument("--analyse", action="store_true")
    a = ap.parse_args()
    if a.analyse:
        analyse()
    else:
        record(a.run, a.store)
