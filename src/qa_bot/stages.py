"""The pluggable stages of the answer chain, as small Protocols: what ``pipeline.Bot``'s constructor takes.

A test (or another deployment) passes its own objects of these shapes to ``Bot(...)`` instead of the real ones that
``Bot.from_settings`` builds; nothing has to subclass anything. Which implementation a configured *name* means is
``registry.py``'s business, not this module's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

from qa_bot.schema import SearchHit


@runtime_checkable
class Retriever(Protocol):
    """Finds the passages for a query, best first (``retrieval.hybrid.Retriever``: dense + BM25, fused, MMR-ordered)."""

    def search(self, query: str, k: int | None = None) -> list[SearchHit]: ...

    def document_terms(self, doc_id: str, content_hash: str) -> frozenset[str] | None:
        """The terms (``text.passage_terms``) of an indexed document's whole text, for the version whose chunks carry
        ``content_hash`` (None when the document is not known): where the answer chain looks for the question's names
        and numbers that a passage itself does not repeat."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Text -> vectors: LangChain's ``Embeddings`` interface, which ``index.embeddings.MiniLMEmbeddings`` and
    ``langchain_openai.OpenAIEmbeddings`` implement. The answer chain embeds the sentences of the retrieved passages
    with it; ingestion embeds chunks. It must be the embedder the store was built with (``Store`` checks its identity).
    """

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


@runtime_checkable
class Generator(Protocol):
    """The chat model the answer chain streams from.

    Any LangChain ``BaseChatModel`` fits, and in practice it must be a LangChain ``Runnable``: the chain composes it as
    ``prompt | generator | StrOutputParser()`` and streams that, and the calibrated self-check calls ``bind``/``invoke``
    (or, for ``generation.models.LocalChatModel``, reads the logits). In tests, langchain-core's
    ``GenericFakeChatModel`` or a small ``BaseChatModel`` subclass with a scripted ``_generate`` stands in."""

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any: ...

    def stream(self, input: Any, config: Any = None, **kwargs: Any) -> Iterator[Any]: ...

    def bind(self, **kwargs: Any) -> Any: ...


# Generator name (``registry.GENERATORS``) -> its chat model. ``generation.models.ChatModels`` is the real one; the Bot
# asks once per name and keeps what it got.
GeneratorFactory = Callable[[str], Generator]

__all__ = ["Embedder", "Generator", "GeneratorFactory", "Retriever"]
