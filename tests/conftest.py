"""What every test level shares. The levels, each with its own conftest.py:

- tests/unit: logic only, no model loaded (a scripted chat model, a hashing embedder): `python -m pytest tests/unit`.
- tests/integration: real Chroma, the MiniLM embedder, llama.cpp (SmolLM2 in-process and behind its server), real
  `qa-bot` and `python app.py` processes.
- tests/e2e: the web chat in a real headless Chromium.

Helpers shared by the levels (paths, settings, server processes) are plain code in tests/support/, not fixtures.
The one fixture here is the web app, used by the integration tests of its HTTP API and by the browser tests: one
process for the whole session whichever of the two levels run.
"""

from __future__ import annotations

import sys

import pytest
from support.processes import UIServer, free_tcp_port
from support.project import ROOT


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory):
    """One web app: `python app.py` on an empty temp store (so it seeds itself from seeds/), port from
    GRADIO_SERVER_PORT, extractive generator. Browser tests upload into it; API tests only read."""
    store = tmp_path_factory.mktemp("ui_store")
    port = free_tcp_port()
    server = UIServer(
        [sys.executable, str(ROOT / "app.py")],
        store,
        store.parent / "ui_server.log",
        port,
        env_extra={"GRADIO_SERVER_PORT": str(port)},
    )
    yield server
    server.stop()
