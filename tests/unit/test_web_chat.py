"""The web chat's pieces without a server: HTML escaping, history pairs, error messages, the model lock, `serve`
flags."""

from __future__ import annotations

import html
import re

import pytest

from qa_bot.apps import web as ui
from qa_bot.schema import Answer, Citation, QABotError
from qa_bot.service import QABot

EVIL = 'Fact one.\n\n<script>alert("x")</script> <img src=x onerror="alert(1)"> & more'


def citation(**kw) -> Citation:
    passage = "Intro line.\n\nThe <b>fountain</b> was built in 1893. <script>alert(1)</script> Tail."
    quote = "The <b>fountain</b> was built in 1893."
    ps = 100
    s = passage.index(quote)
    base = dict(
        marker=1,
        doc_id="doc<1>",
        title='T "<i>"',
        source="/x/up<l>oads/f&.txt",
        start=ps + s,
        end=ps + s + len(quote),
        quote=quote,
        chunk_id="c1",
        passage=passage,
        passage_start=ps,
    )
    base.update(kw)
    return Citation(**base)


def test_sources_escape_document_text_and_highlight_the_quote():
    out = ui.render_sources([citation()])
    assert (
        "<script>" not in out
        and "<b>" not in out
        and "<i>" not in out
        and "onerror=" not in out.replace("onerror=&quot;", "")
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    m = re.search(r"<mark>(.*?)</mark>", out)
    assert m and html.unescape(m.group(1)) == "The <b>fountain</b> was built in 1893."
    # The whole passage is shown around the mark, and the summary names title, file and offsets.
    assert "Intro line.<br><br><mark>" in out and "</mark> &lt;script&gt;" in out
    assert re.search(r"<summary>.*T &quot;&lt;i&gt;&quot;.*f&amp;\.txt.*chars \d+–\d+</summary>", out)
    assert "\n" not in out  # a blank line would end the HTML block inside the chat's Markdown


def test_sources_fall_back_when_offsets_drift():
    c = citation(start=0, end=5)  # wrong offsets: the quote is found by its text instead
    out = ui.render_sources([c])
    assert html.unescape(re.search(r"<mark>(.*?)</mark>", out).group(1)) == c.quote
    assert ui.render_sources([]) == ""


def test_answer_text_round_trips_through_the_rendered_message():
    a = Answer(question="q", text=EVIL + " [1]. Second [2].", citations=[citation()])
    rendered = ui.render_answer(a)
    assert "<script>" not in rendered and "<img" not in rendered
    assert '<span class="qa-marker">[1]</span>' in rendered
    assert ui.plain_answer(rendered) == a.text


def test_history_pairs_from_gradio_messages():
    answer = ui.render_answer(Answer(question="q1", text="Bauer heads it [1].", citations=[citation()]))
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Who heads it?"}]},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "<ul class='qa-how'>...</ul>"}],
            "metadata": {"title": ui.HOW_TITLE},
        },
        {"role": "assistant", "content": [{"type": "text", "text": answer}]},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": ui.ERROR_PREFIX + "Please type a question"},
        {"role": "user", "content": "And the sea?"},
        {"role": "assistant", "content": ui.render_answer_text("The Sea of Japan [1].")},
    ]
    assert ui.history_pairs(messages) == [
        ("Who heads it?", "Bauer heads it [1]."),
        ("And the sea?", "The Sea of Japan [1]."),
    ]
    assert ui.history_pairs([]) == [] and ui.history_pairs(None) == []


@pytest.fixture
def webapp(tmp_path):
    from qa_bot.config import Settings

    return ui.WebApp(Settings(store_dir=tmp_path, chroma_host=None, generator="extractive"))


def fake_stream(items):
    def stream_answer(question, history, *, settings=None, generator=None, top_k=None, stages=False):
        for it in items:
            if isinstance(it, Exception):
                raise it
            yield it

    return stream_answer


def test_chat_streams_then_shows_the_verified_answer_with_how_block(webapp, monkeypatch):
    final = Answer(
        question="q",
        text="Verified [1].",
        citations=[citation()],
        standalone_question="q?",
        generator="extractive",
        timings={"retrieve": 0.01, "generate": 0.2},
    )
    monkeypatch.setattr(QABot, "stream", staticmethod(fake_stream(["Raw ", "text", final])))
    steps = list(webapp.chat("q", [], "extractive", 4))
    assert steps[0][0]["metadata"]["status"] == "pending"
    assert "qa-streaming" in steps[-2][-1]["content"] and "Raw text" in steps[-2][-1]["content"]
    how, ans = steps[-1]
    assert how["metadata"] == {"title": ui.HOW_TITLE, "status": "done", "duration": how["metadata"]["duration"]}
    assert "q?" in how["content"] and "extractive" in how["content"] and "retrieve 0.010 s" in how["content"]
    assert ui.plain_answer(ans["content"]) == "Verified [1]." and "<details" in ans["content"]


@pytest.mark.parametrize(
    "error, shown",
    [
        (
            QABotError("the local model server at localhost:8080 is not reachable"),
            "The local model server at localhost:8080 is not reachable",
        ),
        (
            RuntimeError("boom\nTraceback (most recent call last)"),
            "Something went wrong while answering (RuntimeError)",
        ),
    ],
)
def test_chat_errors_become_friendly_messages(webapp, monkeypatch, error, shown):
    monkeypatch.setattr(QABot, "stream", staticmethod(fake_stream([error])))
    last = list(webapp.chat("q", [], "extractive", 4))[-1]
    assert len(last) == 1 and last[0]["content"].startswith(ui.ERROR_PREFIX)
    assert shown in last[0]["content"] and "Traceback" not in last[0]["content"] and "boom" not in last[0]["content"]


def test_empty_question_is_a_message_not_an_error(webapp):
    (msgs,) = list(webapp.chat("   ", [], "extractive", 4))
    assert "empty" in msgs[0]["content"] and msgs[0]["content"].startswith(ui.ERROR_PREFIX)


def test_stopping_a_local_answer_frees_the_shared_model(webapp, monkeypatch):
    monkeypatch.setattr(QABot, "stream", staticmethod(fake_stream(["a", "b", "c", Answer(question="q", text="x")])))
    webapp = ui.WebApp(
        webapp.settings.with_values(allowed_generators=["extractive", "local"])
    )  # an operator allowed it
    lock = webapp.model_locks["local"]
    chat = webapp.chat("q", [], "local", 4)
    next(chat), next(chat)  # pending block, first delta: the lock is held while the model streams
    assert lock.locked()
    chat.close()  # what Gradio's stop button does to the generator
    assert not lock.locked()
    # While another session holds the model, a new local question says it is waiting instead of hanging silently.
    lock.acquire()
    try:
        waiting = webapp.stream("q", [], "local", 4)
        assert next(waiting) == ""
    finally:
        lock.release()
    waiting.close()


def test_serve_flags_reach_launch(monkeypatch, tmp_path):
    from qa_bot.apps import cli

    seen = {}
    monkeypatch.setattr(ui, "launch", lambda settings, **kw: seen.update(settings=settings, **kw))
    assert (
        cli.main(
            ["serve", "--host", "0.0.0.0", "--port", "7999", "--store", str(tmp_path), "-g", "extractive", "--no-seed"]
        )
        == 0
    )
    assert seen["host"] == "0.0.0.0" and seen["port"] == 7999 and seen["share"] is False and seen["seed"] is False
    assert seen["settings"].store.store_dir == tmp_path and seen["settings"].generation.generator == "extractive"
