"""The QABot service: answering, ingesting, listing and removing through one object that owns (and on close() releases)
the store, the embedder and the models; the answer chain built from collaborators it is given; the CLI, the web app and
the evaluation going through the service.

Real Chroma stores in tmp_path and the extractive generator (the MiniLM embedder loads in about a second per service);
the fakes are only where a test checks who calls whom.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import ClassVar

import pytest
from support.project import ROOT as QA_ROOT
from support.project import SEEDS as QA_SEEDS
from support.project import store_settings as qa_settings

from qa_bot import stages
from qa_bot.index.store import StoreError
from qa_bot.schema import Answer, Chunk, IngestReport, SearchHit, Stage
from qa_bot.service import QABot, default_service

FOUNTAIN_Q = "What colour is the water of the Zorblax fountain?"
LIGHTHOUSE_Q = "What colour is the lighthouse of Ostrava Bay?"


def notes(folder: Path, **texts: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text)
    return folder


FOUNTAIN = "Fountain note\n\nThe Zorblax fountain sprays violet water on Tuesdays.\n"
LIGHTHOUSE = "Lighthouse note\n\nThe lighthouse of Ostrava Bay is painted green.\n"


def open_files_under(folder: Path) -> list[str]:
    """Paths under ``folder`` that this process has open (Linux /proc)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


def files_left_open(folder: Path, wait: float = 5.0) -> list[str]:
    """``open_files_under`` once chromadb's own threads had a moment to finish with a System that was stopped."""
    deadline = time.monotonic() + wait
    while (left := open_files_under(folder)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# --- the service ---------------------------------------------------------------------------------------------------
def test_the_service_ingests_lists_answers_searches_and_removes(tmp_path):
    docs = notes(tmp_path / "docs", fountain=FOUNTAIN, lighthouse=LIGHTHOUSE)
    with QABot(qa_settings(tmp_path / "store", generator="extractive")) as bot:
        report = bot.ingest([docs])
        assert isinstance(report, IngestReport) and report.ok and report.added == 2
        listed = bot.documents()
        assert sorted(listed) == ["fountain", "lighthouse"] and listed["fountain"].n_chunks == 1
        assert "violet water" in bot.document_text("fountain")

        a = bot.answer(FOUNTAIN_Q)
        assert "violet" in a.text and [c.doc_id for c in a.citations] == ["fountain"]
        items = list(bot.stream(FOUNTAIN_Q, stages=True))
        assert [i.name for i in items if isinstance(i, Stage)] == ["retrieve", "generate", "verify"]
        assert isinstance(items[-1], Answer) and items[-1].text == a.text
        final, first = bot.timed_answer(LIGHTHOUSE_Q, [(FOUNTAIN_Q, a.text)])
        assert "green" in final.text and first >= 0
        assert bot.search(LIGHTHOUSE_Q, 1)[0].chunk.doc_id == "lighthouse"

        assert bot.remove(["fountain", "never-indexed"]) == ["fountain"]
        assert sorted(bot.documents()) == ["lighthouse"]
        assert "violet" not in bot.answer(FOUNTAIN_Q).text  # the chain sees the removal at once
        assert bot.ingest([docs], prune=False).added == 1  # and an ingest through the same service
        assert sorted(bot.documents()) == ["fountain", "lighthouse"]


def test_a_store_nothing_was_ingested_into(tmp_path):
    with QABot(qa_settings(tmp_path / "empty", generator="extractive")) as bot:
        assert bot.documents(missing_ok=True) == {}
        for call in (bot.documents, lambda: bot.search("anything"), lambda: bot.answer("Who heads NATO?")):
            with pytest.raises(StoreError, match="no documents are indexed"):
                call()
        # the failed attempts leave nothing half-built: indexing now works, and so does answering
        assert bot.ingest([notes(tmp_path / "docs", fountain=FOUNTAIN)]).added == 1
        assert "violet" in bot.answer(FOUNTAIN_Q).text


def test_two_services_with_different_stores_share_nothing(tmp_path):
    one = QABot(qa_settings(tmp_path / "one", generator="extractive"))
    two = QABot(qa_settings(tmp_path / "two", generator="extractive"))
    try:
        one.ingest([notes(tmp_path / "a", fountain=FOUNTAIN)])
        two.ingest([notes(tmp_path / "b", lighthouse=LIGHTHOUSE)])
        assert list(one.documents()) == ["fountain"] and list(two.documents()) == ["lighthouse"]
        assert "violet" in one.answer(FOUNTAIN_Q).text and "violet" not in two.answer(FOUNTAIN_Q).text
        assert "green" in two.answer(LIGHTHOUSE_Q).text and "green" not in one.answer(LIGHTHOUSE_Q).text
        # each owns its own collaborators
        assert one.bot is not two.bot and one.embedder is not two.embedder
        assert one.models.llamas is not two.models.llamas
        one.close()
        assert "green" in two.answer(LIGHTHOUSE_Q).text  # closing one leaves the other working
        assert list(one.documents()) == ["fountain"]  # and a closed service opens again when used
    finally:
        one.close()
        two.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads open files from /proc")
def test_close_releases_the_store_so_it_can_be_deleted_and_made_again(tmp_path):
    store = tmp_path / "store"
    bot = QABot(qa_settings(store, generator="extractive"))
    bot.ingest([notes(tmp_path / "a", fountain=FOUNTAIN)])
    assert "violet" in bot.answer(FOUNTAIN_Q).text and bot.documents()
    assert open_files_under(store), "the store is open while the service uses it"
    bot.close()
    assert files_left_open(store) == []  # sqlite database and vector segments closed
    # Writes while the chain and the listing hold the store make each handle reopen it: still all released.
    bot.ingest([notes(tmp_path / "a", fountain=FOUNTAIN), notes(tmp_path / "b", lighthouse=LIGHTHOUSE)])
    assert "violet" in bot.answer(FOUNTAIN_Q).text and len(bot.documents()) == 2
    assert bot.remove(["fountain"]) == ["fountain"]
    assert "violet" not in bot.answer(FOUNTAIN_Q).text and list(bot.documents()) == ["lighthouse"]
    bot.close()
    assert files_left_open(store) == []

    shutil.rmtree(store)
    bot.ingest([notes(tmp_path / "c", lighthouse=LIGHTHOUSE)])  # a new store at the same path, same service
    assert list(bot.documents()) == ["lighthouse"]
    assert "green" in bot.answer(LIGHTHOUSE_Q).text and "violet" not in bot.answer(FOUNTAIN_Q).text
    bot.close()
    assert files_left_open(store) == []


def test_close_frees_the_local_models_the_service_loaded(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp")
    from qa_bot.generation import models

    freed = []

    class FakeLlama:
        def close(self):
            freed.append(self)

    monkeypatch.setattr(models, "_load_llama", lambda path, threads, ctx: FakeLlama())
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")  # never read: loading is faked
    bot = QABot(qa_settings(tmp_path / "store", local_model_path=gguf))
    model = bot.models("local")
    llm, _ = model.llama()
    assert model.llama()[0] is llm and bot.models("local").llama()[0] is llm  # loaded once, in the service's pool
    assert bot.models.llamas is not models.SHARED_LLAMAS
    bot.close()
    assert freed == [llm]


# --- the chain takes its collaborators -----------------------------------------------------------------------------
class FakeRetriever:
    def __init__(self, hits):
        self.hits, self.queries = hits, []

    def search(self, query, k=None):
        self.queries.append((query, k))
        return list(self.hits)[: k or 4]

    def document_terms(self, doc_id, content_hash):
        return None  # unknown: the chain reads the passages alone


class FakeEmbedder:
    """Every text the same unit vector: similarity 1, so only the question-word overlap ranks sentences."""

    def embed_documents(self, texts):
        return [[1.0, 0.0] for _ in texts]

    def embed_query(self, text):
        return [1.0, 0.0]


def test_the_bot_answers_from_the_collaborators_it_is_given(tmp_path):
    from qa_bot.pipeline import Bot
    from qa_bot.verify.abstain import Calibrator

    text = "The Zorblax fountain sprays violet water on Tuesdays."
    chunk = Chunk("fountain::1", "fountain", "Fountain note", "/docs/fountain.txt", 15, 15 + len(text), text, "h")
    hit = SearchHit(chunk, 1.0, 0.9, None, 1)
    retriever, asked = FakeRetriever([hit]), []
    assert isinstance(retriever, stages.Retriever) and isinstance(FakeEmbedder(), stages.Embedder)

    def no_models(name):
        asked.append(name)
        raise AssertionError("the extractive generator needs no model")

    settings = qa_settings(tmp_path / "unused", generator="extractive")
    bot = Bot(settings, retriever, FakeEmbedder(), no_models, Calibrator.load(settings.verification.abstain_model))
    a = next(i for i in bot.run(FOUNTAIN_Q, top_k=3) if isinstance(i, Answer))
    assert "violet" in a.text and [c.doc_id for c in a.citations] == ["fountain"]
    assert retriever.queries == [(FOUNTAIN_Q, 3)] and asked == []
    assert not (tmp_path / "unused").exists()  # no store was opened


def test_the_real_collaborators_fit_the_stage_protocols(tmp_path):
    with QABot(qa_settings(tmp_path / "store", generator="extractive")) as bot:
        bot.ingest([notes(tmp_path / "docs", fountain=FOUNTAIN)])
        assert isinstance(bot.bot.retriever, stages.Retriever)
        assert isinstance(bot.embedder, stages.Embedder) and bot.bot.embedder is bot.embedder


# --- the function API ----------------------------------------------------------------------------------------------
def test_the_function_api_uses_one_default_service_per_settings(tmp_path):
    from qa_bot import answer, get_bot, ingest

    s1 = qa_settings(tmp_path / "one", generator="extractive")
    s2 = qa_settings(tmp_path / "two", generator="extractive")
    assert ingest([notes(tmp_path / "a", fountain=FOUNTAIN)], s1).added == 1
    assert default_service(s1) is default_service(s1.model_copy()) is not default_service(s2)
    assert list(default_service(s1).documents()) == ["fountain"]
    assert "violet" in answer(FOUNTAIN_Q, settings=s1).text
    assert get_bot(s1) is default_service(s1).bot
    # default services share the embedder (loading it is the expensive part), not the store
    assert default_service(s1).embedder is default_service(s2).embedder


# --- the apps go through it ----------------------------------------------------------------------------------------
class RecordingService:
    """Stands in for QABot: records each call, answers from a script."""

    made: ClassVar[list[RecordingService]] = []

    def __init__(self, settings=None, **kw):
        self.settings, self.calls, self.closed = settings, [], False
        RecordingService.made.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.closed = True

    def stream(self, question, history=None, *, generator=None, top_k=None, stages=False):
        self.calls.append(("stream", question, generator))
        yield "Stand-in answer [1]."
        yield Answer(question=question, text="Stand-in answer.", generator=generator or "extractive")

    def search(self, query, k=None):
        self.calls.append(("search", query, k))
        return []

    def documents(self, *, missing_ok=False):
        from qa_bot.index.store import DocRecord

        self.calls.append(("documents", missing_ok))
        return {"memo": DocRecord("memo", "A memo", "/docs/memo.txt", "h", 3, None)}

    def remove(self, doc_ids, *, on_wait=None):
        self.calls.append(("remove", list(doc_ids)))
        return [d for d in doc_ids if d == "memo"]

    def ingest(self, paths, **kw):
        self.calls.append(("ingest", [str(p) for p in paths]))
        return IngestReport(files=1, added=1, chunks=1)

    def read_document(self, path):
        from qa_bot.ingestion.loaders import load_document

        self.calls.append(("read_document", Path(path).name))
        return load_document(Path(path))


def test_the_cli_goes_through_the_service(monkeypatch, tmp_path, capsys):
    from qa_bot import service
    from qa_bot.apps.cli import main

    monkeypatch.setattr(service, "QABot", RecordingService)
    RecordingService.made.clear()
    store = ["--store", str(tmp_path / "store")]
    assert main(["docs", *store]) == 0 and "A memo" in capsys.readouterr().out
    assert main(["search", "memo", *store]) == 0
    assert main(["ask", "-g", "extractive", "What is in the memo?", *store]) == 0
    assert "Stand-in answer." in capsys.readouterr().out
    assert main(["remove", "memo", *store]) == 0
    assert main(["ingest", "-q", str(QA_SEEDS), *store]) == 0
    calls = [c for svc in RecordingService.made for c in svc.calls]
    assert [c[0] for c in calls] == ["documents", "search", "stream", "remove", "ingest"]
    assert calls[2] == ("stream", "What is in the memo?", None)  # the generator comes with the settings
    assert RecordingService.made[2].settings.generation.generator == "extractive"
    assert all(svc.closed for svc in RecordingService.made) and len(RecordingService.made) == 5


def test_the_web_app_goes_through_the_service(monkeypatch, tmp_path):
    from qa_bot.apps import web as ui

    monkeypatch.setattr(ui, "QABot", RecordingService)
    app = ui.WebApp(qa_settings(tmp_path / "store", generator="extractive"))
    svc = app.service
    assert isinstance(svc, RecordingService) and svc.settings is app.settings
    *_, last = app.chat("What is in the memo?", [], "extractive", 4)
    assert ui.plain_answer(last[-1]["content"]) == "Stand-in answer."
    assert app.ask("What is in the memo?")["text"] == "Stand-in answer."
    assert "A memo" in app.documents_html() and app.document_choices() == [("A memo · memo.txt", "memo")]
    assert "Removed A memo (3 chunks)" in app.remove("memo")
    upload = tmp_path / "note.txt"
    upload.write_text(FOUNTAIN)
    status, _ = app.upload([str(upload)])
    assert "Indexed note.txt" in status
    kinds = [c[0] for c in svc.calls]
    assert kinds.count("stream") == 2 and "remove" in kinds and "ingest" in kinds and "read_document" in kinds
    app.close()
    assert svc.closed

    given = RecordingService(app.settings)  # a service made by the caller stays the caller's to close
    ui.WebApp(service=given).close()
    assert not given.closed


def test_the_evaluation_answers_through_a_service_it_closes(monkeypatch, tmp_path):
    from qa_bot.evaluation import evaluate

    made = []

    class Tracked(QABot):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.closes = 0
            made.append(self)

        def close(self):
            self.closes += 1
            super().close()

    monkeypatch.setattr(evaluate, "QABot", Tracked)
    run = evaluate.run_eval(
        QA_ROOT / "eval" / "seeds_questions.jsonl",
        docs=QA_SEEDS,
        generator="extractive",
        limit=2,
        settings=qa_settings(tmp_path / "unused"),
    )
    assert len(run.results) == 2 and not any(r["error"] for r in run.results)
    assert len(made) == 1 and made[0].closes == 1
