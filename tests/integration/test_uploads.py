"""Web uploads never replace or lose another document (issue 11, item 15): real files, a real Chroma store, real
indexing (and, for a failed index, a real HTTP server that rejects the embedding request)."""

from __future__ import annotations

from pathlib import Path

from support.project import store_settings
from support.stub_server import FailingOpenAIServer

from qa_bot.apps import web as ui

A = "Harbour report\n\nThe northern pier of Velmora harbour was rebuilt in 1931 by the engineer Ilse Marten.\n"
B = "Orchard notes\n\nThe Quillon orchard grows forty-two varieties of pear, most of them grafted in spring.\n"


def upload_file(tmp_path: Path, sub: str, name: str, text: str) -> str:
    """A file as Gradio hands it over: in a temp folder of its own, under the user's file name."""
    folder = tmp_path / "incoming" / sub
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


def test_a_second_document_with_the_same_name_is_kept_beside_the_first(tmp_path):
    app = ui.WebApp(store_settings(tmp_path / "store", generator="extractive"))
    status, _ = app.upload([upload_file(tmp_path, "alice", "notes.txt", A)])
    assert "qa-status-ok" in status and "1 added" in status, status
    status, docs = app.upload([upload_file(tmp_path, "bob", "notes.txt", B)])
    assert "1 added" in status and "notes.txt was saved as notes-2.txt" in status, status
    assert (app.uploads_dir / "notes.txt").read_text(encoding="utf-8") == A  # Alice's document is untouched
    assert (app.uploads_dir / "notes-2.txt").read_text(encoding="utf-8") == B
    sources = sorted(Path(r.source).name for r in app.registry().values())
    assert sources == ["notes-2.txt", "notes.txt"] and "2 documents indexed" in docs
    # The same bytes again are the same document: nothing new is stored.
    status, _ = app.upload([upload_file(tmp_path, "carol", "notes.txt", A)])
    assert "1 unchanged" in status and "saved as" not in status, status
    assert sorted(p.name for p in app.uploads_dir.iterdir()) == ["notes-2.txt", "notes.txt"]


def test_a_long_name_keeps_its_extension(tmp_path):
    app = ui.WebApp(store_settings(tmp_path / "store", generator="extractive"))
    name = "minutes of the harbour board " * 8 + ".md"
    status, _ = app.upload([upload_file(tmp_path, "x", name, A)])
    assert "1 added" in status, status
    (saved,) = list(app.uploads_dir.iterdir())
    assert saved.suffix == ".md" and len(saved.name) <= 150
    assert ui._safe_name("a" * 300 + ".pdf").endswith("a.pdf") and len(ui._safe_name("a" * 300 + ".pdf")) == 150
    assert len(ui._safe_name("b" * 300)) == 150 and ui._safe_name("../../etc/passwd") == "passwd"


def test_a_failed_index_never_removes_the_file_already_there(tmp_path):
    with FailingOpenAIServer(400) as server:  # the embedding request is rejected: the upload fails at indexing
        settings = store_settings(
            tmp_path / "store",
            generator="extractive",
            embedder="openai",
            openai_base_url=server.base_url,
            max_retries=0,
        )
        app = ui.WebApp(settings)
        app.uploads_dir.mkdir(parents=True)
        (app.uploads_dir / "notes.txt").write_text(A, encoding="utf-8")  # someone's earlier document
        status, _ = app.upload([upload_file(tmp_path, "bob", "notes.txt", B)])
        assert server.requests, "the upload did not reach indexing"
    assert "Not indexed: notes-2.txt" in status and "rejected the request (400)" in status, status
    assert (app.uploads_dir / "notes.txt").read_text(encoding="utf-8") == A
    assert sorted(p.name for p in app.uploads_dir.iterdir()) == [
        "notes.txt"
    ]  # the failed copy is gone, no temp file left
