"""Model-call errors explained in one line without the API key, and the checks made before any model runs.

Real clients against real sockets where no model is needed (a closed port, a listener that never answers); the
exception objects of answers no local server gives (a 429, a key echoed in a 400) are constructed with real httpx2
responses. Against a real llama.cpp server: tests/integration/test_generators.py.
"""

from __future__ import annotations

import socket
import time

import httpx2
import openai
import pytest
from support.models import FAKE_KEY, model_settings, raised
from support.processes import free_tcp_port

from qa_bot.generation.models import explain_error, get_chat_model
from qa_bot.schema import QABotError


def test_openai_generator_needs_a_key_or_a_base_url():
    with pytest.raises(QABotError, match="OPENAI_API_KEY"):
        get_chat_model(model_settings(), "openai")


def test_unknown_generator_name_is_rejected():
    with pytest.raises(QABotError, match="unknown generator"):
        get_chat_model(model_settings(), "gpt-banana")


def test_wrong_port_says_cannot_reach():
    url = f"http://127.0.0.1:{free_tcp_port()}/v1"  # nothing listens there
    s = model_settings(openai_base_url=url)
    e = raised(lambda: get_chat_model(s, "openai").invoke("hi"))
    msg = str(explain_error(e, s))
    assert msg == f"cannot reach the model server at {url}: is it running?"


def test_key_echoed_by_a_server_is_scrubbed():
    # OpenAI echoes (part of) a wrong key in its 400/401 bodies; no local server does, so the exception object is
    # constructed here with a real httpx2 response.
    s = model_settings(openai_api_key=FAKE_KEY)
    request = httpx2.Request("POST", "https://api.openai.com/v1/chat/completions")
    body = {"error": {"message": f"Incorrect API key provided: {FAKE_KEY}. Also Bearer {FAKE_KEY[:20]}"}}
    e = openai.BadRequestError(f"Error code: 400 - {body}", response=httpx2.Response(400, request=request), body=body)
    msg = str(explain_error(e, s))
    assert "rejected the request (400)" in msg and "api.openai.com" in msg
    assert FAKE_KEY not in msg and FAKE_KEY[:20] not in msg


def test_credentials_in_the_base_url_are_not_shown():
    s = model_settings(openai_base_url=f"http://user:{FAKE_KEY}@127.0.0.1:{free_tcp_port()}/v1")
    e = raised(lambda: get_chat_model(s, "openai").invoke("hi"))
    msg = str(explain_error(e, s))
    assert msg.startswith("cannot reach the model server at http://127.0.0.1:")
    assert FAKE_KEY not in msg and "user" not in msg


def test_a_server_that_never_answers_times_out():
    # A real TCP listener that accepts connections and then says nothing.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    try:
        s = model_settings(openai_base_url=url, request_timeout=1.0)
        t = time.monotonic()
        e = raised(lambda: get_chat_model(s, "openai").invoke("hi"))
        assert time.monotonic() - t < 10
        assert isinstance(e, openai.APITimeoutError)
        assert str(explain_error(e, s)).startswith(f"the model server at {url} did not answer within 1 s")
    finally:
        listener.close()


def test_rate_limit_is_explained():
    # No local server rate-limits, so a real 429 response object is built here.
    s = model_settings()
    request = httpx2.Request("POST", "https://api.openai.com/v1/chat/completions")
    e = openai.RateLimitError("Error code: 429", response=httpx2.Response(429, request=request), body=None)
    assert str(explain_error(e, s)).startswith("rate limit or quota exceeded (429) at api.openai.com")


def test_qabot_errors_pass_through_unchanged():
    e = QABotError("already clear")
    assert str(explain_error(e, model_settings())) == "already clear"
