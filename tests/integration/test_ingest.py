"""Incremental ingestion into a real embedded Chroma store with the real embedder: no-op re-ingest, updates, deletes,
boilerplate removal, exact chunk offsets, bad input via the CLI, crash atomicity and corrupt-store recovery."""

from __future__ import annotations

import os
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from support.pdf import make_pdf
from support.project import AP_DOC, SEEDS, UNN_DOC, error_lines, run_cli, store_settings

from qa_bot.apps.cli import main
from qa_bot.index.embeddings import embedder_id
from qa_bot.index.store import Store, StoreError
from qa_bot.ingestion.indexer import ingest
from qa_bot.retrieval.hybrid import Retriever

BOILERPLATE = ("register", "newsletter", "sign in", "email", "read more")
CAPTION = (
    "Japan's Emperor Naruhito, right, greets US President Joe Biden prior to a meeting at the Imperial Palace in Tokyo"
)

OTTERS_V1 = (
    "Otters in the upper Thames\n\n"
    "Eurasian otters have been recorded breeding in the upper Thames for the first time in forty years. "
    "Ecologists from the river trust counted eleven adults along a twelve-mile stretch near Lechlade.\n\n"
    "The trust credits cleaner water and the return of eels, the otters' favourite prey, for the recovery."
)
OTTERS_V2 = (
    "Otters in the upper Thames (corrected)\n\n"
    "A recount by the river trust found nine adult otters near Kelmscott, not eleven as first reported. "
    "The trust now plans a winter camera survey with motion-triggered traps along the Windrush tributary."
)
LIGHTHOUSE = (
    "Skerryvore lighthouse\n\n"
    "Skerryvore lighthouse stands on a reef eleven miles south-west of Tiree. Built by Alan Stevenson between 1838 "
    "and 1844, its granite tower is 48 metres tall, the tallest in Scotland. The last keepers left in 1972."
)


def open_store(settings) -> Store:
    return Store(settings, embedder_id(settings)).open_for_read()


def all_chunks(settings):
    return list(open_store(settings).iter_chunks())


def assert_consistent(settings) -> dict:
    """Exactly the registered versions are stored: chunk count == sum of n_chunks, no stale or orphan chunks."""
    store = open_store(settings)
    reg = store.registry()
    chunks = list(store.iter_chunks())
    assert store.count() == len(chunks) == sum(r.n_chunks for r in reg.values())
    assert Counter(c.doc_id for c in chunks) == {d: r.n_chunks for d, r in reg.items()}
    for c in chunks:
        assert c.content_hash == reg[c.doc_id].sha256, c.chunk_id
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    return reg


def docs_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "docs"
    for name, text in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return d


# --- the seeds (shared store) ----------------------------------------------------------------------------------------
def test_seed_ingest_report_and_registry(seeds):
    r = seeds.report
    assert r.ok and r.files == 2 and r.added == 2 and r.updated == r.skipped == r.removed == 0
    reg = assert_consistent(seeds.settings)
    assert set(reg) == {AP_DOC, UNN_DOC}
    assert r.chunks == open_store(seeds.settings).count() >= 4
    assert reg[AP_DOC].title == "Japan and NATO agree to step up cooperation amid Russia’s aggression in Ukraine"
    assert reg[AP_DOC].source == str((seeds.docs / f"{AP_DOC}.txt").resolve())


def test_chunk_metadata_and_exact_offsets(seeds):
    store = open_store(seeds.settings)
    reg = store.registry()
    chunks = list(store.iter_chunks())
    texts = {d: store.document_text(d) for d in reg}
    for c in chunks:
        assert c.doc_id in reg
        assert c.title == reg[c.doc_id].title and c.title
        assert c.source == reg[c.doc_id].source and Path(c.source).is_file()
        assert 0 <= c.start < c.end <= len(texts[c.doc_id])
        assert texts[c.doc_id][c.start : c.end] == c.text
        assert len(c.text) <= seeds.settings.ingestion.chunk_size
        assert c.chunk_id.startswith(f"{c.doc_id}::{reg[c.doc_id].sha256[:12]}::")
    # chunks cover each document from its first to its last character, in order
    for d in reg:
        mine = sorted((c for c in chunks if c.doc_id == d), key=lambda c: c.start)
        assert mine[0].start == 0 and mine[-1].end == len(texts[d])
        for a, b in pairwise(mine):  # nothing lost between chunks: overlap, or only whitespace in between
            assert a.start < b.start and (a.end >= b.start or not texts[d][a.end : b.start].strip())


def test_boilerplate_absent_from_store(seeds):
    store = open_store(seeds.settings)
    for c in store.iter_chunks():
        low = c.text.lower()
        for word in BOILERPLATE:
            assert word not in low, (word, c.chunk_id)
    ap = store.document_text(AP_DOC)
    assert (SEEDS / f"{AP_DOC}.txt").read_text().count(CAPTION) == 2
    assert ap.count(CAPTION) == 1
    assert "Sea of Japan" in ap and "embolden China" in ap


def test_reingest_is_a_no_op(seeds):
    s = seeds.settings
    store = open_store(s)
    before_ids = sorted(c.chunk_id for c in store.iter_chunks())
    before_version = store.version()
    r = ingest([seeds.docs], s)
    assert r.ok and r.skipped == 2 and r.added == r.updated == r.removed == 0 and r.chunks == 0
    store = open_store(s)
    after = list(store.iter_chunks())
    assert sorted(c.chunk_id for c in after) == before_ids
    assert len({c.text for c in after}) == len(after)  # no duplicated passages
    assert store.version() == before_version  # nothing written, so the BM25 mirror is not rebuilt either
    # the same files named individually are recognised as well
    r2 = ingest(sorted(seeds.docs.iterdir()), s)
    assert r2.skipped == 2 and r2.chunks == 0 and open_store(s).count() == len(before_ids)


# --- updates, deletes, name clashes (own stores) -------------------------------------------------------------------
def test_modified_file_replaces_its_old_chunks(tmp_path):
    docs = docs_dir(tmp_path, {"otters.txt": OTTERS_V1, "skerryvore.txt": LIGHTHOUSE})
    s = store_settings(tmp_path / "store")
    assert ingest([docs], s).added == 2
    retriever = Retriever(s)  # long-lived: must notice the update
    assert "Lechlade" in retriever.search("Where were the eleven otters counted?")[0].chunk.text
    light_before = sorted(c.chunk_id for c in all_chunks(s) if c.doc_id == "skerryvore")

    (docs / "otters.txt").write_text(OTTERS_V2)
    r = ingest([docs], s)
    assert r.ok and r.updated == 1 and r.skipped == 1 and r.added == 0 and r.chunks >= 1
    reg = assert_consistent(s)
    assert set(reg) == {"otters", "skerryvore"}
    chunks = all_chunks(s)
    assert not any("Lechlade" in c.text or "eleven adults" in c.text for c in chunks)
    assert open_store(s).document_text("otters").startswith("Otters in the upper Thames (corrected)")
    assert sorted(c.chunk_id for c in chunks if c.doc_id == "skerryvore") == light_before  # untouched

    hits = retriever.search("How many otters did the recount find near Kelmscott?")
    assert hits[0].chunk.doc_id == "otters" and "nine adult otters" in hits[0].chunk.text
    assert hits[0].bm25 is not None  # the BM25 mirror was rebuilt with the new version
    old = retriever.search("eleven adults Lechlade")
    assert all("Lechlade" not in h.chunk.text for h in old)


def test_deleted_file_is_removed_from_index_and_bm25(tmp_path):
    docs = docs_dir(tmp_path, {"otters.txt": OTTERS_V1, "skerryvore.txt": LIGHTHOUSE})
    s = store_settings(tmp_path / "store")
    ingest([docs], s)
    retriever = Retriever(s)
    hit = retriever.search("Skerryvore granite tower Stevenson")[0]
    assert hit.chunk.doc_id == "skerryvore" and hit.bm25 is not None

    (docs / "skerryvore.txt").unlink()
    # an ingest of an unrelated file, or with pruning off, keeps it
    other = tmp_path / "other" / "note.txt"
    other.parent.mkdir()
    other.write_text("A short note about tide tables in Oban harbour for the spring season.")
    assert ingest([other], s).removed == 0
    assert ingest([docs], s, prune=False).removed == 0
    assert "skerryvore" in open_store(s).registry()

    r = ingest([docs], s)
    assert r.removed == 1 and r.skipped == 1
    reg = assert_consistent(s)
    assert set(reg) == {"otters", "note"}
    assert not any(c.doc_id == "skerryvore" for c in all_chunks(s))
    hits = retriever.search("Skerryvore granite tower Stevenson")
    assert hits and all(h.chunk.doc_id != "skerryvore" for h in hits)
    assert retriever.lexical.search("Skerryvore Stevenson granite", 10) == []  # BM25 mirror rebuilt without it
    assert not any(c.doc_id == "skerryvore" for c in retriever.lexical.chunks)


def test_same_stem_in_different_folders_are_both_indexed(tmp_path):
    docs = docs_dir(tmp_path, {"a/notes.txt": OTTERS_V1, "b/notes.txt": LIGHTHOUSE})
    s = store_settings(tmp_path / "store")
    r = ingest([docs], s)
    assert r.added == 2 and r.ok
    reg = assert_consistent(s)
    assert len(reg) == 2 and "notes" in reg
    by_source = {Path(rec.source).parent.name: rec.doc_id for rec in reg.values()}
    assert set(by_source) == {"a", "b"} and by_source["a"] != by_source["b"]

    r = ingest([docs], s)  # ids are stable: nothing re-written
    assert r.skipped == 2 and r.chunks == 0 and assert_consistent(s) == reg
    (docs / "b" / "notes.txt").write_text(LIGHTHOUSE + "\n\nA new automatic light was fitted in 1994.")
    r = ingest([docs], s)
    assert r.updated == 1 and r.skipped == 1 and r.added == 0
    assert set(assert_consistent(s)) == set(reg)

    retriever = Retriever(s)
    top = retriever.search("Where did ecologists count otters?")[0]
    assert top.chunk.doc_id == by_source["a"] and top.chunk.source.endswith(os.path.join("a", "notes.txt"))
    top = retriever.search("When was the automatic light fitted at Skerryvore?")[0]
    assert top.chunk.doc_id == by_source["b"] and "1994" in top.chunk.text


def test_pdf_and_html_are_indexed_with_text_and_titles(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "skerryvore.pdf").write_bytes(
        make_pdf(
            [
                "Skerryvore lighthouse stands on a reef south-west of Tiree.\nIts granite tower is 48 metres tall.",
                "The last keepers left Skerryvore in 1972.",
            ],
            title="The Skerryvore Light",
        )
    )
    (docs / "otters.html").write_text(
        "<html><head><title>Otters | Site</title><script>var tracker='zzTrack';</script></head><body>"
        "<nav><a href='/'>Home</a> <a href='/login'>Sign in</a></nav>"
        "<article><header><h1>Otters breed in the Thames</h1></header>"
        "<p>Ecologists counted eleven otters near Lechlade this spring.</p></article>"
        "<footer>Subscribe to our newsletter. All rights reserved.</footer></body></html>"
    )
    s = store_settings(tmp_path / "store")
    r = ingest([docs], s)
    assert r.ok and r.added == 2
    store = open_store(s)
    reg = store.registry()
    assert reg["skerryvore"].title == "The Skerryvore Light"
    assert reg["otters"].title == "Otters breed in the Thames"
    assert "The last keepers left Skerryvore in 1972." in store.document_text("skerryvore")
    otters = store.document_text("otters")
    assert otters == "Ecologists counted eleven otters near Lechlade this spring."
    retriever = Retriever(s)
    top = retriever.search("When did the last keepers leave the lighthouse?")[0]
    assert top.chunk.doc_id == "skerryvore" and "1972" in top.chunk.text and top.chunk.title == "The Skerryvore Light"
    top = retriever.search("How many otters were counted?")[0]
    assert top.chunk.doc_id == "otters" and top.chunk.title == "Otters breed in the Thames"


# --- bad input through the CLI ---------------------------------------------------------------------------------------
def make_bad_inputs(d: Path) -> dict[str, str]:
    """Files that can't be indexed -> the reason the CLI must give."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "good.txt").write_text(LIGHTHOUSE)
    (d / "latin.txt").write_bytes(
        "Café menu\n\nThe café on Tiree serves crème brûlée and “proper” tea for €4.".encode("cp1252")
    )
    (d / "empty.txt").write_bytes(b"")
    (d / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    (d / "broken.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(1, 256)) * 20)
    (d / "undecodable.md").write_bytes(b"# Title\n\nbytes \x81\x8d\x8f\x90\x9d that no codec here accepts")
    (d / "slides.docx").write_bytes(b"PK\x03\x04 not supported")
    return {
        "empty.txt": "empty file",
        "image.txt": "binary content (NUL bytes), not text",
        "broken.pdf": "PDF could not be parsed",
        "undecodable.md": "not valid UTF-8 or Windows-1252 text",
        "slides.docx": "unsupported file type '.docx'",
        "missing.txt": "path does not exist",
    }


def test_cli_reports_each_bad_file_and_indexes_the_rest(tmp_path, capsys):
    d = tmp_path / "in"
    expected = make_bad_inputs(d)
    store = tmp_path / "store"
    paths = [str(d / n) for n in ("good.txt", "latin.txt", *expected)]
    rc = main(["ingest", "-q", "--store", str(store), *paths])
    out, err = capsys.readouterr()
    assert rc == 1
    errors = error_lines(err)
    assert len(errors) == len(expected), err
    for name, why in expected.items():
        mine = [e for e in errors if f"{d / name}:" in e]
        assert len(mine) == 1, (name, err)
        assert why in mine[0], (name, mine[0])
    assert "Traceback" not in err and "EOF marker" not in err  # no parser noise besides the one line per file
    assert "2 added" in out and "6 failed" in out

    s = store_settings(store)
    reg = open_store(s).registry()
    assert set(reg) == {"good", "latin"}
    assert "crème brûlée and “proper” tea for €4" in open_store(s).document_text("latin")  # cp1252 fallback

    # all good -> exit 0 (and nothing re-written)
    assert main(["ingest", "-q", "--store", str(store), str(d / "good.txt"), str(d / "latin.txt")]) == 0
    out, err = capsys.readouterr()
    assert "2 unchanged" in out and error_lines(err) == []


def test_cli_subprocess_folder_with_bad_files(tmp_path):
    d = tmp_path / "in"
    expected = make_bad_inputs(d)
    store = tmp_path / "store"
    p = run_cli("ingest", "-q", "--store", str(store), str(d), str(d / "missing.txt"))
    assert p.returncode == 1, p.stderr
    errors = error_lines(p.stderr)
    # in a folder, files of other types are skipped silently; every readable-type file that fails is reported
    reported = {Path(e.split(":", 1)[0].removeprefix("error").strip()).name for e in errors}
    assert reported == set(expected) - {"slides.docx"}, p.stderr
    assert "Traceback" not in p.stderr
    assert "2 added" in p.stdout and "5 failed" in p.stdout
    assert set(open_store(store_settings(store)).registry()) == {"good", "latin"}


# --- atomicity --------------------------------------------------------------------------------------------------------
class Crash(BaseException):
    """A process dying mid-write (not an Exception, so ingest can't catch it)."""


def crashing_write(steps: int):
    """Store.write_document that performs only its first `steps` steps, then 'dies'."""

    def write_document(self, doc, chunks, vectors):
        self.chunks.upsert(
            ids=[c.chunk_id for c in chunks],
            embeddings=vectors,
            documents=[c.text for c in chunks],
            metadatas=[c.metadata() for c in chunks],
        )
        if steps >= 2:
            self.docs.upsert(
                ids=[doc.doc_id],
                embeddings=[[1.0]],
                documents=[doc.text],
                metadatas=[{"title": doc.title, "source": doc.source, "sha256": doc.sha256, "n_chunks": len(chunks)}],
            )
        raise Crash

    return write_document


def test_crash_mid_document_leaves_one_live_copy(tmp_path, monkeypatch):
    docs = docs_dir(tmp_path, {"otters.txt": OTTERS_V1})
    s = store_settings(tmp_path / "store")
    ingest([docs], s)
    n_v1 = assert_consistent(s)["otters"].n_chunks
    retriever = Retriever(s)

    # 1. a new version dies after its chunks were written, before the registry commit: the old version stays live
    (docs / "otters.txt").write_text(OTTERS_V2)
    with monkeypatch.context() as m:
        m.setattr(Store, "write_document", crashing_write(steps=1))
        with pytest.raises(Crash):
            ingest([docs], s)
    store = open_store(s)
    n_v2 = len([c for c in store.iter_chunks() if "corrected" in c.title])
    assert n_v2 >= 1 and store.count() == n_v1 + n_v2  # the orphans are there...
    hits = retriever.search("How many otters did the recount find near Kelmscott?")
    assert hits and all("Kelmscott" not in h.chunk.text for h in hits)  # ...but readers ignore them
    assert all(h.chunk.content_hash == store.registry()["otters"].sha256 for h in hits)

    # 2. a new document dies mid-write: invisible, and `repair` removes exactly its chunks
    (docs / "skerryvore.txt").write_text(LIGHTHOUSE)
    with monkeypatch.context() as m:
        m.setattr(Store, "write_document", crashing_write(steps=1))
        with pytest.raises(Crash):
            ingest([docs / "skerryvore.txt"], s)
    assert "skerryvore" not in open_store(s).registry()
    assert all(h.chunk.doc_id != "skerryvore" for h in retriever.search("Skerryvore lighthouse granite tower"))
    store = open_store(s)
    n_sk = len([c for c in store.iter_chunks() if c.doc_id == "skerryvore"])
    assert n_sk >= 1
    # that ingest began with a repair: the orphans of step 1 are gone, only skerryvore's are left
    assert not any("corrected" in c.title for c in store.iter_chunks())
    assert store.count() == n_v1 + n_sk
    assert store.repair() == n_sk
    assert store.count() == n_v1 and assert_consistent(s)["otters"].n_chunks == n_v1

    # 3. dies after the registry commit, before the old chunks were deleted: the new version is live, the old hidden
    with monkeypatch.context() as m:
        m.setattr(Store, "write_document", crashing_write(steps=2))
        with pytest.raises(Crash):
            ingest([docs / "otters.txt"], s)
    store = open_store(s)
    assert store.count() == n_v1 + n_v2
    hits = retriever.search("How many otters were counted near Lechlade or Kelmscott?")
    assert hits and all("Lechlade" not in h.chunk.text for h in hits)

    # 4. the next ordinary ingest finishes the job: one live copy of each document, no stale chunks
    r = ingest([docs], s)
    assert r.ok and r.skipped == 1 and r.added == 1  # otters v2 was committed in step 3; skerryvore is new
    reg = assert_consistent(s)
    assert set(reg) == {"otters", "skerryvore"}
    assert reg["otters"].n_chunks == n_v2
    assert not any("Lechlade" in c.text for c in all_chunks(s))
    top = retriever.search("How many otters did the recount find near Kelmscott?")[0]
    assert "nine adult otters" in top.chunk.text
    texts = [c.text for c in all_chunks(s)]
    assert len(texts) == len(set(texts))


# --- missing / corrupt store ------------------------------------------------------------------------------------------
def test_missing_store_gives_a_clear_error(tmp_path, capsys):
    s = store_settings(tmp_path / "never-ingested")
    with pytest.raises(StoreError, match=r"no documents are indexed in collection 'qa_bot' yet: run `qa-bot ingest"):
        Retriever(s)
    assert main(["search", "--store", str(tmp_path / "never-ingested"), "anything"]) == 2
    assert "no documents are indexed" in capsys.readouterr().err


def test_corrupt_store_gives_a_clear_error_and_rebuild_recovers(seeds_copy, capsys):
    # a copy of a healthy store, so this process holds no open handle on the file we are about to damage
    store_dir = seeds_copy.store_dir
    docs = seeds_copy.docs
    db = store_dir / "chroma.sqlite3"
    assert db.stat().st_size > 0
    db.write_bytes(os.urandom(64) + b"\xde\xad\xbe\xef" * 50_000)
    (store_dir / "my-notes.txt").write_text("not Chroma's: must survive --rebuild")

    s = store_settings(store_dir)
    with pytest.raises(StoreError) as e:
        Retriever(s)
    msg = str(e.value)
    assert f"cannot open the store {store_dir}" in msg and "file is not a database" in msg
    assert "qa-bot ingest --rebuild" in msg
    assert main(["search", "--store", str(store_dir), "Sea of Japan"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "error: cannot open the store" in err and "--rebuild" in err and "Traceback" not in err
    # a plain ingest refuses to touch it (it might be recoverable by hand)...
    with pytest.raises(StoreError):
        ingest([docs], s)
    # ...and --rebuild starts over, in this same process
    assert main(["ingest", "-q", "--rebuild", "--store", str(store_dir), str(docs)]) == 0
    assert "2 added" in capsys.readouterr().out
    assert (store_dir / "my-notes.txt").exists()
    assert set(assert_consistent(s)) == {AP_DOC, UNN_DOC}
    top = Retriever(s).search("Which sea were the joint flight drills over?")[0]
    assert top.chunk.doc_id == AP_DOC and "Sea of Japan" in top.chunk.text


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda b: b[: len(b) // 3], "database disk image is malformed"),  # truncated mid-file
        (lambda b: b[:100] + bytes(len(b) - 100), "database disk image is malformed"),  # header kept, pages zeroed
        (lambda b: b"", "no documents are indexed"),  # emptied: Chroma silently starts a new, empty database
    ],
    ids=["truncated", "zeroed-pages", "emptied"],
)
def test_other_sqlite_damage_is_reported_clearly(seeds_copy, damage, expected):
    # (an unopenable store's --rebuild is covered by the test above)
    db = seeds_copy.store_dir / "chroma.sqlite3"
    db.write_bytes(damage(db.read_bytes()))
    with pytest.raises(StoreError, match=expected):
        Retriever(store_settings(seeds_copy.store_dir)).search("Which sea were the joint flight drills over?")


def test_an_emptied_database_is_refilled_by_a_rebuild(seeds_copy):
    (seeds_copy.store_dir / "chroma.sqlite3").write_bytes(b"")
    s = store_settings(seeds_copy.store_dir)
    with pytest.raises(StoreError, match="no documents are indexed"):
        Retriever(s)
    r = ingest([seeds_copy.docs], s, rebuild=True)
    assert r.ok and r.added == 2
    assert Retriever(s).search("Which sea were the joint flight drills over?")[0].chunk.doc_id == AP_DOC
