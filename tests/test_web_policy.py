"""What a web user may do and see (issue 11, items 11, 13, 16): `/ask` arguments checked like the Python API's, file
names instead of server paths, and only the generators the operator allows.

Server tests: the shared `python app.py` process (conftest.ui_server: extractive generator, so `extractive` is the only
generator allowed by default), called with gradio_client. Unit tests: a WebApp on a temp store.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from conftest import QA_SEEDS, qa_settings

from qa_bot.apps import web as ui
from qa_bot.config import get_settings
from qa_bot.schema import Answer
from qa_bot.service import QABot

Q1, Q2 = "Who heads NATO's Military Committee?", "Who did he meet?"


@pytest.fixture(scope="module")
def client(ui_server):
    from gradio_client import Client

    return Client(ui_server.url, verbose=False)


def app_error(client, *args) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        client.predict(*args, api_name="/ask")
    assert "Traceback" not in str(e.value)
    return str(e.value).lower()  # the web capitalises the message


# --- item 11 ---------------------------------------------------------------------------------------------------------
def test_ask_names_source_files_not_server_paths(client):
    got = client.predict(Q1, api_name="/ask")
    sources = {c["source"] for c in got["citations"]}
    assert sources and all("/" not in s and "\\" not in s for s in sources), sources
    assert sources <= {p.name for p in QA_SEEDS.iterdir()}


# --- item 13 ---------------------------------------------------------------------------------------------------------
def test_ask_takes_role_message_history_like_pairs(client):
    first = client.predict(Q1, api_name="/ask")
    pairs = client.predict(Q2, [[Q1, first["text"]]], None, None, api_name="/ask")
    roles = client.predict(
        Q2,
        [{"role": "user", "content": Q1}, {"role": "assistant", "content": first["text"]}],
        None,
        None,
        api_name="/ask",
    )
    assert roles["standalone_question"] == pairs["standalone_question"] != Q2
    assert roles["text"] == pairs["text"]


def test_ask_rejects_a_history_of_plain_strings_and_a_bad_top_k(client):
    assert "history item 0 is the text" in app_error(client, Q2, [Q1, "Rob Bauer."], None, None)
    assert "top_k must be from 1 to 50" in app_error(client, Q1, None, None, 0)
    assert "top_k must be a whole number" in app_error(client, Q1, None, None, "many")
    assert (
        len(client.predict(Q1, None, None, "2", api_name="/ask")["timings"]) >= 3
    )  # a number as text is read as the number


# --- item 16 ---------------------------------------------------------------------------------------------------------
def test_ask_refuses_a_generator_the_server_does_not_allow(client):
    msg = app_error(client, Q1, None, "openai", None)
    assert "not enabled on this server" in msg and "available here: extractive" in msg


def test_the_generator_choice_offers_only_allowed_generators(ui_server):
    with urllib.request.urlopen(ui_server.url + "config", timeout=30) as r:
        config = json.load(r)
    (radio,) = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "qa-generator"]
    assert [choice[1] if isinstance(choice, list) else choice for choice in radio["props"]["choices"]] == ["extractive"]


def test_default_allowed_generators_are_the_configured_one_plus_extractive(tmp_path, monkeypatch):
    assert ui.WebApp(qa_settings(tmp_path, generator="extractive")).allowed_generators == ["extractive"]
    assert qa_settings(tmp_path, generator="openai", openai_base_url="http://127.0.0.1:9/v1").allowed() == [
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
    app = ui.WebApp(qa_settings(tmp_path, generator="extractive"))
    for gen in ("local", "openai"):
        last = list(app.chat(Q1, [], gen, 4))[-1]
        assert len(last) == 1 and last[0]["content"].startswith(ui.ERROR_PREFIX), last
        assert f"The {gen} generator is not enabled on this server" in last[0]["content"]
    assert calls == []
    assert ui.plain_answer(list(app.chat(Q1, [], "extractive", 4))[-1][-1]["content"]) == "answered"
