"""Values that used to live outside ``Settings``: the data folders (no source checkout needed), the web server's host
and concurrency (no direct environment reads), and the tuned thresholds of the answer chain."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qa_bot import config
from qa_bot.config import Settings, get_settings
from qa_bot.schema import QABotError

ROOT = Path(__file__).resolve().parents[2]
DATA_VARIABLES = ("QA_BOT_STORE_DIR", "QA_BOT_SEEDS_DIR", "QA_BOT_EVAL_RESULTS_DIR", "XDG_DATA_HOME")


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """qa_bot as if installed from a wheel (no pyproject.toml beside src/), with XDG_DATA_HOME in tmp_path."""
    for name in DATA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "source_checkout", lambda: None)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "qa-bot"


# --- data folders ------------------------------------------------------------------------------------------------
def test_in_a_checkout_the_data_stays_in_the_checkout(monkeypatch):
    for name in DATA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert config.source_checkout() == ROOT
    s = Settings()
    assert (s.store.store_dir, s.store.seeds_dir, s.store.eval_results_dir) == (
        ROOT / "vectorstore",
        ROOT / "seeds",
        ROOT / "eval" / "results",
    )


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG folders are the Linux/BSD default")
def test_installed_the_data_goes_to_the_user_data_folder(installed, monkeypatch, tmp_path):
    s = Settings()
    assert s.store.store_dir == installed / "vectorstore"
    assert s.store.eval_results_dir == installed / "eval-results"
    assert s.store.seeds_dir is None  # the package carries no copy of seeds/
    # A relative XDG_DATA_HOME is invalid (XDG spec) and ignored: ~/.local/share.
    monkeypatch.setenv("XDG_DATA_HOME", "relative")
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    assert Settings().store.store_dir == tmp_path / "home" / ".local" / "share" / "qa-bot" / "vectorstore"


def test_installed_a_variable_still_wins(installed, monkeypatch, tmp_path):
    monkeypatch.setenv("QA_BOT_SEEDS_DIR", str(tmp_path / "mine"))
    assert Settings().store.seeds_dir == tmp_path / "mine"


def test_ingest_without_paths_and_without_seeds_asks_for_a_path(installed, tmp_path, capsys):
    from qa_bot.apps.cli import main

    assert main(["ingest", "--store", str(tmp_path / "store")]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "no documents given: qa-bot ingest PATH" in said
    assert not (tmp_path / "store").exists()


def test_eval_without_docs_and_without_seeds_asks_for_docs(tmp_path):
    from qa_bot.evaluation.evaluate import run_eval

    with pytest.raises(QABotError, match="pass --docs PATH"):
        run_eval(ROOT / "eval" / "seeds_questions.jsonl", settings=Settings(seeds_dir=None, store_dir=tmp_path))


def test_the_web_app_starts_empty_without_seeds(tmp_path):
    from qa_bot.apps.web import WebApp

    app = WebApp(Settings(seeds_dir=None, store_dir=tmp_path, chroma_host=None))
    assert app.ensure_seeded() is None


# --- the web server's host and concurrency -------------------------------------------------------------------------
def test_host_and_concurrency_come_from_settings(monkeypatch):
    for name in ("QA_BOT_SERVER_HOST", "GRADIO_SERVER_NAME", "QA_BOT_UI_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    assert (get_settings().ui.server_host, get_settings().ui.ui_concurrency) == ("127.0.0.1", 4)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")  # Gradio's own name still works
    monkeypatch.setenv("QA_BOT_UI_CONCURRENCY", "9")
    assert (get_settings().ui.server_host, get_settings().ui.ui_concurrency) == ("0.0.0.0", 9)
    monkeypatch.setenv("QA_BOT_SERVER_HOST", "127.0.0.2")  # qa-bot's own name wins
    assert get_settings().ui.server_host == "127.0.0.2"
    assert get_settings(server_host="::1").ui.server_host == "::1"
    monkeypatch.setenv("QA_BOT_SERVER_HOST", "")  # set but empty: the default, as before
    monkeypatch.setenv("GRADIO_SERVER_NAME", "")
    assert get_settings().ui.server_host == "127.0.0.1"
    monkeypatch.setenv("QA_BOT_UI_CONCURRENCY", "0")
    with pytest.raises(QABotError, match="QA_BOT_UI_CONCURRENCY=0"):
        get_settings()


def test_launch_serves_on_the_configured_host_with_the_configured_concurrency(monkeypatch, tmp_path):
    from qa_bot.apps import web

    calls = {}

    class Demo:
        def queue(self, **kw):
            calls["queue"] = kw

        def launch(self, **kw):
            calls["launch"] = kw

    monkeypatch.setattr(web, "build_demo", lambda webapp: Demo())
    settings = Settings(store_dir=tmp_path, chroma_host=None, server_host="0.0.0.0", ui_concurrency=7)
    web.launch(settings, seed=False)
    assert calls["queue"]["default_concurrency_limit"] == 7 and calls["launch"]["server_name"] == "0.0.0.0"
    web.launch(settings, host="127.0.0.1", concurrency=2, seed=False)  # explicit arguments (CLI flags) win
    assert calls["queue"]["default_concurrency_limit"] == 2 and calls["launch"]["server_name"] == "127.0.0.1"


# --- tuned thresholds reach the answer chain ------------------------------------------------------------------------
QUESTION = "Who heads NATO's Military Committee?"


def test_extractive_thresholds_come_from_settings(seeds):
    from qa_bot import answer
    from qa_bot.text import sentence_spans

    base = seeds.settings.with_values(generator="extractive")
    shipped = answer(QUESTION, settings=base)
    assert not shipped.refused and shipped.citations
    assert len(sentence_spans(shipped.text)) == 1  # the next best sentence scores below 0.85 of the best
    assert answer(QUESTION, settings=base.with_values(extractive_min_score=1.0)).refused
    loose = base.with_values(extractive_next_sentence_ratio=0.0)
    assert len(sentence_spans(answer(QUESTION, settings=loose).text)) == 2  # extractive_max_sentences
    one = answer(QUESTION, settings=loose.with_values(extractive_max_sentences=1))
    assert len(sentence_spans(one.text)) == 1


def test_the_support_threshold_is_a_parameter_with_the_settings_default():
    from qa_bot.verify.citations import support

    passage = "The joint exercise involved four Japanese F-15 fighter jets and two US F-16s."
    claim = "Four Japanese F-15 jets and American bombers took part."
    score = support(claim, passage).score
    assert support(claim, passage).threshold == Settings().verification.support_threshold == 0.6
    assert support(claim, passage, threshold=score).ok != support(claim, passage, threshold=score + 0.01).ok
