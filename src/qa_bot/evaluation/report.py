"""Evaluation output: the console table, the Markdown report and the PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qa_bot.answer_format import strip_markers

if TYPE_CHECKING:
    from qa_bot.evaluation.evaluate import EvalRun

# (key, label): every metric is a share, shown as %.
MAIN_METRICS = [
    ("answer_correctness", "Answer correctness (gold answer contained)"),
    ("refusal_accuracy", "Refusal accuracy (unanswerable refused)"),
    ("false_refusal_rate", "False-refusal rate (answerable refused)"),
    ("overall_accuracy", "Overall accuracy (correct answer or correct refusal)"),
    ("em", "EM, full answer text"),
    ("f1", "F1, full answer text"),
    ("short_em", "EM, short answer"),
    ("short_f1", "F1, short answer"),
    ("doc_recall@1", "Retrieval recall@1, gold documents"),
    ("doc_recall@k", "Retrieval recall@k, gold documents"),
    ("doc_mrr", "Retrieval MRR@k, gold documents"),
    ("passage_recall@k", "Retrieval recall@k, gold passages"),
    ("passage_mrr", "Retrieval MRR@k, gold passages"),
    ("answer_recall@k", "Retrieval recall@k, answer-bearing passage"),
    ("citation_recall", "Citation recall (ALCE)"),
    ("citation_precision", "Citation precision (ALCE)"),
]

DEFINITIONS = """\
* **Answer correctness**: share of answerable questions (`is_impossible` false) whose answer was not a refusal and
  contains one of the gold answers after SQuAD normalisation (lower case, no punctuation or articles), as whole words;
  number words count as digits and "and" is ignored ("4" gives "four"; "a, b, c" gives "a, b, and c"), and an answer
  made only of a gold answer's and the question's words may leave out what the question says ("Three" for "how many
  years ...?", gold "three years").
* **Refusal accuracy**: share of unanswerable questions (`is_impossible` true: unanswerable and false-premise) answered
  with the refusal. **False-refusal rate**: share of answerable questions refused.
* **EM / F1**: SQuAD v2 definitions (a refusal is the empty prediction: it scores 1 on an unanswerable question and 0
  otherwise), maximised over gold answers, averaged over all questions. *Full answer text* compares the whole
  (sentence-style) answer with the short gold span, so its precision, and F1, is low by construction even when the
  answer is right; *short answer* compares a span cut from the answer by a heuristic \
(`qa_bot.evaluation.squad.short_answer`:
  first sentence, then a number/date/name by question type, else the words the question does not already contain).
* **Retrieval** (answerable questions with gold data; k = top_k passages given to the generator): recall@k is the share
  of the question's gold documents (gold passages) found among the k hits; recall@1 whether the first hit is gold; MRR
  is the mean reciprocal rank of the first gold hit (0 if none in the top k). A hit matches a gold passage \
(a gold quote,
  or the SQuAD gold paragraph) when they share at least half of the shorter of the two spans. *Answer-bearing*: the
  hit's text contains a gold answer.
* **Citations** (answered questions only), ALCE-style (Gao et al., 2023) with the project's support check
  (`qa_bot.verify.citations.support`, the same check that verifies answers) in place of an NLI model: recall is \
the share of
  answer sentences supported by the concatenation of the passages they cite; precision the share of citations that are
  relevant (the sentence is supported, and the citation supports it alone or is needed by the others). Since the bot
  already drops citations this check rejects, precision mostly confirms that verification ran; recall shows how many
  sentences the bot had to leave unsupported.
* **Latency**: seconds per stage of `answer()` (condense, retrieve, generate, verify), time to the first streamed text
  (`first_text`: what a chat user waits before words appear), until the chat shows the retrieved passages
  (`sources_shown`: condense + retrieve; the web chat shows them with the progress checklist) and in total, p50 and p95.
"""


def _over(m: dict, key: str) -> str:
    """What a metric is averaged over."""
    special = {
        "answer_correctness": f"{m['n_answerable']} answerable",
        "refusal_accuracy": f"{m['n_unanswerable']} unanswerable",
        "false_refusal_rate": f"{m['n_answerable']} answerable",
        "citation_recall": f"{m['citation_n_answers']} answers",
        "citation_precision": f"{m['citations_total']} citations",
    }
    prefix = key.split("_")[0]
    if key in special:
        return special[key]
    if prefix in ("doc", "passage", "answer"):
        return f"{m[prefix + '_n']} questions"
    return f"{m['n']} questions"


def _fmt(v) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}%"


def console_table(run: EvalRun):
    from rich.table import Table

    m = run.metrics
    table = Table(title=f"{run.questions.name} · {run.generator} · {m['n']} questions", show_lines=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("n", justify="right")
    for key, label in MAIN_METRICS:
        if m.get(key) is not None:
            table.add_row(label, _fmt(m[key]), _over(m, key))
    if run.squad_official:
        o = run.squad_official
        table.add_row("SQuAD official (short answers): F1 / EM", f"{o['f1']:.1f} / {o['exact']:.1f}", str(o["total"]))
        if "HasAns_f1" in o:
            table.add_row(
                "  HasAns F1 / NoAns accuracy",
                f"{o['HasAns_f1']:.1f} / {o.get('NoAns_f1', 0):.1f}",
                f"{o['HasAns_total']}/{o.get('NoAns_total', 0)}",
            )
    for stage, v in m["latency"].items():
        table.add_row(f"latency {stage} p50 / p95", f"{v['p50']:.2f} s / {v['p95']:.2f} s", "")
    return table


def _settings_line(run: EvalRun) -> str:
    s = run.settings
    return (
        f"top_k={s['top_k']}, chunk_size={s['chunk_size']}, chunk_overlap={s['chunk_overlap']}, "
        f"min_relevance={s['min_relevance']}, "
        f"EXTRACTIVE_MIN_SCORE={run.extractive_min_score}, fetch_k={s['fetch_k']}, mmr_lambda={s['mmr_lambda']}, "
        f"embedder={s['embedder']}"
    )


def _esc(s: str) -> str:
    return strip_markers(s).replace("|", "\\|").replace("\n", " ")


def write_markdown(run: EvalRun, path: Path, max_failures: int = 40) -> None:
    m = run.metrics
    lines = [
        f"# Evaluation: {run.questions.name}, generator `{run.generator}`",
        "",
        (
            f"* Questions: `{run.questions.path}` ({m['n']} run: {m['n_answerable']} answerable, "
            f"{m['n_unanswerable']} unanswerable); "
            f"documents: `{run.docs}` indexed into a fresh store in {run.index_seconds:.0f} s"
        ),
        f"* Settings: {_settings_line(run)}",
        f"* Started {run.started}; {run.seconds:.0f} s in all; {m['errors']} errors",
        "",
        "## Metrics",
        "",
        "| metric | value | over |",
        "|---|---:|---:|",
    ]
    for key, label in MAIN_METRICS:
        if m.get(key) is not None:
            lines.append(f"| {label} | {_fmt(m[key])} | {_over(m, key)} |")
    lines += ["", "### Latency (seconds)", "", "| stage | p50 | p95 | mean |", "|---|---:|---:|---:|"]
    for stage, v in m["latency"].items():
        lines.append(f"| {stage} | {v['p50']:.3f} | {v['p95']:.3f} | {v['mean']:.3f} |")
    lines += [
        "",
        "### By question type",
        "",
        "| type | n | correct | refused | accuracy |",
        "|---|---:|---:|---:|---:|",
    ]
    for t, v in sorted(m["by_type"].items()):
        lines.append(f"| {t} | {v['n']} | {v['correct']} | {v['refused']} | {100 * v['accuracy']:.1f}% |")
    if run.squad_official:
        o, f = run.squad_official, run.squad_official_full or {}
        lines += [
            "",
            "## SQuAD v2.0 official scorer (evaluate-v2.0.py)",
            "",
            # One item per line of the report; the long ones are split here in the source only.
            (
                "What is compared: the official script scores a *predictions file* `{question id: answer text}` "
                "against the gold"
            ),
            (
                'spans, `""` meaning "no answer". The bot answers in sentences from a retrieval over all 35 articles '
                "(it is not"
            ),
            (
                "given the gold paragraph, unlike SQuAD readers), so two prediction files are scored: "
                "**short answers** cut from the"
            ),
            (
                "bot's answer by a heuristic (the headline number), and the **full answer text** (what users see; "
                "its F1 is bounded"
            ),
            (
                "by sentence length). Both use the bot's refusal as the abstention. Always abstaining scores 50.0 on "
                "this stratified"
            ),
            "subset (half unanswerable).",
            "",
            "| predictions | exact | F1 | HasAns exact | HasAns F1 | NoAns (abstention accuracy) | total |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, d in (("short answers", o), ("full answer text", f)):
            if d:
                lines.append(
                    f"| {name} | {d['exact']:.2f} | {d['f1']:.2f} | "
                    f"{d.get('HasAns_exact', 0):.2f} | {d.get('HasAns_f1', 0):.2f} | "
                    f"{d.get('NoAns_exact', 0):.2f} | {d['total']} |"
                )
        lines += ["", "Raw scorer output (short answers):", "", "```json", __import__("json").dumps(o, indent=2), "```"]
    judged = [r for r in run.results if r.get("confidence") is not None]
    if judged:
        rows = reliability_bins([r["confidence"] for r in judged], [int(r["draft_correct"]) for r in judged])
        lines += [
            "",
            "## Abstention: reliability of the calibrated confidence",
            "",
            f"{len(judged)} answers reached the answer/abstain decision (`reliability.png`). "
            "Correct = the draft answer,",
            "before the decision, contains a gold answer (never, for an unanswerable question).",
            "",
            "| mean predicted P(correct) | observed share correct | answers |",
            "|---:|---:|---:|",
        ] + [f"| {p:.2f} | {o:.2f} | {n} |" for p, o, n in rows]
    wrong = [r for r in run.results if not r["correct"]]
    lines += ["", f"## Misses ({len(wrong)} of {m['n']}; first {min(len(wrong), max_failures)})", ""]
    if wrong:
        lines += ["| id | type | question | gold | answer | short |", "|---|---|---|---|---|---|"]
        for r in wrong[:max_failures]:
            gold = "(unanswerable)" if r["is_impossible"] else " / ".join(r["answers"][:3])
            ans = (r["error"] and f"ERROR: {r['error']}") or r["answer"]
            lines.append(
                f"| {r['id']} | {r['type']} | {_esc(r['question'])} | {_esc(gold)} | {_esc(ans[:300])} | "
                f"{_esc(r['short_answer'])} |"
            )
    lines += ["", "## Definitions", "", DEFINITIONS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


PLOTS_SKIPPED = 'plots skipped: matplotlib is not installed (pip install "qa-bot[eval]")'


def _pyplot():
    """matplotlib's pyplot, drawing to files only; None without the ``eval`` extra."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_chart(run: EvalRun, path: Path) -> bool:
    """The metrics and latency chart; False (nothing written) without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    m = run.metrics
    keys = [
        ("answer_correctness", "answer correctness"),
        ("refusal_accuracy", "refusal accuracy"),
        ("false_refusal_rate", "false-refusal rate (lower is better)"),
        ("short_f1", "F1 (short answer)"),
        ("doc_recall@k", "recall@k (docs)"),
        ("passage_recall@k", "recall@k (passages)"),
        ("doc_mrr", "MRR (docs)"),
        ("citation_recall", "citation recall"),
        ("citation_precision", "citation precision"),
    ]
    keys = [(k, label) for k, label in keys if m.get(k) is not None]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [3, 2]})
    vals = [100 * m[k] for k, _ in keys]
    colors = ["#c0504d" if k == "false_refusal_rate" else "#4f81bd" for k, _ in keys]
    y = list(range(len(keys)))[::-1]
    ax.barh(y, vals, color=colors)
    ax.set_yticks(y, [label for _, label in keys])
    ax.set_xlim(0, 105)
    ax.set_xlabel("%")
    for yi, v in zip(y, vals, strict=True):
        ax.text(min(v + 1, 92), yi, f"{v:.1f}", va="center", fontsize=9)
    if run.squad_official:
        ax.axvline(50, color="grey", ls=":", lw=1)
        ax.set_title(f"official SQuAD v2 F1 {run.squad_official['f1']:.1f} (abstain-always 50)", fontsize=10)
    stages = [s for s in ("condense", "retrieve", "generate", "verify", "total") if s in m["latency"]]
    p50 = [m["latency"][s]["p50"] for s in stages]
    p95 = [m["latency"][s]["p95"] for s in stages]
    x = range(len(stages))
    ax2.bar([i - 0.2 for i in x], p50, width=0.4, label="p50", color="#9bbb59")
    ax2.bar([i + 0.2 for i in x], p95, width=0.4, label="p95", color="#f79646")
    ax2.set_xticks(list(x), stages)
    ax2.set_ylabel("seconds")
    ax2.set_title("latency per stage")
    ax2.legend()
    fig.suptitle(f"qa-bot eval: {run.questions.name}, generator {run.generator}, n={m['n']}, k={run.settings['top_k']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def reliability_bins(ps: list[float], ys: list[int], bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted, observed share, count) per probability bin that holds any prediction."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = [(p, y) for p, y in zip(ps, ys, strict=False) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if sel:
            out.append((sum(p for p, _ in sel) / len(sel), sum(y for _, y in sel) / len(sel), len(sel)))
    return out


def write_reliability(ps: list[float], ys: list[int], path: Path, title: str) -> bool:
    """Reliability diagram: predicted P(correct) against the observed share of correct answers; False without
    matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    rows = reliability_bins(ps, ys)
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label="answers")
    for m, f, c in rows:
        ax.annotate(str(c), (m, f), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("predicted P(correct)")
    ax.set_ylabel("observed share correct")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
