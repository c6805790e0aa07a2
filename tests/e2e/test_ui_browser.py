"""The web chat in a real headless Chromium: `python app.py` on a fresh store (auto-seeded), extractive generator.

Screenshots go to test-artifacts/ (gitignored). Fixtures (server, browser, context, page): tests/e2e/conftest.py.
"""

from __future__ import annotations

import re

from support.browser import answer_text, ask, bot_rows, markers, open_how, shot, wait_for_turn

ZORBLAX = (
    "Zorblax Inventory Note\n\n"
    "The Zorblax fountain in Quillmere was built in 1893 by the engineer Ottilie Varnholt. "
    '<script>window.__pwned = 1; document.title = "PWNED"</script> <img src=x onerror="window.__pwned = 2"> '
    "The fountain sprays violet water on Tuesdays.\n"
)


# --- tests -------------------------------------------------------------------------------------------------------
def test_start_page_then_seed_question_with_expandable_highlighted_source(page, server):
    # The store was empty: the app indexed the bundled seeds on start, and the panel lists them.
    assert "indexed the bundled seeds/" in server.log_tail()
    docs = page.locator("#qa-docs").inner_text()
    assert re.search(r"\b\d+ documents indexed", docs)
    assert "000_c3140845cfbfcf74.txt" in docs and "004_da490e2e1cadb964.txt" in docs
    for q in (
        "Who heads NATO's Military Committee?",
        "Which sea were the joint flight drills over?",
        "What did Stoltenberg and Kishida agree on?",
    ):
        assert page.locator("#qa-chatbot button.example", has_text=q).count() == 1
    assert page.locator("#qa-generator input[value=extractive]").is_checked()
    assert page.locator("#qa-topk input[type=number]").input_value() == "4"
    shot(page, "01_start")

    # Ask a seed question by clicking its example.
    page.locator("#qa-chatbot button.example", has_text="Which sea were the joint flight drills over?").click()
    wait_for_turn(page, 1)
    row = bot_rows(page).last
    text = answer_text(row)
    assert "Sea of Japan" in text
    cited = markers(text)
    assert cited == {"1"}
    # Only cited passages are sources: one <details> per marker, though 4 passages were retrieved.
    sources = row.locator("details.qa-source")
    assert sources.count() == len(cited)
    summary = sources.first.locator("summary").inner_text()
    assert re.search(r"\[1\].*Japan and NATO agree.*000_c3140845cfbfcf74\.txt.*chars \d+–\d+", summary), summary
    passage = sources.first.locator("blockquote.qa-passage")
    assert not passage.is_visible()  # collapsed until clicked
    sources.first.locator("summary").click()
    assert passage.is_visible()
    mark = passage.locator("mark")
    assert mark.count() == 1 and mark.is_visible()
    quote = mark.inner_text()
    whole = passage.inner_text()
    assert "Sea of Japan" in quote
    assert quote in whole and len(whole) > len(quote)  # the span is highlighted inside the whole passage
    # The quote is the answer's own sentence (extractive answers quote the document verbatim).
    assert quote.rstrip(".") in text.replace(" [1]", "")
    how = open_how(row)
    assert "Which sea were the joint flight drills over?" in how
    assert "Generator: extractive" in how
    assert re.search(r"retrieve \d+\.\d+ s", how) and re.search(r"generate \d+\.\d+ s", how)
    assert "4 retrieved, 1 cited" in how
    shot(page, "02_answer_with_source")


def test_upload_then_ask_about_it_with_follow_up(page, server, tmp_path):
    doc = tmp_path / "zorblax.txt"
    doc.write_text(ZORBLAX, encoding="utf-8")
    page.set_input_files("#qa-upload input[type=file]", [str(doc)])
    page.wait_for_selector("#qa-upload-status .qa-status-ok", timeout=60_000)
    assert "zorblax.txt" in page.locator("#qa-upload-status").inner_text()
    page.wait_for_function(
        "() => document.querySelector('#qa-docs').innerText.includes('Zorblax Inventory Note')", timeout=10_000
    )
    assert (server.store_dir / "uploads" / "zorblax.txt").read_text(encoding="utf-8") == ZORBLAX  # the source persists

    ask(page, "Who built the Zorblax fountain?", 1)
    row = bot_rows(page).last
    assert "Ottilie Varnholt" in answer_text(row)
    src = row.locator("details.qa-source").first
    assert "zorblax.txt" in src.locator("summary").inner_text()
    src.locator("summary").click()
    # The document's <script> and <img onerror> are shown as text, never run or rendered.
    assert "<script>" in src.locator("blockquote.qa-passage").inner_text()
    assert "Ottilie Varnholt" in src.locator("mark").inner_text()
    assert page.evaluate("window.__pwned") is None and page.title() != "PWNED"
    assert page.locator("#qa-chatbot script, #qa-chatbot img[src=x]").count() == 0

    # A follow-up that only makes sense with the conversation: the history reaches the bot.
    ask(page, "When did she build it?", 2)
    row = bot_rows(page).last
    assert "1893" in answer_text(row)
    how = open_how(row)
    assert "follow-up to: Who built the Zorblax fountain?" in how
    shot(page, "03_upload_follow_up")


def test_bad_upload_and_empty_question_get_friendly_messages(page, server, tmp_path):
    before = page.locator("#qa-docs").inner_text()
    n_before = int(re.search(r"(\d+) documents? indexed", before).group(1))
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"\x00\x01\x02binary\x00\xff" * 50)
    page.set_input_files("#qa-upload input[type=file]", [str(blob)])
    page.wait_for_selector("#qa-upload-status .qa-status-bad", timeout=60_000)
    status = page.locator("#qa-upload-status").inner_text()
    assert "blob.txt" in status and "binary" in status
    assert "Traceback" not in status
    assert not (server.store_dir / "uploads" / "blob.txt").exists()
    # Nothing already indexed is lost.
    page.locator("#qa-refresh").click()
    page.wait_for_timeout(500)
    after = page.locator("#qa-docs").inner_text()
    assert f"{n_before} document" in after and "Japan and NATO agree" in after

    ask(page, "", 1)
    text = bot_rows(page).last.inner_text()
    assert "empty" in text.lower() and "question" in text.lower()
    assert "Traceback" not in text and "Error" not in text
    assert bot_rows(page).last.locator("details.qa-source").count() == 0
    shot(page, "04_bad_upload_empty_question")
    # The failed turn is not fed back as history: the next question stands alone, and the seeds still answer.
    ask(page, "Which sea were the joint flight drills over?", 2)
    row = bot_rows(page).last
    assert "Sea of Japan" in answer_text(row)
    assert "follow-up" not in open_how(row)


def test_retry_uses_current_settings_and_clear_empties_the_chat(page):
    ask(page, "What did Stoltenberg and Kishida agree on?", 1)
    assert "4 retrieved" in open_how(bot_rows(page).last)
    topk = page.locator("#qa-topk input[type=number]")
    topk.fill("1")
    topk.press("Enter")
    page.wait_for_timeout(300)
    # Retry first removes the answer, then runs again: watch the DOM so the old answer can't pass for the new one.
    page.evaluate("""() => { window.__answerGone = false;
        new MutationObserver(() => {
            if (!document.querySelector('#qa-chatbot p.qa-answer')) window.__answerGone = true;
        })
            .observe(document.querySelector('#qa-chatbot'), {childList: true, subtree: true}); }""")
    page.locator("#qa-chatbot button[aria-label=Retry]").click()
    page.wait_for_function("() => window.__answerGone", timeout=10_000)
    wait_for_turn(page, 1)
    assert page.locator("#qa-chatbot .user-row").count() == 1 and bot_rows(page).count() == 1
    row = bot_rows(page).last
    assert "Kishida" in answer_text(row)
    assert "1 retrieved" in open_how(row)
    page.locator("#qa-chatbot button[aria-label=Clear]").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#qa-chatbot .bot-row, #qa-chatbot .user-row').length === 0", timeout=5_000
    )
    assert page.locator("#qa-chatbot button.example").count() == 3
