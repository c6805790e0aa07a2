"""The ``qa-bot`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from qa_bot import registry
from qa_bot.answer_format import answer_to_dict
from qa_bot.config import Settings, get_settings
from qa_bot.schema import QABotError

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("store and retrieval (defaults from QA_BOT_* environment variables)")
    g.add_argument("--store", dest="store_dir", type=Path, help="embedded Chroma store directory (QA_BOT_STORE_DIR)")
    g.add_argument("--collection", help="collection name (QA_BOT_COLLECTION)")
    g.add_argument("--chroma-host", help="use a Chroma server at this host (QA_BOT_CHROMA_HOST)")
    g.add_argument("--chroma-port", type=int, help="Chroma server port (QA_BOT_CHROMA_PORT)")
    g.add_argument("-k", "--top-k", dest="top_k", type=int, help="passages to retrieve (QA_BOT_TOP_K)")


def _generator_options(p: argparse.ArgumentParser, what: str = "answer generator") -> None:
    p.add_argument("-g", "--generator", choices=["auto", *registry.GENERATORS], help=f"{what} (QA_BOT_GENERATOR)")
    p.add_argument(
        "--threads", dest="local_threads", type=int, help="CPU threads for the local model (QA_BOT_LOCAL_THREADS)"
    )


def _settings(args: argparse.Namespace, **extra) -> Settings:
    keys = (
        "store_dir",
        "collection",
        "chroma_host",
        "chroma_port",
        "top_k",
        "chunk_size",
        "chunk_overlap",
        "generator",
        "local_threads",
    )
    return get_settings(**{k: getattr(args, k, None) for k in keys}, **extra)


def _service(args: argparse.Namespace):
    """The service every command answers, indexes and lists through (closed when the command ends)."""
    from qa_bot.service import QABot

    return QABot(_settings(args))


# --- ingest ------------------------------------------------------------------------------------------------------
def _say_waiting(message: str) -> None:
    err.print(message, highlight=False, markup=False)


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    settings = _settings(args)
    if not args.paths and settings.store.seeds_dir is None:
        raise QABotError("no documents given: qa-bot ingest PATH (no seeds/ folder to default to outside a checkout)")
    paths = args.paths or [settings.store.seeds_dir]
    bar = None

    def progress(done: int, total: int, name: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="file", desc="ingest", disable=args.quiet or total < 2, file=sys.stderr)
        bar.n = done
        bar.set_postfix_str(name[:40])
        bar.refresh()

    with _service(args) as service:
        report = service.ingest(
            paths, rebuild=args.rebuild, progress=progress, prune=not args.no_prune, on_wait=_say_waiting
        )
    if bar is not None:
        bar.close()
    for issue in report.failed:
        err.print(f"[red]error[/red] {issue.path}: {issue.reason}", highlight=False)
    console.print(report.summary(), highlight=False)
    return 0 if report.ok else 1


# --- search ------------------------------------------------------------------------------------------------------
def cmd_search(args: argparse.Namespace) -> int:
    with _service(args) as service:
        hits = service.search(args.query, args.top_k)
    if args.json:
        import json

        print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        console.print("no matching passages")
        return 0
    console.print(search_table(hits))
    return 0


def search_table(hits: list) -> Table:
    """Ranked passages in a table that fits the terminal: the passage column takes the width the short columns leave."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("#", no_wrap=True, justify="right")
    table.add_column("document", overflow="fold", max_width=24)
    table.add_column("scores", no_wrap=True)
    table.add_column("passage", overflow="fold", ratio=1, min_width=20)
    for h in hits:
        c = h.chunk
        scores = (
            f"rrf {h.score:.4f}\ncos "
            + ("-" if h.dense is None else f"{h.dense:.3f}")
            + "\nbm25 "
            + ("-" if h.bm25 is None else f"{h.bm25:.2f}")
        )
        passage = " ".join(c.text.split())  # the passage's own line breaks would only add ragged lines
        table.add_row(
            str(h.rank),
            Text(f"{c.doc_id}\nchars {c.start}-{c.end}"),
            scores,
            Text(passage if len(passage) < 400 else passage[:400] + "…"),
            end_section=True,
        )
    return table


# --- ask ---------------------------------------------------------------------------------------------------------
def print_answer(a, show_sources: bool = True) -> None:
    console.print(a.text, highlight=False, markup=False)
    if a.standalone_question and a.standalone_question != a.question:
        console.print(f"[dim](searched for: {a.standalone_question})[/dim]", highlight=False)
    if show_sources and a.citations:
        console.print("\n[bold]Sources[/bold]")
        for c in a.citations:
            console.print(
                f"[{c.marker}] {c.title} ({Path(c.source).name}, chars {c.start}-{c.end})",
                highlight=False,
                markup=False,
            )
            console.print(f'    "{c.quote}"', highlight=False, markup=False, style="dim")
    for s in a.flagged_sentences:
        console.print(f"[yellow]unsupported by the documents:[/yellow] {s}", highlight=False)
    if a.confidence is not None and not a.refused:
        from qa_bot.verify.abstain import confidence_words

        console.print(f"[dim]{confidence_words(a.confidence)}[/dim]", highlight=False)
    elif a.refused and a.draft:
        console.print(
            f"[dim](a draft answer was withheld: too unlikely to be right, {a.confidence:.0%})[/dim]", highlight=False
        )


def print_stage(stage) -> None:
    """One line on stderr per step of the chain, so a user waiting for a slow model sees what it is doing."""
    err.print(f"… {stage.detail}", style="dim", highlight=False, markup=False)
    for h in stage.hits:
        err.print(
            f"    [{h.rank}] {h.chunk.title or h.chunk.doc_id} "
            f"({Path(h.chunk.source).name}, chars {h.chunk.start}-{h.chunk.end})",
            style="dim",
            highlight=False,
            markup=False,
        )


def cmd_ask(args: argparse.Namespace) -> int:
    with _service(args) as service:
        return _ask(service, args)


def _ask(service, args: argparse.Namespace) -> int:
    from qa_bot.schema import Answer, Stage

    history: list[tuple[str, str]] = []
    questions = [args.question] if args.question is not None else None
    # Interactive sessions show the stages by default; a one-shot answer only with --stream, so scripts get a quiet
    # stderr.
    show_stages = not args.json and (questions is None or args.stream)
    while True:
        if questions is not None:
            if not questions:
                return 0
            q = questions.pop(0)
        else:
            try:
                q = console.input("[bold]question>[/bold] ")
            except EOFError:
                return 0
            if not q.strip():
                continue
        final = None
        streamed = False
        for item in service.stream(q, history, stages=show_stages):
            if isinstance(item, Answer):
                final = item
            elif isinstance(item, Stage):
                if streamed:
                    err.print()
                    streamed = False
                print_stage(item)
            elif args.stream and not args.json:
                streamed = True
                err.print(item, end="", highlight=False, markup=False)
        if args.stream and not args.json:
            err.print()
        if final is None:
            raise RuntimeError("the answer stream ended without a final Answer")
        if args.json:
            import json

            print(json.dumps(answer_to_dict(final), indent=2, ensure_ascii=False))
        else:
            print_answer(final)
            if args.timings:
                console.print(
                    f"[dim]{final.generator}: " + ", ".join(f"{k} {v:.2f}s" for k, v in final.timing_items()) + "[/dim]"
                )
        history.append((q, final.text))


# --- docs / remove -----------------------------------------------------------------------------------------------
def cmd_docs(args: argparse.Namespace) -> int:
    with _service(args) as service:
        reg = service.documents()
    table = Table()
    for col in ("doc", "title", "chunks", "source"):
        table.add_column(col, overflow="fold")
    for d in sorted(reg.values(), key=lambda d: d.doc_id):
        table.add_row(d.doc_id, d.title, str(d.n_chunks), d.source)
    console.print(table)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with _service(args) as service:
        gone = service.remove(args.doc_ids, on_wait=_say_waiting)
    missing = sorted(set(args.doc_ids) - set(gone))
    console.print(f"removed {len(gone)} document(s)" + (f"; not indexed: {', '.join(missing)}" if missing else ""))
    return 0 if not missing else 1


# --- feedback ----------------------------------------------------------------------------------------------------
def cmd_feedback_export(args: argparse.Namespace) -> int:
    from qa_bot.apps.feedback import FeedbackLog, export_questions, feedback_path

    source = args.feedback or feedback_path(_settings(args))
    ready, waiting = export_questions(FeedbackLog(source), args.out)
    console.print(
        f"wrote {ready + waiting} question(s) to {args.out}: {ready} ready for `qa-bot eval`, "
        f"{waiting} waiting for a person to write "
        "the gold answer (rows with a 'todo' field); "
        "evaluate with `qa-bot eval OUT --docs FOLDER` on the documents they are about",
        highlight=False,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa-bot", description="Question answering over your documents, with citations."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="index files and folders (txt, md, html, pdf); incremental")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the bundled seeds/)")
    p.add_argument("--rebuild", action="store_true", help="drop the collection and index from scratch")
    p.add_argument(
        "--no-prune", action="store_true", help="keep documents whose files disappeared from the given folders"
    )
    p.add_argument("--chunk-size", type=int, help="characters per chunk (QA_BOT_CHUNK_SIZE)")
    p.add_argument("--chunk-overlap", type=int, help="overlap in characters (QA_BOT_CHUNK_OVERLAP)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _common(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="show the ranked passages for a query (no answer generation)")
    p.add_argument("query")
    p.add_argument("--json", action="store_true", help="print the ranked passages as JSON")
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with cited sources (no question: interactive chat)")
    p.add_argument("question", nargs="?", help="the question; omit for an interactive session with follow-ups")
    _generator_options(p)
    p.add_argument("--stream", action="store_true", help="print the raw answer to stderr as it is generated")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the answer as JSON: text, refused, citations (offsets, quotes), timings, confidence",
    )
    p.add_argument("--timings", action="store_true", help="print per-stage timings")
    _common(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("docs", help="list indexed documents")
    _common(p)
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("remove", help="remove documents from the index by id")
    p.add_argument("doc_ids", nargs="+")
    _common(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("feedback", help="ratings given in the web chat")
    fsub = p.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    fp = fsub.add_parser("export", help="write the ratings as evaluation questions (JSONL) for `qa-bot eval`")
    fp.add_argument("out", type=Path, help="output file, e.g. eval/feedback_questions.jsonl")
    fp.add_argument("--feedback", type=Path, help="the ratings file (default: feedback.jsonl in the store folder)")
    _common(fp)
    fp.set_defaults(func=cmd_feedback_export)

    p = sub.add_parser("serve", help="start the web chat (default http://127.0.0.1:7860)")
    p.add_argument(
        "--host", help="interface to listen on (QA_BOT_SERVER_HOST or GRADIO_SERVER_NAME; default 127.0.0.1)"
    )
    p.add_argument("--port", type=int, help="port (GRADIO_SERVER_PORT; default 7860)")
    p.add_argument(
        "--share",
        action="store_true",
        help="also open a public *.gradio.live link (off by default: never shared unless asked)",
    )
    p.add_argument("--no-seed", action="store_true", help="don't index the bundled seeds/ when the store is empty")
    _generator_options(p, "default answer generator")
    _common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "eval", help="measure answers, refusals, retrieval, citations and latency on a question set (JSONL)"
    )
    p.add_argument(
        "questions",
        type=Path,
        help="questions JSONL, e.g. eval/seeds_questions.jsonl or eval/squad_v2/questions_test.jsonl",
    )
    p.add_argument(
        "--docs",
        type=Path,
        help="documents indexed into a fresh temporary store (default: seeds/, or corpus/ beside SQuAD questions)",
    )
    _generator_options(p)
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default: <name>-<generator>/ in QA_BOT_EVAL_RESULTS_DIR, eval/results/)",
    )
    p.add_argument(
        "--thresholds",
        type=Path,
        help="exit 1 when a metric misses its bound in this JSON file (e.g. eval/thresholds.json)",
    )
    p.add_argument("--chunk-size", type=int, help="characters per chunk (QA_BOT_CHUNK_SIZE)")
    _common(p)  # here --store keeps (and reuses) the eval index in that folder instead of a temporary one
    p.set_defaults(func=cmd_eval)

    return parser


def cmd_eval(args: argparse.Namespace) -> int:
    from qa_bot.evaluation.evaluate import cli_eval

    return cli_eval(args, _settings(args))


def cmd_serve(args: argparse.Namespace) -> int:
    from qa_bot.apps.web import launch

    launch(_settings(args), host=args.host, port=args.port, share=args.share, seed=not args.no_seed)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except QABotError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
