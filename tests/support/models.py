"""Helpers for tests of the generators (chat models): settings that keep the caller's OpenAI variables out, catching
whatever a client raised, and running a call from several threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

# An API key that must never appear in any output, log or error message.
FAKE_KEY = "sk-FAKEqabot-DoNotLeak-0123456789abcdef"


def model_settings(**kw):
    """Settings isolated from the developer's environment (OPENAI_* variables would otherwise leak in)."""
    from qa_bot.config import Settings

    base = {
        "openai_api_key": None,
        "openai_base_url": None,
        "max_retries": 0,
        "request_timeout": 30.0,
        "openai_model": "smollm2",
    }
    return Settings(**{**base, **kw})


def raised(fn) -> Exception:
    """The exception ``fn()`` raised; fails the test if it returned."""
    try:
        fn()
    except Exception as e:
        return e
    pytest.fail("the call did not fail")


def run_concurrently(fn, n: int, timeout: float) -> list:
    """``fn()`` in ``n`` threads at once; its results, or the first exception re-raised."""
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(fn) for _ in range(n)]
        return [f.result(timeout=timeout) for f in futures]
