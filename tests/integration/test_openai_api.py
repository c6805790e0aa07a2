"""The OpenAI-compatible endpoint, called with the official `openai` client against the running web app
(`python app.py`).

The answers are compared with the Python API on the same store; errors must be OpenAI-style and free of secrets.
Request parsing without a server: tests/unit/test_openai_request.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import openai
import pytest
from support.processes import UIServer, free_tcp_port
from support.project import ROOT, doc_texts

QUESTION = "Who heads NATO's Military Committee?"
FOLLOW_UP = "Who did he meet?"


@pytest.fixture(scope="module")
def base_url(ui_server) -> str:
    return ui_server.url + "v1"


@pytest.fixture(scope="module")
def client(base_url):
    # Any key works (the web app has no accounts); the client insists on one.
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def texts(web_settings) -> dict[str, str]:
    return doc_texts(web_settings)


def extra(obj, name: str):
    """A field the OpenAI schema does not know (the client keeps them in model_extra)."""
    return (obj.model_extra or {})[name]


def test_models_lists_the_allowed_generators(client):
    models = client.models.list()
    # The server's generator is extractive; with no allowed-generators setting that is the only one offered.
    assert [m.id for m in models.data] == ["extractive"]
    assert all(m.object == "model" and m.owned_by == "qa-bot" for m in models.data)


def test_completion_is_the_pipeline_answer_with_citations(client, web_settings, texts):
    from qa_bot import answer

    r = client.chat.completions.create(
        model="extractive",
        messages=[
            {"role": "system", "content": "You are a pirate. Answer in pirate speak."},
            {"role": "user", "content": QUESTION},
        ],
    )
    want = answer(QUESTION, settings=web_settings)
    content = r.choices[0].message.content
    assert r.object == "chat.completion" and r.model == "extractive" and r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.role == "assistant"
    # The text with its [n] markers, then one Sources line per citation, for clients that ignore extra fields.
    assert "Rob Bauer" in want.text and content.startswith(want.text + "\n\nSources:\n[1] ")
    citations = extra(r, "citations")
    assert len(citations) == len(want.citations) >= 1
    for got, c in zip(citations, want.citations, strict=True):
        assert got == {
            "marker": c.marker,
            "doc_id": c.doc_id,
            "title": c.title,
            "source": Path(c.source).name,
            "start": c.start,
            "end": c.end,
            "quote": c.quote,
        }
        assert texts[got["doc_id"]][got["start"] : got["end"]] == got["quote"]  # offsets point at the quote
        assert (
            f'[{got["marker"]}] {got["title"]} ({got["source"]}, chars {got["start"]}-{got["end"]}): "{got["quote"]}"'
            in content
        )
    assert all("/" not in c["source"] and "\\" not in c["source"] for c in citations)
    assert str(web_settings.store.store_dir) not in r.model_dump_json()  # no server path anywhere in the response
    details = extra(r, "answer")
    assert details["text"] == want.text and details["refused"] is False and details["generator"] == "extractive"
    assert details["standalone_question"] == QUESTION and set(details["timings"]) >= {"retrieve", "generate", "verify"}


def test_stream_sends_openai_chunks_ending_with_done(client, base_url):
    plain = client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    chunks = list(
        client.chat.completions.create(
            model="extractive", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    assert all(c.object == "chat.completion.chunk" and c.model == "extractive" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].choices[0].delta.role == "assistant"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == plain.choices[0].message.content  # streaming and not give the same verified text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (
        len(chunks) - 1
    )
    assert extra(last, "citations") == extra(plain, "citations")

    # On the wire: only `data:` events (or comments), the last one `data: [DONE]`.
    with httpx.stream(
        "POST",
        base_url + "/chat/completions",
        json={"messages": [{"role": "user", "content": QUESTION}], "stream": True},
        timeout=60,
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [e for e in r.read().decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith(("data: ", ":")) for e in events)
    assert json.loads(events[-2].removeprefix("data: "))["choices"][0]["finish_reason"] == "stop"


def test_messages_are_the_history(client, web_settings):
    from qa_bot import answer

    first = client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    previous = first.choices[0].message.content  # what a chat client sends back: the whole message, Sources included
    r = client.chat.completions.create(
        model="extractive",
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": previous},
            {"role": "user", "content": FOLLOW_UP},
        ],
    )
    want = answer(FOLLOW_UP, [(QUESTION, extra(first, "answer")["text"])], settings=web_settings)
    got = extra(r, "answer")
    assert got["standalone_question"] == want.standalone_question != FOLLOW_UP
    assert QUESTION in got["standalone_question"]
    assert got["text"] == want.text


def test_content_parts_are_accepted(client):
    r = client.chat.completions.create(
        model="extractive", messages=[{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]
    )
    assert "Rob Bauer" in r.choices[0].message.content


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"messages": [{"role": "system", "content": "Be brief."}]}, "messages", "user's question"),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages", "empty"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages.0.content", "string"),
        ({"messages": "Who heads NATO?"}, "messages", "list"),
        ({"messages": []}, "messages", "at least 1"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role", "'user'"),
        ({"messages": [{"role": "user", "content": QUESTION}], "stream": "yes"}, "stream", "boolean"),
        ({"messages": [{"role": "user", "content": QUESTION}], "n": 2}, "n", "one choice"),
        ({"messages": [{"role": "user", "content": "x" * 5000}]}, "messages", "limit"),
        ({"model": "local", "messages": [{"role": "user", "content": QUESTION}]}, "model", "choose one of: extractive"),
    ],
)
def test_bad_requests_are_openai_style_400(client, body, param, words):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(**{"model": "extractive", **body})  # the client insists on a model
    err = e.value.body
    assert e.value.status_code == 400 and err["type"] == "invalid_request_error" and err["param"] == param
    assert words in err["message"] and "\n" not in err["message"] and "Traceback" not in err["message"]
    if param == "model":
        assert err["code"] == "model_not_found"


def test_a_body_that_is_not_json_is_a_400(base_url):
    r = httpx.post(
        base_url + "/chat/completions", content=b"{not json", headers={"content-type": "application/json"}, timeout=30
    )
    assert r.status_code == 400 and r.json()["error"]["message"] == "the request body is not valid JSON"


SECRET = "sk-test-SECRET-do-not-show-4242"


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory):
    """The web app configured for an OpenAI server that is not running, with a secret API key."""
    store = tmp_path_factory.mktemp("broken_store")
    port, dead = free_tcp_port(), free_tcp_port()
    app = ROOT / "app.py"
    env = {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{dead}/v1",
        "OPENAI_API_KEY": SECRET,
        "QA_BOT_MAX_RETRIES": "0",
        "QA_BOT_REQUEST_TIMEOUT": "10",
    }
    # -g beats the QA_BOT_GENERATOR=extractive that UIServer sets for every app it starts.
    server = UIServer(
        [sys.executable, str(app), "--port", str(port), "-g", "openai"],
        store,
        store.parent / "broken_server.log",
        port,
        env_extra=env,
    )
    yield server
    server.stop()


def test_internal_errors_are_500_without_secrets(broken_server):
    client = openai.OpenAI(base_url=broken_server.url + "v1", api_key="unused", max_retries=0, timeout=60)
    assert [m.id for m in client.models.list().data] == ["openai", "extractive"]
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="openai", messages=[{"role": "user", "content": QUESTION}])
    err = e.value.body
    assert e.value.status_code == 500 and err["type"] == "server_error" and "127.0.0.1" in err["message"]
    assert SECRET not in json.dumps(err) and "Traceback" not in err["message"]
    # Streaming: the 200 header is already sent, so the error is an event the client raises.
    with pytest.raises(openai.APIError) as e:
        list(
            client.chat.completions.create(
                model="openai", messages=[{"role": "user", "content": QUESTION}], stream=True
            )
        )
    assert "127.0.0.1" in str(e.value) and SECRET not in str(e.value)
    # The allowed fallback still answers.
    r = client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    assert "Rob Bauer" in r.choices[0].message.content
    assert SECRET not in broken_server.log_tail(100_000)
