"""The standard LangChain RAG recipe, measured by qa-bot's own evaluation beside qa-bot.

The peer: top-4 dense similarity search over the same Chroma store and embedder, the widely used "rlm/rag-prompt"
wording as one user message, the same local model (greedy), no rewriting of follow-ups, no verification. Its answer
counts as a refusal when it says it doesn't know. It has no citations, so citation precision does not apply.

    python benchmarks/peer_langchain_rag.py eval/seeds_questions.jsonl
    python benchmarks/peer_langchain_rag.py eval/squad_v2/questions_test.jsonl

Writes eval/results/<set>-peer-langchain-rag/ (results.json, report.md, metrics.png) and prints the metric table.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from qa_bot.answer_format import REFUSAL_TEXT
from qa_bot.config import get_settings
from qa_bot.evaluation.evaluate import default_out_dir, load_questions, run_eval, write_outputs
from qa_bot.evaluation.report import console_table
from qa_bot.schema import Answer, SearchHit
from qa_bot.service import QABot

# The text of the LangChain hub prompt "rlm/rag-prompt" (the hub is not reachable offline, so it is written out).
RAG_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "human",
            "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to "
            "answer the question. If you don't know the answer, just say that you don't know. Use three sentences "
            "maximum and keep the answer concise.\nQuestion: {question} \nContext: {context} \nAnswer:",
        )
    ]
)
_DONT_KNOW = re.compile(
    r"\b(don'?t|do not|does not|doesn'?t) know\b|\bnot (mentioned|provided|specified|stated)\b|\bno information\b", re.I
)
TOP_K = 4


def peer_answer(question: str, history, *, service: QABot, generator: str) -> tuple[Answer, float]:
    """run_eval's answerer: only the service's store, embedder and loaded model are used; the chain is the recipe's."""
    bot = service.bot
    t0 = time.perf_counter()
    qvec = service.embedder.embed_query(question)
    found = bot.retriever.store.query(list(qvec), TOP_K)
    hits = [SearchHit(chunk=c, score=sim, dense=sim, rank=i) for i, (c, sim, _) in enumerate(found, 1)]
    t_retrieve = time.perf_counter() - t0
    chain = RAG_PROMPT | bot.model(generator) | StrOutputParser()
    text, first = "", None
    t1 = time.perf_counter()
    for delta in chain.stream({"question": question, "context": "\n\n".join(h.chunk.text for h in hits)}):
        if first is None and delta:
            first = time.perf_counter() - t0
        text += delta
    refused = bool(_DONT_KNOW.search(text)) or not text.strip()
    a = Answer(
        question=question,
        text=REFUSAL_TEXT if refused else text.strip(),
        refused=refused,
        standalone_question=question,
        generator=f"peer-{generator}",
        hits=hits,
        timings={"retrieve": round(t_retrieve, 4), "generate": round(time.perf_counter() - t1, 4)},
    )
    return a, first if first is not None else time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="LangChain RAG recipe vs the same metrics")
    ap.add_argument("questions", type=Path)
    ap.add_argument("-g", "--generator", default="local")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if "dev" in args.questions.name:
        print("note: the peer is not tuned; dev or test sets both only measure it", file=sys.stderr)
    qs = load_questions(args.questions)
    settings = get_settings()
    run = run_eval(
        qs,
        generator=args.generator,
        limit=args.limit,
        settings=settings,
        answerer=peer_answer,
        out_dir=args.out or Path(str(default_out_dir(qs, args.generator)) + "-peer-langchain-rag"),
    )
    out = args.out or Path(str(default_out_dir(qs, args.generator)) + "-peer-langchain-rag")
    write_outputs(run, out)
    from rich.console import Console

    Console().print(console_table(run))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
