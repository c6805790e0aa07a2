"""Hybrid retrieval (dense + BM25, RRF, MMR) over a real store built from the seeds."""

from __future__ import annotations

import json

import pytest
from support.project import AP_DOC, UNN_DOC, store_settings

from qa_bot.apps.cli import main
from qa_bot.index.store import StoreError
from qa_bot.ingestion.indexer import ingest
from qa_bot.retrieval.hybrid import Retriever
from qa_bot.retrieval.lexical import LexicalIndex
from qa_bot.schema import QABotError
from qa_bot.text import passage_terms


@pytest.fixture(scope="module")
def retriever(seeds) -> Retriever:
    return Retriever(seeds.settings)


def test_sea_of_japan_chunk_ranks_first(retriever):
    hits = retriever.search("Which sea were the joint flight drills over?")
    top = hits[0]
    assert top.rank == 1 and top.chunk.doc_id == AP_DOC
    assert "Sea of Japan" in top.chunk.text
    assert top.dense is not None and top.dense > 0.4  # both retrievers found it
    assert top.bm25 is not None and top.bm25 > 0
    assert top.score > max(h.score for h in hits[1:])


@pytest.mark.parametrize(
    ("question", "doc", "needle"),
    [
        ("Who did Stoltenberg give an interview to?", UNN_DOC, "Kyodo News"),
        ("Who is the chief of NATO's Military Committee?", AP_DOC, "Rob Bauer"),
        ("Koji Yamazaki", AP_DOC, "Yamazaki"),  # a bare name: the lexical side must carry it
    ],
)
def test_other_questions_find_their_passage(retriever, question, doc, needle):
    # in the top two: with two retrievers, rank (1, 2) and rank (2, 1) fuse to the same RRF score
    hits = retriever.search(question, k=2)
    assert any(h.chunk.doc_id == doc and needle in h.chunk.text for h in hits)


def test_hits_are_ranked_unique_and_exact(retriever, seeds):
    store = retriever.store
    texts = {d: store.document_text(d) for d in store.registry()}
    for k in (1, 2, 4, 6):
        hits = retriever.search("NATO and Japan joint exercises", k=k)
        assert len(hits) == k
        assert [h.rank for h in hits] == list(range(1, k + 1))
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert len({h.chunk.chunk_id for h in hits}) == k and len({h.chunk.text for h in hits}) == k
        for h in hits:
            assert texts[h.chunk.doc_id][h.chunk.start : h.chunk.end] == h.chunk.text
            assert h.dense is not None  # filled in for BM25-only hits too, from the stored vector
    assert len(retriever.search("NATO", k=50)) <= store.count()


def test_empty_query_is_rejected(retriever):
    for q in ("", "   \n"):
        with pytest.raises(QABotError, match="empty"):
            retriever.search(q)


def test_query_of_unknown_words_still_returns_dense_hits(retriever):
    hits = retriever.search("zxqv wibblefrotz")
    assert hits and all(h.bm25 is None for h in hits)


def test_bm25_index_is_persisted_and_reloaded_not_rebuilt(seeds, retriever, monkeypatch):
    retriever.search("Sea of Japan")
    meta = json.loads((seeds.settings.bm25_dir / "meta.json").read_text())
    assert meta["version"] == retriever.store.version() != "0"
    assert meta["n"] == retriever.store.count()

    def no_rebuild(self, store, version):
        raise AssertionError("the BM25 index on disk matches the store version: it must be loaded, not rebuilt")

    monkeypatch.setattr(LexicalIndex, "_build", no_rebuild)
    other = Retriever(seeds.settings)  # another process would start like this
    top = other.search("Which sea were the joint flight drills over?")[0]
    assert "Sea of Japan" in top.chunk.text and top.bm25 is not None
    assert other.lexical.version == meta["version"] and len(other.lexical.chunks) == meta["n"]


def test_damaged_bm25_cache_is_rebuilt(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tides.txt").write_text("Oban tide tables\n\nHigh water at Oban on 3 March is at 06:41 and 19:02.")
    s = store_settings(tmp_path / "store")
    ingest([docs], s)
    Retriever(s).search("high water Oban")
    (s.bm25_dir / "chunks.jsonl").write_text("{not json")
    fresh = Retriever(s)
    top = fresh.search("When is high water at Oban?")[0]
    assert "06:41" in top.chunk.text and top.bm25 is not None
    assert json.loads((s.bm25_dir / "chunks.jsonl").read_text().splitlines()[0])["id"] == top.chunk.chunk_id


def test_identical_documents_do_not_fill_the_results(tmp_path):
    text = (
        "Ferry timetable change\n\nFrom May the Oban to Craignure ferry sails hourly from 07:00 until 21:00, "
        "and the first Sunday sailing moves to 08:30 because of harbour works."
    )
    docs = tmp_path / "docs"
    (docs / "a").mkdir(parents=True)
    (docs / "b").mkdir()
    (docs / "a" / "ferry.txt").write_text(text)
    (docs / "b" / "ferry-copy.txt").write_text(text)
    (docs / "b" / "other.txt").write_text("Road works\n\nThe A85 near Connel will close overnight for resurfacing.")
    s = store_settings(tmp_path / "store")
    assert ingest([docs], s).added == 3
    hits = Retriever(s).search("When does the first Sunday ferry sail?", k=3)
    assert sum("08:30" in h.chunk.text for h in hits) == 1  # the copy is a near-duplicate and is dropped
    assert len({h.chunk.text for h in hits}) == len(hits)


def test_a_document_s_terms_are_read_once_per_version(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.txt").write_text("Ferry timetable\n\nThe first Sunday sailing leaves Oban at half past eight.")
    s = store_settings(tmp_path / "store")
    ingest([docs], s)
    r = Retriever(s)
    reads: list[str] = []
    real = r.store.document_text
    monkeypatch.setattr(r.store, "document_text", lambda doc_id: reads.append(doc_id) or real(doc_id))
    hit = r.search("When does the Sunday ferry leave?")[0]
    for _ in range(2):
        assert passage_terms("Oban Sunday ferry") <= r.document_terms(hit.chunk.doc_id, hit.chunk.content_hash)
    assert reads == [hit.chunk.doc_id]  # the second question about it reads no text
    (docs / "ferry.txt").write_text("Ferry timetable\n\nThe first Sunday sailing leaves Mallaig at nine.")
    ingest([docs], s)
    new = r.search("When does the Sunday ferry leave?")[0]
    assert new.chunk.content_hash != hit.chunk.content_hash
    assert passage_terms("Mallaig") <= r.document_terms(new.chunk.doc_id, new.chunk.content_hash) and len(reads) == 2
    assert r.document_terms("no-such-document", "0" * 64) is None


def test_empty_collection_and_missing_store(tmp_path):
    s = store_settings(tmp_path / "none")
    with pytest.raises(StoreError, match="no documents are indexed"):
        Retriever(s)
    # a store whose every file failed exists but holds nothing: searching it returns nothing, without error
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"")
    assert not ingest([bad], s).ok
    assert Retriever(s).search("anything at all") == []


def test_cli_search_json(seeds, capsys):
    rc = main(
        [
            "search",
            "--json",
            "--store",
            str(seeds.settings.store.store_dir),
            "-k",
            "3",
            "Which sea were the joint flight drills over?",
        ]
    )
    assert rc == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["doc_id"] == AP_DOC and "Sea of Japan" in hits[0]["text"]
    assert {"start", "end", "title", "source", "dense", "bm25", "score", "chunk_id"} <= set(hits[0])
