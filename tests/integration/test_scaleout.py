"""Scale-out: several app processes share one real `chroma run` server (docs/DEPLOY.md).

Every actor is its own OS process: the Chroma server, a writer (`qa-bot ingest` runs) and readers (`qa-bot search` runs,
and a long-lived searcher that keeps one ``Retriever`` like a web-app worker). Each app process has its own store
folder, which only holds its BM25 side index; the chunks live in the server. After the writer changes a file, the
long-lived reader's BM25 index must match the server collection: the old version's text is gone from it and from every
result, and the new text is found by a query only BM25 can answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.processes import ChromaServer, ScriptProcess
from support.project import run_cli, store_settings

HOST = "127.0.0.1"
OLD_WORD = "flumquistery"  # only in version 1 of alpha.txt
NEW_WORD = "zorblattian"  # only in version 2 of alpha.txt

ALPHA_V1 = (
    "Harbour of Ardnamurchan\n\n"
    "The harbour of Ardnamurchan was rebuilt in 1921 after a winter storm destroyed the old pier. Local fishermen "
    f"called the new breakwater the {OLD_WORD} wall, after the engineer's odd habit of naming every stone.\n\n"
    "Ferries to the islands of Coll and Tiree leave from the harbour twice a day in summer."
)
ALPHA_V2 = (
    "Harbour of Ardnamurchan\n\n"
    "The harbour of Ardnamurchan was rebuilt in 1923 after two winter storms destroyed the old pier. The new "
    f"breakwater is known as the {NEW_WORD} mole, a name taken from the shipyard that cast its concrete blocks.\n\n"
    "Ferries to the islands of Coll and Tiree leave from the harbour three times a day in summer."
)
BETA = (
    "Observatory on Ben Nevis\n\n"
    "A weather observatory operated on the summit of Ben Nevis from 1883 to 1904. Its staff recorded hourly "
    "observations of temperature, pressure and wind through the winter, and the building's ruins remain on the summit."
)
GAMMA = (
    "Bell Rock lighthouse\n\n"
    "The Bell Rock lighthouse, off the coast of Angus, was completed in 1810 and is the oldest surviving sea-washed "
    "lighthouse in the world. Robert Stevenson designed it with the engineer John Rennie."
)

# The long-lived reader: one Retriever for its whole life, queried over stdin/stdout (one JSON object per line).
READER = r"""
import json, os, sys
from qa_bot.config import get_settings
from qa_bot.retrieval.hybrid import Retriever
r = Retriever(get_settings())
print(json.dumps({"ready": os.getpid()}), flush=True)
for line in sys.stdin:
    q = json.loads(line)
    hits = r.search(q["query"], q.get("k", 4))
    raw = r.lexical.search(q["query"], 50)  # the BM25 side index itself, before the registry filter
    print(json.dumps({
        "hits": [h.to_dict() for h in hits],
        "lexical": [{"chunk_id": c.chunk_id, "doc_id": c.doc_id, "text": c.text, "score": s} for c, s in raw],
        "bm25_texts": [c.text for c in r.lexical.chunks],
        "lexical_version": r.lexical.version,
        "server_version": r.store.version(),
        "pid": os.getpid(),
    }), flush=True)
"""


class Reader(ScriptProcess):
    """The long-lived searcher process."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(READER, env)
        self.pid = self.ready["ready"]

    def search(self, query: str, k: int = 4) -> dict:
        return self.ask({"query": query, "k": k})


@pytest.fixture()
def chroma(tmp_path):
    srv = ChromaServer(tmp_path / "chroma_data", tmp_path / "chroma.log")
    yield srv
    srv.stop()


def ingest_cli(env: dict[str, str], *paths: Path) -> str:
    p = run_cli("ingest", "-q", *map(str, paths), env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def search_cli(env: dict[str, str], query: str, k: int = 4) -> list[dict]:
    p = run_cli("search", "--json", "-k", str(k), query, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


def server_chunks(chroma: ChromaServer, tmp_path: Path) -> tuple[dict, list]:
    """(registry, chunks) straight from the server."""
    from qa_bot.index.embeddings import embedder_id
    from qa_bot.index.store import Store

    s = store_settings(tmp_path / "inspector", chroma_host=HOST, chroma_port=chroma.port)
    store = Store(s, embedder_id(s)).open_for_read()
    return store.registry(), list(store.iter_chunks())


def test_processes_share_one_chroma_server_and_stay_consistent(chroma, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "alpha.txt").write_text(ALPHA_V1)
    (docs / "beta.txt").write_text(BETA)
    writer_env = chroma.env(tmp_path / "app_writer")
    reader_env = chroma.env(tmp_path / "app_reader")

    # Process 1 ingests; the data lives in the server, not in the app's folder.
    out = ingest_cli(writer_env, docs)
    assert "2 added" in out
    assert (chroma.path / "chroma.sqlite3").is_file()
    assert not (tmp_path / "app_writer" / "chroma.sqlite3").exists()

    # Process 2 (a separate `qa-bot search`, another app folder) sees it, through BM25 and dense retrieval.
    hits = search_cli(reader_env, f"What was the {OLD_WORD} wall?")
    assert hits[0]["doc_id"] == "alpha" and OLD_WORD in hits[0]["text"] and hits[0]["bm25"] is not None
    hits = search_cli(reader_env, "weather observatory on the summit of Ben Nevis")
    assert hits[0]["doc_id"] == "beta" and hits[0]["dense"] > 0.5

    # A long-lived reader process (like a web-app worker) starts and searches.
    reader = Reader(reader_env)
    try:
        got = reader.search(OLD_WORD)
        assert got["hits"][0]["doc_id"] == "alpha" and OLD_WORD in got["hits"][0]["text"]
        v1 = got["lexical_version"]
        assert v1 == got["server_version"]

        # The writer adds a document: the running reader sees it.
        (docs / "gamma.txt").write_text(GAMMA)
        assert "1 added" in ingest_cli(writer_env, docs)
        got = reader.search("Who designed the Bell Rock lighthouse?")
        assert got["hits"][0]["doc_id"] == "gamma" and "Robert Stevenson" in got["hits"][0]["text"]
        assert got["lexical_version"] == got["server_version"] != v1

        # The writer changes alpha.txt: the old version must vanish everywhere, the new one be found by BM25 alone.
        (docs / "alpha.txt").write_text(ALPHA_V2)
        assert "1 updated" in ingest_cli(writer_env, docs)
        registry, chunks = server_chunks(chroma, tmp_path)
        assert not any(OLD_WORD in c.text for c in chunks)
        assert {c.doc_id for c in chunks} == set(registry) == {"alpha", "beta", "gamma"}
        assert len(chunks) == len({c.chunk_id for c in chunks}) == sum(d.n_chunks for d in registry.values())

        got = reader.search(NEW_WORD)  # a made-up word: only the BM25 side can find it
        assert got["lexical_version"] == got["server_version"]
        assert got["lexical"] and got["lexical"][0]["doc_id"] == "alpha" and NEW_WORD in got["lexical"][0]["text"]
        top = got["hits"][0]
        assert top["doc_id"] == "alpha" and NEW_WORD in top["text"] and top["bm25"] is not None
        # The reader's BM25 index holds exactly the server's chunks: nothing stale from version 1.
        assert sorted(got["bm25_texts"]) == sorted(c.text for c in chunks)
        got = reader.search(f"What was the {OLD_WORD} wall?")
        assert got["lexical"] == []  # the old word is gone from the side index
        assert all(OLD_WORD not in h["text"] for h in got["hits"])
        assert all(h["chunk_id"] in {c.chunk_id for c in chunks} for h in got["hits"])

        # Its index on disk was saved at the server's version, so the next process starting there loads it.
        bm25_meta = tmp_path / "app_reader" / "bm25" / f"{HOST}_{chroma.port}" / "qa_bot" / "meta.json"
        assert json.loads(bm25_meta.read_text())["version"] == got["server_version"]

        # A one-shot `qa-bot search` in the reader's folder agrees.
        hits = search_cli(reader_env, NEW_WORD)
        assert hits[0]["doc_id"] == "alpha" and NEW_WORD in hits[0]["text"]

        # The writer's folder loses a file (pruned on the next ingest): the running reader stops returning it.
        (docs / "beta.txt").unlink()
        assert "1 removed" in ingest_cli(writer_env, docs)
        got = reader.search("weather observatory on the summit of Ben Nevis")
        assert all(h["doc_id"] != "beta" for h in got["hits"]) and all(x["doc_id"] != "beta" for x in got["lexical"])
        assert reader.proc.poll() is None and got["pid"] == reader.pid  # the same process all along
    finally:
        reader.stop()


def test_two_writers_on_one_server_do_not_duplicate(chroma, tmp_path):
    """Two app processes ingesting the same folder at the same time leave one copy of each document."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in (("alpha.txt", ALPHA_V1), ("beta.txt", BETA), ("gamma.txt", GAMMA)):
        (docs / name).write_text(text)
    exe = Path(sys.executable).parent / "qa-bot"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "qa_bot.apps.cli"]
    procs = [
        subprocess.Popen(
            [*cmd, "ingest", "-q", str(docs)],
            env=chroma.env(tmp_path / f"app{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out + err
    # A third ingest repairs whatever the race left (readers ignore it meanwhile) and changes nothing else.
    ingest_cli(chroma.env(tmp_path / "app2"), docs)
    registry, chunks = server_chunks(chroma, tmp_path)
    assert set(registry) == {"alpha", "beta", "gamma"}
    assert len(chunks) == len({c.chunk_id for c in chunks}) == sum(d.n_chunks for d in registry.values())
    for d in registry.values():
        assert sum(c.doc_id == d.doc_id for c in chunks) == d.n_chunks
        assert all(c.content_hash == d.sha256 for c in chunks if c.doc_id == d.doc_id)
    hits = search_cli(chroma.env(tmp_path / "app3"), f"What was the {OLD_WORD} wall?")
    assert hits[0]["doc_id"] == "alpha"
    assert len({h["text"] for h in hits}) == len(hits)  # no duplicate passages
    assert os.path.isdir(chroma.path)
