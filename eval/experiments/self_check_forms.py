"""Experiment: which self-check form separates right from wrong draft answers better, and at what cost?

Reads a ``qa-bot eval`` results.json (dev set) with drafts, re-runs retrieval and evidence selection for each drafted
question, and asks the local model for P(yes) in two forms:

* fresh: one short user turn (evidence = the cited quote(s), question, proposed answer), as in FACTS.md;
* continue: a follow-on user turn in the answer conversation itself ("Does the text show ..."), which reuses the
  KV cache of the answer prompt, so only the new turn is processed.

Prints ROC AUC of each against ``draft_correct`` and the median seconds per check.

    python eval/experiments/self_check_forms.py eval/results/<dev run>/results.json
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from langchain_core.messages import AIMessage, HumanMessage

from qa_bot import get_bot
from qa_bot.answer_format import strip_markers
from qa_bot.config import get_settings
from qa_bot.generation.models import yes_probability
from qa_bot.retrieval.evidence import score_sentences

FOLLOW_ON = "Does the text show that this answer correctly answers the question? Reply yes or no."


def auc(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    return sum(pairs) / len(pairs) if pairs else float("nan")


def main(path: str) -> None:
    with open(path) as f:
        rs = [r for r in json.loads(f.read())["results"] if r.get("draft")]
    bot = get_bot(get_settings())
    model = bot.model("local")
    fresh, cont, labels, t_fresh, t_cont = [], [], [], [], []
    for r in rs:
        q = r["standalone_question"] or r["question"]
        draft = strip_markers(r["draft"])
        quotes = " ".join(c["quote"] for c in r["citations"]) or draft
        t = time.perf_counter()
        fresh.append(bot.self_check(q, quotes, draft, "local"))
        t_fresh.append(time.perf_counter() - t)
        hits = bot.retrieve(q, None)
        prompt, inputs = bot.prompt_inputs(
            q, hits, score_sentences(q, hits, bot.retriever.embeddings, bot.settings.retrieval.evidence_lexical_weight)
        )
        msgs = prompt.format_messages(**inputs)
        # generate the answer so the cache holds the answer prompt, as it would in the chain
        text = model.invoke(msgs).content
        t = time.perf_counter()
        cont.append(
            yes_probability(model, [*msgs, AIMessage(content=text), HumanMessage(content=FOLLOW_ON)], reuse_cache=True)
        )
        t_cont.append(time.perf_counter() - t)
        labels.append(int(r["draft_correct"]))
        print(f"{r['id']} y={labels[-1]} fresh={fresh[-1]:.2f} continue={cont[-1]:.2f} | {draft[:70]}", flush=True)
    print(f"n={len(labels)} correct={sum(labels)}")
    print(f"fresh:    AUC {auc(fresh, labels):.3f}, median {statistics.median(t_fresh):.2f} s per check")
    print(f"continue: AUC {auc(cont, labels):.3f}, median {statistics.median(t_cont):.2f} s per check")


if __name__ == "__main__":
    main(sys.argv[1])
