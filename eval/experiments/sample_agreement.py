"""Experiment: agreement of sampled answers with the greedy draft as a decision signal (self-consistency).

For every draft of a recorded ``QA_BOT_ABSTAIN=none`` dev run, the answer prompt is rebuilt (same retrieval, same
evidence) and ``--samples`` answers are sampled at ``--temperature`` (seeds 1..n). llama.cpp keeps the prompt in its
KV cache between the calls, so each extra sample costs only its own few generated tokens. The signal is the mean
SQuAD F1 of the samples against the draft: a model that is sure of its reading says the same thing when sampled.
Writes ``<run>/sample_agreement.jsonl`` and, with ``--analyse``, prints ROC AUC per set and the refitted decision with
the signal added (fit on the seed set and SQuAD dev 1-140, judged on the fresh 141-400).

    python eval/experiments/sample_agreement.py dev-seeds-agreement-fallback /tmp/seedstore
    python eval/experiments/sample_agreement.py --analyse
    python eval/experiments/sample_agreement.py --merge   # -> eval/results/dev-*-consistency/results.json

``--merge`` writes each run's records with the signal recorded as the chain records it (``consistency``:
``abstain.consistency_of``, the mean F1 of the samples against the draft), for ``eval/fit_abstention.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "eval" / "results"
RUNS = ["dev-seeds-agreement-fallback", "dev-squad-agreement-fallback", "dev-squad-rest-agreement-fallback"]


def record(run: str, store: str, samples: int, temperature: float) -> None:
    from qa_bot.answer_format import strip_markers
    from qa_bot.config import Settings
    from qa_bot.evaluation.squad import f1
    from qa_bot.generation.models import _to_llama_messages
    from qa_bot.generation.prompts import data_hits
    from qa_bot.retrieval.evidence import score_sentences
    from qa_bot.service import QABot

    bot = QABot(Settings(store_dir=store, abstain="none")).bot
    model = bot.model("local")
    llm, lock = model.llama()  # type: ignore[attr-defined]
    rows = json.loads((RESULTS / run / "results.json").read_text())["results"]
    with (RESULTS / run / "sample_agreement.jsonl").open("w") as out:
        for r in rows:
            if not r.get("signals") or r.get("error"):
                continue
            q = r["standalone_question"] or r["question"]
            hits = bot.retrieve(q, None)
            readable = data_hits(hits)
            weight = bot.settings.retrieval.evidence_lexical_weight
            scored = score_sentences(q, readable, bot.embedder, weight, bot.document_terms(hits))
            prompt, inputs = bot.prompt_inputs(q, readable, scored)
            messages = _to_llama_messages(prompt.format_messages(**inputs))
            draft = strip_markers(r["draft"]).strip()
            texts, t = [], time.perf_counter()
            with lock:
                llm.reset()
                for seed in range(1, samples + 1):
                    resp = llm.create_chat_completion(
                        messages=messages, temperature=temperature, seed=seed, max_tokens=48
                    )
                    texts.append(resp["choices"][0]["message"].get("content") or "")
            row = {
                "id": r["id"],
                "samples": texts,
                "agreement": statistics.mean(f1(draft, s) for s in texts),
                "secs": round(time.perf_counter() - t, 3),
            }
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(r["id"], round(row["agreement"], 2), row["secs"], draft[:40], "|", texts[:3], file=sys.stderr)


def analyse() -> None:
    sys.path.insert(0, str(ROOT / "eval"))
    import fit_abstention as fit
    from decision_data import roc_auc

    from qa_bot.verify.abstain import Signals, fit_logistic

    names = [n for n in Signals.names() if n not in ("self_check", "first_token", "consistency")]
    sets = []
    for run in RUNS:
        rows = {r["id"]: r for r in json.loads((RESULTS / run / "results.json").read_text())["results"]}
        lines = (RESULTS / run / "sample_agreement.jsonl").read_text().splitlines()
        extra = {(x := json.loads(line))["id"]: x for line in lines}
        recs = [rows[k] for k in extra]
        xs, ys = fit.vectors(recs, names)
        ag = [extra[k]["agreement"] for k in extra]
        secs = [extra[k]["secs"] for k in extra]
        print(f"{run}: n {len(ys)}, AUC {roc_auc(ag, ys):.3f}, seconds p50 {statistics.median(secs):.2f}")
        sets.append(([[*x, a] for x, a in zip(xs, ag, strict=True)], ys))
    (xa, ya), (xb, yb), (xc, yc) = sets
    groups = [0] * len(xa) + [1] * len(xb)
    for with_it in (False, True):
        k = len(names) + with_it
        cols = names + ["consistency"] * with_it
        a, c = [x[:k] for x in xa + xb], [x[:k] for x in xc]
        for l2 in (0.3, 1.0):
            w, b = fit_logistic(a, ya + yb, l2=l2)

            def prob(x: list[float], w: list[float] = w, b: float = b) -> float:
                return 1 / (1 + math.exp(-(sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b)))

            t, _ = fit.best_threshold([prob(x) for x in a], ya + yb, groups)
            fresh = sum((prob(x) >= t) == bool(y) for x, y in zip(c, yc, strict=True)) / len(yc)
            cv = fit.cross_validate(a, ya + yb, groups, cols, l2)
            print(
                f"{'with' if with_it else 'without'} sample agreement, l2 {l2}: CV {cv[0]:.3f} / {cv[1]:.3f}, "
                f"fresh 260 decided right {fresh:.3f}" + (f", weight {w[-1]:+.2f}" if with_it else "")
            )


def merge() -> None:
    from qa_bot.verify.abstain import consistency_of

    for run in RUNS:
        data = json.loads((RESULTS / run / "results.json").read_text())
        lines = (RESULTS / run / "sample_agreement.jsonl").read_text().splitlines()
        samples = {(x := json.loads(line))["id"]: x["samples"] for line in lines}
        for r in data["results"]:
            if r.get("signals") and r["id"] in samples:
                r["signals"]["consistency"] = consistency_of(r["draft"], samples[r["id"]])
        data["signals_recomputed"] = f"consistency added by eval/experiments/sample_agreement.py from {run}"
        out = RESULTS / run.replace("agreement-fallback", "consistency")
        out.mkdir(exist_ok=True)
        (out / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
        print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("run", nargs="?", help="a recorded QA_BOT_ABSTAIN=none dev run under eval/results/")
    ap.add_argument("store", nargs="?", help="a store holding that run's documents")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--analyse", action="store_true")
    ap.add_argument("--merge", action="store_true")
    a = ap.parse_args()
    if a.merge:
        merge()
    elif a.analyse:
        analyse()
    else:
        record(a.run, a.store, a.samples, a.temperature)
