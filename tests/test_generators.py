"""Generators: the local llama.cpp chat model, ChatOpenAI against a real llama.cpp server, error explanations, and the
assembly/verification of the packaged local model.

Real parts throughout: a real llama.cpp server subprocess (SmolLM2-135M), real llama.cpp in-process, real files.
The few places that construct an exception object or fake a number say so where they do it.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path

import httpx2
import openai
import pytest
from conftest import free_tcp_port

from qa_bot.config import Settings
from qa_bot.generation import local_model
from qa_bot.generation.local_model import local_model_file, qwen_model_path
from qa_bot.generation.models import LocalChatModel, explain_error, get_chat_model, unload_local_models
from qa_bot.schema import QABotError

FAKE_KEY = "sk-FAKEqabot-DoNotLeak-0123456789abcdef"
LONG_PROMPT = "Write a very long story about a dragon who learns to bake bread. Use many paragraphs."


def run_concurrently(fn, n: int, timeout: float) -> list:
    """``fn()`` in ``n`` threads at once; its results, or the first exception re-raised."""
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(fn) for _ in range(n)]
        return [f.result(timeout=timeout) for f in futures]


def settings(**kw) -> Settings:
    """Settings isolated from the developer's environment (OPENAI_* variables would otherwise leak in)."""
    base = {
        "openai_api_key": None,
        "openai_base_url": None,
        "max_retries": 0,
        "request_timeout": 30.0,
        "openai_model": "smollm2",
    }
    return Settings(**{**base, **kw})


def _raised(fn) -> Exception:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the point is to get whatever the client raised
        return e
    pytest.fail("the call did not fail")


# ------------------------------------------------------------------------------------------------------------------
# openai generator against a real llama.cpp server
# ------------------------------------------------------------------------------------------------------------------


def test_openai_generator_answers_through_a_real_server(llama_server):
    model = get_chat_model(settings(openai_base_url=llama_server, max_tokens=16), "openai")
    reply = model.invoke(LONG_PROMPT)
    assert isinstance(reply.content, str) and reply.content.strip()
    # The limit must reach llama.cpp's server, which ignores `max_completion_tokens`: without extra_body the story
    # would run on to the context size.
    assert reply.usage_metadata["output_tokens"] <= 16
    assert reply.response_metadata["finish_reason"] == "length"


def test_openai_generator_streams_several_chunks(llama_server):
    model = get_chat_model(settings(openai_base_url=llama_server, max_tokens=24), "openai")
    pieces = [c.content for c in model.stream("Tell me about the sea in two sentences.")]
    texts = [p for p in pieces if p]
    assert len(texts) > 1
    assert "".join(texts).strip()


def test_openai_generator_needs_a_key_or_a_base_url():
    with pytest.raises(QABotError, match="OPENAI_API_KEY"):
        get_chat_model(settings(), "openai")


def test_unknown_generator_name_is_rejected():
    with pytest.raises(QABotError, match="unknown generator"):
        get_chat_model(settings(), "gpt-banana")


def test_wrong_port_says_cannot_reach():
    url = f"http://127.0.0.1:{free_tcp_port()}/v1"  # nothing listens there
    s = settings(openai_base_url=url)
    e = _raised(lambda: get_chat_model(s, "openai").invoke("hi"))
    msg = str(explain_error(e, s))
    assert msg == f"cannot reach the model server at {url}: is it running?"


def test_server_killed_mid_stream_gives_a_clear_error(llama_server_factory):
    server = llama_server_factory()
    s = settings(openai_base_url=server.base_url, max_tokens=1500)
    # Suppress the end-of-sequence token (id 2 in SmolLM2) so the reply cannot finish before we kill the server.
    model = get_chat_model(s, "openai").bind(logit_bias={2: -100})
    received = []

    def consume():
        for chunk in model.stream(LONG_PROMPT):
            received.append(chunk.content)
            if len(received) == 3:
                server.proc.kill()
                server.proc.wait(timeout=10)

    e = _raised(consume)
    assert len(received) >= 3
    msg = str(explain_error(e, s))
    assert server.base_url in msg
    assert "is it running?" in msg or "lost the connection" in msg
    # And the next call, with the server gone, says the same plainly.
    e2 = _raised(lambda: get_chat_model(s, "openai").invoke("hi"))
    assert str(explain_error(e2, s)) == f"cannot reach the model server at {server.base_url}: is it running?"


def test_rejected_key_is_explained_without_revealing_it(llama_server_factory, caplog):
    server = llama_server_factory(api_key="the-servers-own-key")
    s = settings(openai_base_url=server.base_url, openai_api_key=FAKE_KEY)
    model = get_chat_model(s, "openai")
    assert FAKE_KEY not in repr(model) and FAKE_KEY not in str(model)
    e = _raised(lambda: model.invoke("hi"))
    assert isinstance(e, openai.AuthenticationError)
    with caplog.at_level(logging.DEBUG):
        err = explain_error(e, s)
    assert str(err).startswith(f"the API key was rejected (401) by {server.base_url}")
    assert FAKE_KEY not in str(err)
    assert FAKE_KEY not in caplog.text
    assert "qa_bot.generation.models" in caplog.text  # the debug line was written, just without the key


def test_key_echoed_by_a_server_is_scrubbed():
    # OpenAI echoes (part of) a wrong key in its 400/401 bodies; no local server does, so the exception object is
    # constructed here with a real httpx2 response.
    s = settings(openai_api_key=FAKE_KEY)
    request = httpx2.Request("POST", "https://api.openai.com/v1/chat/completions")
    body = {"error": {"message": f"Incorrect API key provided: {FAKE_KEY}. Also Bearer {FAKE_KEY[:20]}"}}
    e = openai.BadRequestError(f"Error code: 400 - {body}", response=httpx2.Response(400, request=request), body=body)
    msg = str(explain_error(e, s))
    assert "rejected the request (400)" in msg and "api.openai.com" in msg
    assert FAKE_KEY not in msg and FAKE_KEY[:20] not in msg


def test_credentials_in_the_base_url_are_not_shown():
    s = settings(openai_base_url=f"http://user:{FAKE_KEY}@127.0.0.1:{free_tcp_port()}/v1")
    e = _raised(lambda: get_chat_model(s, "openai").invoke("hi"))
    msg = str(explain_error(e, s))
    assert msg.startswith("cannot reach the model server at http://127.0.0.1:")
    assert FAKE_KEY not in msg and "user" not in msg


def test_wrong_path_is_explained_as_not_found(llama_server):
    url = llama_server.replace("/v1", "/not-v1")
    s = settings(openai_base_url=url, openai_model="no-such-model")
    e = _raised(lambda: get_chat_model(s, "openai").invoke("hi"))
    assert isinstance(e, openai.NotFoundError)
    msg = str(explain_error(e, s))
    assert "404" in msg and "'no-such-model'" in msg and url in msg


def test_prompt_too_long_for_the_server_is_a_bad_request(llama_server):
    s = settings(openai_base_url=llama_server)
    e = _raised(lambda: get_chat_model(s, "openai").invoke("word " * 3000))  # the server runs with n_ctx 2048
    assert isinstance(e, openai.BadRequestError)
    msg = str(explain_error(e, s))
    assert msg.startswith(f"the model server at {llama_server} rejected the request (400): ")
    assert "context length" in msg and "\n" not in msg


def test_a_server_that_never_answers_times_out():
    # A real TCP listener that accepts connections and then says nothing.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    try:
        s = settings(openai_base_url=url, request_timeout=1.0)
        t = time.monotonic()
        e = _raised(lambda: get_chat_model(s, "openai").invoke("hi"))
        assert time.monotonic() - t < 10
        assert isinstance(e, openai.APITimeoutError)
        assert str(explain_error(e, s)).startswith(f"the model server at {url} did not answer within 1 s")
    finally:
        listener.close()


def test_rate_limit_is_explained():
    # No local server rate-limits, so a real 429 response object is built here.
    s = settings()
    request = httpx2.Request("POST", "https://api.openai.com/v1/chat/completions")
    e = openai.RateLimitError("Error code: 429", response=httpx2.Response(429, request=request), body=None)
    assert str(explain_error(e, s)).startswith("rate limit or quota exceeded (429) at api.openai.com")


def test_qabot_errors_pass_through_unchanged():
    e = QABotError("already clear")
    assert str(explain_error(e, settings())) == "already clear"


# ------------------------------------------------------------------------------------------------------------------
# local generator: llama.cpp in-process with SmolLM2
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def smollm_settings(smollm_gguf, tmp_path) -> Settings:
    return settings(
        local_model_path=smollm_gguf, local_ctx=2048, max_tokens=24, local_threads=1, cache_dir=tmp_path / "cache"
    )


def test_local_generator_generates_and_streams(smollm_settings):
    model = get_chat_model(smollm_settings, "local")
    assert isinstance(model, LocalChatModel)
    reply = model.invoke([("system", "You are brief."), ("human", LONG_PROMPT)])
    assert reply.content.strip()
    assert 0 < reply.usage_metadata["output_tokens"] <= 24
    assert reply.usage_metadata["input_tokens"] > 10
    chunks = list(model.stream(LONG_PROMPT))
    texts = [c.content for c in chunks if c.content]
    assert len(texts) > 1
    assert chunks[-1].chunk_position == "last" and chunks[-1].response_metadata["finish_reason"] in ("length", "stop")
    # Greedy decoding (temperature 0): the same prompt gives the same text streamed or not.
    assert "".join(texts) == model.invoke(LONG_PROMPT).content
    # The cache dir was never touched: the explicit path overrides the packaged model.
    assert not smollm_settings.cache_dir.exists()


def test_local_generator_uses_the_models_own_chat_template(smollm_settings):
    llm, _ = get_chat_model(smollm_settings, "local").llama()
    assert llm.chat_format == "chat_template.default"  # from the GGUF's metadata, not a built-in guess


def test_local_threads_setting_is_honoured(smollm_settings):
    import llama_cpp

    one = get_chat_model(smollm_settings, "local")
    two = get_chat_model(smollm_settings.model_copy(update={"local_threads": 2}), "local")
    llm1, _ = one.llama()
    llm2, _ = two.llama()
    # Ask the llama.cpp context itself, for generation and for prompt processing.
    assert (llama_cpp.llama_n_threads(llm1.ctx), llama_cpp.llama_n_threads_batch(llm1.ctx)) == (1, 1)
    assert (llama_cpp.llama_n_threads(llm2.ctx), llama_cpp.llama_n_threads_batch(llm2.ctx)) == (2, 2)
    assert llm1 is not llm2
    assert get_chat_model(smollm_settings, "local").llama()[0] is llm1  # loaded once per (path, threads, ctx)
    assert one.invoke("Hello").content.strip()


def test_local_model_is_safe_to_share_between_threads(smollm_settings):
    model = get_chat_model(smollm_settings, "local")
    results = [
        text
        for pair in run_concurrently(lambda: [model.invoke("Name three colours.").content for _ in range(2)], 3, 120)
        for text in pair
    ]
    # Serialised calls on one context, each from a fresh prompt evaluation: identical greedy answers.
    assert len(results) == 6 and len(set(results)) == 1 and results[0].strip()


def test_an_open_stream_holds_the_model_until_closed(smollm_settings):
    model = get_chat_model(smollm_settings, "local")
    stream = model.stream(LONG_PROMPT)
    assert next(stream).content  # generation under way: the context is taken
    done = threading.Event()
    other = threading.Thread(target=lambda: (model.invoke("Hi"), done.set()))
    other.start()
    assert not done.wait(1.5)  # the second call waits instead of sharing the context
    stream.close()
    other.join(timeout=60)
    assert done.is_set()


def test_local_prompt_too_long_is_a_clear_error(smollm_settings):
    model = get_chat_model(smollm_settings.model_copy(update={"local_ctx": 512}), "local")
    with pytest.raises(QABotError, match=r"does not fit the local model's context window \(512 tokens\)"):
        model.invoke("word " * 2000)
    with pytest.raises(QABotError, match="context window"):
        list(model.stream("word " * 2000))
    assert model.invoke("Hi").content  # the lock was released after the failures


def test_local_model_file_errors(tmp_path, smollm_gguf):
    with pytest.raises(QABotError, match="local model file not found"):
        get_chat_model(settings(local_model_path=tmp_path / "missing.gguf"), "local")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"this is not a gguf file" * 100)
    with pytest.raises(QABotError, match="cannot load the local model"):
        get_chat_model(settings(local_model_path=junk), "local").invoke("hi")


def test_smollm_fixture_points_at_a_gguf(smollm_gguf):
    assert smollm_gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with open(smollm_gguf, "rb") as f:
        assert f.read(4) == b"GGUF"


def test_unload_frees_the_cache(smollm_settings):
    model = get_chat_model(smollm_settings, "local")
    first = model.llama()[0]
    unload_local_models()
    assert model.llama()[0] is not first
    assert model.invoke("Hi").content


# ------------------------------------------------------------------------------------------------------------------
# assembling the packaged model: a tiny real set of part packages stands in for the 22 x 50 MB ones
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three real installed-looking packages (found by find_spec on sys.path) holding data/partNN.bin."""
    site = tmp_path / "site"
    names, blob = [], b""
    for i in range(1, 4):
        name = f"qa_bot_test_modelpart{i}"
        (site / name / "data").mkdir(parents=True)
        (site / name / "__init__.py").write_text("raise ImportError('part packages must not be imported')\n")
        data = os.urandom(50_000 + i)
        (site / name / "data" / f"part{i:02d}.bin").write_bytes(data)
        names.append(name)
        blob += data
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setattr(local_model, "QWEN_PARTS", names)
    monkeypatch.setattr(local_model, "QWEN_SHA256", hashlib.sha256(blob).hexdigest())
    return blob


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_parts_are_assembled_verified_and_not_rehashed(fake_parts, tmp_path, monkeypatch):
    s = settings(cache_dir=tmp_path / "cache")
    path = qwen_model_path(s)
    assert path == s.cache_dir / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert path.read_bytes() == fake_parts
    assert (s.cache_dir / (path.name + ".verified.json")).is_file()
    assert _leftovers(s.cache_dir) == []

    calls = []
    real_hash = local_model.sha256_file
    monkeypatch.setattr(local_model, "sha256_file", lambda p: calls.append(p) or real_hash(p))
    assert qwen_model_path(s) == path
    assert calls == []  # size/mtime/inode unchanged: trusted without re-hashing

    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))  # touched: must be re-checked once
    assert qwen_model_path(s) == path
    assert calls == [path]
    assert qwen_model_path(s) == path and calls == [path]


def test_corrupted_cached_model_is_detected_and_rebuilt(fake_parts, tmp_path, caplog):
    s = settings(cache_dir=tmp_path / "cache")
    path = qwen_model_path(s)
    with open(path, "r+b") as f:  # flip one byte in place (same size)
        f.seek(1234)
        b = f.read(1)
        f.seek(1234)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    with caplog.at_level(logging.WARNING):
        assert qwen_model_path(s) == path
    assert "corrupt" in caplog.text
    assert path.read_bytes() == fake_parts
    assert _leftovers(s.cache_dir) == []


def test_truncated_cached_model_is_rebuilt(fake_parts, tmp_path):
    s = settings(cache_dir=tmp_path / "cache")
    path = qwen_model_path(s)
    path.write_bytes(fake_parts[:1000])  # e.g. a copy interrupted half-way
    assert qwen_model_path(s).read_bytes() == fake_parts


def test_parts_that_do_not_hash_right_leave_nothing_behind(fake_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(local_model, "QWEN_SHA256", "0" * 64)
    s = settings(cache_dir=tmp_path / "cache")
    with pytest.raises(QABotError, match="corrupt.*reinstall"):
        qwen_model_path(s)
    assert not (s.cache_dir / local_model.QWEN_FILENAME).exists()
    assert _leftovers(s.cache_dir) == []


def test_missing_parts_say_how_to_install(fake_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(local_model, "QWEN_PARTS", [*local_model.QWEN_PARTS, "qa_bot_test_no_such_part"])
    with pytest.raises(
        QABotError, match=r"qa-bot-test-no-such-part missing\): install with pip install -e '\.\[local\]'"
    ):
        qwen_model_path(settings(cache_dir=tmp_path / "cache"))


def test_disk_full_is_reported_before_writing(fake_parts, tmp_path, monkeypatch):
    # Filling a real disk is not something a test should do: the free-space probe is faked to report 10 bytes.
    monkeypatch.setattr(local_model, "_free_bytes", lambda d: 10)
    s = settings(cache_dir=tmp_path / "cache")
    with pytest.raises(QABotError, match="disk full"):
        qwen_model_path(s)
    assert list(s.cache_dir.iterdir()) in ([], [s.cache_dir / f".{local_model.QWEN_FILENAME}.lock"])


def test_concurrent_builders_agree(fake_parts, tmp_path):
    s = settings(cache_dir=tmp_path / "cache")
    out = run_concurrently(lambda: qwen_model_path(s), 4, 60)
    assert len(set(out)) == 1 and len(out) == 4
    assert out[0].read_bytes() == fake_parts
    assert _leftovers(s.cache_dir) == []


def test_explicit_local_model_path_skips_the_packaged_model(tmp_path, monkeypatch):
    monkeypatch.setattr(local_model, "QWEN_PARTS", ["qa_bot_test_no_such_part"])
    f = tmp_path / "mine.gguf"
    f.write_bytes(b"GGUF")
    assert local_model_file(settings(local_model_path=f, cache_dir=tmp_path / "c")) == f
    with pytest.raises(QABotError, match="install with"):
        local_model_file(settings(cache_dir=tmp_path / "c"))


# ------------------------------------------------------------------------------------------------------------------
# the real 1 GB model
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_qwen_parts_assemble_verify_and_answer(tmp_path):
    if not all(find_spec(n) for n in local_model.QWEN_PARTS):
        if os.environ.get("CI"):
            pytest.fail("the Qwen model parts are not installed: pip install -e '.[local]'")
        pytest.skip("the Qwen model parts are not installed")
    s = settings(cache_dir=tmp_path / "cache", max_tokens=40, local_threads=2)
    path = qwen_model_path(s)
    assert path.stat().st_size > 1_000_000_000
    assert local_model.sha256_file(path) == local_model.QWEN_SHA256  # independent re-hash
    t = time.monotonic()
    assert qwen_model_path(s) == path
    assert time.monotonic() - t < 1.0  # the sidecar spares the second hash
    model = get_chat_model(s, "local")
    reply = model.invoke(
        [
            ("system", "Answer only from the passages and cite them as [n]."),
            (
                "human",
                "Passages:\n[1] The Eiffel Tower stands in Paris, France.\n\nQuestion: In which city is the Eiffel Tower?",
            ),
        ]
    )
    assert "Paris" in reply.content
    unload_local_models()


def test_local_yes_probability_reads_the_first_token_and_can_reuse_the_cache(smollm_settings):
    from langchain_core.messages import AIMessage, HumanMessage

    from qa_bot.generation.models import yes_probability

    model = get_chat_model(smollm_settings, "local")
    ask = [HumanMessage(content="Is the sky blue on a clear day? Reply yes or no.")]
    p = yes_probability(model, ask)
    assert 0.0 <= p <= 1.0 and p != 0.5  # a real distribution over yes/no, not the no-information default
    assert yes_probability(model, ask) == pytest.approx(p, abs=1e-6)  # same prompt, same logits
    # A follow-on turn reuses the evaluated prefix and gets the same answer as a fresh evaluation of the whole prompt.
    reply = model.invoke(ask).content
    turn = [*ask, AIMessage(content=reply), HumanMessage(content="Are you sure? Reply yes or no.")]
    fresh = yes_probability(model, turn)
    yes_probability(model, ask)  # leave a shared prefix in the cache
    assert yes_probability(model, turn, reuse_cache=True) == pytest.approx(fresh, abs=0.05)


def test_yes_probability_through_a_real_openai_compatible_server(llama_server):
    from langchain_core.messages import HumanMessage

    from qa_bot.generation.models import yes_probability

    model = get_chat_model(settings(openai_base_url=llama_server, openai_model="smollm2", max_tokens=16), "openai")
    p = yes_probability(model, [HumanMessage(content="Is water wet? Reply yes or no.")])
    assert 0.0 <= p <= 1.0
