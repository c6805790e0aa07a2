"""Unit fixtures: no model is loaded at this level. The answer chain runs with a scripted chat model and a hashing
embedder (tests/unit/fakes.py), registered through qa_bot.registry like any plugin, over a small real Chroma store in
a temp folder; the registry is restored after each use.
"""

from __future__ import annotations

import pytest
from fakes import ACTIVE, EMBEDDER, GENERATOR, ScriptedChatModel
from support.planted import planted_files
from support.project import copy_seeds, store_settings

from qa_bot import registry
from qa_bot.registry import EmbedderSpec, GeneratorSpec
from qa_bot.service import close_default_services


@pytest.fixture(autouse=True)
def no_model_loading(monkeypatch):
    """Building the MiniLM embedder or loading a llama.cpp model fails the test at once: such a test belongs in
    tests/integration."""
    from qa_bot.generation import models
    from qa_bot.index import embeddings

    def refuse(*args, **kwargs):
        raise AssertionError("a unit test tried to load a model (MiniLM or llama.cpp): move it to tests/integration")

    monkeypatch.setattr(embeddings.MiniLMEmbeddings, "__init__", refuse)
    monkeypatch.setattr(models, "_load_llama", refuse)


@pytest.fixture(scope="module")
def hashing_embedder():
    """The ``hashing`` embedder (fakes.HashingEmbeddings) registered for one test module; the registry restored
    after."""
    saved = dict(registry.EMBEDDERS)
    registry.register_embedder(
        EmbedderSpec(
            EMBEDDER,
            "hashed bag of words (tests only)",
            factory="fakes:hashing_embeddings",
            identity=lambda s: "hashing-bow-256",
        )
    )
    yield EMBEDDER
    registry.EMBEDDERS.clear()
    registry.EMBEDDERS.update(saved)


@pytest.fixture(scope="module")
def fake_store(hashing_embedder, tmp_path_factory):
    """Settings of a real embedded Chroma store in a temp folder, indexed with the hashing embedder: the two seed
    articles and three documents full of planted orders (support.planted). The extractive generator by default; the
    relevance floor lowered to what bag-of-words cosines reach. Tests must not change it."""
    from qa_bot.ingestion.indexer import ingest

    docs = copy_seeds(tmp_path_factory.mktemp("fake_docs"))
    for name, text in planted_files().items():
        (docs / name).write_text(text, encoding="utf-8")
    settings = store_settings(
        tmp_path_factory.mktemp("fake_store"), embedder=EMBEDDER, generator="extractive", min_relevance=0.1
    )
    report = ingest([docs], settings)
    assert report.ok and report.added == 5, report
    return settings


@pytest.fixture
def scripted_model():
    """A fresh ScriptedChatModel registered as the ``scripted`` generator for one test (queue its replies with
    ``.script(...)``); afterwards the registry is restored and cached bots, which hold their models, are dropped."""
    saved = dict(registry.GENERATORS)
    model = ScriptedChatModel()
    ACTIVE[GENERATOR] = model
    registry.register_generator(
        GeneratorSpec(GENERATOR, "scripted: a test's queued replies", factory="fakes:scripted_chat_model")
    )
    close_default_services()
    yield model
    close_default_services()
    ACTIVE.clear()
    registry.GENERATORS.clear()
    registry.GENERATORS.update(saved)
