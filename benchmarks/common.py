"""What the benchmark scripts share: percentiles, loopback ports, clean environments and the servers they start."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The SQuAD 2.0 dev slice that ships with the repo (CC BY-SA 4.0): benchmarks run from a fresh clone.
SQUAD = ROOT / "eval" / "squad_v2"
CORPUS = SQUAD / "corpus"
QUESTIONS = SQUAD / "questions_dev.jsonl"


def percentile(xs: list[float], q: float) -> float | None:
    """Linear-interpolation percentile (numpy's default), q in [0, 1]; None for no data."""
    if not xs:
        return None
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """No QA_BOT_*/OPENAI_* settings leak in from the calling shell: every run measures the documented defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "OPENAI_"))}
    env.update({"GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> float:
    """Seconds until ``url`` answers 200; raises if the process dies or time runs out."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def server(cmd: list[str], url: str, env: dict, log_path: Path, timeout: float = 180):
    """Start ``cmd``, wait until ``url`` answers, yield (proc, seconds to ready); always stopped afterwards."""
    with open(log_path, "wb") as out:  # a file, not a pipe: an unread pipe fills up and blocks the server
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        try:
            ready = wait_http(url, proc, timeout)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; log tail: {log_path.read_text(errors='replace')[-800:]}") from None
        yield proc, ready
    finally:
        stop(proc)
