"""Concurrent writers and readers of one store, every actor a real OS process (issue 11, "Data loss").

- a second writer waits for the first (embedded store: a file lock; Chroma server: a lease with expiry) instead of
  deleting its not-yet-committed chunks in ``repair``, and gives up with a message naming the holder after a bounded
  wait;
- a long-running reader on an embedded store sees another process's ingest (it reopens on a new version stamp) and never
  advises ``--rebuild`` for a read error, and a write landing between its version check and its vector query costs it
  no search (the deleted chunks are left out);
- the same file name in two folders, ingested at once, gives two documents;
- the BM25 mirror is loaded as one consistent copy while another process keeps swapping it;
- a soak: two ingesting processes and a reader for about a minute, then every document exactly once and searchable.

Stores written by other processes are inspected from fresh processes only (see tests/test_faults.py for why).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from support.processes import ChromaServer, ScriptProcess
from support.project import clean_env, error_lines, run_cli, store_settings
from support.words import WORDS

EXE = (
    [str(Path(sys.executable).parent / "qa-bot")]
    if (Path(sys.executable).parent / "qa-bot").exists()
    else [sys.executable, "-m", "qa_bot.apps.cli"]
)

LIGHTHOUSE = (
    "Skerryvore lighthouse\n\n"
    "Skerryvore lighthouse stands on a reef eleven miles south-west of Tiree. Built by Alan Stevenson between 1838 "
    "and 1844, its granite tower is 48 metres tall, the tallest in Scotland. The last keepers left in 1972.\n\n"
    + "The light was automated in 1994 and its keepers' shore station at Hynish became a museum. "
    * 12
)
OTTERS = (
    "Otters in the upper Thames\n\n"
    "Eurasian otters have been recorded breeding in the upper Thames for the first time in forty years. "
    "Ecologists from the river trust counted eleven adults along a twelve-mile stretch near Lechlade."
)
BELL_ROCK = (
    "Bell Rock lighthouse\n\n"
    "The Bell Rock lighthouse off the coast of Angus was designed by Robert Stevenson and completed in 1810. "
    "It is the oldest surviving sea-washed lighthouse in the world."
)
OLD_WORD, NEW_WORD = "flumquistery", "zorblattian"
HARBOUR_V1 = (
    "Harbour of Ardnamurchan\n\n"
    f"The harbour was rebuilt in 1921. Fishermen called the new breakwater the {OLD_WORD} wall."
)
HARBOUR_V2 = (
    f"Harbour of Ardnamurchan\n\nThe harbour was rebuilt in 1923. The new breakwater is known as the {NEW_WORD} mole."
)


# --- helpers --------------------------------------------------------------------------------------------------------
# `qa-bot ingest` that stops at a chosen point of its run until the test creates FLAGS/go, after announcing it in FLAGS:
#   commit   - between its chunk upsert and its registry commit (the window in which an unlocked repair deleted them);
#   registry - right after it first read the document registry (where both runs of a race learn which ids are free).
HOOKED = r"""
import os, sys, time
from pathlib import Path
from qa_bot.apps.cli import main
from qa_bot.index.store import Store

point, flags = sys.argv[1], Path(sys.argv[2])

def pause(tag):
    (flags / f"{tag}-{os.getpid()}").write_text("")
    deadline = time.monotonic() + 120
    while not (flags / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("the test never said go")
        time.sleep(0.05)

if point == "commit":
    original = Store.write_document
    def write_document(self, doc, chunks, vectors):
        registry = self.docs
        class Registry:
            def __getattr__(_, name):
                return getattr(registry, name)
            def upsert(_, *a, **k):
                pause("paused")
                return registry.upsert(*a, **k)
        self._docs = Registry()
        return original(self, doc, chunks, vectors)
    Store.write_document = write_document
elif point == "registry":
    original_registry = Store.registry
    state = {"paused": False}
    def registry(self, doc_ids=None):
        got = original_registry(self, doc_ids)
        if doc_ids is None and not state["paused"]:
            state["paused"] = True
            pause("paused")
        return got
    Store.registry = registry
sys.argv = ["qa-bot", "ingest", "-q", *sys.argv[3:]]  # what an operator would see as the holder's command
sys.exit(main(sys.argv[1:]))
"""

# A fresh process that prints a store's registry, chunks (per document and version) and searches, as JSON.
STATE = r"""
import json, sys
from collections import Counter
from qa_bot.config import get_settings
from qa_bot.index.embeddings import embedder_id
from qa_bot.retrieval.hybrid import Retriever
from qa_bot.index.store import Store
s = get_settings()
store = Store(s, embedder_id(s)).open_for_read()
reg = {d: {"sha256": r.sha256, "n_chunks": r.n_chunks, "source": r.source} for d, r in store.registry().items()}
chunks = list(store.iter_chunks())
r = Retriever(s)
searches = {q: [h.chunk.doc_id for h in r.search(q, 4)] for q in json.loads(sys.argv[1])}
print(json.dumps({
    "registry": reg,
    "ids": [c.chunk_id for c in chunks],
    "per_version": [[d, h, n] for (d, h), n in Counter((c.doc_id, c.content_hash) for c in chunks).items()],
    "searches": searches,
}))
"""


def store_state(env: dict, queries: list[str]) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", STATE, json.dumps(queries)], capture_output=True, text=True, env=env, timeout=300
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def assert_whole(state: dict, expected: set[str]) -> None:
    """Exactly the expected documents, each with all chunks of its registered version and nothing else."""
    reg = state["registry"]
    assert set(reg) == expected
    assert len(state["ids"]) == len(set(state["ids"]))
    have = {(d, h): n for d, h, n in state["per_version"]}
    assert have == {(d, r["sha256"]): r["n_chunks"] for d, r in reg.items()}, (have, reg)


class Proc:
    """A subprocess whose stdout and stderr are collected in the background (a full pipe would block it)."""

    def __init__(self, args: list[str], env: dict) -> None:
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._drains = [
            threading.Thread(target=lambda s=stream, k=sink: [k.append(ln) for ln in s], daemon=True)
            for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for t in self._drains:
            t.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return "".join(self.err)

    def wait(self, timeout: float = 300) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"process {self.proc.args[:3]} did not finish in {timeout} s: {self.stderr()[-2000:]}")
        for t in self._drains:
            t.join(10)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def hooked(point: str, flags: Path, env: dict, *paths: Path) -> Proc:
    return Proc([sys.executable, "-c", HOOKED, point, str(flags), *map(str, paths)], env)


def wait_until(cond, timeout: float, what: str, procs: tuple[Proc, ...] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}: " + " | ".join(p.stderr()[-1500:] for p in procs))
        time.sleep(0.05)


def paused(flags: Path) -> list[int]:
    return [int(f.name.split("-")[1]) for f in flags.glob("paused-*")]


def folder(base: Path, files: dict[str, str]) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (base / name).write_text(text)
    return base


def local_env(store: Path, **extra: str) -> dict:
    return clean_env(QA_BOT_STORE_DIR=str(store), **extra)


def one_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    msgs = error_lines(p.stderr)
    assert len(msgs) == 1, p.stderr
    return " ".join(msgs[0].split())


# --- 1. a second writer waits instead of deleting the first one's uncommitted chunks ----------------------------------
def _second_writer_waits(
    flags: Path, first_env: dict, second_env: dict, b_docs: Path, a_docs: Path, where: str
) -> Proc:
    """B pauses between its chunk upsert and its commit; A must neither run its repair meanwhile nor wait forever."""
    b = hooked("commit", flags, first_env, b_docs)
    wait_until(lambda: paused(flags), 180, "writer B to reach its commit point", (b,))

    # A bounded wait ends in one clear line naming the holder (its pid and command).
    p = run_cli("ingest", "-q", str(a_docs), env={**second_env, "QA_BOT_WRITE_WAIT": "2"}, timeout=300)
    msg = one_error(p)
    assert f"the {where}" in msg and f"is being written by pid {b.pid} on " in msg and "ingest" in msg, msg
    assert "gave up after waiting 2 s" in msg and "QA_BOT_WRITE_WAIT" in msg, msg
    assert "waiting for the" in p.stderr  # it said why it was waiting before giving up
    return b


def test_second_ingest_waits_for_the_first_on_an_embedded_store(tmp_path):
    store, flags = tmp_path / "store", tmp_path / "flags"
    flags.mkdir()
    b_docs = folder(tmp_path / "b", {"skerryvore.txt": LIGHTHOUSE})
    a_docs = folder(tmp_path / "a", {"otters.txt": OTTERS})
    env = local_env(store)
    b = _second_writer_waits(flags, env, env, b_docs, a_docs, f"store {store}")

    # With time to wait, A says it is waiting, and does its work once B has committed.
    a = Proc([*EXE, "ingest", "-q", str(a_docs)], {**env, "QA_BOT_WRITE_WAIT": "120"})
    wait_until(
        lambda: "waiting for the store" in a.stderr() or a.proc.poll() is not None, 120, "writer A to wait", (a,)
    )
    assert a.proc.poll() is None, f"A did not wait for B: {a.stderr()}"
    assert f"pid {b.pid}" in a.stderr()
    (flags / "go").touch()
    assert b.wait() == 0, b.stderr()
    assert a.wait() == 0, a.stderr()
    assert "1 added" in "".join(a.out) and "1 added" in "".join(b.out)

    state = store_state(env, ["Who built the Skerryvore granite tower?", "Where did ecologists count otters?"])
    assert_whole(state, {"skerryvore", "otters"})
    assert state["registry"]["skerryvore"]["n_chunks"] >= 2  # several chunks, all of them kept
    assert state["searches"]["Who built the Skerryvore granite tower?"][0] == "skerryvore"
    assert state["searches"]["Where did ecologists count otters?"][0] == "otters"


def test_repair_at_400_documents_deletes_exactly_the_broken_ones(tmp_path):
    """Repair decides per document (chunks counted with a doc_id filter), so on a 400-document / 2,000-chunk store it
    removes an interrupted write's orphans and the record of a document missing a chunk, and nothing else."""
    import random

    from qa_bot.index.embeddings import embedder_id
    from qa_bot.index.store import Store
    from qa_bot.schema import Chunk, Document

    s = store_settings(tmp_path / "store")
    store = Store(s, embedder_id(s)).open_for_write()
    rnd = random.Random(3)

    def doc(i: int, version: str = "v1") -> tuple[Document, list[Chunk], list[list[float]]]:
        text = f"document {i} {version} " * 20
        d = Document(f"d{i:03d}", f"title {i}", f"/docs/d{i:03d}.txt", text, f"{version}-{i:03d}")
        chunks = [
            Chunk(
                f"{d.doc_id}::{d.sha256}::{k:05d}",
                d.doc_id,
                d.title,
                d.source,
                k * 10,
                k * 10 + 10,
                text[k * 10 : k * 10 + 10],
                d.sha256,
            )
            for k in range(5)
        ]
        return d, chunks, [[rnd.random() for _ in range(8)] for _ in chunks]

    def put(chunks: list[Chunk], vecs: list[list[float]]) -> None:
        store.chunks.upsert(
            ids=[c.chunk_id for c in chunks],
            embeddings=vecs,
            documents=[c.text for c in chunks],
            metadatas=[c.metadata() for c in chunks],
        )

    # Committed documents, written in bulk (write_document's per-document protocol is tested elsewhere and slow here).
    docs = [doc(i) for i in range(400)]
    put([c for _, cs, _ in docs for c in cs], [v for _, _, vs in docs for v in vs])
    store.docs.upsert(
        ids=[d.doc_id for d, _, _ in docs],
        embeddings=[[1.0]] * 400,
        documents=[d.text for d, _, _ in docs],
        metadatas=[{"title": d.title, "source": d.source, "sha256": d.sha256, "n_chunks": 5} for d, _, _ in docs],
    )
    assert store.count() == 2000
    t0 = time.perf_counter()
    assert store.repair() == 0
    repair_s = time.perf_counter() - t0
    assert len(store.registry()) == 400 and store.count() == 2000

    # An interrupted update of d007 (new chunks, no commit), a new document with no commit, a chunk of d123 lost.
    _, orphans7, vecs7 = doc(7, "v2")
    _, orphans500, vecs500 = doc(500)
    put(orphans7 + orphans500, vecs7 + vecs500)
    store.chunks.delete(ids=["d123::v1-123::00002"])
    assert store.repair() == 10
    reg = store.registry()
    assert set(reg) == {f"d{i:03d}" for i in range(400)} - {"d123"}  # d123 will be written again by the next ingest
    assert store.count() == 399 * 5 and reg["d007"].sha256 == "v1-007"
    print(f"\n400 documents / 2,000 chunks: clean repair {repair_s:.2f} s")


@pytest.fixture()
def chroma(tmp_path):
    srv = ChromaServer(tmp_path / "chroma_data", tmp_path / "chroma.log")
    yield srv
    srv.stop()


def test_writers_on_a_chroma_server_take_turns_through_a_lease_that_expires(chroma, tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    b_docs = folder(tmp_path / "b", {"skerryvore.txt": LIGHTHOUSE})
    a_docs = folder(tmp_path / "a", {"otters.txt": OTTERS})
    # B holds a short lease; A is another app process with its own folder
    b_env = {**chroma.env(tmp_path / "app_b"), "QA_BOT_WRITE_LEASE_SECONDS": "6"}
    a_env = chroma.env(tmp_path / "app_a")
    b = _second_writer_waits(flags, b_env, a_env, b_docs, a_docs, f"Chroma server 127.0.0.1:{chroma.port}")

    # B dies holding the lease (renewals stop): A waits for it to expire, then takes over and repairs B's orphans.
    a = Proc([*EXE, "ingest", "-q", str(a_docs)], {**a_env, "QA_BOT_WRITE_WAIT": "120"})
    wait_until(
        lambda: "waiting for the Chroma server" in a.stderr() or a.proc.poll() is not None,
        120,
        "writer A to wait",
        (a,),
    )
    assert a.proc.poll() is None, f"A did not wait for B: {a.stderr()}"
    t_kill = time.monotonic()
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    assert a.wait() == 0, a.stderr()
    assert time.monotonic() - t_kill < 60  # the lease expired; A did not wait out its whole 120 s
    state = store_state(a_env, ["Where did ecologists count otters?"])
    assert_whole(state, {"otters"})  # B's uncommitted chunks were repaired away, nothing else lost
    assert state["searches"]["Where did ecologists count otters?"][0] == "otters"

    # Two writers started together both finish (one after the other), and everything is there once.
    (b_docs / "bell_rock.txt").write_text(BELL_ROCK)
    procs = [Proc([*EXE, "ingest", "-q", str(d)], env) for d, env in ((b_docs, b_env), (a_docs, a_env))]
    assert [p.wait() for p in procs] == [0, 0], [p.stderr() for p in procs]
    state = store_state(a_env, ["Who designed the Bell Rock lighthouse?"])
    assert_whole(state, {"otters", "skerryvore", "bell_rock"})
    assert state["searches"]["Who designed the Bell Rock lighthouse?"][0] == "bell_rock"


# --- 2. a long-running reader sees another process's ingest -----------------------------------------------------------
READER = r"""
import json, os, sys
from qa_bot.config import get_settings
from qa_bot.retrieval.hybrid import Retriever
from qa_bot.schema import QABotError
r = Retriever(get_settings())
print(json.dumps({"ready": os.getpid()}), flush=True)
for line in sys.stdin:
    q = json.loads(line)
    try:
        hits = r.search(q["query"], 4)
        print(json.dumps({"hits": [{"doc_id": h.chunk.doc_id, "text": h.chunk.text} for h in hits]}), flush=True)
    except QABotError as e:
        print(json.dumps({"error": str(e)}), flush=True)
"""


class Reader(ScriptProcess):
    """A long-lived searcher process, like a web-app worker, queried over stdin/stdout."""

    def __init__(self, env: dict) -> None:
        super().__init__(READER, env, ready_timeout=180)
        self.pid = self.ready["ready"]

    def search(self, query: str) -> dict:
        got = self.ask({"query": query})
        assert "--rebuild" not in json.dumps(got)  # a read error is never answered with the destructive advice
        return got


def test_running_reader_sees_ingests_by_another_process_on_an_embedded_store(tmp_path):
    docs = folder(tmp_path / "docs", {"harbour.txt": HARBOUR_V1, "otters.txt": OTTERS})
    env = local_env(tmp_path / "store")
    assert run_cli("ingest", "-q", str(docs), env=env).returncode == 0
    reader = Reader(env)
    try:
        got = reader.search(f"What was the {OLD_WORD} wall?")
        assert got["hits"][0]["doc_id"] == "harbour"

        # another process adds a document: the running reader finds it
        (docs / "bell_rock.txt").write_text(BELL_ROCK)
        assert "1 added" in run_cli("ingest", "-q", str(docs), env=env).stdout
        got = reader.search("Who designed the Bell Rock lighthouse?")
        assert "error" not in got, got["error"]
        assert got["hits"][0]["doc_id"] == "bell_rock" and "Robert Stevenson" in got["hits"][0]["text"]

        # ... changes one: the new text is found (a made-up word only BM25 knows), the old one is gone
        (docs / "harbour.txt").write_text(HARBOUR_V2)
        assert "1 updated" in run_cli("ingest", "-q", str(docs), env=env).stdout
        got = reader.search(f"the {NEW_WORD} mole")
        assert "error" not in got, got["error"]
        assert got["hits"][0]["doc_id"] == "harbour" and NEW_WORD in got["hits"][0]["text"]
        got = reader.search(f"What was the {OLD_WORD} wall?")
        assert "error" not in got and all(OLD_WORD not in h["text"] for h in got["hits"])

        # ... and removes one: the reader stops returning it
        (docs / "otters.txt").unlink()
        assert "1 removed" in run_cli("ingest", "-q", str(docs), env=env).stdout
        got = reader.search("Where did ecologists count otters?")
        assert "error" not in got and all(h["doc_id"] != "otters" for h in got["hits"])
        assert reader.proc.poll() is None
    finally:
        reader.stop()


STALE_QUERIER = r"""
import json, os, sys
from qa_bot.config import get_settings
from qa_bot.index.store import Store
from qa_bot.retrieval.hybrid import Retriever
reopens = 0
_reopen = Store.reopen
def counting_reopen(self):
    global reopens
    reopens += 1
    _reopen(self)
Store.reopen = counting_reopen
r = Retriever(get_settings())
print(json.dumps({"ready": os.getpid()}), flush=True)
for line in sys.stdin:
    q = json.loads(line)
    # straight to the vector index, without the version check a search makes first: the window a write can land in
    got = r.store.query(r.embeddings.embed_query(q["query"]), 8)
    print(json.dumps({"doc_ids": [c.doc_id for c, _, _ in got], "texts": [c.text for c, _, _ in got],
                      "reopens": reopens}), flush=True)
"""


def test_a_chunk_deleted_after_the_reader_loaded_its_index_is_left_out_without_an_error(tmp_path):
    """The soak's one lost search: a write landing between a reader's version check and its vector query leaves the
    reader's in-memory index with ids whose records are gone (chromadb returns them with no text or metadata)."""
    docs = folder(tmp_path / "docs", {"harbour.txt": HARBOUR_V1, "otters.txt": OTTERS})
    env = local_env(tmp_path / "store")
    assert run_cli("ingest", "-q", str(docs), env=env).returncode == 0
    reader = ScriptProcess(STALE_QUERIER, env, ready_timeout=180)
    try:
        before = reader.ask({"query": "Where did ecologists count otters?"})
        assert "otters" in before["doc_ids"]  # the reader's vector index now holds the otters chunks
        (docs / "otters.txt").unlink()
        assert "1 removed" in run_cli("ingest", "-q", str(docs), env=env).stdout
        after = reader.ask({"query": "Where did ecologists count otters?"})
        assert after["doc_ids"] and set(after["doc_ids"]) == {"harbour"}
        assert all(after["texts"])
        assert after["reopens"] == 0  # answered from the stale index, not by failing and retrying
    finally:
        reader.stop()


# --- 3. the same file name in two folders, ingested at once -----------------------------------------------------------
def test_same_file_name_in_two_folders_ingested_at_once_keeps_both(tmp_path):
    store, flags = tmp_path / "store", tmp_path / "flags"
    flags.mkdir()
    one = folder(tmp_path / "one", {"notes.txt": OTTERS})
    two = folder(tmp_path / "two", {"notes.txt": BELL_ROCK})
    env = local_env(store, QA_BOT_WRITE_WAIT="120")
    assert run_cli("ingest", "-q", str(folder(tmp_path / "seed", {"harbour.txt": HARBOUR_V1})), env=env).returncode == 0
    # Both runs stop right after reading the registry (which ids are taken) until both had the chance to get there.
    procs = [hooked("registry", flags, env, d) for d in (one, two)]
    # Without a writer lock both runs get there; with it, the second one waits for the lock instead.
    wait_until(
        lambda: len(paused(flags)) == 2 or any("waiting for the store" in p.stderr() for p in procs),
        180,
        "both runs to read the registry, or one to wait for the other",
        tuple(procs),
    )
    (flags / "go").touch()
    assert [p.wait() for p in procs] == [0, 0], [p.stderr() for p in procs]
    assert all("1 added" in "".join(p.out) for p in procs)

    state = store_state(env, ["Where did ecologists count otters?", "Who designed the Bell Rock lighthouse?"])
    reg = state["registry"]
    assert_whole(state, set(reg))
    by_folder = {Path(r["source"]).parent.name: d for d, r in reg.items()}
    assert set(by_folder) == {"one", "two", "seed"} and len(reg) == 3
    assert state["searches"]["Where did ecologists count otters?"][0] == by_folder["one"]
    assert state["searches"]["Who designed the Bell Rock lighthouse?"][0] == by_folder["two"]
    assert sum("waiting for the store" in p.stderr() for p in procs) == 1  # the runs took turns


# --- 4. the BM25 mirror read while another process swaps it -----------------------------------------------------------
# Saves two different indexes of the same folder in turn, as fast as it can, through LexicalIndex's real save path.
SWAPPER = r"""
import sys, time
from pathlib import Path
from qa_bot.retrieval.lexical import LexicalIndex
from qa_bot.schema import Chunk

class Source:  # stands in for the Chroma store: the chunks of one version
    def __init__(self, tag, n):
        self.tag, self.n = tag, n
    def iter_chunks(self):
        for i in range(self.n):
            text = f"passage {i} of copy {self.tag} about harbour {self.tag}{i} and lighthouse keepers"
            yield Chunk(f"{self.tag}::{i}", self.tag, self.tag, self.tag, 0, len(text), text, self.tag)
    def version(self):
        return self.tag

index = LexicalIndex(Path(sys.argv[1]))
sources = [Source("a", 30), Source("b", 70)]
end = time.monotonic() + float(sys.argv[2])
i = 0
while time.monotonic() < end:
    src = sources[i % 2]
    index._build(src, src.tag)
    i += 1
print(i)
"""


def test_bm25_mirror_loads_one_consistent_copy_while_another_process_swaps_it(tmp_path):
    from qa_bot.retrieval.lexical import LexicalIndex

    directory = tmp_path / "bm25" / "local" / "qa_bot"
    swapper = Proc([sys.executable, "-c", SWAPPER, str(directory), "6"], clean_env())
    wait_until(lambda: (directory / "meta.json").exists(), 120, "the first saved index", (swapper,))
    loads = mixed = 0
    while swapper.proc.poll() is None:
        for version, n in (("a", 30), ("b", 70)):
            index = LexicalIndex(directory)
            if not index._load(version):
                continue  # swapped away, or the other copy: the caller would rebuild
            loads += 1
            docs = {c.doc_id for c in index.chunks}
            if docs != {version} or len(index.chunks) != n or int(index.retriever.scores["num_docs"]) != n:
                mixed += 1
                continue
            hits = index.search(f"harbour {version}{n - 1}", 1)
            if not hits or hits[0][0].chunk_id != f"{version}::{n - 1}":
                mixed += 1
    assert swapper.wait() == 0, swapper.stderr()
    swaps = int("".join(swapper.out).strip())
    print(f"bm25 swap race: {swaps} swaps, {loads} loads, {mixed} inconsistent")
    assert swaps >= 20 and loads >= 20
    assert mixed == 0
    assert not list(directory.parent.glob(".bm25-*")) and not list(
        directory.parent.glob("*.old-*")
    )  # nothing left over


# --- 5. soak: two writers and a reader --------------------------------------------------------------------------------


def code_word(writer: int, i: int) -> str:
    """A made-up word found in one file only (BM25 finds it, nothing else does)."""
    return "quor" + "".join("bcdfghjklm"[int(d)] for d in f"{writer}{i:03d}") + "ix"


def note_text(writer: int, i: int, revision: int) -> str:
    import random

    rnd = random.Random(writer * 1000 + i * 10 + revision)
    sents = [" ".join(rnd.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(rnd.randint(6, 14))]
    sents.insert(2, f"The {code_word(writer, i)} ledger was revised {revision} times.")
    return f"Field note {writer}-{i}\n\n" + " ".join(sents) + "\n"


# Each writer process repeats, until its deadline: add a file, change another, delete a third, ingest the folder.
# Every writer's folder also holds common.txt: the same name in both folders, to be kept apart.
WRITER = r"""
import json, sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[4], str(Path(sys.argv[4]).parent)]  # this folder, and tests/ for support
from test_writers import note_text
from qa_bot.config import get_settings
from qa_bot.ingestion.indexer import ingest

writer, folder, seconds = int(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
settings = get_settings()
end = time.monotonic() + seconds
rounds, nxt = 0, 0
def write(i, rev):
    (folder / f"note_{i:03d}.txt").write_text(note_text(writer, i, rev))
for _ in range(4):
    write(nxt, 0); nxt += 1
(folder / "common.txt").write_text(note_text(writer, 999, 0))
while True:
    report = ingest([folder], settings)
    assert report.ok, report.failed
    rounds += 1
    if time.monotonic() > end:
        break
    time.sleep(0.5)  # the other writer polls for the lock: don't take it straight back
    write(nxt, 0); nxt += 1
    existing = sorted(folder.glob("note_*.txt"))
    write(int(existing[rounds % len(existing)].stem.split("_")[1]), rounds)
    if len(existing) > 5:
        existing[0].unlink()
print(json.dumps({"rounds": rounds}))
"""

QUERIER = r"""
import json, sys, time
from qa_bot.config import get_settings
from qa_bot.retrieval.hybrid import Retriever
from qa_bot.schema import QABotError
r = Retriever(get_settings())
words = json.loads(sys.argv[1])
stop = sys.argv[2]
queries = errors = 0
messages = []
import os
i = 0
while not os.path.exists(stop):
    try:
        r.search(words[i % len(words)], 4)
    except QABotError as e:
        errors += 1
        messages.append(str(e)[:300])
    queries += 1
    i += 1
print(json.dumps({"queries": queries, "errors": errors, "messages": messages[:5]}))
"""


@pytest.mark.soak
def test_soak_two_writers_and_a_reader(tmp_path):
    """~1 minute: two ingesting processes and a serving process searching in a loop; then every document is there once,
    with the right chunks, and searchable."""
    from qa_bot.ingestion.indexer import chunk_document, make_splitter
    from qa_bot.ingestion.loaders import load_document

    store = tmp_path / "store"
    env = local_env(store, QA_BOT_WRITE_WAIT="120")
    seed = folder(tmp_path / "seed", {"harbour.txt": HARBOUR_V1})
    assert run_cli("ingest", "-q", str(seed), env=env).returncode == 0
    folders = [tmp_path / f"w{w}" for w in (1, 2)]
    for f in folders:
        f.mkdir()
    stop = tmp_path / "stop-reader"
    t0 = time.monotonic()
    words = [code_word(w, i) for w in (1, 2) for i in range(12)]
    reader = Proc([sys.executable, "-c", QUERIER, json.dumps(words), str(stop)], env)
    tests_dir = str(Path(__file__).resolve().parent)
    writers = [
        Proc([sys.executable, "-c", WRITER, str(w), str(f), "25", tests_dir], env)
        for w, f in zip((1, 2), folders, strict=True)
    ]
    rcs = [w.wait(120) for w in writers]
    stop.touch()
    assert reader.wait(60) == 0, reader.stderr()
    assert rcs == [0, 0], [w.stderr()[-2000:] for w in writers]
    rounds = [json.loads("".join(w.out))["rounds"] for w in writers]
    served = json.loads("".join(reader.out))

    # What must be there: the seed and every file now in the writers' folders, each at its current content.
    files = [seed / "harbour.txt"] + [p for f in folders for p in sorted(f.glob("*.txt"))]
    splitter = make_splitter(store_settings(tmp_path))
    queries = [
        code_word(int(p.parent.name[1]), 999 if p.stem == "common" else int(p.stem.split("_")[1])) for p in files[1:]
    ]
    state = store_state(env, queries)
    reg, per_version = state["registry"], {(d, h): n for d, h, n in state["per_version"]}
    by_source = Counter(r["source"] for r in reg.values())
    lost = duplicated = wrong = unsearchable = 0
    for p, q in zip(files, [None, *queries], strict=True):
        doc = load_document(p)
        mine = [d for d, r in reg.items() if r["source"] == doc.source]
        if not mine:
            lost += 1
            continue
        duplicated += by_source[doc.source] - 1
        rec = reg[mine[0]]
        want = len(chunk_document(doc, splitter))
        if rec["sha256"] != doc.sha256 or rec["n_chunks"] != want or per_version.get((mine[0], doc.sha256)) != want:
            wrong += 1
        if q is not None and mine[0] not in state["searches"][q]:
            unsearchable += 1
    extra = len(reg) - len(files)  # documents whose files were deleted but are still indexed
    duplicated += len(state["ids"]) - len(set(state["ids"]))
    stray = sum(n for (d, h), n in per_version.items() if d not in reg or reg[d]["sha256"] != h)
    elapsed = time.monotonic() - t0
    print(
        f"\nsoak {elapsed:.0f} s: writer rounds {rounds}, reader queries {served['queries']} "
        f"(errors {served['errors']}); "
        f"documents {len(files)}: lost {lost}, duplicated {duplicated}, wrong chunk count {wrong}, "
        f"unsearchable {unsearchable}, "
        f"not pruned {extra}, stray chunks {stray}"
    )
    assert min(rounds) >= 2 and served["queries"] >= 10
    assert served["errors"] == 0, served["messages"]
    assert (lost, duplicated, wrong, unsearchable, extra, stray) == (0, 0, 0, 0, 0, 0)
    assert sum(1 for r in reg.values() if Path(r["source"]).name == "common.txt") == 2
