"""File names in the web app, without a store: web users see a source's file name, never the server's folders (issue
11, item 11), and an upload claims a free name beside an existing file of the same name (item 15). Through real
stores and indexing: tests/integration/test_secrets_paths.py and tests/integration/test_uploads.py."""

from __future__ import annotations

from pathlib import Path

from qa_bot.apps import web as ui
from qa_bot.schema import Citation

A = "Harbour report\n\nThe northern pier of Velmora harbour was rebuilt in 1931 by the engineer Ilse Marten.\n"
B = "Orchard notes\n\nThe Quillon orchard grows forty-two varieties of pear, most of them grafted in spring.\n"


def test_source_list_shows_the_file_name_only():
    c = Citation(
        marker=1,
        doc_id="report",
        title="Report",
        source="/srv/private-share/team-x/report.txt",
        start=0,
        end=5,
        quote="Hello",
        passage="Hello world.",
        passage_start=0,
    )
    out = ui.render_sources([c])
    assert "report.txt" in out and "/srv" not in out and "private-share" not in out and "team-x" not in out
    assert (
        ui.answer_to_dict(ui.Answer(question="q", text="Hello [1].", citations=[c]), full_paths=False)["citations"][0][
            "source"
        ]
        == "report.txt"
    )


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_place_upload_claims_a_free_name_and_leaves_no_temp_file(tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    src = tmp_path / "new.txt"
    src.write_text(B, encoding="utf-8")
    (folder / "new.txt").write_text(A, encoding="utf-8")
    (folder / "new-2.txt").write_text("", encoding="utf-8")  # e.g. a name claimed by an upload still being copied
    dest, created = ui.place_upload(src, folder, "new.txt")
    assert (dest.name, created) == ("new-3.txt", True) and dest.read_text(encoding="utf-8") == B
    assert ui.place_upload(src, folder, "new.txt") == (dest, False)  # identical content: reused, not copied again
    assert (folder / "new.txt").read_text(encoding="utf-8") == A and leftovers(folder) == []
