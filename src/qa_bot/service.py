"""``QABot``: the one service the web app, the OpenAI-style API, the CLI, the evaluation and the benchmarks go through.

One QABot serves one ``Settings``: it answers (streaming, with stages), ingests, removes and lists documents, and
searches. It owns what is expensive or holds files open, builds each piece on first use, and releases it all in
``close()``: the store handles, the embedder, the answer chain (``pipeline.Bot``) and the local models it loaded.
Using a closed QABot opens what it needs again.

    with QABot(get_settings(store_dir="my-store")) as bot:
        bot.ingest(["docs/"])
        print(bot.answer("Who heads NATO's Military Committee?").text)

The function API (``qa_bot.answer``, ``stream_answer``, ``ingest``, ``get_bot``) has no object to keep these in, so it
uses the default service of its settings (``default_service``), kept in a module-level cache documented below. That and
``generation.models.SHARED_LLAMAS`` (local models no service owns) are the only caches left at module level.
"""

from __future__ import annotations

import gc
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from qa_bot.config import Settings, get_settings
from qa_bot.index.store import DocRecord, NothingIndexed, Store, open_store
from qa_bot.schema import Answer, Document, IngestReport, SearchHit, Stage

if TYPE_CHECKING:
    from qa_bot.generation.models import ChatModels, LlamaPool
    from qa_bot.index.writelock import Notify
    from qa_bot.ingestion.indexer import Progress
    from qa_bot.pipeline import Bot, History
    from qa_bot.stages import Embedder


class QABot:
    """Answers, ingests, lists and removes documents, and searches, for one ``Settings``.

    ``embedder``/``llamas``: shared ones to use instead of building its own (the default services share them); what
    a QABot was given it leaves alone in ``close()``, what it built it releases. Safe to share between threads: answers
    run side by side, writes (ingest, remove) one at a time (and one at a time per store across processes, by the
    store's writer lock)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        llamas: LlamaPool | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self._given_embedder = embedder
        self._llamas = llamas
        self._embedder: Embedder | None = embedder
        self._models: ChatModels | None = None
        self._bot: Bot | None = None
        self._bot_store: Store | None = None  # the chain's own handle: its retriever reads under its own lock
        self._store: Store | None = None  # the handle for listing documents, under self._lock
        self._lock = threading.RLock()
        self._writing = threading.Lock()  # one ingest or removal at a time through this service

    # --- what it owns, built on first use ------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from qa_bot.index.embeddings import get_embeddings

                self._embedder = get_embeddings(self.settings)
            return self._embedder

    @property
    def models(self) -> ChatModels:
        """The generator factory: name -> chat model, local models loaded into a pool this service frees."""
        with self._lock:
            if self._models is None:
                from qa_bot.generation.models import ChatModels

                self._models = ChatModels(self.settings, self._llamas)
            return self._models

    @property
    def bot(self) -> Bot:
        """The answer chain (retriever over this service's store, its embedder and models). Raises ``StoreError`` while
        nothing is indexed."""
        with self._lock:
            if self._bot is None:
                from qa_bot.pipeline import Bot

                store = open_store(self.settings)
                try:
                    self._bot = Bot.from_settings(
                        self.settings, embedder=self.embedder, store=store, models=self.models
                    )
                except BaseException:
                    store.close()
                    raise
                self._bot_store = store
            return self._bot

    def store(self) -> Store:
        """This service's handle on its store (``index.store.open_store`` for these settings), opened on first use.
        Not for concurrent use: the service's own methods use it under its lock."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings)
            return self._store

    # --- answering -----------------------------------------------------------------------------------------------
    def stream(
        self,
        question: str,
        history: History | None = None,
        *,
        generator: str | None = None,
        top_k: int | None = None,
        stages: bool = False,
    ) -> Iterator[str | Answer | Stage]:
        """Text deltas as they are generated, then the final, verified ``Answer``; with ``stages``, a ``Stage`` as each
        step of the chain starts."""
        yield from self.bot.run(question, history or (), generator, top_k, stages)

    def timed_answer(
        self,
        question: str,
        history: History | None = None,
        *,
        generator: str | None = None,
        top_k: int | None = None,
    ) -> tuple[Answer, float]:
        """The final ``Answer`` and the seconds until the first streamed text arrived (what a chat user waits for)."""
        t, first, final = time.perf_counter(), None, None
        for item in self.stream(question, history, generator=generator, top_k=top_k):
            if first is None:
                first = time.perf_counter() - t
            if isinstance(item, Answer):
                final = item
        assert final is not None and first is not None
        return final, first

    def answer(
        self,
        question: str,
        history: History | None = None,
        *,
        generator: str | None = None,
        top_k: int | None = None,
    ) -> Answer:
        """``question`` answered from the indexed documents, with verified citations."""
        return self.timed_answer(question, history, generator=generator, top_k=top_k)[0]

    def search(self, query: str, k: int | None = None) -> list[SearchHit]:
        """The ranked passages for ``query`` (no answer generation)."""
        return self.bot.retriever.search(query, k)

    # --- documents -----------------------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[Path | str],
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        prune: bool = True,
        on_wait: Notify | None = None,
    ) -> IngestReport:
        """Index files and folders (incremental; ``rebuild`` starts over). See ``ingestion.indexer.ingest``."""
        from qa_bot.ingestion.indexer import ingest

        with self._writing:
            return ingest(
                paths,
                self.settings,
                rebuild=rebuild,
                progress=progress,
                prune=prune,
                on_wait=on_wait,
                embeddings=self.embedder,
            )

    def remove(self, doc_ids: Iterable[str], *, on_wait: Notify | None = None) -> list[str]:
        """Remove these documents from the index; returns the ids that were indexed (and now are not)."""
        from qa_bot.ingestion.indexer import remove

        with self._writing:
            return remove(list(doc_ids), self.settings, on_wait=on_wait)

    def documents(self, *, missing_ok: bool = False) -> dict[str, DocRecord]:
        """doc_id -> record of every indexed document. A store nothing was ever ingested into raises ``StoreError``
        saying so, or (``missing_ok``) is an empty listing."""
        with self._lock:
            store = self.store()
            try:
                store.open_for_read()
            except NothingIndexed:
                if missing_ok:
                    return {}
                raise
            store.refresh()  # another handle or process may have written since
            return store.registry()

    def read_document(self, path: Path | str) -> Document:
        """Load and clean one file as ingest would, without indexing it: ``UnreadableFile`` says why it can't be."""
        from qa_bot.ingestion.loaders import load_document

        return load_document(Path(path), self.settings.ingestion.max_file_mb)

    def document_text(self, doc_id: str) -> str | None:
        """The cleaned text of an indexed document (what citation offsets point into), or None."""
        with self._lock:
            store = self.store().open_for_read()
            store.refresh()
            return store.document_text(doc_id)

    # --- releasing -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the store handles, the embedder and the local models this service loaded (what ``clear_bots()`` and
        ``unload_local_models()`` did for callers). A later call opens what it needs again. Close it when no answer or
        ingest is under way: one still running would fail."""
        with self._lock:
            self._bot = None
            for store in (self._bot_store, self._store):
                if store is not None:
                    store.close()
            self._bot_store = self._store = None
            if self._models is not None:
                self._models.close()
                self._models = None
            self._embedder = self._given_embedder
        # A chromadb System that a handle forgot on reopen while another handle still used it (index/store.py,
        # _forget_chroma_system) is never stopped: it closes its files when collected, and it sits in reference cycles.
        # Collecting now means the store's files are closed when close() returns.
        gc.collect()

    def __enter__(self) -> QABot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- the function API's default services ------------------------------------------------------------------------------
class _DefaultServices:
    """One ``QABot`` per distinct ``Settings`` for the function API (``qa_bot.answer``, ``stream_answer``,
    ``timed_answer``, ``ingest``, ``get_bot``), kept for the life of the process: a function call has nowhere else to
    keep a loaded embedder, store handle and model between calls, and loading them is the expensive part.

    Its services share one embedder per embedder configuration and the local models of
    ``generation.models.SHARED_LLAMAS``. At most ``MAX`` are kept; the oldest is then dropped, not closed (a caller
    may still be streaming from it), and is freed when collected. ``close_default_services()`` releases them all.
    Apps that own a lifetime (the CLI, the web app, the evaluation, the benchmarks) make a QABot of their own."""

    MAX = 8

    def __init__(self) -> None:
        self._services: OrderedDict[str, QABot] = OrderedDict()
        self._embedders: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    def get(self, settings: Settings) -> QABot:
        from qa_bot.generation.models import SHARED_LLAMAS

        key = _settings_key(settings)
        with self._lock:
            service = self._services.get(key)
            if service is None:
                if len(self._services) >= self.MAX:
                    self._services.popitem(last=False)
                service = QABot(settings, embedder=self._embedder(settings), llamas=SHARED_LLAMAS)
                self._services[key] = service
            return service

    def _embedder(self, settings: Settings) -> Embedder:
        from qa_bot.index.embeddings import embedder_id, get_embeddings

        fields = ("embedder", "embed_batch_size", "openai_base_url", "request_timeout", "max_retries")
        flat = settings.flat_dump()
        key = embedder_id(settings) + json.dumps([flat[f] for f in fields]) + _secret_digest(settings)
        if key not in self._embedders:
            self._embedders[key] = get_embeddings(settings)
        return self._embedders[key]

    def close(self) -> None:
        with self._lock:
            services, self._services = list(self._services.values()), OrderedDict()
            self._embedders.clear()
        for service in services:
            service.close()


def _secret_digest(settings: Settings) -> str:
    secret = settings.generation.openai_api_key.get_secret_value() if settings.generation.openai_api_key else ""
    return hashlib.sha256(secret.encode()).hexdigest()


def _settings_key(settings: Settings) -> str:
    # model_dump_json masks secrets, so the key's digest is added: a changed key must not reuse a client with the old.
    return settings.model_dump_json() + _secret_digest(settings)


_DEFAULTS = _DefaultServices()


def default_service(settings: Settings | None = None) -> QABot:
    """The function API's service for ``settings`` (default: the environment's), made on first use and then reused."""
    return _DEFAULTS.get(settings or get_settings())


def close_default_services() -> None:
    """Close and forget every default service (their stores, models and embedders); the next call makes new ones."""
    from qa_bot.generation.models import unload_local_models

    _DEFAULTS.close()
    unload_local_models()


# --- the function API: each call goes to the default QABot of its settings -----------------------------------------
def get_bot(settings: Settings | None = None) -> Bot:
    """The answer chain of the default service for ``settings`` (``qa_bot.service.default_service``)."""
    return default_service(settings).bot


def stream_answer(
    question: str,
    history: History | None = None,
    *,
    settings: Settings | None = None,
    generator: str | None = None,
    top_k: int | None = None,
    stages: bool = False,
) -> Iterator[str | Answer | Stage]:
    """Yields text deltas as they are generated, then the final, verified ``Answer`` (whose text may differ).

    With ``stages=True`` a ``Stage`` is yielded as each step of the chain starts, so a user sees progress at once.
    Runs on the default service for ``settings`` (``QABot.stream`` on a service of your own does the same)."""
    yield from default_service(settings).stream(question, history, generator=generator, top_k=top_k, stages=stages)


def timed_answer(
    question: str,
    history: History | None = None,
    *,
    settings: Settings | None = None,
    generator: str | None = None,
    top_k: int | None = None,
) -> tuple[Answer, float]:
    """The final ``Answer`` and the seconds until the first streamed text arrived (what a chat user waits for)."""
    return default_service(settings).timed_answer(question, history, generator=generator, top_k=top_k)


def answer(
    question: str,
    history: History | None = None,
    *,
    settings: Settings | None = None,
    generator: str | None = None,
    top_k: int | None = None,
) -> Answer:
    """Answer ``question`` from the indexed documents, with verified citations.

    ``history``: earlier turns, as (question, answer) pairs or ``{"role": "user"|"assistant", "content": ...}``
    messages; ``top_k``: passages to retrieve (1-50; default QA_BOT_TOP_K)."""
    return timed_answer(question, history, settings=settings, generator=generator, top_k=top_k)[0]


def ingest(
    paths: Iterable[Path | str],
    settings: Settings | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    prune: bool = True,
    on_wait: Notify | None = None,
) -> IngestReport:
    """Index files and folders into the store of ``settings``, through its default service (see ``QABot.ingest``)."""
    return default_service(settings).ingest(paths, rebuild=rebuild, progress=progress, prune=prune, on_wait=on_wait)
