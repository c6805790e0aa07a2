"""Evaluation harness: run a question set through the same ``answer()`` users get and measure it, offline.

Metrics (definitions also in the Markdown report):
  * answer correctness — answerable questions whose answer text contains a gold answer (SQuAD normalisation, whole
    tokens) and that were not refused; EM/F1 as in SQuAD, of the full answer text and of a short span cut from it;
  * refusal accuracy (unanswerable questions refused) and false-refusal rate (answerable questions refused);
  * retrieval recall@1 / recall@k and MRR@k against gold documents and gold passages (quotes / SQuAD paragraphs);
  * citation recall and precision in the ALCE sense (Gao et al. 2023), with the project's own support check;
  * latency p50 / p95 per stage.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa_bot.answer_format import cited_numbers, strip_markers
from qa_bot.config import Settings
from qa_bot.schema import Answer, QABotError, SearchHit
from qa_bot.service import QABot
from qa_bot.text import content_tokens, sentence_spans
from qa_bot.verify.citations import support

from . import squad

STAGES = (
    "condense",
    "retrieve",
    "generate",
    "verify",
    "sources_shown",
    "first_text",
    "total",
)  # sources_shown: condense + retrieve, when the chat shows the passages; first_text: time to the first answer text


# --- questions ---------------------------------------------------------------------------------------------------
@dataclass
class Item:
    id: str
    type: str
    question: str
    history: list[tuple[str, str]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    is_impossible: bool = False
    gold_docs: list[str] = field(default_factory=list)
    gold_quotes: list[str] = field(default_factory=list)
    gold_paragraph_id: str | None = None
    gold_paragraph: str | None = None


@dataclass
class QuestionSet:
    path: Path
    items: list[Item]
    kind: str  # "seed" or "squad"
    paragraphs: dict[str, dict] = field(default_factory=dict)  # squad: paragraph_id -> paragraph record
    waiting: int = 0  # rows left out because a person still has to write their gold answer (a 'todo' field)

    @property
    def name(self) -> str:
        stem = re.sub(r"(^questions[_-]?|[_-]?questions$)", "", self.path.stem) or self.path.stem
        return f"squad_v2_{stem}" if self.kind == "squad" else stem


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise QABotError(f"{path}:{n}: not valid JSON ({e.msg})") from None
    return rows


def load_questions(path: Path | str) -> QuestionSet:
    """Seed format ({id, type, question, history, answers, is_impossible, gold_docs, gold_quotes}) or the SQuAD
    extract's format ({id, question, answers, is_impossible, gold_doc_id, gold_paragraph_id}, with paragraphs.jsonl
    beside it)."""
    path = Path(path)
    if not path.is_file():
        raise QABotError(f"question file not found: {path}")
    rows = _read_jsonl(path)
    if not rows:
        raise QABotError(f"no questions in {path}")
    if all("gold_paragraph_id" in r for r in rows):
        pfile = path.parent / "paragraphs.jsonl"
        if not pfile.is_file():
            raise QABotError(f"SQuAD-format questions need {pfile}")
        paragraphs = {p["paragraph_id"]: p for p in _read_jsonl(pfile)}
        items = [
            Item(
                id=r["id"],
                type="unanswerable" if r["is_impossible"] else "single",
                question=r["question"],
                answers=list(r.get("answers") or []),
                is_impossible=bool(r["is_impossible"]),
                gold_docs=[r["gold_doc_id"]],
                gold_paragraph_id=r["gold_paragraph_id"],
                gold_paragraph=paragraphs[r["gold_paragraph_id"]]["text"],
            )
            for r in rows
        ]
        return QuestionSet(path, items, "squad", paragraphs)
    items = []
    waiting = 0
    for n, r in enumerate(rows, 1):
        if "question" not in r:
            raise QABotError(f"{path}:{n}: no 'question' field")
        if r.get("todo"):  # exported feedback whose gold is not written yet (qa-bot feedback export)
            waiting += 1
            continue
        qtype = r.get("type", "single")
        impossible = r.get("is_impossible")
        if impossible is None:
            impossible = qtype in ("unanswerable", "false_premise") and not r.get("answers")
        items.append(
            Item(
                id=str(r.get("id", n)),
                type=qtype,
                question=r["question"],
                history=[(h[0], h[1]) for h in r.get("history") or []],
                answers=list(r.get("answers") or []),
                is_impossible=bool(impossible),
                gold_docs=list(r.get("gold_docs") or []),
                gold_quotes=list(r.get("gold_quotes") or []),
            )
        )
    if not items:
        raise QABotError(
            f"no question in {path} has a gold answer yet: "
            f"write them in 'answers' and delete the 'todo' fields ({waiting} waiting)"
        )
    return QuestionSet(path, items, "seed", waiting=waiting)


# --- gold spans and hit matching ---------------------------------------------------------------------------------
def gold_spans(item: Item, doc_texts: dict[str, str]) -> list[tuple[str, int, int, int]]:
    """(doc_id, start, end, target number) of each gold quote / paragraph in the cleaned document text the index holds.

    A quote found in a gold document counts there; one found nowhere in the gold documents is looked for in all."""
    targets = [item.gold_paragraph] if item.gold_paragraph else item.gold_quotes
    spans = []
    for n, t in enumerate(targets):
        if not t:
            continue
        found = []
        for pool in ([d for d in item.gold_docs if d in doc_texts], list(doc_texts)):
            for d in pool:
                i = doc_texts[d].find(t)
                while i >= 0:
                    found.append((d, i, i + len(t), n))
                    i = doc_texts[d].find(t, i + 1)
            if found:
                break
        spans.extend(found)
    return spans


def passage_match(start: int, end: int, doc_id: str, spans: Iterable[tuple]) -> bool:
    """A passage matches a gold span when they share at least half of the shorter of the two: a chunk holding the
    whole quote (or most of it, when a chunk boundary cuts it), or a chunk lying mostly inside a long gold paragraph."""
    for d, s, e, *_ in spans:
        if d == doc_id:
            overlap = min(end, e) - max(start, s)
            if overlap > 0 and overlap >= 0.5 * min(e - s, end - start):
                return True
    return False


def retrieval_scores(relevant: list[bool], n_gold: int = 1, covered: int | None = None) -> dict[str, float]:
    """recall@1, recall@k (share of the gold targets found in the top k) and reciprocal rank of the first relevant
    hit."""
    first = next((i for i, r in enumerate(relevant, 1) if r), None)
    rec_k = (covered / n_gold) if covered is not None and n_gold else float(first is not None)
    return {"recall@1": float(bool(relevant) and relevant[0]), "recall@k": rec_k, "rr": 1.0 / first if first else 0.0}


# --- citations ---------------------------------------------------------------------------------------------------
def citation_scores(answer_text: str, passages: dict[int, str], question: str = "") -> dict[str, float | int]:
    """ALCE citation recall and precision of one answer, with the project's support check as the judge.

    ``passages`` maps each marker number to the passage it cites. Recall: share of answer sentences supported by the
    concatenation of the passages they cite (no citation = unsupported). Precision: share of citations that are
    relevant — a citation is irrelevant when its sentence is unsupported, or when it alone does not support the
    sentence while the sentence's other citations do without it (ALCE's over-citation rule). Words the answer repeats
    from ``question`` count as given, as in the answer chain's own check."""
    sentences = cited_sentences = supported = precise = citations = 0
    for s, e in sentence_spans(answer_text):
        sentence = answer_text[s:e]
        claim = strip_markers(sentence)
        if not claim or not content_tokens(claim):
            continue
        sentences += 1
        refs = cited_numbers(sentence)
        citations += len(refs)
        cited_sentences += bool(refs)
        texts = {n: passages.get(n, "") for n in refs}
        joint = bool(refs) and support(claim, "\n".join(texts.values()), question).ok
        supported += joint
        if not joint:
            continue
        if len(refs) == 1:
            precise += 1
            continue
        for n in refs:
            alone = support(claim, texts[n], question).ok
            others = "\n".join(t for m, t in texts.items() if m != n)
            precise += alone or not support(claim, others, question).ok
    return {
        "sentences": sentences,
        "supported_sentences": supported,
        "citations": citations,
        "precise_citations": precise,
        "recall": supported / sentences if sentences else 0.0,
        "precision": precise / citations if citations else 0.0,
    }


def answer_passages(a: Answer) -> dict[int, str]:
    return {c.marker: c.passage for c in a.citations}


# --- one question ------------------------------------------------------------------------------------------------
def score_item(item: Item, a: Answer | None, spans: list[tuple], seconds: float, error: str | None = None) -> dict:
    """Everything measured about one question, as a JSON-able dict."""
    refused = a is None or a.refused
    text = "" if a is None else a.text
    pred_full = "" if refused else strip_markers(text)
    pred_short = "" if refused else squad.short_answer(item.question, text)
    em, f1 = squad.best_em_f1(item.answers if not item.is_impossible else [], pred_full)
    sem, sf1 = squad.best_em_f1(item.answers if not item.is_impossible else [], pred_short)
    contains = (not refused) and squad.contains(item.answers, text, item.question)
    hits: list[SearchHit] = a.hits if a is not None else []
    rows: list[dict[str, Any]] = []
    for h in hits:
        c = h.chunk
        rows.append(
            {
                "rank": h.rank,
                "doc_id": c.doc_id,
                "chunk_id": c.chunk_id,
                "start": c.start,
                "end": c.end,
                "dense": None if h.dense is None else round(h.dense, 4),
                "bm25": None if h.bm25 is None else round(h.bm25, 4),
                "gold_doc": c.doc_id in item.gold_docs,
                "gold_passage": passage_match(c.start, c.end, c.doc_id, spans),
                "has_answer": bool(item.answers) and squad.contains(item.answers, c.text),
            }
        )
    r: dict = {
        "id": item.id,
        "type": item.type,
        "question": item.question,
        "history": item.history,
        "is_impossible": item.is_impossible,
        "answers": item.answers,
        "gold_docs": item.gold_docs,
        "answer": text,
        "short_answer": pred_short,
        "refused": refused,
        "standalone_question": a.standalone_question if a else "",
        "error": error,
        "correct": refused if item.is_impossible else contains,
        "contains_gold": contains,
        "em": em,
        "f1": f1,
        "short_em": sem,
        "short_f1": sf1,
        "hits": rows,
        "gold_spans_found": len(spans),
        "citations": [
            {
                "marker": c.marker,
                "doc_id": c.doc_id,
                "start": c.start,
                "end": c.end,
                "quote": c.quote,
                "support": c.support,
            }
            for c in (a.citations if a else [])
        ],
        "flagged_sentences": a.flagged_sentences if a else [],
        "confidence": a.confidence if a else None,
        "signals": a.signals if a else {},
        "draft": a.draft if a else "",
        "draft_correct": (
            a is not None and squad.draft_is_right(item.answers, a.draft, item.question, item.is_impossible)
        ),
        "timings": {**(a.timings if a else {}), **_sources_shown(a), "total": round(seconds, 4)},
    }
    if not item.is_impossible and item.gold_docs:
        found = {h["doc_id"] for h in rows} & set(item.gold_docs)
        r["retrieval_doc"] = retrieval_scores([h["gold_doc"] for h in rows], len(set(item.gold_docs)), len(found))
        if spans:
            targets = sorted({sp[3] for sp in spans})
            covered = sum(
                any(passage_match(h["start"], h["end"], h["doc_id"], [sp for sp in spans if sp[3] == n]) for h in rows)
                for n in targets
            )
            r["retrieval_passage"] = retrieval_scores([h["gold_passage"] for h in rows], len(targets), covered)
        if item.answers:
            r["retrieval_answer"] = retrieval_scores([h["has_answer"] for h in rows])
    if a is not None and not refused:
        r["citation"] = citation_scores(text, answer_passages(a), a.standalone_question)
    return r


# --- aggregation -------------------------------------------------------------------------------------------------
def _mean(xs: list[float]) -> float | None:
    return float(statistics.fmean(xs)) if xs else None


def aggregate(results: list[dict]) -> dict:
    ans = [r for r in results if not r["is_impossible"]]
    una = [r for r in results if r["is_impossible"]]
    answered = [r for r in results if "citation" in r]
    m: dict = {
        "n": len(results),
        "n_answerable": len(ans),
        "n_unanswerable": len(una),
        "errors": sum(bool(r["error"]) for r in results),
        "answer_correctness": _mean([float(r["contains_gold"]) for r in ans]),
        "refusal_accuracy": _mean([float(r["refused"]) for r in una]),
        "false_refusal_rate": _mean([float(r["refused"]) for r in ans]),
        "overall_accuracy": _mean([float(r["correct"]) for r in results]),
        "em": _mean([r["em"] for r in results]),
        "f1": _mean([r["f1"] for r in results]),
        "short_em": _mean([r["short_em"] for r in results]),
        "short_f1": _mean([r["short_f1"] for r in results]),
        "has_ans_short_f1": _mean([r["short_f1"] for r in ans]),
        "has_ans_f1": _mean([r["f1"] for r in ans]),
    }
    for key, label in (("retrieval_doc", "doc"), ("retrieval_passage", "passage"), ("retrieval_answer", "answer")):
        rows = [r[key] for r in results if key in r]
        m[f"{label}_recall@1"] = _mean([x["recall@1"] for x in rows])
        m[f"{label}_recall@k"] = _mean([x["recall@k"] for x in rows])
        m[f"{label}_mrr"] = _mean([x["rr"] for x in rows])
        m[f"{label}_n"] = len(rows)
    cit = [r["citation"] for r in answered]
    m["citation_recall"] = _mean([c["recall"] for c in cit])
    m["citation_precision"] = _mean([c["precision"] for c in cit if c["citations"]])
    m["citation_n_answers"] = len(cit)
    m["citations_total"] = sum(c["citations"] for c in cit)
    m["latency"] = {}
    for stage in STAGES:
        xs = [r["timings"][stage] for r in results if stage in r["timings"] and not r["error"]]
        if xs:
            m["latency"][stage] = {
                "p50": float(np.percentile(xs, 50)),
                "p95": float(np.percentile(xs, 95)),
                "mean": float(np.mean(xs)),
            }
    by_type: dict[str, dict] = {}
    for r in results:
        t = by_type.setdefault(r["type"], {"n": 0, "correct": 0, "refused": 0})
        t["n"] += 1
        t["correct"] += bool(r["correct"])
        t["refused"] += bool(r["refused"])
    for t in by_type.values():
        t["accuracy"] = t["correct"] / t["n"]
    m["by_type"] = by_type
    return m


def check_thresholds(metrics: dict, thresholds: dict) -> list[str]:
    """Failures as readable lines: each ``min`` metric must be >= its value, each ``max`` metric <= its value."""
    failures = []
    for key, floor in thresholds.get("min", {}).items():
        v = metrics.get(key)
        if v is None or v < floor:
            failures.append(f"{key} = {v} is below the threshold {floor}")
    for key, ceiling in thresholds.get("max", {}).items():
        v = metrics.get(key)
        if v is None or v > ceiling:
            failures.append(f"{key} = {v} is above the threshold {ceiling}")
    return failures


# --- the run -----------------------------------------------------------------------------------------------------
@dataclass
class EvalRun:
    questions: QuestionSet
    generator: str
    settings: dict
    results: list[dict]
    metrics: dict
    docs: str
    extractive_min_score: float
    squad_official: dict | None = None  # evaluate-v2.0.py on the short-answer predictions
    squad_official_full: dict | None = None  # ... and on the full answer text
    started: str = ""
    seconds: float = 0.0
    index_seconds: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["questions"] = {
            "path": str(self.questions.path),
            "kind": self.questions.kind,
            "name": self.questions.name,
            "n": len(self.questions.items),
        }
        return d


def default_docs(qs: QuestionSet, settings: Settings) -> Path:
    if qs.kind == "squad" and (qs.path.parent / "corpus").is_dir():
        return qs.path.parent / "corpus"
    if settings.store.seeds_dir is None:
        raise QABotError("no documents to evaluate on: pass --docs PATH (there is no seeds/ folder outside a checkout)")
    return settings.store.seeds_dir


def build_index(docs: Path, service: QABot) -> tuple[dict[str, str], float]:
    """Index ``docs`` into the service's store; return the cleaned text of every indexed document."""
    t = time.perf_counter()
    report = service.ingest([docs])
    if not report.ok:
        raise QABotError("indexing failed: " + "; ".join(f"{i.path}: {i.reason}" for i in report.failed))
    texts = {d: service.document_text(d) or "" for d in service.documents()}
    return texts, time.perf_counter() - t


def run_eval(
    questions: Path | str | QuestionSet,
    *,
    docs: Path | str | None = None,
    generator: str = "extractive",
    limit: int | None = None,
    settings: Settings | None = None,
    store_dir: Path | None = None,
    progress: Callable[[int, int, dict | None], None] | None = None,
    out_dir: Path | None = None,
    answerer: Callable[..., tuple[Answer, float]] | None = None,
) -> EvalRun:
    """Index ``docs`` into a fresh temporary store (or ``store_dir``, reused if it holds them) and answer every
    question, through a ``QABot`` of its own that is closed at the end.

    ``answerer(question, history, service=..., generator=...)`` -> (Answer, seconds to first text) replaces qa-bot's
    own answer chain, so another system (``benchmarks/peer_langchain_rag.py``) is measured by the same metrics; the
    service gives it the same store, embedder and models."""
    from qa_bot.config import get_settings

    qs = questions if isinstance(questions, QuestionSet) else load_questions(questions)
    items = qs.items[:limit] if limit else qs.items
    base = settings or get_settings()
    docs_path = Path(docs) if docs else default_docs(qs, base)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qa-bot-eval-") as tmp:
        s = base.with_values(store_dir=Path(store_dir or tmp), generator=generator)
        with QABot(s) as service:  # closed before the temporary store goes
            doc_texts, index_seconds = build_index(docs_path, service)
            results = _answer_all(service, items, doc_texts, generator, progress, answerer)
    run = EvalRun(
        questions=qs,
        generator=generator,
        settings=recorded_settings(s),
        results=results,
        metrics=aggregate(results),
        docs=str(docs_path),
        extractive_min_score=s.generation.extractive_min_score,
        started=started,
        index_seconds=round(index_seconds, 2),
    )
    if qs.kind == "squad":
        scorer = qs.path.parent / "evaluate-v2.0.py"
        chosen = results
        raw = {q["id"]: q for q in _read_jsonl(qs.path)}
        data = squad.to_official([raw[r["id"]] for r in chosen], qs.paragraphs)
        work = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="qa-bot-squad-"))
        run.squad_official = squad.run_official(scorer, data, {r["id"]: r["short_answer"] for r in chosen}, work)
        full = squad.run_official(
            scorer,
            data,
            {r["id"]: ("" if r["refused"] else strip_markers(r["answer"])) for r in chosen},
            work / "full_text",
        )
        run.squad_official_full = full
    run.seconds = round(time.perf_counter() - t0, 2)
    return run


def _answer_all(
    service: QABot,
    items: list[Item],
    doc_texts: dict[str, str],
    generator: str,
    progress: Callable[[int, int, dict | None], None] | None,
    answerer: Callable[..., tuple[Answer, float]] | None,
) -> list[dict]:
    """Every question answered (streamed, as the chat gets it, so the time to the first text is measured too) and
    scored; stops when the generator fails on each of the first three."""
    results: list[dict] = []
    consecutive_errors = 0
    if progress:
        progress(0, len(items), None)
    for n, item in enumerate(items, 1):
        spans = gold_spans(item, doc_texts)
        t = time.perf_counter()
        try:
            if answerer is not None:
                a, first = answerer(item.question, item.history, service=service, generator=generator)
            else:
                a, first = service.timed_answer(item.question, item.history, generator=generator)
            err = None
            consecutive_errors = 0
        except QABotError as e:
            a, first, err = None, None, str(e)
            consecutive_errors += 1
        r = score_item(item, a, spans, time.perf_counter() - t, err)
        if first is not None:
            r["timings"]["first_text"] = round(first, 4)
        results.append(r)
        if progress:
            progress(n, len(items), r)
        if consecutive_errors >= 3 and n == consecutive_errors:
            raise QABotError(f"the {generator} generator fails on every question: {err}")
    return results


def _sources_shown(a: Answer | None) -> dict[str, float]:
    """Seconds until the chat shows the retrieved passages (the stage event after retrieval), when both steps ran."""
    if a is None or "retrieve" not in a.timings:
        return {}
    return {"sources_shown": round(a.timings.get("condense", 0.0) + a.timings["retrieve"], 4)}


def recorded_settings(settings: Settings) -> dict:
    """The settings as written to results.json, by their flat names (``top_k``, as results of earlier versions
    have them): no API key, and the server address without credentials or query."""
    from qa_bot.generation.models import display_url

    d = settings.flat_dump(exclude={"openai_api_key"})
    if settings.generation.openai_base_url:
        d["openai_base_url"] = display_url(settings)
    return d


def default_out_dir(qs: QuestionSet, generator: str, settings: Settings | None = None) -> Path:
    from qa_bot.config import get_settings

    return (settings or get_settings()).store.eval_results_dir / f"{qs.name}-{generator}"


def write_outputs(run: EvalRun, out_dir: Path) -> dict[str, Path]:
    from qa_bot.evaluation.report import write_chart, write_markdown, write_reliability

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "markdown": out_dir / "report.md"}
    paths["json"].write_text(json.dumps(run.to_dict(), indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    write_markdown(run, paths["markdown"])
    chart, reliability = out_dir / "metrics.png", out_dir / "reliability.png"
    if write_chart(run, chart):  # plots only with the `eval` extra (matplotlib)
        paths["chart"] = chart
    judged = [r for r in run.results if r.get("confidence") is not None]
    if judged and write_reliability(
        [r["confidence"] for r in judged],
        [int(r["draft_correct"]) for r in judged],
        reliability,
        f"{run.questions.name}: confidence vs correct draft (n={len(judged)})",
    ):
        paths["reliability"] = reliability
    return paths


# --- command line ------------------------------------------------------------------------------------------------
def cli_eval(args, settings: Settings) -> int:
    """``qa-bot eval``: progress bar, console table, results.json + report.md + metrics.png, optional threshold gate."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from qa_bot.evaluation.report import PLOTS_SKIPPED, console_table

    console, err = Console(), Console(stderr=True)
    qs = load_questions(args.questions)
    generator = settings.resolved_generator()
    out_dir = args.out or default_out_dir(qs, generator, settings)
    err.print(
        f"evaluating {len(qs.items[: args.limit] if args.limit else qs.items)} questions from {qs.path} "
        f"with the {generator} generator",
        highlight=False,
    )
    if qs.waiting:
        err.print(
            f"left out {qs.waiting} question(s) still waiting for a person to write their gold answer (a 'todo' field)",
            highlight=False,
        )
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task("indexing", total=None, status="")
        correct = 0

        def progress(done: int, total: int, r: dict | None) -> None:
            nonlocal correct
            if r is None:
                bar.update(task, description="answering", total=total, completed=0)
                return
            correct += bool(r["correct"])
            bar.update(task, completed=done, status=f"{correct}/{done} correct")

        run = run_eval(
            qs,
            docs=args.docs,
            generator=generator,
            limit=args.limit,
            settings=settings,
            store_dir=getattr(args, "store_dir", None),
            progress=progress,
            out_dir=out_dir,
        )
    paths = write_outputs(run, out_dir)
    console.print(console_table(run))
    console.print("wrote " + ", ".join(str(p) for p in paths.values()), highlight=False)
    if "chart" not in paths:
        err.print(PLOTS_SKIPPED, highlight=False, markup=False)
    if args.thresholds:
        spec = json.loads(Path(args.thresholds).read_text(encoding="utf-8"))
        failures = check_thresholds(run.metrics, spec)
        for f in failures:
            err.print(f"[red]threshold failed:[/red] {f}", highlight=False)
        if failures:
            return 1
        console.print(f"all thresholds in {args.thresholds} met")
    return 0
