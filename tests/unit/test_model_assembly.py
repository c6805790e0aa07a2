"""Assembling the packaged local model from its part packages: verified once, not re-hashed, rebuilt when corrupt or
truncated, nothing left behind on failure. A tiny real set of part packages stands in for the 22 x 50 MB ones; the
real 1 GB model is tests/integration/test_generators.py::test_real_qwen_parts_assemble_verify_and_answer (slow)."""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import time
from pathlib import Path

import pytest
from support.models import model_settings, run_concurrently

from qa_bot.generation import local_model
from qa_bot.generation.local_model import local_model_file, qwen_model_path
from qa_bot.schema import QABotError


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three real installed-looking packages (found by find_spec on sys.path) holding data/partNN.bin."""
    site = tmp_path / "site"
    names, blob = [], b""
    for i in range(1, 4):
        name = f"qa_bot_test_modelpart{i}"
        (site / name / "data").mkdir(parents=True)
        (site / name / "__init__.py").write_text("raise ImportError('part packages must not be imported')\n")
        data = os.urandom(50_000 + i)
        (site / name / "data" / f"part{i:02d}.bin").write_bytes(data)
        names.append(name)
        blob += data
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setattr(local_model, "QWEN_PARTS", names)
    monkeypatch.setattr(local_model, "QWEN_SHA256", hashlib.sha256(blob).hexdigest())
    return blob


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_parts_are_assembled_verified_and_not_rehashed(fake_parts, tmp_path, monkeypatch):
    s = model_settings(cache_dir=tmp_path / "cache")
    path = qwen_model_path(s)
    assert path == s.generation.cache_dir / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert path.read_bytes() == fake_parts
    assert (s.generation.cache_dir / (path.name + ".verified.json")).is_file()
    assert _leftovers(s.generation.cache_dir) == []

    calls = []
    real_hash = local_model.sha256_file
    monkeypatch.setattr(local_model, "sha256_file", lambda p: calls.append(p) or real_hash(p))
    assert qwen_model_path(s) == path
    assert calls == []  # size/mtime/inode unchanged: trusted without re-hashing

    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))  # touched: must be re-checked once
    assert qwen_model_path(s) == path
    assert calls == [path]
    assert qwen_model_path(s) == path and calls == [path]


def test_corrupted_cached_model_is_detected_and_rebuilt(fake_parts, tmp_path, caplog):
    s = model_settings(cache_dir=tmp_path / "cache")
    path = qwen_model_path(s)
    with open(path, "r+b") as f:  # flip one byte in place (same size)
        f.seek(1234)
        b = f.read(1)
        f.seek(1234)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    with caplog.at_level(logging.WARNING):
        assert qwen_model_path(s) == path
    assert "corrupt" in caplog.text
    assert path.read_bytes() == fake_parts
    assert _leftovers(s.generation.cache_dir) == []


def test_truncated_cached_model_is_rebuilt(fake_parts, tmp_path):
    s = model_settings(cache_dir=tmp_path / "cache")
    path = qwen_model_path(s)
    path.write_bytes(fake_parts[:1000])  # e.g. a copy interrupted half-way
    assert qwen_model_path(s).read_bytes() == fake_parts


def test_parts_that_do_not_hash_right_leave_nothing_behind(fake_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(local_model, "QWEN_SHA256", "0" * 64)
    s = model_settings(cache_dir=tmp_path / "cache")
    with pytest.raises(QABotError, match=r"corrupt.*reinstall"):
        qwen_model_path(s)
    assert not (s.generation.cache_dir / local_model.QWEN_FILENAME).exists()
    assert _leftovers(s.generation.cache_dir) == []


def test_missing_parts_say_how_to_install(fake_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(local_model, "QWEN_PARTS", [*local_model.QWEN_PARTS, "qa_bot_test_no_such_part"])
    with pytest.raises(
        QABotError, match=r"qa-bot-test-no-such-part missing\): install with pip install -e '\.\[local\]'"
    ):
        qwen_model_path(model_settings(cache_dir=tmp_path / "cache"))


def test_disk_full_is_reported_before_writing(fake_parts, tmp_path, monkeypatch):
    # Filling a real disk is not something a test should do: the free-space probe is faked to report 10 bytes.
    monkeypatch.setattr(local_model, "_free_bytes", lambda d: 10)
    s = model_settings(cache_dir=tmp_path / "cache")
    with pytest.raises(QABotError, match="disk full"):
        qwen_model_path(s)
    assert list(s.generation.cache_dir.iterdir()) in (
        [],
        [s.generation.cache_dir / f".{local_model.QWEN_FILENAME}.lock"],
    )


def test_concurrent_builders_agree(fake_parts, tmp_path):
    s = model_settings(cache_dir=tmp_path / "cache")
    out = run_concurrently(lambda: qwen_model_path(s), 4, 60)
    assert len(set(out)) == 1 and len(out) == 4
    assert out[0].read_bytes() == fake_parts
    assert _leftovers(s.generation.cache_dir) == []


def test_explicit_local_model_path_skips_the_packaged_model(tmp_path, monkeypatch):
    monkeypatch.setattr(local_model, "QWEN_PARTS", ["qa_bot_test_no_such_part"])
    f = tmp_path / "mine.gguf"
    f.write_bytes(b"GGUF")
    assert local_model_file(model_settings(local_model_path=f, cache_dir=tmp_path / "c")) == f
    with pytest.raises(QABotError, match="install with"):
        local_model_file(model_settings(cache_dir=tmp_path / "c"))
