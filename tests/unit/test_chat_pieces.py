"""Issue 13's chat pieces without a store or a model: the chat's rendering order of stages, passages, streamed text and
the verified answer (a scripted stream), the feedback log and its export rows, and the saved-conversation key.
With real stores and the extractive generator, and the whole Gradio page: tests/integration/test_chat_features.py."""

from __future__ import annotations

import json
import os
import stat

import pytest
from support.project import store_settings

from qa_bot import Answer, Stage
from qa_bot.apps import web as ui
from qa_bot.apps.feedback import FeedbackLog, safe_settings, to_question
from qa_bot.schema import Chunk, SearchHit
from qa_bot.service import QABot


def _hit(doc: str, n: int) -> SearchHit:
    text = f"Passage {n} of <b>{doc}</b>."
    return SearchHit(
        Chunk(f"{doc}::{n}", doc, f"Title {doc}", f"/docs/{doc}.txt", 0, len(text), text, "h"), 0.5, 0.5, None, n
    )


def test_chat_shows_stages_then_passages_then_streamed_text_then_verified_answer(tmp_path, monkeypatch):
    hits = [_hit("a", 1), _hit("b", 2)]
    final = Answer(
        question="q",
        text="Verified [1].",
        standalone_question="q",
        generator="extractive",
        timings={"retrieve": 0.01},
        hits=hits,
    )
    script = [
        Stage("retrieve", "Found 2 passages in 2 documents", hits),
        Stage("generate", "Writing the answer (extractive generator)"),
        "Raw ",
        "text",
        Stage("verify", "Checking the citations against the passages"),
        final,
    ]

    def fake(question, history, *, settings=None, generator=None, top_k=None, stages=False):
        assert stages, "the chat asks for stage events"
        yield from script

    monkeypatch.setattr(QABot, "stream", staticmethod(fake))
    webapp = ui.WebApp(store_settings(tmp_path, generator="extractive"))
    steps = list(webapp.chat("q", [], "extractive", 4))
    first = steps[0]
    assert (
        len(first) == 1
        and first[0]["metadata"]["status"] == "pending"
        and "Searching the documents" in first[0]["metadata"]["log"]
    )
    # after retrieval: the passages (escaped) are shown before any text
    how, body = steps[1]
    assert "✓ Found 2 passages in 2 documents" in how["content"] and how["metadata"]["status"] == "pending"
    assert "Retrieved passages" in body["content"] and body["content"].count('class="qa-source qa-hit"') == 2
    assert "&lt;b&gt;a&lt;/b&gt;" in body["content"] and "<b>a</b>" not in body["content"]
    assert steps[2][0]["metadata"]["log"] == "Writing the answer (extractive generator)…"
    assert (
        "Raw text" in steps[4][1]["content"]
        and "qa-streaming" in steps[4][1]["content"]
        and "qa-hit" in steps[4][1]["content"]
    )
    assert "… Checking the citations" in steps[5][0]["content"] and "✓ Writing the answer" in steps[5][0]["content"]
    how, ans = steps[-1]
    assert how["metadata"]["status"] == "done" and "log" not in how["metadata"]
    assert "qa-hit" not in ans["content"] and ui.plain_answer(ans["content"]) == "Verified [1]."


def test_a_liked_refusal_exports_as_an_unanswerable_question():
    row = to_question(
        {
            "id": "x",
            "rating": "like",
            "question": "Who won?",
            "history": [],
            "answer": "I can't find it.",
            "refused": True,
            "citations": [],
        }
    )
    assert row["is_impossible"] and row["type"] == "unanswerable" and "todo" not in row


def test_feedback_export_cli_and_errors(tmp_path):
    from qa_bot.apps import cli

    store = tmp_path / "store"
    assert (
        cli.main(["feedback", "export", str(tmp_path / "out.jsonl"), "--store", str(store)]) == 2
    )  # nothing rated: one-line error
    log = FeedbackLog(store / "feedback.jsonl")
    log.add(False, {"question": "Why?", "history": [], "answer": "Because [1].", "citations": []})
    with open(log.path, "a") as f:
        f.write('{"id": "broken", "rat\n')  # a torn last line (a crash mid-write) loses only itself
    assert cli.main(["feedback", "export", str(tmp_path / "out.jsonl"), "--store", str(store)]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["todo"]
    with pytest.raises(ui.QABotError, match=r"no question .* has a gold answer yet"):
        from qa_bot.evaluation.evaluate import load_questions

        load_questions(tmp_path / "out.jsonl")


def test_safe_settings_keep_no_secret(tmp_path):
    s = store_settings(tmp_path, openai_api_key="sk-abc", openai_base_url="http://me:secret@localhost:8080/v1")
    d = safe_settings(s)
    assert (
        "openai_api_key" not in d
        and d["openai_base_url"] == "http://localhost:8080/v1"
        and "secret" not in json.dumps(d)
    )


def test_conversation_key_is_made_once_per_store_and_kept_private(tmp_path):
    from qa_bot.apps.conversations import KEY_FILE, conversations_key

    key = conversations_key(tmp_path)
    assert len(key) >= 16 and conversations_key(tmp_path) == key
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode) == 0o600
    (tmp_path / KEY_FILE).write_text("short")  # a damaged key is replaced, not used
    assert conversations_key(tmp_path) not in (key, "short")


def test_a_rater_has_one_rating_per_answer(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    rec = {"question": "Who?", "history": [], "answer": "Bauer [1].", "citations": []}
    first = log.add(True, rec, rater="browser-a")
    log.comment(first, "good")
    log.add(False, rec, rater="browser-a")  # thumbs down after thumbs up: the down stands
    log.add(True, rec, rater="browser-b")  # another browser's rating of the same answer counts on its own
    assert log.counts() == (1, 1)
    assert {(e["rating"], e["comment"]) for e in log.entries()} == {("dislike", ""), ("like", "")}
    log.add(None, rec, rater="browser-a")  # the thumb clicked off again
    assert log.counts() == (1, 0)


def test_timings_are_listed_in_the_chains_order_with_the_parts_of_generate_after_it():
    from qa_bot.schema import Answer

    a = Answer("q", "t", timings={"condense": 0.0, "retrieve": 0.1, "consistency": 0.8, "generate": 3.0, "verify": 0.5})
    assert [k for k, _ in a.timing_items()] == ["condense", "retrieve", "generate", "consistency", "verify"]
    assert dict(a.timing_items()) == a.timings
