"""End-to-end fixtures: a real headless Chromium (Playwright) on the shared web app (root conftest ``ui_server``)."""

from __future__ import annotations

import pytest
from support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, need_browser


@pytest.fixture(scope="session")
def server(ui_server):
    """The web app the browser talks to; skips (fails on CI) without Chromium and Playwright."""
    need_browser()
    return ui_server


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})  # one context: the app's assets load once
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, server):
    """A fresh page on the app, loaded (question box and document list shown); fails the test on any JavaScript
    error."""
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server.url)
    pg.wait_for_selector("#qa-question textarea", timeout=30_000)
    pg.wait_for_selector("#qa-docs .qa-docs", timeout=30_000)
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
