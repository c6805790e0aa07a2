"""No secret and no server path in what users see (issue 11, items 9-11).

A real HTTP server on 127.0.0.1 rejects the API key (echoing it, as api.openai.com does); real `qa-bot` processes,
real Chroma stores, real result files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.project import ROOT, SEEDS, clean_env, error_lines, run_cli, store_settings
from support.stub_server import FailingOpenAIServer

from qa_bot.apps import web as ui
from qa_bot.schema import QABotError

KEY = "sk-qabot-TEST-DoNotLeak-7f3a9c1e5b2d4680"


def three_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (folder / f"note{i}.txt").write_text(
            f"Note {i}\n\nThe launch code of depot {i} is kept in cabinet {i * 7}.\n", encoding="utf-8"
        )
    return folder


# --- item 9: embedder errors are explained like the answer path's, and stop the run ----------------------------------
def test_rejected_key_stops_the_cli_ingest_with_one_line_and_no_key(tmp_path):
    docs = three_docs(tmp_path / "docs")
    with FailingOpenAIServer(401) as server:
        env = clean_env(QA_BOT_EMBEDDER="openai", OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY=KEY)
        p = run_cli("ingest", "-q", str(docs), "--store", str(tmp_path / "store"), env=env)
        requests = list(server.requests)
    out = p.stdout + p.stderr
    assert KEY not in out and KEY[:16] not in out, out
    assert p.returncode == 2, out
    lines = error_lines(p.stderr)
    assert len(lines) == 1 and "Traceback" not in out, out
    assert "the API key was rejected (401)" in lines[0] and server.base_url in lines[0], lines[0]
    assert requests == ["/v1/embeddings"], "the run goes on after a rejected key instead of stopping"


def test_rejected_key_in_eval_indexing_and_web_upload_is_not_shown(tmp_path):
    from qa_bot.evaluation.evaluate import run_eval

    docs = three_docs(tmp_path / "docs")
    with FailingOpenAIServer(401) as server:
        settings = store_settings(
            tmp_path / "store", embedder="openai", openai_base_url=server.base_url, openai_api_key=KEY
        )
        with pytest.raises(QABotError) as e:
            run_eval(
                ROOT / "eval" / "seeds_questions.jsonl",
                docs=docs,
                generator="extractive",
                limit=1,
                settings=settings,
            )
        assert KEY not in str(e.value) and "rejected (401)" in str(e.value), str(e.value)

        status, _ = ui.WebApp(settings).upload([str(docs / "note0.txt"), str(docs / "note1.txt")])
        assert KEY not in status and "rejected (401)" in status, status
        assert len(server.requests) == 2, "one request per run: eval's and the upload's"


def test_a_rejected_input_fails_only_that_file_and_is_scrubbed(tmp_path):
    from qa_bot.ingestion.indexer import ingest

    docs = three_docs(tmp_path / "docs")
    with FailingOpenAIServer(400) as server:
        settings = store_settings(
            tmp_path / "store", embedder="openai", openai_base_url=server.base_url, openai_api_key=KEY, max_retries=0
        )
        report = ingest([docs], settings)
    assert len(report.failed) == 3 and len(server.requests) == 3  # a 400 is about one input: the others are still tried
    for issue in report.failed:
        assert KEY not in issue.reason and "rejected the request (400)" in issue.reason, issue.reason


# --- item 10: results.json keeps no credentials of the server address ------------------------------------------------
def test_eval_results_store_the_base_url_without_credentials(tmp_path):
    from qa_bot.evaluation.evaluate import run_eval, write_outputs

    url = f"http://alice:{KEY}@127.0.0.1:9/v1?api-key={KEY}&x=1"
    settings = store_settings(tmp_path / "store", openai_base_url=url, openai_api_key=KEY)
    run = run_eval(
        ROOT / "eval" / "seeds_questions.jsonl", docs=SEEDS, generator="extractive", limit=1, settings=settings
    )
    paths = write_outputs(run, tmp_path / "out")
    written = "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in paths.values() if p.suffix in (".json", ".md")
    )
    assert KEY not in written and "alice" not in written and "api-key" not in written
    assert json.loads(paths["json"].read_text())["settings"]["openai_base_url"] == "http://127.0.0.1:9/v1"


# --- item 11: web users see file names, not the server's folders (the rendering: tests/unit/test_web_file_names.py) --


def test_store_errors_in_the_chat_and_document_list_do_not_show_the_store_path(tmp_path):
    store = tmp_path / "secret-folder-name" / "store"
    p = run_cli(
        "ingest", "-q", str(SEEDS), "--store", str(store)
    )  # another process: this one has no client of it cached
    assert p.returncode == 0, p.stderr
    (store / "chroma.sqlite3").write_bytes(b"this is not a database\n" * 500)
    app = ui.WebApp(store_settings(store, generator="extractive"))
    last = list(app.chat("Who heads NATO's Military Committee?", [], "extractive", 4))[-1]
    shown = last[-1]["content"] + app.documents_html()
    assert shown.count(ui.ERROR_PREFIX) == 1 and "store" in shown  # the error is still explained ...
    assert "secret-folder-name" not in shown and str(tmp_path) not in shown, shown  # ... without the server's folders
