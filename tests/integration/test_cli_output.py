"""`qa-bot ask --json` and `qa-bot search` output for scripts and terminals, run as real `qa-bot` processes on a real
store."""

from __future__ import annotations

import json
import re

import pytest
from support.project import AP_DOC, clean_env, run_cli

QUESTION = "Who heads NATO's Military Committee?"
QUERY = "Which sea were the joint flight drills over?"


def test_ask_json_is_the_whole_answer_in_the_shared_shape(seeds):
    from qa_bot import answer
    from qa_bot.answer_format import answer_to_dict
    from qa_bot.index.embeddings import embedder_id
    from qa_bot.index.store import Store

    settings = seeds.settings.with_values(generator="extractive")
    p = run_cli("ask", "-g", "extractive", "--json", QUESTION, "--store", str(settings.store.store_dir))
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    want = answer_to_dict(answer(QUESTION, settings=settings))
    assert (
        set(got)
        == set(want)
        >= {"text", "refused", "citations", "timings", "standalone_question", "confidence", "generator"}
    )
    assert {k: v for k, v in got.items() if k != "timings"} == {k: v for k, v in want.items() if k != "timings"}
    assert set(got["timings"]) == set(want["timings"]) >= {"retrieve", "generate", "verify"}
    assert "Rob Bauer" in got["text"] and got["refused"] is False and got["citations"]
    store = Store(settings, embedder_id(settings)).open_for_read()
    for c in got["citations"]:
        assert store.document_text(c["doc_id"])[c["start"] : c["end"]] == c["quote"]  # offsets point at the quote
        assert f"[{c['marker']}]" in got["text"]


def test_ask_json_of_a_refusal(seeds):
    p = run_cli(
        "ask",
        "-g",
        "extractive",
        "--json",
        "What is the boiling point of liquid nitrogen on Mars?",
        "--store",
        str(seeds.settings.store.store_dir),
    )
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["refused"] is True and got["citations"] == [] and got["text"]


def search_lines(store, columns: int) -> tuple[list[str], str]:
    p = run_cli("search", "-k", "4", QUERY, "--store", str(store), env=clean_env(COLUMNS=str(columns)))
    assert p.returncode == 0, p.stderr
    return p.stdout.rstrip("\n").splitlines(), p.stdout


@pytest.mark.parametrize(("columns", "max_lines_per_hit"), [(80, 14), (200, 6)])
def test_search_table_fits_the_terminal(seeds, columns, max_lines_per_hit):
    lines, out = search_lines(seeds.settings.store.store_dir, columns)
    assert max(len(ln) for ln in lines) <= columns
    # Each passage (up to 400 characters) wraps in a wide column, not one word per line: few lines per hit.
    assert len(lines) <= 2 + 4 * max_lines_per_hit, out
    # The short columns are never broken: the doc id is whole, and every hit shows its three scores.
    assert any(AP_DOC in ln for ln in lines), out
    assert [len(re.findall(rf"\b{name} (?:\d|-)", out)) for name in ("rrf", "cos", "bm25")] == [4, 4, 4], out
    # The passage reads in order: its first words sit on one line, after the document and score columns.
    first = next(ln for ln in lines if ln.lstrip().startswith("1 "))
    assert AP_DOC in first and len(first.split("rrf ")[1].split(maxsplit=1)[1].split()) >= 5, first
