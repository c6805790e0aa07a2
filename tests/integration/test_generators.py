"""Generators with real models: the local llama.cpp chat model (SmolLM2-135M in-process), ChatOpenAI against a real
llama.cpp server subprocess, their errors explained, and the packaged 1 GB model (slow).

Without a model: error explanations and the assembly of the packaged model from its parts, in
tests/unit/test_model_errors.py and tests/unit/test_model_assembly.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from importlib.util import find_spec

import openai
import pytest
from support.models import FAKE_KEY, model_settings, raised, run_concurrently

from qa_bot.config import Settings
from qa_bot.generation import local_model
from qa_bot.generation.local_model import qwen_model_path
from qa_bot.generation.models import LocalChatModel, explain_error, get_chat_model, unload_local_models
from qa_bot.schema import QABotError

LONG_PROMPT = "Write a very long story about a dragon who learns to bake bread. Use many paragraphs."


# ------------------------------------------------------------------------------------------------------------------
# openai generator against a real llama.cpp server
# ------------------------------------------------------------------------------------------------------------------


def test_openai_generator_answers_through_a_real_server(llama_server):
    model = get_chat_model(model_settings(openai_base_url=llama_server, max_tokens=16), "openai")
    reply = model.invoke(LONG_PROMPT)
    assert isinstance(reply.content, str) and reply.content.strip()
    # The limit must reach llama.cpp's server, which ignores `max_completion_tokens`: without extra_body the story
    # would run on to the context size.
    assert reply.usage_metadata["output_tokens"] <= 16
    assert reply.response_metadata["finish_reason"] == "length"


def test_openai_generator_streams_several_chunks(llama_server):
    model = get_chat_model(model_settings(openai_base_url=llama_server, max_tokens=24), "openai")
    pieces = [c.content for c in model.stream("Tell me about the sea in two sentences.")]
    texts = [p for p in pieces if p]
    assert len(texts) > 1
    assert "".join(texts).strip()


def test_server_killed_mid_stream_gives_a_clear_error(llama_server_factory):
    server = llama_server_factory()
    s = model_settings(openai_base_url=server.base_url, max_tokens=1500)
    # Suppress the end-of-sequence token (id 2 in SmolLM2) so the reply cannot finish before we kill the server.
    model = get_chat_model(s, "openai").bind(logit_bias={2: -100})
    received = []

    def consume():
        for chunk in model.stream(LONG_PROMPT):
            received.append(chunk.content)
            if len(received) == 3:
                server.proc.kill()
                server.proc.wait(timeout=10)

    e = raised(consume)
    assert len(received) >= 3
    msg = str(explain_error(e, s))
    assert server.base_url in msg
    assert "is it running?" in msg or "lost the connection" in msg
    # And the next call, with the server gone, says the same plainly.
    e2 = raised(lambda: get_chat_model(s, "openai").invoke("hi"))
    assert str(explain_error(e2, s)) == f"cannot reach the model server at {server.base_url}: is it running?"


def test_rejected_key_is_explained_without_revealing_it(llama_server_factory, caplog):
    server = llama_server_factory(api_key="the-servers-own-key")
    s = model_settings(openai_base_url=server.base_url, openai_api_key=FAKE_KEY)
    model = get_chat_model(s, "openai")
    assert FAKE_KEY not in repr(model) and FAKE_KEY not in str(model)
    e = raised(lambda: model.invoke("hi"))
    assert isinstance(e, openai.AuthenticationError)
    with caplog.at_level(logging.DEBUG):
        err = explain_error(e, s)
    assert str(err).startswith(f"the API key was rejected (401) by {server.base_url}")
    assert FAKE_KEY not in str(err)
    assert FAKE_KEY not in caplog.text
    assert "qa_bot.generation.models" in caplog.text  # the debug line was written, just without the key


def test_wrong_path_is_explained_as_not_found(llama_server):
    url = llama_server.replace("/v1", "/not-v1")
    s = model_settings(openai_base_url=url, openai_model="no-such-model")
    e = raised(lambda: get_chat_model(s, "openai").invoke("hi"))
    assert isinstance(e, openai.NotFoundError)
    msg = str(explain_error(e, s))
    assert "404" in msg and "'no-such-model'" in msg and url in msg


def test_prompt_too_long_for_the_server_is_a_bad_request(llama_server):
    s = model_settings(openai_base_url=llama_server)
    e = raised(lambda: get_chat_model(s, "openai").invoke("word " * 3000))  # the server runs with n_ctx 2048
    assert isinstance(e, openai.BadRequestError)
    msg = str(explain_error(e, s))
    assert msg.startswith(f"the model server at {llama_server} rejected the request (400): ")
    assert "context length" in msg and "\n" not in msg


# ------------------------------------------------------------------------------------------------------------------
# local generator: llama.cpp in-process with SmolLM2
# ------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def smollm_settings(smollm_gguf, tmp_path) -> Settings:
    return model_settings(
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
    assert not smollm_settings.generation.cache_dir.exists()


def test_local_generator_uses_the_models_own_chat_template(smollm_settings):
    llm, _ = get_chat_model(smollm_settings, "local").llama()
    assert llm.chat_format == "chat_template.default"  # from the GGUF's metadata, not a built-in guess


def test_local_threads_setting_is_honoured(smollm_settings):
    import llama_cpp

    one = get_chat_model(smollm_settings, "local")
    two = get_chat_model(smollm_settings.with_values(local_threads=2), "local")
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
    model = get_chat_model(smollm_settings.with_values(local_ctx=512), "local")
    with pytest.raises(QABotError, match=r"does not fit the local model's context window \(512 tokens\)"):
        model.invoke("word " * 2000)
    with pytest.raises(QABotError, match="context window"):
        list(model.stream("word " * 2000))
    assert model.invoke("Hi").content  # the lock was released after the failures


def test_local_model_file_errors(tmp_path, smollm_gguf):
    with pytest.raises(QABotError, match="local model file not found"):
        get_chat_model(model_settings(local_model_path=tmp_path / "missing.gguf"), "local")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"this is not a gguf file" * 100)
    with pytest.raises(QABotError, match="cannot load the local model"):
        get_chat_model(model_settings(local_model_path=junk), "local").invoke("hi")


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
# the real 1 GB model
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_qwen_parts_assemble_verify_and_answer(tmp_path):
    if not all(find_spec(n) for n in local_model.QWEN_PARTS):
        if os.environ.get("CI"):
            pytest.fail("the Qwen model parts are not installed: pip install -e '.[local]'")
        pytest.skip("the Qwen model parts are not installed")
    s = model_settings(cache_dir=tmp_path / "cache", max_tokens=40, local_threads=2)
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
                "Passages:\n[1] The Eiffel Tower stands in Paris, France.\n\n"
                "Question: In which city is the Eiffel Tower?",
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

    model = get_chat_model(
        model_settings(openai_base_url=llama_server, openai_model="smollm2", max_tokens=16), "openai"
    )
    p = yes_probability(model, [HumanMessage(content="Is water wet? Reply yes or no.")])
    assert 0.0 <= p <= 1.0


def test_local_first_token_probability_reads_the_cached_answer_prompt(smollm_settings):
    from langchain_core.messages import HumanMessage

    from qa_bot.generation.models import first_token_probability

    model = get_chat_model(smollm_settings, "local")
    ask = [HumanMessage(content="What is the capital of France? Reply with one word.")]
    reply = str(model.invoke(ask).content)  # greedy: the first token is the most likely one
    llm, _ = model.llama()
    p = first_token_probability(model, ask, reply)  # the prompt is still in the cache: one token is redone
    assert 0.0 < p <= 1.0
    assert p > first_token_probability(model, ask, "Zebra" + reply)  # the reply the model chose is likelier
    llm.reset()
    assert first_token_probability(model, ask, reply) == pytest.approx(p, abs=0.05)  # fresh evaluation, same value


def test_first_token_probability_through_a_real_openai_compatible_server(llama_server):
    from langchain_core.messages import HumanMessage

    from qa_bot.generation.models import first_token_probability

    model = get_chat_model(
        model_settings(openai_base_url=llama_server, openai_model="smollm2", max_tokens=16, temperature=0), "openai"
    )
    ask = [HumanMessage(content="What is the capital of France? Reply with one word.")]
    reply = str(model.invoke(ask).content)
    p = first_token_probability(model, ask, reply)
    assert 0.0 < p <= 1.0 and p != 0.5  # read from the server's log-probabilities, not the no-information default
    assert p >= first_token_probability(
        model, ask, "Zebra"
    )  # an unlisted token is at most as likely as the least listed
