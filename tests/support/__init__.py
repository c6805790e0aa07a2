"""Helpers shared by the test levels (tests/unit, tests/integration, tests/e2e). Plain functions and classes, no
fixtures: each level's conftest.py builds its fixtures from these.

- ``project``: repository paths, the seed documents, settings and environments isolated from the caller's shell, the
  CLI.
- ``pdf``: a small valid PDF built in memory.
- ``processes``: real server subprocesses (llama.cpp, ``chroma run``, the web app) on free loopback ports.
- ``stub_server``: an in-process HTTP server that fails every OpenAI-style request (a rejected key, a rejected input).
- ``browser``: Playwright helpers for the web chat's page.
"""
