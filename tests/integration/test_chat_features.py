"""Issue 13's chat features without a browser, on real stores with the extractive generator: stage events of the answer
chain (library, web chat, CLI), ratings exported as evaluation questions that `qa-bot eval` reads, document removal.
The pieces without a store or Gradio (rendering order, feedback log, export rows, the conversation key):
tests/unit/test_chat_pieces.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from support.project import ROOT, clean_env, store_settings

from qa_bot import Answer, Stage, answer, stream_answer
from qa_bot.apps import web as ui
from qa_bot.apps.feedback import TODO, FeedbackLog, export_questions

NATO_Q = "Who heads NATO's Military Committee?"
SEA_Q = "Which sea were the joint flight drills over?"


# --- stages from the answer chain --------------------------------------------------------------------------------
def test_stream_reports_each_stage_before_its_work_and_the_passages_once_found(seeds_with_injection):
    history = [("Who is NATO's Secretary General in the UNN article?", "Jens Stoltenberg [1].")]
    items = list(
        stream_answer(
            "Which news agency did he give an interview to?", history, settings=seeds_with_injection, stages=True
        )
    )
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


def test_stream_without_stages_is_unchanged(seeds_with_injection):
    items = list(stream_answer(SEA_Q, settings=seeds_with_injection))
    assert not any(isinstance(i, Stage) for i in items)
    # no history: nothing to rewrite, so no condense stage either
    names = [i.name for i in stream_answer(SEA_Q, settings=seeds_with_injection, stages=True) if isinstance(i, Stage)]
    assert names == ["retrieve", "generate", "verify"]


# --- ratings -----------------------------------------------------------------------------------------------------
def _turn(webapp, question: str, history: list) -> list[dict]:
    """One real chat turn; returns the chat's messages after it (as the browser holds them)."""
    *_, last = webapp.chat(question, history, "extractive", 4)
    return [*history, {"role": "user", "content": question}, *last]


def test_ratings_are_stored_with_the_answer_and_export_as_questions_that_eval_reads(seeds_with_injection, tmp_path):
    settings = store_settings(
        seeds_with_injection.store.store_dir,
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
        env=clean_env(),
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "left out 1 question(s) still waiting" in p.stderr
    run = json.loads((res / "results.json").read_text())
    assert [r["id"] for r in run["results"]] == [good["id"]] and run["results"][0]["correct"]


# --- documents ---------------------------------------------------------------------------------------------------
def test_documents_show_chunks_and_indexing_time_and_can_be_removed(tmp_path):
    from qa_bot.ingestion.indexer import ingest

    settings = store_settings(tmp_path / "store", generator="extractive")
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
    a = answer("What colour is the water of the Zorblax fountain?", settings=settings)
    assert "violet" not in a.text and all(c.doc_id != "gone" for c in a.citations)
    assert "not indexed" in webapp.remove("gone") and "Choose a document" in webapp.remove(None)
    assert (
        webapp.remove("kept").startswith('<div class="qa-status-ok">') and kept.exists()
    )  # a file outside uploads/ is never deleted


# --- saved conversations: the page, built by Gradio (the key itself: tests/unit/test_chat_pieces.py) -----------------
def test_two_server_starts_on_one_store_give_the_page_the_same_conversation_key(tmp_path):
    from qa_bot.apps.conversations import STORAGE_KEY

    configs = []
    for _ in range(2):
        demo = ui.build_demo(store_settings(tmp_path / "s", generator="extractive"))
        state = next(c for c in demo.config["components"] if c.get("type") == "browserstate")
        configs.append((state["props"]["secret"], state["props"]["storage_key"]))
    assert configs[0] == configs[1] and configs[0][1] == STORAGE_KEY


# --- the CLI -----------------------------------------------------------------------------------------------------
def test_interactive_ask_prints_the_stages_on_stderr(seeds_with_injection):
    env = clean_env(
        QA_BOT_STORE_DIR=str(seeds_with_injection.store.store_dir), QA_BOT_GENERATOR="extractive", COLUMNS="200"
    )
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
