"""Only the generators the operator allows (issue 11, item 16), without a server: the web app's default choice and the
chat refusing any other before the answer chain runs. Through the running web app:
tests/integration/test_web_policy.py."""

from __future__ import annotations

from support.project import store_settings

from qa_bot.apps import web as ui
from qa_bot.config import get_settings
from qa_bot.schema import Answer
from qa_bot.service import QABot

Q1 = "Who heads NATO's Military Committee?"


def test_default_allowed_generators_are_the_configured_one_plus_extractive(tmp_path, monkeypatch):
    assert ui.WebApp(store_settings(tmp_path, generator="extractive")).allowed_generators == ["extractive"]
    assert store_settings(tmp_path, generator="openai", openai_base_url="http://127.0.0.1:9/v1").allowed() == [
        "openai",
        "extractive",
    ]
    monkeypatch.setenv("QA_BOT_ALLOWED_GENERATORS", " extractive, local ")
    monkeypatch.setenv("QA_BOT_GENERATOR", "openai")
    app = ui.WebApp(get_settings(store_dir=tmp_path))
    assert app.allowed_generators == ["extractive", "local"] and app.default_generator == "extractive"


def test_chat_refuses_a_generator_the_server_does_not_allow(tmp_path, monkeypatch):
    calls = []

    def stream_answer(question, history, *, settings=None, generator=None, top_k=None, stages=False):
        calls.append(generator)
        yield Answer(question=question, text="answered", generator=generator)

    monkeypatch.setattr(QABot, "stream", staticmethod(stream_answer))
    app = ui.WebApp(store_settings(tmp_path, generator="extractive"))
    for gen in ("local", "openai"):
        last = list(app.chat(Q1, [], gen, 4))[-1]
        assert len(last) == 1 and last[0]["content"].startswith(ui.ERROR_PREFIX), last
        assert f"The {gen} generator is not enabled on this server" in last[0]["content"]
    assert calls == []
    assert ui.plain_answer(list(app.chat(Q1, [], "extractive", 4))[-1][-1]["content"]) == "answered"
