"""Real server subprocesses on free loopback ports: llama.cpp's OpenAI-compatible server, `chroma run`, the web app."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from support.project import ROOT, clean_env, store_settings


def free_tcp_port() -> int:
    """A loopback port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate gracefully, kill if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class ScriptProcess:
    """A long-lived Python process running ``script`` (like a web-app worker), asked over stdin one JSON line at a time;
    it answers each with one JSON line, after a first line when it is ready (``ready``)."""

    def __init__(self, script: str, env: dict[str, str], ready_timeout: float = 120, timeout: float = 180) -> None:
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(ln) for ln in self.proc.stdout], daemon=True).start()
        self.ready = self._read(ready_timeout)

    def _read(self, timeout: float) -> dict:
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            self.proc.kill()
            pytest.fail(f"the process did not answer within {timeout} s: {self.proc.stderr.read()[-2000:]}")

    def ask(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read(self.timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class ServiceProcess:
    """A real server subprocess: started on construction, ready when its URL answers."""

    def __init__(
        self,
        cmd: list,
        log_path: Path,
        ready_url: str,
        *,
        what: str,
        timeout: float = 60.0,
        env: dict | None = None,
        cwd: Path | None = None,
        headers: dict | None = None,
    ) -> None:
        """Start ``cmd`` and wait until ``ready_url`` answers 200; fail the test with the log's tail otherwise."""
        self.log_path = Path(log_path)
        with open(self.log_path, "ab") as out:  # a file, not a pipe: an unread pipe fills up and blocks the server
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"{what} exited with code {self.proc.returncode} before answering:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(urllib.request.Request(ready_url, headers=headers or {}), timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:  # not listening yet, or an HTTP error while it loads
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{what} did not answer {ready_url} within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc)

    def kill(self) -> None:
        """Die without warning, as a crashed server does."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class LlamaServerProcess(ServiceProcess):
    """A real llama.cpp OpenAI-compatible server on a loopback port."""

    def __init__(
        self,
        model: Path,
        *,
        port: int | None = None,
        n_ctx: int = 2048,
        n_threads: int = 1,
        api_key: str | None = None,
        timeout: float = 60.0,
        log_path: Path | None = None,
    ) -> None:
        self.port = port or free_tcp_port()
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            str(n_threads),
        ]
        if api_key:
            cmd += ["--api_key", api_key]
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        super().__init__(
            cmd, log_path, f"{self.base_url}/models", what="llama_cpp.server", timeout=timeout, headers=headers
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        super().stop()
        if self._own_log:
            self.log_path.unlink(missing_ok=True)


class ChromaServer(ServiceProcess):
    """A real `chroma run` on a loopback port; app processes share it, each with its own folder for the BM25 side
    index."""

    def __init__(self, path: Path, log_path: Path) -> None:
        chroma = Path(sys.executable).parent / "chroma"
        assert chroma.exists(), "the `chroma` CLI ships with chromadb"
        self.path, self.port = Path(path), free_tcp_port()
        super().__init__(
            [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)],
            log_path,
            f"http://127.0.0.1:{self.port}/api/v2/heartbeat",
            what="chroma run",
        )

    def settings(self, store_dir: Path):
        return store_settings(store_dir, chroma_host="127.0.0.1", chroma_port=self.port)

    def env(self, store_dir: Path) -> dict[str, str]:
        """One app process's environment: the shared server, its own folder for the BM25 side index."""
        return clean_env(
            QA_BOT_CHROMA_HOST="127.0.0.1", QA_BOT_CHROMA_PORT=str(self.port), QA_BOT_STORE_DIR=str(store_dir)
        )


class UIServer(ServiceProcess):
    """The web chat started with ``cmd``, ready when its page answers. The caller's QA_BOT_*/OPENAI_*/GRADIO_* are left
    out."""

    def __init__(
        self, cmd: list, store_dir, log, port: int, env_extra: dict | None = None, timeout: float = 120.0
    ) -> None:
        self.url, self.store_dir = f"http://127.0.0.1:{port}/", store_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "OPENAI_", "GRADIO_"))}
        env.update(
            QA_BOT_STORE_DIR=str(store_dir),
            QA_BOT_GENERATOR="extractive",
            GRADIO_ANALYTICS_ENABLED="False",
            **(env_extra or {}),
        )
        super().__init__(cmd, log, self.url, what="the web app", timeout=timeout, env=env, cwd=ROOT)
