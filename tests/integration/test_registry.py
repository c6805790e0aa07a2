"""A new generator is one module plus one registry entry (docs/ARCHITECTURE.md): every surface then offers it."""

from __future__ import annotations

import sys
import textwrap

import pytest

from qa_bot import registry
from qa_bot.config import Settings
from qa_bot.schema import QABotError

MODULE = """
from langchain_core.language_models.fake_chat_models import FakeListChatModel


def scripted_chat_model(settings):
    # Replies in order: the answer, then "yes" to the self-check question.
    return FakeListChatModel(responses=["Rob Bauer heads the NATO Military Committee.", "yes"])
"""


@pytest.fixture
def scripted_generator(tmp_path, monkeypatch):
    """The worked example: a module on the path, one GeneratorSpec registered; the registry restored afterwards."""
    (tmp_path / "qa_bot_scripted_gen.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = registry.GeneratorSpec(
        "scripted", "scripted: a test model", factory="qa_bot_scripted_gen:scripted_chat_model"
    )
    monkeypatch.setitem(registry.GENERATORS, spec.name, spec)
    yield spec
    sys.modules.pop("qa_bot_scripted_gen", None)


def test_settings_cli_and_web_accept_a_registered_generator(scripted_generator, tmp_path, monkeypatch):
    from qa_bot.apps import cli
    from qa_bot.apps import web as ui

    s = Settings(generator="scripted", store_dir=tmp_path, chroma_host=None)
    assert s.resolved_generator() == "scripted" and s.allowed() == ["scripted", "extractive"]
    app = ui.WebApp(s)
    assert app.default_generator == "scripted"
    app.check_generator("scripted")  # no error: offered
    with pytest.raises(SystemExit):  # argparse rejects what is not registered ...
        cli.main(["ask", "-g", "nonesuch", "hi"])
    seen = {}
    monkeypatch.setattr(cli, "launch", lambda settings, **kw: seen.update(settings=settings), raising=False)
    monkeypatch.setattr(ui, "launch", lambda settings, **kw: seen.update(settings=settings))
    assert cli.main(["serve", "-g", "scripted", "--store", str(tmp_path), "--no-seed"]) == 0  # ... and takes this
    assert seen["settings"].generation.generator == "scripted"


def test_unknown_names_fail_with_the_registered_choices(tmp_path):
    with pytest.raises(ValueError, match=r"unknown generator 'gpt5'.*extractive"):
        Settings(generator="gpt5", store_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown embedder"):
        Settings(embedder="word2vec", store_dir=tmp_path)
    with pytest.raises(QABotError, match="unknown generator"):
        registry.generator("gpt5")


def test_a_registered_generator_answers_through_the_whole_chain(scripted_generator, seeds):
    from qa_bot import answer

    s = seeds.settings.with_values(generator="scripted", abstain="none")
    a = answer("Who heads NATO's Military Committee?", settings=s)
    assert a.generator == "scripted" and not a.refused
    assert "Rob Bauer" in a.text and a.citations, a
    assert all(
        c.quote and c.quote in c.passage for c in a.citations
    )  # attributed to the seed text, not trusted blindly
