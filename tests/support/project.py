"""The repository, its seed documents, and settings / environments / CLI runs isolated from the caller's shell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
AP_DOC = "000_c3140845cfbfcf74"  # the AP article (Sea of Japan drills, registration-wall footer)
UNN_DOC = "004_da490e2e1cadb964"  # the UNN article (Stoltenberg's interview with Kyodo News)


def load_eval_script(name: str):
    """A script of ``eval/`` (not a package) imported as a module, for tests of its functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "eval" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def skip_or_fail(reason: str, ci_hint: str = "") -> None:
    """Skip on a developer machine without an optional piece (a model, Chromium); in CI (``CI`` set) fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error{': ' + ci_hint if ci_hint else ''})", pytrace=False)
    pytest.skip(reason)


def store_settings(store_dir, **kw):
    """Settings for a private embedded store, immune to QA_BOT_* variables of the calling shell."""
    from qa_bot.config import Settings

    kw.setdefault("chroma_host", None)
    kw.setdefault("collection", "qa_bot")
    return Settings(store_dir=store_dir, **kw)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: no QA_BOT_*/OPENAI_* leaking in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "OPENAI_"))}
    env.update(extra)
    return env


def run_cli(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the installed `qa-bot` entry point (falls back to `python -m qa_bot.apps.cli`)."""
    exe = Path(sys.executable).parent / "qa-bot"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "qa_bot.apps.cli"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=env or clean_env(), timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    """The CLI's `error ...` messages, one per entry.

    rich hard-wraps at 80 columns when stderr is not a terminal, so continuation lines are joined back to their message.
    """
    out: list[str] = []
    for ln in stderr.splitlines():
        if ln.startswith("error"):
            out.append(ln.strip())
        elif out and ln.strip():
            out[-1] += " " + ln.strip()
    return out


def copy_seeds(folder: Path) -> Path:
    """The repository's seed documents copied into ``folder`` (sources then point there, not at the repository)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in SEEDS.iterdir():
        shutil.copy(f, folder / f.name)
    return folder


def doc_texts(settings) -> dict[str, str]:
    """Every indexed document's cleaned text, by doc id (what citation offsets point into)."""
    from qa_bot.index.embeddings import embedder_id
    from qa_bot.index.store import Store

    store = Store(settings, embedder_id(settings)).open_for_read()
    return {d: store.document_text(d) for d in store.registry()}
