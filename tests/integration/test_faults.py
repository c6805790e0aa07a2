"""Faults: ingestion killed mid-run, a corrupt or missing store, the model server dying mid-stream.

Every store that a killed process wrote is inspected from fresh processes only: an embedded Chroma store must not be
opened by two live processes, and the test process's own chromadb caches would hide what is really on disk.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.processes import LlamaServerProcess, free_tcp_port
from support.project import SEEDS, clean_env, error_lines, run_cli, store_settings
from support.words import WORDS

N_FILES = 40


def code_word(i: int) -> str:
    """A made-up word that appears in file i only (BM25 finds it; nothing else does)."""
    return "quor" + "".join("bcdfghjklm"[int(d)] for d in f"{i:03d}") + "ix"


def write_corpus(folder: Path, n: int = N_FILES) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        rnd = random.Random(i)
        paras = []
        for p in range(4):
            sents = []
            for s in range(rnd.randint(4, 6)):
                words = [rnd.choice(WORDS) for _ in range(rnd.randint(8, 14))]
                if p == 1 and s == 0:
                    words.insert(3, code_word(i))
                sents.append(" ".join(words).capitalize() + f" ({i}.{p}.{s}).")
            paras.append(" ".join(sents))
        f = folder / f"note_{i:02d}.txt"
        f.write_text(f"Field note {i}\n\n" + "\n\n".join(paras) + "\n")
        files.append(f)
    return files


# A fresh process that prints the whole store (registry + chunks) and a few searches as JSON.
INSPECT = r"""
import json, sys
from qa_bot.config import Settings
from qa_bot.index.embeddings import embedder_id
from qa_bot.retrieval.hybrid import Retriever
from qa_bot.index.store import Store
s = Settings(store_dir=sys.argv[1], chroma_host=None, collection="qa_bot")
store = Store(s, embedder_id(s)).open_for_read()
reg = {d: {"sha256": r.sha256, "n_chunks": r.n_chunks, "source": r.source} for d, r in store.registry().items()}
chunks = [{"id": c.chunk_id, "doc_id": c.doc_id, "hash": c.content_hash, "text": c.text, "start": c.start, "end": c.end}
          for c in store.iter_chunks()]
r = Retriever(s)
searches = {q: [{"doc_id": h.chunk.doc_id, "hash": h.chunk.content_hash, "id": h.chunk.chunk_id, "text": h.chunk.text}
                for h in r.search(q, 4)] for q in json.loads(sys.argv[2])}
repaired = store.repair() if len(sys.argv) > 3 and sys.argv[3] == "repair" else None
print(json.dumps({"registry": reg, "chunks": chunks, "searches": searches, "repaired": repaired}))
"""


def inspect(store_dir: Path, queries: list[str], repair: bool = False) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", INSPECT, str(store_dir), json.dumps(queries)] + (["repair"] if repair else []),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def expected_chunks(path: Path) -> tuple[str, list]:
    """(sha256, chunks) that ingesting ``path`` must produce."""
    from qa_bot.ingestion.indexer import chunk_document, make_splitter
    from qa_bot.ingestion.loaders import load_document

    doc = load_document(path)
    return doc.sha256, chunk_document(doc, make_splitter(store_settings(path.parent)))


def assert_consistent(store_dir: Path, files: list[Path], sample_searches: int = 8) -> dict:
    picked = files[:: max(1, len(files) // sample_searches)]
    got = inspect(store_dir, [code_word(int(f.stem.split("_")[1])) for f in picked], repair=True)
    reg, chunks = got["registry"], got["chunks"]
    # registry and chunks agree, nothing left for repair to delete
    assert got["repaired"] == 0
    assert set(reg) == {f.stem for f in files}
    ids = [c["id"] for c in chunks]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    texts = [(c["doc_id"], c["text"]) for c in chunks]
    assert len(texts) == len(set(texts)), "duplicate chunk texts"
    # every file's chunks present exactly once, from its current version
    for f in files:
        sha, want = expected_chunks(f)
        rec = reg[f.stem]
        assert rec["sha256"] == sha == hashlib.sha256(f.read_bytes()).hexdigest()
        have = sorted((c["id"], c["text"], c["start"], c["end"]) for c in chunks if c["doc_id"] == f.stem)
        assert have == sorted((c.chunk_id, c.text, c.start, c.end) for c in want), f.name
        assert rec["n_chunks"] == len(want)
    assert len(chunks) == sum(r["n_chunks"] for r in reg.values())
    # search finds each sampled file by its own word, and only live chunks come back
    for f in picked:
        hits = got["searches"][code_word(int(f.stem.split("_")[1]))]
        # (its BM25 hit ties on fused score with the best dense hit, so "among the top k", not "first")
        assert f.stem in [h["doc_id"] for h in hits]
        assert all(reg[h["doc_id"]]["sha256"] == h["hash"] for h in hits)
    return got


def _reader(stream, sink: list[str]) -> None:
    for chunk in iter(lambda: stream.read(256), ""):
        sink.append(chunk)


def test_ingest_killed_mid_run_then_rerun_is_consistent(tmp_path):
    docs, store = tmp_path / "docs", tmp_path / "store"
    files = write_corpus(docs)
    exe = Path(sys.executable).parent / "qa-bot"
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "qa_bot.apps.cli"]) + [
        "ingest",
        str(docs),
        "--store",
        str(store),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    err: list[str] = []
    threading.Thread(target=_reader, args=(proc.stderr, err), daemon=True).start()
    # The progress bar (stderr) counts finished files: kill once a handful are written, well before the end.
    deadline = time.monotonic() + 240
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        counts = [int(m) for m in re.findall(rf"(\d+)/{N_FILES}\b", "".join(err))]
        done = max(counts, default=0)
        if done >= 6:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"ingest finished before it could be killed:\n{''.join(err)[-2000:]}"
    assert done >= 6, f"no progress within the deadline:\n{''.join(err)[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()

    # The half-built store is readable: only committed documents, never chunks of an unfinished write.
    got = inspect(store, [code_word(i) for i in range(N_FILES)])
    committed = set(got["registry"])
    assert 1 <= len(committed) < N_FILES
    for hits in got["searches"].values():
        assert all(got["registry"].get(h["doc_id"], {}).get("sha256") == h["hash"] for h in hits)

    # Re-running the same command finishes the job.
    p = run_cli("ingest", "-q", str(docs), "--store", str(store), timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    m = re.search(r"(\d+) added, (\d+) updated, (\d+) unchanged", p.stdout)
    assert m and int(m.group(1)) == N_FILES - len(committed) and int(m.group(3)) == len(committed), p.stdout
    assert_consistent(store, files)


# Ingest in a process that SIGKILLs itself at an exact point of one document's write protocol.
CRASH_AT = r"""
import os, signal, sys
from qa_bot.apps.cli import main
from qa_bot.index.store import Store
target, point = sys.argv[1], sys.argv[2]
original = Store.write_document

def write_document(self, doc, chunks, vectors):
    if doc.doc_id == target:
        if point.endswith("_reader"):
            # a search in the same process just before this write saves the BM25 mirror of the current version
            from qa_bot.retrieval.hybrid import Retriever
            Retriever(self.settings).search("field note")
        docs = self.docs
        class Registry:  # the registry collection, dying around the commit point
            def __getattr__(_, name):
                return getattr(docs, name)
            def upsert(_, *a, **k):
                if point.startswith("before_commit"):
                    os.kill(os.getpid(), signal.SIGKILL)
                docs.upsert(*a, **k)
                os.kill(os.getpid(), signal.SIGKILL)
        self._docs = Registry()
    return original(self, doc, chunks, vectors)

Store.write_document = write_document
sys.exit(main(["ingest", "-q", *sys.argv[3:]]))
"""


@pytest.mark.parametrize("point", ["before_commit", "after_commit", "after_commit_reader"])
def test_crash_inside_a_document_write_is_repaired(tmp_path, point):
    """SIGKILL between the chunk upsert and the registry commit, or right after the commit (old chunks not yet deleted,
    version not yet bumped), optionally with a BM25 mirror saved just before the write (a reader that searched then)."""
    docs, store = tmp_path / "docs", tmp_path / "store"
    files = write_corpus(docs, 6)
    p = run_cli("ingest", "-q", str(docs), "--store", str(store), timeout=300)
    assert p.returncode == 0, p.stderr
    changed = files[2]
    old_sha = hashlib.sha256(changed.read_bytes()).hexdigest()
    changed.write_text(
        changed.read_text().replace("Field note 2", "Field note 2 (revised)")
        + "\nA new closing line about the quarry.\n"
    )
    new_sha = hashlib.sha256(changed.read_bytes()).hexdigest()
    new_file = docs / "note_99.txt"
    new_file.write_text("Field note 99\n\nThe " + code_word(99) + " ferry crossed the canal at dawn.\n")

    for target in (changed.stem, new_file.stem):
        p = subprocess.run(
            [sys.executable, "-c", CRASH_AT, target, point, str(docs), "--store", str(store)],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=300,
        )
        assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr[-2000:])

        got = inspect(store, [code_word(2), code_word(99)])
        reg = got["registry"]
        # the first crash hits note_02's rewrite; the second run completes it and dies on the new note_99
        live_sha = new_sha if point.startswith("after_commit") or target == new_file.stem else old_sha
        assert reg[changed.stem]["sha256"] == live_sha
        # readers see exactly one version of each document: the committed one
        for hits in got["searches"].values():
            assert all(reg.get(h["doc_id"], {}).get("sha256") == h["hash"] for h in hits)
        versions = {c["hash"] for c in got["chunks"] if c["doc_id"] == changed.stem}
        if target == changed.stem:
            assert versions == {old_sha, new_sha}  # the crash left the other version's chunks behind
            assert (new_file.stem in reg) is False
        if target == new_file.stem and point == "before_commit":
            assert new_file.stem not in reg and any(c["doc_id"] == new_file.stem for c in got["chunks"])  # orphans
            assert all(h["doc_id"] != new_file.stem for h in got["searches"][code_word(99)])

    p = run_cli("ingest", "-q", str(docs), "--store", str(store), timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert_consistent(store, [*files, new_file], sample_searches=7)


# --- a corrupt or missing store -------------------------------------------------------------------------------------
def _one_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    msgs = error_lines(p.stderr)
    assert len(msgs) == 1, p.stderr
    # nothing else on stderr: the message is the only output
    msg = " ".join(msgs[0].split())
    assert " ".join(p.stderr.split()) == msg, p.stderr
    return msg


@pytest.mark.parametrize("garbage", [b"", b"this is not a database\n" * 500, bytes(random.Random(7).randbytes(65536))])
def test_corrupt_store_is_one_clear_message_and_rebuild_fixes_it(seeds_copy, garbage):
    seeded_store = seeds_copy.store_dir
    (seeded_store / "chroma.sqlite3").write_bytes(garbage)
    for args in (
        ["ask", "-g", "extractive", "Who heads NATO's Military Committee?"],
        ["search", "Military Committee"],
        ["docs"],
    ):
        msg = _one_error(run_cli(*args, "--store", str(seeded_store)))
        if garbage:
            assert "cannot open the store" in msg and "qa-bot ingest --rebuild" in msg, msg
        else:  # an empty file is a valid, empty sqlite database: the store just has nothing in it
            assert "no documents are indexed" in msg and "qa-bot ingest" in msg, msg
    # the documented way out
    p = run_cli("ingest", "--rebuild", "-q", str(SEEDS), "--store", str(seeded_store), timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 added" in p.stdout
    p = run_cli(
        "ask",
        "-g",
        "extractive",
        "--json",
        "Who is the chief of NATO's Military Committee?",
        "--store",
        str(seeded_store),
    )
    assert p.returncode == 0, p.stderr
    assert "Rob Bauer" in json.loads(p.stdout)["text"]


def test_missing_store_is_one_clear_message(tmp_path):
    for args in (["ask", "-g", "extractive", "Who heads NATO?"], ["search", "NATO"]):
        msg = _one_error(run_cli(*args, "--store", str(tmp_path / "no-such-store")))
        assert "no documents are indexed" in msg and "qa-bot ingest" in msg, msg


def test_corrupt_store_ingest_without_rebuild_says_how_to_fix(seeds_copy):
    (seeds_copy.store_dir / "chroma.sqlite3").write_bytes(b"garbage" * 1000)
    msg = _one_error(run_cli("ingest", str(SEEDS), "--store", str(seeds_copy.store_dir), timeout=300))
    assert "--rebuild" in msg


# --- the model server going away mid-stream --------------------------------------------------------------------------
def test_model_server_dying_mid_stream_is_a_clear_error_and_the_process_recovers(tmp_path, smollm_gguf):
    from qa_bot import Answer, QABotError, answer, ingest, stream_answer

    settings_store = store_settings(tmp_path / "store", generator="extractive")
    assert ingest([SEEDS], settings_store).ok
    port = free_tcp_port()
    settings = store_settings(
        tmp_path / "store",
        generator="openai",
        openai_base_url=f"http://127.0.0.1:{port}/v1",
        max_retries=0,
        request_timeout=30,
        max_tokens=400,
    )
    question = "What did Stoltenberg and Kishida agree on? Explain every point in detail."
    log = tmp_path / "server.log"
    error = None
    for _attempt in range(3):  # a tiny model can finish before the kill lands; then try again with a new server
        server = LlamaServerProcess(smollm_gguf, port=port, n_ctx=4096, n_threads=2, timeout=120, log_path=log)
        deltas = 0
        try:
            for item in stream_answer(question, settings=settings):
                if isinstance(item, str) and item:
                    deltas += 1
                    if deltas == 1:
                        server.kill()  # the model server dies while the answer is streaming
        except QABotError as e:
            error = e
            break
        except Exception as e:  # anything else is the bug this test is for
            pytest.fail(f"a dying model server raised {type(e).__name__}, not QABotError: {e}")
        finally:
            server.kill()
    assert error is not None, "the stream never broke (the answer finished before the server died, 3 times)"
    msg = str(error)
    assert msg and "\n" not in msg and "Traceback" not in msg
    assert f"127.0.0.1:{port}" in msg, msg  # says which server
    assert len(msg) < 400

    # The same process goes on: the extractive generator needs no server ...
    a = answer("Who is the chief of NATO's Military Committee?", settings=settings, generator="extractive")
    assert isinstance(a, Answer) and "Rob Bauer" in a.text
    # ... and once the model server is back, the openai generator works again (same cached model client).
    server = LlamaServerProcess(smollm_gguf, port=port, n_ctx=4096, n_threads=2, timeout=120, log_path=log)
    try:
        final = None
        for item in stream_answer(question, settings=settings):
            final = item
        assert isinstance(final, Answer) and final.generator == "openai" and final.text
    finally:
        server.kill()
