"""The Chroma-server path: a real `chroma run` subprocess shared by several clients and processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.processes import ChromaServer, free_tcp_port
from support.project import AP_DOC, SEEDS, UNN_DOC, run_cli, store_settings

from qa_bot.apps.cli import main
from qa_bot.index.store import StoreError
from qa_bot.ingestion.indexer import ingest, remove
from qa_bot.retrieval.hybrid import Retriever

HOST = "127.0.0.1"
LIGHTHOUSE = (
    "Skerryvore lighthouse\n\n"
    "Skerryvore lighthouse stands on a reef eleven miles south-west of Tiree. Built by Alan Stevenson between 1838 "
    "and 1844, its granite tower is 48 metres tall, the tallest in Scotland. The last keepers left in 1972."
)
LIGHTHOUSE_QUERY = "Who built the Skerryvore lighthouse granite tower?"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("chroma_server")
    srv = ChromaServer(base / "data", base / "server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def writer(server, tmp_path_factory):
    """The first app process: ingests the seeds into the server."""
    docs = tmp_path_factory.mktemp("srv_docs")
    for f in SEEDS.iterdir():
        (docs / f.name).write_bytes(f.read_bytes())
    settings = server.settings(tmp_path_factory.mktemp("writer_cache"))
    report = ingest([docs], settings)
    assert report.ok and report.added == 2
    return settings


def test_ingest_and_search_through_the_server(server, writer):
    # the data went to the server's directory, not to the client's
    assert (server.path / "chroma.sqlite3").is_file()
    assert not (writer.store.store_dir / "chroma.sqlite3").exists()
    r = Retriever(writer)
    hits = r.search("Which sea were the joint flight drills over?")
    assert hits[0].chunk.doc_id == AP_DOC and "Sea of Japan" in hits[0].chunk.text
    assert hits[0].bm25 is not None and hits[0].dense is not None
    assert set(r.store.registry()) == {AP_DOC, UNN_DOC}
    assert r.store.count() == sum(d.n_chunks for d in r.store.registry().values())
    # the BM25 mirror of a server-backed store is kept apart from any embedded store's
    assert writer.bm25_dir == writer.store.store_dir / "bm25" / f"{HOST}_{server.port}" / "qa_bot"
    assert (writer.bm25_dir / "meta.json").is_file()
    # re-ingest through the server is a no-op too
    again = ingest([Path(hits[0].chunk.source).parent], writer)
    assert again.skipped == 2 and again.chunks == 0


def test_other_processes_see_later_ingests(server, writer, tmp_path):
    # Another app process, with its own BM25 side index, already running and searching.
    reader_cache = tmp_path / "reader_cache"
    reader = Retriever(server.settings(reader_cache))
    before = reader.search(LIGHTHOUSE_QUERY)
    assert all("Skerryvore" not in h.chunk.text for h in before)
    v1 = reader.lexical.version
    # A third process's cache, built now and left on disk at the old version.
    cli_cache = tmp_path / "cli_cache"
    Retriever(server.settings(cli_cache)).search("warm up")
    assert json.loads((server.settings(cli_cache).bm25_dir / "meta.json").read_text())["version"] == v1

    # The first process ingests a new document.
    new = tmp_path / "new"
    new.mkdir()
    (new / "skerryvore.txt").write_text(LIGHTHOUSE)
    assert ingest([new], writer).added == 1

    # The long-lived reader sees it, through both retrievers (its BM25 mirror was rebuilt: the version changed).
    hits = reader.search(LIGHTHOUSE_QUERY)
    assert hits[0].chunk.doc_id == "skerryvore" and "Alan Stevenson" in hits[0].chunk.text
    assert hits[0].bm25 is not None
    assert reader.lexical.version != v1 and any(c.doc_id == "skerryvore" for c in reader.lexical.chunks)

    # So does a separate `qa-bot search` process whose on-disk BM25 cache is stale.
    p = run_cli("search", "--json", "-k", "2", LIGHTHOUSE_QUERY, env=server.env(cli_cache))
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got[0]["doc_id"] == "skerryvore" and got[0]["bm25"] is not None and "Alan Stevenson" in got[0]["text"]
    meta = json.loads((server.settings(cli_cache).bm25_dir / "meta.json").read_text())
    assert meta["version"] == reader.lexical.version  # the stale cache was rebuilt and saved

    # And a removal by the first process disappears from the reader's results.
    assert remove(["skerryvore"], writer) == ["skerryvore"]
    assert all(h.chunk.doc_id != "skerryvore" for h in reader.search(LIGHTHOUSE_QUERY))
    assert reader.lexical.search("Skerryvore Stevenson", 5) == []


def test_unreachable_server_is_a_clear_store_error(tmp_path, capsys):
    port = free_tcp_port()  # nothing listens there
    s = store_settings(tmp_path / "cache", chroma_host=HOST, chroma_port=port)
    with pytest.raises(StoreError) as e:
        Retriever(s)
    msg = str(e.value)
    assert f"cannot open the Chroma server {HOST}:{port}" in msg and "chroma run" in msg
    with pytest.raises(StoreError, match="cannot open the Chroma server"):
        ingest([SEEDS], s, rebuild=True)  # --rebuild never wipes anything for a server
    assert main(["search", "--chroma-host", HOST, "--chroma-port", str(port), "anything"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"error: cannot open the Chroma server {HOST}:{port}" in err and "Traceback" not in err


def test_server_going_away_mid_session_is_a_clear_store_error(tmp_path, capsys):
    base = tmp_path / "srv"
    srv = ChromaServer(base / "data", tmp_path / "server.log")
    try:
        s = srv.settings(tmp_path / "cache")
        docs = tmp_path / "docs"
        docs.mkdir()
        (docs / "skerryvore.txt").write_text(LIGHTHOUSE)
        ingest([docs], s)
        r = Retriever(s)
        assert r.search(LIGHTHOUSE_QUERY)[0].chunk.doc_id == "skerryvore"
    finally:
        srv.stop()
    with pytest.raises(StoreError) as e:
        r.search(LIGHTHOUSE_QUERY)
    assert f"Chroma server {HOST}:{srv.port} failed" in str(e.value) and "chroma run" in str(e.value)
