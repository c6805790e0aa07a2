"""Playwright helpers for the web chat's page (tests/e2e): the Chromium to drive, and how to ask and read a turn."""

from __future__ import annotations

import re
from pathlib import Path

from support.project import ROOT, skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"  # screenshots (gitignored)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def need_browser() -> None:
    """Skip without Chromium/Playwright on a developer machine; on CI (env CI set) their absence is a failure."""
    if not CHROMIUM.exists():
        skip_or_fail(f"browser test skipped: {CHROMIUM} is not installed")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("browser test skipped: the playwright package is not installed")


def bot_rows(page):
    return page.locator("#qa-chatbot .bot-row")


def wait_for_turn(page, n: int, timeout: float = 30_000) -> None:
    """Wait until the n-th assistant turn is final (a verified answer or an error message) and the textbox is free."""
    page.wait_for_function(
        """n => { const rows = document.querySelectorAll('#qa-chatbot .bot-row');
                  if (rows.length < n) return false;
                  const last = rows[rows.length - 1];
                  return !!last.querySelector('p.qa-answer:not(.qa-streaming)') ||
                         last.innerText.includes('\u26a0'); }""",
        arg=n,
        timeout=timeout,
    )
    page.wait_for_function(
        "() => { const t = document.querySelector('#qa-question textarea'); return t && !t.disabled; }", timeout=timeout
    )
    page.wait_for_selector("#qa-question [data-testid=submit-button]", timeout=timeout)


def ask(page, question: str, n: int) -> None:
    page.fill("#qa-question textarea", question)
    page.keyboard.press("Enter")
    wait_for_turn(page, n)


def answer_text(row) -> str:
    return row.locator("p.qa-answer").inner_text()


def open_how(row) -> str:
    """Expand the "How this was answered" block of a turn and return its text."""
    row.get_by_text("How this was answered").click()
    how = row.locator("ul.qa-how")
    how.wait_for(state="visible", timeout=5_000)
    return how.inner_text()


def shot(page, name: str) -> None:
    page.wait_for_timeout(400)  # let the accordions' open animations finish
    page.screenshot(path=str(ARTIFACTS / f"ui_{name}.png"))


def markers(text: str) -> set[str]:
    return {n.strip() for m in re.finditer(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]", text) for n in re.split(r"[,;]", m.group(1))}
