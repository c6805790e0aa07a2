"""Issue 13's chat features in a real headless Chromium against `python app.py` (extractive generator): progress at
once, saved conversations, ratings, document removal, and a page that never leaves the app's own host.

Same server and browser as tests/e2e/test_ui_browser.py (tests/e2e/conftest.py, tests/support/browser.py);
screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from support.browser import ARTIFACTS, answer_text, ask, bot_rows, open_how, shot, wait_for_turn
from support.project import run_cli

NATO_Q = "Who heads NATO's Military Committee?"
SEA_Q = "Which sea were the joint flight drills over?"

# Records, for the last chat turn, every distinct state the page shows: what the "how" block says, whether the retrieved
# passages, streamed text or the verified answer are on screen, and when (ms after the question was sent).
WATCH = """() => {
  if (window.__watch) window.__watch.disconnect();
  window.__states = []; const t0 = performance.now(); let last = '';
  const look = () => {
    const rows = document.querySelectorAll('#qa-chatbot .bot-row'); const row = rows[rows.length - 1];
    if (!row) return;
    const s = { how: (row.querySelector('.qa-steps') || {}).innerText || '',
                hits: row.querySelectorAll('.qa-hit').length,
                streaming: !!row.querySelector('p.qa-streaming'),
                final: !!row.querySelector('p.qa-answer:not(.qa-streaming)'),
                sources: row.querySelectorAll('details.qa-source:not(.qa-hit)').length,
                pending: !!row.innerText.match(/Searching|Found|Writing|Checking/) };
    const key = JSON.stringify(s);
    if (key !== last) { last = key; s.ms = performance.now() - t0; window.__states.push(s); }
  };
  window.__watch = new MutationObserver(look);
  window.__watch.observe(document.querySelector('#qa-chatbot'), {childList: true, subtree: true, characterData: true});
}"""


def conversation_titles(page) -> list[str]:
    return [t.strip() for t in page.locator("#qa-conversations").all_inner_texts() if t.strip()]


def test_progress_shows_at_once_then_passages_then_verified_citations(page):
    page.fill("#qa-question textarea", SEA_Q)
    page.evaluate(WATCH)
    page.keyboard.press("Enter")
    wait_for_turn(page, 1)
    states = page.evaluate("window.__states")
    first_pending = next(s for s in states if s["pending"])
    (ARTIFACTS / "ui_chat_progress_states.json").write_text(json.dumps(states, indent=1))
    # The first status, measured in the page from the key press. The chat yields it before any work (well under 0.5 s on
    # an idle machine); Gradio's own round trips before the queued call take most of this, so the bound leaves room for
    # load.
    assert first_pending["ms"] < 1500, states
    # Passages found are on screen before the verified answer, and the verified citations replace them.
    assert any(s["hits"] == 4 and not s["final"] for s in states), states
    assert "Found 4 passages in" in " ".join(s["how"] for s in states)
    final = states[-1]
    assert final["final"] and final["hits"] == 0 and final["sources"] == 1
    row = bot_rows(page).last
    assert "Sea of Japan" in answer_text(row)
    how = open_how(row)
    assert "4 retrieved, 1 cited" in how
    shot(page, "chat_01_progress_done")


def test_conversation_is_saved_resumed_with_follow_up_and_deleted(page):
    ask(page, NATO_Q, 1)
    assert "Bauer" in answer_text(bot_rows(page).last)
    page.wait_for_function(
        "q => document.querySelector('#qa-conversations')?.innerText.includes(q)", arg=NATO_Q, timeout=10_000
    )
    page.reload()
    page.wait_for_selector("#qa-question textarea", timeout=30_000)
    # After a reload the chat is empty, and the past conversation is listed: open it.
    page.wait_for_function(
        "q => document.querySelector('#qa-conversations')?.innerText.includes(q)", arg=NATO_Q, timeout=10_000
    )
    assert bot_rows(page).count() == 0
    page.locator("#qa-conversations").get_by_text(NATO_Q).first.click()
    page.wait_for_function("() => document.querySelectorAll('#qa-chatbot .bot-row').length >= 1", timeout=10_000)
    assert "Bauer" in answer_text(bot_rows(page).last)
    shot(page, "chat_02_resumed")
    # A follow-up in the resumed conversation: its history reaches the rewrite step.
    ask(page, "When did he visit Tokyo?", 2)
    how = open_how(bot_rows(page).last)
    assert f"follow-up to: {NATO_Q}" in how
    # Still one saved conversation for it (resumed, not copied), now with both turns.
    page.reload()
    page.wait_for_function(
        "q => document.querySelector('#qa-conversations')?.innerText.includes(q)", arg=NATO_Q, timeout=10_000
    )
    entries = page.locator("#qa-conversations tr", has_text=NATO_Q)
    assert entries.count() == 1
    entries.first.click()
    page.wait_for_function("() => document.querySelectorAll('#qa-chatbot .user-row').length == 2", timeout=10_000)
    # Clear deletes the conversation from the list, for good.
    page.locator("#qa-chatbot button[aria-label=Clear]").click()
    page.wait_for_function(
        "q => !document.querySelector('#qa-conversations')?.innerText.includes(q)", arg=NATO_Q, timeout=10_000
    )
    page.reload()
    page.wait_for_selector("#qa-question textarea", timeout=30_000)
    page.wait_for_timeout(1000)  # the saved list is read from localStorage after load
    assert NATO_Q not in " ".join(conversation_titles(page))


def test_rating_with_comment_is_logged_counted_and_exported(page, server, tmp_path):
    log = server.store_dir / "feedback.jsonl"
    before = len(log.read_text().splitlines()) if log.exists() else 0
    ask(page, SEA_Q, 1)
    page.locator("#qa-chatbot button[aria-label=Like]").last.click()  # the thumbs sit beside the turn's last message
    page.wait_for_selector("#qa-comment-row textarea", state="visible", timeout=10_000)
    page.wait_for_function(
        "() => /\\d+ answers? rated/.test(document.querySelector('#qa-feedback').innerText)", timeout=10_000
    )
    page.fill("#qa-comment-row textarea", "Right sea, right source.")
    page.locator("#qa-comment-send").click()
    page.wait_for_selector("#qa-comment-row textarea", state="hidden", timeout=10_000)
    shot(page, "chat_03_rated")
    ask(page, "When did they hold them?", 2)
    page.locator("#qa-chatbot button[aria-label=Dislike]").last.click()
    # Wait for the dislike to be counted: the counter shows "0 👎" before it is, so the emoji alone proves nothing.
    page.wait_for_function(
        "() => /, [1-9]\\d* 👎\\)/.test(document.querySelector('#qa-feedback').innerText)", timeout=10_000
    )
    counter = page.locator("#qa-feedback").inner_text()
    m = re.search(r"(\d+) answers? rated \((\d+) 👍, (\d+) 👎\)", counter)
    assert m and int(m.group(2)) >= 1 and int(m.group(3)) >= 1, counter

    rows = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    like = next(r for r in rows if r.get("rating") == "like")
    assert (
        like["question"] == SEA_Q
        and "Sea of Japan" in like["answer"]
        and like["citations"]
        and like["generator"] == "extractive"
    )
    assert any(r.get("id") == like["id"] and r.get("comment") == "Right sea, right source." for r in rows)
    dislike = next(r for r in rows if r.get("rating") == "dislike")
    assert dislike["question"] == "When did they hold them?" and dislike["history"] == [[SEA_Q, like["answer"]]]

    out = tmp_path / "questions.jsonl"
    p = run_cli("feedback", "export", str(out), "--store", str(server.store_dir), timeout=120)
    assert p.returncode == 0, p.stderr
    exported = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert exported[f"fb-{like['id']}"]["answers"] and "todo" not in exported[f"fb-{like['id']}"]
    assert exported[f"fb-{dislike['id']}"]["todo"] and exported[f"fb-{dislike['id']}"]["answers"] == []

    # Clicking the thumb off again takes the rating back: one fewer 👎 in the sidebar, and none in the next export.
    page.locator("#qa-chatbot button[aria-label=Disliked]").last.click()
    page.wait_for_function(
        f"() => !document.querySelector('#qa-feedback').innerText.includes(', {m.group(3)} 👎')", timeout=10_000
    )
    assert f"{int(m.group(3)) - 1} 👎" in page.locator("#qa-feedback").inner_text()
    p = run_cli("feedback", "export", str(out), "--store", str(server.store_dir), timeout=120)
    assert p.returncode == 0 and f"fb-{dislike['id']}" not in out.read_text() and f"fb-{like['id']}" in out.read_text()


REMOVE_ME = (
    "Quorvane Ledger\n\nThe Quorvane ledger records that the harbour bell of Tillmoor was cast in bronze in 1702.\n"
)


def test_remove_a_document_after_confirming(page, server, tmp_path):
    doc = tmp_path / "quorvane.txt"
    doc.write_text(REMOVE_ME, encoding="utf-8")
    page.set_input_files("#qa-upload input[type=file]", [str(doc)])
    page.wait_for_selector("#qa-upload-status .qa-status-ok", timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('#qa-docs').innerText.includes('Quorvane Ledger')", timeout=10_000
    )
    docs = page.locator("#qa-docs").inner_text()
    n_before = int(re.search(r"(\d+) documents? indexed", docs).group(1))
    assert re.search(r"quorvane\.txt · 1 chunk · indexed \d{4}-\d\d-\d\d \d\d:\d\d UTC", docs), docs

    def choose():
        page.locator("#qa-remove-choice input").click()
        page.get_by_role("option", name=re.compile("Quorvane Ledger")).click()

    choose()
    page.locator("#qa-remove").click()
    page.wait_for_selector("#qa-remove-confirm", state="visible", timeout=5_000)
    assert "Remove Quorvane Ledger · quorvane.txt from the index?" in page.locator("#qa-remove-confirm").inner_text()
    shot(page, "chat_04_remove_confirm")
    page.locator("#qa-remove-cancel").click()  # cancelling keeps it
    page.wait_for_selector("#qa-remove-confirm", state="hidden", timeout=5_000)
    assert "Quorvane Ledger" in page.locator("#qa-docs").inner_text()
    page.locator("#qa-remove").click()
    page.locator("#qa-remove-yes").click()
    page.wait_for_selector("#qa-remove-status .qa-status-ok", timeout=30_000)
    assert "Removed Quorvane Ledger (1 chunk)" in page.locator("#qa-remove-status").inner_text()
    page.wait_for_function("() => !document.querySelector('#qa-docs').innerText.includes('Quorvane')", timeout=10_000)
    assert f"{n_before - 1} document" in page.locator("#qa-docs").inner_text()
    assert not (server.store_dir / "uploads" / "quorvane.txt").exists()
    page.locator("#qa-remove-choice input").click()
    page.get_by_role("option").first.wait_for(state="visible", timeout=5_000)
    assert page.get_by_role("option", name=re.compile("Quorvane")).count() == 0  # the menu was refreshed too
    page.keyboard.press("Escape")
    ask(page, "When was the harbour bell of Tillmoor cast?", 1)
    assert "1702" not in answer_text(bot_rows(page).last)


def test_page_requests_only_its_own_host_and_readme_screenshot(context, server):
    """Every request of a full session (load, ask, open a source) goes to the app's own host: no fonts, CDN or
    analytics."""
    pg = context.new_page()
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("websocket", lambda ws: requests.append(ws.url))
    pg.goto(server.url)
    pg.wait_for_selector("#qa-question textarea", timeout=30_000)
    pg.wait_for_selector("#qa-docs .qa-docs", timeout=30_000)
    pg.fill("#qa-question textarea", SEA_Q)
    pg.keyboard.press("Enter")
    wait_for_turn(pg, 1)
    row = bot_rows(pg).last
    row.locator("details.qa-source summary").first.click()
    row.locator("mark").first.wait_for(state="visible")
    pg.wait_for_timeout(1500)  # late requests (lazy assets) count too
    own = urlsplit(server.url).netloc
    foreign = sorted({u for u in requests if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).netloc != own})
    (ARTIFACTS / "ui_requests.txt").write_text("\n".join(requests))
    assert len(requests) > 10 and not foreign, foreign
    pg.wait_for_timeout(400)
    pg.locator("#qa-chatbot").screenshot(path=str(ARTIFACTS / "chat_cited_answer.png"))
    pg.close()
