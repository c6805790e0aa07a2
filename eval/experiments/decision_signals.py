"""Experiment: candidate decision signals, computed on the drafts a dev run recorded (no new answers are generated).

For each recorded draft of a ``QA_BOT_ABSTAIN=none`` dev run, the question is retrieved again (same settings, same
hits; checked against the recorded chunk ids) and each candidate is read from the local model:

* ``check_quote``: the shipped self-check (evidence = the cited quote(s));
* ``check_window``: the same question, the cited quote(s) with one neighbour sentence on each side;
* ``check_chunk``: the same question over the whole cited passage(s);
* ``answerable``: P(yes) that the window answers the question, without the draft (the chain's ``evidence_answers``);
* ``answerable_quote``: the same without the neighbour sentences (shorter, so faster);
* ``answerable_quote_titled``: the quote-only check with each quote under its article's title, as the answer prompt
  shows evidence;
* ``answerable_quote_located``: the quote-only check, with the sentence of the quote's article that states each of the
  question's numbers and names the quote itself lacks (a year in a photo caption, a place in the dateline);
* ``answerable_null``: the quote-only check with the evidence replaced by "N/A": the model's prior for the question
  (contextual calibration, Zhao et al. 2021), to be set against the check with the evidence;
* ``answerable_fewshot``: the quote-only check after two worked examples on an unrelated topic (one yes, one no);
* ``answerable_quote_relaxed``: the quote-only check asked without the question's numbers (years, counts) that the
  quotes lack but their documents state elsewhere ("... in May 2022?" over "In May, ... Koji Yamazaki joined ...",
  the year in a photo caption); the question as asked when nothing is dropped;
* ``answerable_quote_contains`` / ``answerable_quote_qfirst``: that check asked whether the evidence *contains* the
  answer / with the question before the evidence;
* ``answerable_evidence``: the same question over the whole evidence the answer prompt gave the model;
* ``answerable_prefix``: the answer prompt itself with its last line replaced by the yes/no question, read right after
  the answer prompt was evaluated (llama.cpp reuses the shared prefix: only the new last line is processed);
* ``answerable_turn2``: a second user turn after the draft ("Does the text answer the question?"), cache reused;
* ``draft_logprob``/``first_logprob``: mean / first-token log-probability of the draft under the answer prompt
  (teacher-forced; with ``--logprob``: one answer-prompt evaluation per draft, slow).

Writes ``<out>.json`` (one row per draft: id, label, the candidates, seconds per candidate) and prints ROC AUC of each.

    python eval/experiments/decision_signals.py eval/results/dev-seeds-signals/results.json --docs seeds --out /tmp/x
    python eval/experiments/decision_signals.py --merge /tmp/x.json eval/results/dev-seeds-signals/results.json
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import time
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage
from self_check_forms import auc  # this folder: the ROC AUC the earlier experiment reports

from qa_bot.answer_format import strip_markers
from qa_bot.config import get_settings
from qa_bot.evaluation.squad import f1 as squad_f1
from qa_bot.generation.models import yes_probability
from qa_bot.generation.prompts import answers_prompt, as_data, data_hits, defang
from qa_bot.retrieval.evidence import score_sentences
from qa_bot.schema import Citation
from qa_bot.service import QABot
from qa_bot.text import key_terms, passage_terms, sentence_spans
from qa_bot.verify.abstain import compute_signals

# Asked after the answer prompt, as its last line or as a second turn (the answer prompt calls the evidence "the text").
TEXT_CHECK = "Does the text answer the question? Reply yes or no."


def quote_in_context(c: Citation, neighbours: int = 1) -> str:
    """The citation's quote with ``neighbours`` sentences of its passage before and after it (the quote alone when the
    passage is unknown)."""
    a, b = c.start - c.passage_start, c.end - c.passage_start
    if not c.passage or not 0 <= a < b <= len(c.passage):
        return c.quote
    spans = sentence_spans(c.passage)
    inside = [i for i, (s, e) in enumerate(spans) if e > a and s < b]
    if not inside:
        return c.quote
    lo, hi = max(0, inside[0] - neighbours), min(len(spans) - 1, inside[-1] + neighbours)
    return c.passage[min(spans[lo][0], a) : max(spans[hi][1], b)]


def draft_logprobs(model, prompt_messages, draft: str) -> tuple[float, float]:
    """Mean and first-token log-probability of ``draft`` as the assistant's reply to ``prompt_messages``."""
    import numpy as np

    llm, lock = model.llama()
    p_tokens = model.prompt_tokens(prompt_messages)  # as the chain's own probability readings render it
    with lock:
        d_tokens = llm.tokenize(draft.encode(), add_bos=False, special=False)
        llm.reset()
        llm.eval(p_tokens)
        lps = []
        for tok in d_tokens:
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
            m = logits.max()
            lps.append(float(logits[tok] - m - math.log(np.exp(logits - m).sum())))
            llm.eval([tok])
    return (sum(lps) / len(lps), lps[0]) if lps else (0.0, 0.0)


def merge(rows_path: Path, results_path: Path, fields: dict[str, str] | None = None) -> int:
    """Record the measured ``answerable`` and first-token values as the chain's ``evidence_answers`` and
    ``first_token`` signals of the same drafts in ``results_path`` (what eval/fit_abstention.py fits on)."""
    rows = {x["id"]: x for x in json.loads(rows_path.read_text())}
    data = json.loads(results_path.read_text())
    n = 0
    for r in data["results"]:
        x = rows.get(r["id"])
        if r.get("signals") and x and x["draft"] == strip_markers(r["draft"]).strip():
            if fields:  # another experiment's candidates under the signal names they replace
                r["signals"].update({signal: x[key] for key, signal in fields.items()})
            else:
                r["signals"]["evidence_answers"] = x["answerable"]
                r["signals"]["first_token"] = math.exp(x["first_logprob"])
            n += 1
    names = ", ".join(fields.values()) if fields else "evidence_answers, first_token"
    data["signals_added"] = f"{names}: eval/experiments/decision_signals.py ({n} drafts)"
    results_path.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    print(f"{results_path}: {names} recorded for {n} drafts")
    return n


def located(question: str, quotes: list[str], citations: list[dict], service: QABot, most: int = 2) -> str:
    """The quotes, then (up to ``most``) sentences of their articles that state a number or name of the question the
    quotes lack: the first such sentence per term, in article order."""
    quoted = set().union(*(passage_terms(q) for q in quotes)) if quotes else set()
    lacking = key_terms(question) - quoted
    extra: list[str] = []
    for doc in dict.fromkeys(c["doc_id"] for c in citations):
        text = service.document_text(doc) or ""
        for s, e in sentence_spans(text):
            sent = " ".join(text[s:e].split())
            found = lacking & passage_terms(sent)
            if found and sent not in extra:
                extra.append(sent)
                lacking -= found
    return " ".join([*dict.fromkeys(quotes), *extra[:most]])


def relaxed(question: str, quotes: list[str], vouched: frozenset[str]) -> str:
    """``question`` without the numbers the quotes lack and ``vouched`` (the cited documents' terms) holds."""
    quoted = set().union(*(passage_terms(q) for q in quotes)) if quotes else set()
    drop = {t for t in key_terms(question) if t[:1].isdigit() and t not in quoted and t in vouched}
    out = re.sub(
        r"\b\d[\d,.]*\b", lambda m: "" if m.group().rstrip(".,").replace(",", "") in drop else m.group(), question
    )
    return re.sub(r"\s+([?.,])", r"\1", " ".join(out.split()))


# Two worked examples for the evidence check, on a topic no question set is about.
FEWSHOT_CHECK = [
    HumanMessage(
        "Evidence: The bridge opened to traffic in 1932, after six years of work.\n\n"
        "Question: When did the bridge open?\n\nDoes the evidence answer the question? Reply yes or no."
    ),
    AIMessage("yes"),
    HumanMessage(
        "Evidence: The bridge is 500 metres long and carries four lanes of traffic.\n\n"
        "Question: Who designed the bridge?\n\nDoes the evidence answer the question? Reply yes or no."
    ),
    AIMessage("no"),
]


# Other wordings of the shipped quote-only evidence check (prompts.ANSWERS_HUMAN), one change each.
CHECK_WORDINGS = {
    "answerable_quote_contains": "Evidence: {evidence}\n\nQuestion: {question}\n\n"
    "Does the evidence contain the answer to the question? Reply yes or no.",
    "answerable_quote_qfirst": "Question: {question}\n\nEvidence: {evidence}\n\n"
    "Does the evidence answer the question? Reply yes or no.",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--merge", nargs=2, type=Path, metavar=("ROWS_JSON", "RESULTS_JSON"))
    ap.add_argument("results", nargs="?")
    ap.add_argument("--docs")
    ap.add_argument("--store", default=None, help="store folder (default /tmp/exp-store-<docs name>)")
    ap.add_argument("--out")
    ap.add_argument(
        "--as", dest="fields", help="with --merge: row keys as signals, e.g. coverage_window:question_coverage"
    )
    ap.add_argument("--logprob", action="store_true")
    ap.add_argument("--forms", default="check_quote,check_window,check_chunk,answerable")
    args = ap.parse_args()
    if args.merge:
        merge(*args.merge, dict(kv.split(":") for kv in args.fields.split(",")) if args.fields else None)
        return
    forms = [f for f in args.forms.split(",") if f]
    store = args.store or f"/tmp/exp-store-{Path(args.docs).name}"
    settings = get_settings().with_values(store_dir=store)
    rows = []
    with QABot(settings) as service:
        service.ingest([Path(args.docs)])  # unchanged documents are skipped
        bot = service.bot
        model = bot.model("local")
        records = [r for r in json.loads(Path(args.results).read_text())["results"] if r.get("signals")]
        for r in records:
            q = r["standalone_question"] or r["question"]
            draft = strip_markers(r["draft"]).strip()
            hits = bot.retrieve(q, None)
            same = [h.chunk.chunk_id for h in hits] == [h["chunk_id"] for h in r["hits"]]
            quotes = [c["quote"] for c in r["citations"]]
            chunks, wins = [], []
            for c in r["citations"]:
                for h in hits:
                    if h.chunk.doc_id == c["doc_id"] and h.chunk.start <= c["start"] and c["end"] <= h.chunk.end:
                        chunks.append(h.chunk.text)
                        cite = Citation(c["marker"], c["doc_id"], "", "", c["start"], c["end"], c["quote"])
                        cite.passage, cite.passage_start = h.chunk.text, h.chunk.start
                        wins.append(quote_in_context(cite))  # as the chain did until the quote-only check
                        break
            wins = list(dict.fromkeys(wins)) or quotes
            row = {"id": r["id"], "label": int(r["draft_correct"]), "same_hits": same, "draft": draft, "secs": {}}
            evid = {
                "check_quote": " ".join(quotes),
                "check_window": " ".join(wins),
                "check_chunk": " ".join(dict.fromkeys(chunks)) or " ".join(quotes),
            }
            readable = data_hits(hits)
            scored = score_sentences(q, readable, bot.embedder, bot.settings.retrieval.evidence_lexical_weight)
            prompt, inputs = bot.prompt_inputs(q, readable, scored)
            answer_msgs = prompt.format_messages(**inputs)
            titles = list(
                dict.fromkeys(h.chunk.title for c in r["citations"] for h in hits if h.chunk.doc_id == c["doc_id"])
            )
            all_titles = list(dict.fromkeys(h.chunk.title for h in hits))
            texts = {
                "coverage_quote": (quotes, [h.chunk.text for h in hits]),
                "coverage_window": (wins, [h.chunk.text for h in hits]),
                "coverage_window_title": ([*wins, *titles], [h.chunk.text for h in hits] + all_titles),
            }
            for f in forms:
                if f in texts:  # text only: question_coverage and premise as compute_signals reads them
                    sig = compute_signals(q, draft, *texts[f], self_check=0, support=0, retrieval=0, evidence_score=0)
                    row[f], row[f.replace("coverage", "premise")] = sig.question_coverage, sig.premise
                    continue
                if f in ("answerable_prefix", "answerable_turn2"):
                    model.first_token_probability(
                        answer_msgs, draft
                    )  # the answer prompt in the cache, as after generating
                t = time.perf_counter()
                if f == "reanswer_window":
                    # Self-consistency: the same answer prompt over the cited window(s) only; agreement with the draft.
                    msgs = prompt.format_messages(evidence=as_data(" ".join(wins)), question=inputs["question"])
                    re_text = strip_markers(str(model.invoke(msgs).content)).strip()
                    row["reanswer_text"] = re_text
                    row[f] = squad_f1(draft, re_text)
                elif f == "answerable_evidence":
                    msgs = answers_prompt.format_messages(evidence=inputs["evidence"], question=inputs["question"])
                    row[f] = yes_probability(model, msgs)
                elif f == "answerable_prefix":
                    text = str(answer_msgs[0].content)
                    head = text[: text.rindex("\n") + 1]
                    msgs = [HumanMessage(head + TEXT_CHECK)]
                    row[f] = model.yes_probability(msgs, reuse_cache=True)
                elif f == "answerable_turn2":
                    msgs = [*answer_msgs, AIMessage(draft), HumanMessage(TEXT_CHECK)]
                    row[f] = model.yes_probability(msgs, reuse_cache=True)
                elif f == "answerable_quote":  # the cited quote(s) alone: fewer tokens to read
                    row[f] = bot.evidence_check(q, " ".join(quotes), "local")  # as the chain asks it
                elif f == "answerable":
                    row[f] = bot.evidence_check(q, " ".join(wins), "local")
                elif f == "answerable_quote_titled":  # the shipped check, each quote under its article's title
                    by_doc = {h.chunk.doc_id: h.chunk.title for h in hits}
                    titled = "\n".join(
                        dict.fromkeys(
                            f'From the article "{as_data(by_doc.get(c["doc_id"], ""))}": {c["quote"]}'
                            if by_doc.get(c["doc_id"])
                            else c["quote"]
                            for c in r["citations"]
                        )
                    )
                    row[f] = bot.evidence_check(q, titled, "local")
                elif f == "answerable_null":
                    row[f] = bot.evidence_check(q, "N/A", "local")
                elif f == "answerable_quote_located":
                    evidence = located(q, quotes, r["citations"], service)
                    row[f] = bot.evidence_check(q, evidence, "local")
                    row["located_added"] = evidence != " ".join(quotes)
                elif f == "answerable_quote_relaxed":
                    docs = bot.document_terms(hits)
                    vouched = frozenset().union(*(docs.get(c["doc_id"], frozenset()) for c in r["citations"]))
                    rq = relaxed(q, quotes, vouched)
                    row["relaxed_question"] = rq if rq != q else ""
                    row[f] = bot.evidence_check(rq, " ".join(quotes), "local") if rq != q else row["answerable_quote"]
                elif f == "answerable_fewshot":
                    real = answers_prompt.format_messages(evidence=as_data(" ".join(quotes)), question=defang(q))
                    row[f] = yes_probability(model, [*FEWSHOT_CHECK, *real])
                elif f in CHECK_WORDINGS:  # the quote-only check, worded differently
                    msgs = [
                        HumanMessage(CHECK_WORDINGS[f].format(evidence=as_data(" ".join(quotes)), question=defang(q)))
                    ]
                    row[f] = yes_probability(model, msgs)
                else:
                    row[f] = bot.self_check(q, evid[f], draft, "local")
                row["secs"][f] = time.perf_counter() - t
            if args.logprob:
                t = time.perf_counter()
                row["draft_logprob"], row["first_logprob"] = draft_logprobs(
                    model, prompt.format_messages(**inputs), draft
                )
                row["secs"]["logprob"] = time.perf_counter() - t
            rows.append(row)
            print(
                r["id"],
                row["label"],
                {k: round(v, 3) for k, v in row.items() if isinstance(v, float)},
                draft[:50],
                flush=True,
            )
    Path(args.out + ".json").write_text(json.dumps(rows, indent=1))
    labels = [x["label"] for x in rows]
    print(f"n={len(rows)} right={sum(labels)} same hits={sum(x['same_hits'] for x in rows)}")
    for f in [*forms, *(["draft_logprob", "first_logprob"] if args.logprob else [])]:
        secs = [x["secs"].get(f if "logprob" not in f else "logprob", 0) for x in rows]
        if f in ("coverage_quote", "coverage_window", "coverage_window_title"):
            g = f.replace("coverage", "premise")
            print(f"{g:15s} AUC {auc([x[g] for x in rows], labels):.3f}")
        print(f"{f:15s} AUC {auc([x[f] for x in rows], labels):.3f}  median {statistics.median(secs):.2f} s")


if __name__ == "__main__":
    main()
