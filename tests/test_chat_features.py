"""Issue 13's chat features without a browser: stage events of the answer chain (library, web chat, CLI), ratings and
their export as evaluation questions, document removal with indexing times, and the saved-conversation key.

Real stores and the extractive generator throughout; the one fake is a scripted stream for the chat's rendering order.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import qa_clean_env, qa_settings

from qa_bot import Answer, Stage, stream_answer
from qa_bot.apps import web as ui
from qa_bot.apps.feedback import TODO, FeedbackLog, export_questions, safe_settings, to_question
from qa_bot.schema import Chunk, SearchHit
from qa_bot.service import QABot

ROOT = Path(__file__).resolve().parents[1]
from qa_bot import pipeline as ANSWER_MODULE  # noqa: N812

NATO_Q = "Who heads NATO's Military Committee?"
SEA_Q = "Which sea were the joint flight drills over?"


# --- stages from the answer chain --------------------------------------------------------------------------------
def test_stream_reports_each_stage_before_its_work_and_the_passages_once_found(seeded):
    history = [("Who is NATO's Secretary General in the UNN article?", "Jens Stoltenberg [1].")]
    items = list(stream_answer("Which news agency did he give an interview to?", history, settings=seeded, stages=True))
    stages = [i for i in items if isinstance(i, Stage)]
    assert [s.name for s in stages] == ["condense", "retrieve", "generate", "verify"]
    kinds = ["stage" if isinstance(i, Stage) else "answer" if isinstance(i, Answer) else "text" for i in items]
    # the text comes after "writing the answer" and before "checking the citations"; the Answer is last
    assert kinds.index("text") > kinds.index("stage") and kinds[-1] == "answer"
    assert items.index(stages[3]) > max(n for n, k in enumerate(kinds) if k == "text")
    found = stages[1]
    final = items[-1]
    assert found.hits == final.hits and len(found.hits) == 4
    assert found.detail == f"Found 4 passages in {found.documents} document{'s' if found.documents != 1 else ''}"
    assert found.documents == len({h.chunk.doc_id for h in final.hits})
    assert "Kyodo News" in final.text


def test_stream_without_stages_is_unchanged(seeded):
    items = list(stream_answer(SEA_Q, settings=seeded))
    assert not any(isinstance(i, Stage) for i in items)
    # no history: nothing to rewrite, so no condense stage either
    names = [i.name for i in stream_answer(SEA_Q, settings=seeded, stages=True) if isinstance(i, Stage)]
    assert names == ["retrieve", "generate", "verify"]


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
    webapp = ui.WebApp(qa_settings(tmp_path, generator="extractive"))
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


# --- ratings -----------------------------------------------------------------------------------------------------
def _turn(webapp, question: str, history: list) -> list[dict]:
    """One real chat turn; returns the chat's messages after it (as the browser holds them)."""
    *_, last = webapp.chat(question, history, "extractive", 4)
    return history + [{"role": "user", "content": question}] + last


def test_ratings_are_stored_with_the_answer_and_export_as_questions_that_eval_reads(seeded, tmp_path):
    settings = qa_settings(
        seeded.store_dir,
        generator="extractive",
        openai_api_key="sk-test-SECRET-123",
        openai_base_url="https://user:pw@llm.example:8443/v1?token=t",
    )
    webapp = ui.WebApp(settings)
    webapp.feedback = FeedbackLog(tmp_path / "feedback.jsonl")
    msgs = _turn(webapp, NATO_Q, [])
    msgs = _turn(webapp, "When did he visit Tokyo?", msgs)
    # the like arrives with the index of the turn's first message (the "how" block), as Gradio sends it
    assert msgs[1]["metadata"]["title"] == ui.HOW_TITLE
    liked = webapp.rate(msgs, 1, True)
    webapp.feedback.comment(liked, "exactly right")
    webapp.rate(msgs, [4], False)
    with pytest.raises(ui.QABotError, match="only answers"):
        webapp.rate(msgs, 0, True)
    assert webapp.feedback.counts() == (1, 1)
    assert "2 answers rated" in webapp.feedback_html() and "1 👍, 1 👎" in webapp.feedback_html()

    raw = (tmp_path / "feedback.jsonl").read_text()
    assert "SECRET" not in raw and "pw@" not in raw and "token=t" not in raw
    entries = {e["rating"]: e for e in webapp.feedback.entries()}
    like, dislike = entries["like"], entries["dislike"]
    assert like["question"] == NATO_Q and like["comment"] == "exactly right" and like["history"] == []
    assert (
        "Bauer" in like["answer"]
        and like["citations"]
        and like["citations"][0]["quote"].rstrip(".") in like["answer"].replace(" [1]", "")
    )
    assert like["generator"] == "extractive" and like["timings"]["total"] > 0 and "retrieve" in like["timings"]
    assert like["settings"]["top_k"] == 4 and like["settings"]["openai_base_url"] == "https://llm.example:8443/v1"
    assert dislike["question"] == "When did he visit Tokyo?" and dislike["history"][0][0] == NATO_Q

    out = tmp_path / "feedback_questions.jsonl"
    assert export_questions(webapp.feedback, out) == (1, 1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    good, todo = rows
    assert good["answers"] and good["answers"][0] in like["answer"] and "todo" not in good
    assert good["gold_docs"] == ["000_c3140845cfbfcf74"] and good["gold_quotes"] == [
        c["quote"] for c in like["citations"]
    ]
    assert (
        todo["answers"] == []
        and todo["todo"] == TODO
        and todo["type"] == "followup"
        and todo["history"] == dislike["history"]
    )

    # qa-bot eval reads the file: the liked answer is a regression question it passes; the disliked one waits
    res = tmp_path / "eval"
    p = subprocess.run(
        [sys.executable, "-m", "qa_bot.apps.cli", "eval", str(out), "-g", "extractive", "--out", str(res)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=qa_clean_env(),
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "left out 1 question(s) still waiting" in p.stderr
    run = json.loads((res / "results.json").read_text())
    assert [r["id"] for r in run["results"]] == [good["id"]] and run["results"][0]["correct"]


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
    with pytest.raises(ui.QABotError, match="no question .* has a gold answer yet"):
        from qa_bot.evaluation.evaluate import load_questions

        load_questions(tmp_path / "out.jsonl")


def test_safe_settings_keep_no_secret(tmp_path):
    s = qa_settings(tmp_path, openai_api_key="sk-abc", openai_base_url="http://me:secret@localhost:8080/v1")
    d = safe_settings(s)
    assert (
        "openai_api_key" not in d
        and d["openai_base_url"] == "http://localhost:8080/v1"
        and "secret" not in json.dumps(d)
    )


# --- documents ---------------------------------------------------------------------------------------------------
def test_documents_show_chunks_and_indexing_time_and_can_be_removed(tmp_path):
    from qa_bot.ingestion.indexer import ingest

    settings = qa_settings(tmp_path / "store", generator="extractive")
    webapp = ui.WebApp(settings)
    webapp.uploads_dir.mkdir(parents=True)
    kept = tmp_path / "kept.txt"
    kept.write_text("Kept note\n\nThe lighthouse of Ostrava Bay is painted green.\n")
    gone = webapp.uploads_dir / "gone.txt"
    gone.write_text("Gone note\n\nThe Zorblax fountain sprays violet water on Tuesdays.\n")
    before = time.time()
    assert ingest([kept, gone], settings, prune=False).added == 2
    reg = webapp.registry()
    assert all(before - 1 <= d.indexed_at <= time.time() + 1 for d in reg.values())
    html = webapp.documents_html()
    assert "2 documents indexed" in html and html.count("1 chunk · indexed 20") == 2 and " UTC" in html
    choices = {v: k for k, v in webapp.document_choices()}
    assert sorted(choices) == ["gone", "kept"] and choices["gone"] == "Gone note · gone.txt"

    assert "Removed Gone note (1 chunk)" in webapp.remove("gone")
    assert (
        not gone.exists() and kept.exists()
    )  # the uploaded copy goes with it (else it could be indexed again); others' files stay
    assert list(webapp.registry()) == ["kept"] and "1 document indexed" in webapp.documents_html()
    a = ANSWER_MODULE.answer("What colour is the water of the Zorblax fountain?", settings=settings)
    assert "violet" not in a.text and all(c.doc_id != "gone" for c in a.citations)
    assert "not indexed" in webapp.remove("gone") and "Choose a document" in webapp.remove(None)
    assert (
        webapp.remove("kept").startswith('<div class="qa-status-ok">') and kept.exists()
    )  # a file outside uploads/ is never deleted


# --- saved conversations -----------------------------------------------------------------------------------------
def test_conversation_key_is_made_once_per_store_and_kept_private(tmp_path):
    from qa_bot.apps.conversations import KEY_FILE, STORAGE_KEY, conversations_key

    key = conversations_key(tmp_path)
    assert len(key) >= 16 and conversations_key(tmp_path) == key
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode) == 0o600
    (tmp_path / KEY_FILE).write_text("short")  # a damaged key is replaced, not used
    assert conversations_key(tmp_path) not in (key, "short")

    configs = []
    for _ in range(2):  # two server starts on one store give the page the same key and slot
        demo = ui.build_demo(qa_settings(tmp_path / "s", generator="extractive"))
        state = next(c for c in demo.config["components"] if c.get("type") == "browserstate")
        configs.append((state["props"]["secret"], state["props"]["storage_key"]))
    assert configs[0] == configs[1] and configs[0][1] == STORAGE_KEY


# --- the CLI -----------------------------------------------------------------------------------------------------
def test_interactive_ask_prints_the_stages_on_stderr(seeded):
    env = qa_clean_env(QA_BOT_STORE_DIR=str(seeded.store_dir), QA_BOT_GENERATOR="extractive", COLUMNS="200")
    p = subprocess.run(
        [sys.executable, "-m", "qa_bot.apps.cli", "ask"],
        input=f"{NATO_Q}\nWhen did he visit Tokyo?\n",
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=env,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("… ")]
    assert re.fullmatch(r"… Found 4 passages in \d documents?", lines[0]), p.stderr
    assert lines[1:3] == [
        "… Writing the answer (extractive generator)",
        "… Checking the citations against the passages",
    ], p.stderr
    assert lines[3] == "… Rewriting the follow-up as a standalone question"  # the second question leans on the first
    assert "Bauer" in p.stdout
    # the passages found are listed under the stage, with file and offsets
    assert any("000_c3140845cfbfcf74.txt, chars" in ln for ln in p.stderr.splitlines())
    # one-shot answers for scripts keep stderr quiet
    q = subprocess.run(
        [sys.executable, "-m", "qa_bot.apps.cli", "ask", NATO_Q],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=env,
    )
    assert q.returncode == 0 and "… Found" not in q.stderr


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
