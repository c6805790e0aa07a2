"""The one place that knows the names of the pluggable stages: generators and embedders.

A configured name (``QA_BOT_GENERATOR``, ``QA_BOT_EMBEDDER``, the CLI's ``--generator``, the web chat's menu, the
``model`` of an OpenAI-style request) is looked up here, and only here. Implementations are imported when first
built, so reading this module (which the settings do, to check names) loads no model library.

Adding a generator is one module with a ``build(settings) -> BaseChatModel`` function plus one ``GeneratorSpec``
line in ``GENERATORS`` below; docs/ARCHITECTURE.md walks through an example.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from qa_bot.schema import QABotError

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel

    from qa_bot.config import Settings


def _load(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)


@dataclass(frozen=True)
class GeneratorSpec:
    """A generator: a LangChain chat model the answer chain streams from, or (``factory=None``) none at all."""

    name: str
    summary: str  # one line beside the choice in the web chat's menu
    factory: (
        str | None
    )  # "module:function" taking Settings and returning a BaseChatModel; None: answers without a model
    # One in-process model serves one request at a time: the web app queues its users on a lock per such generator.
    one_at_a_time: bool = False

    @property
    def uses_model(self) -> bool:
        return self.factory is not None

    def build(self, settings: Settings) -> BaseChatModel:
        if self.factory is None:
            raise QABotError(f"the {self.name} generator uses no language model")
        return _load(self.factory)(settings)


@dataclass(frozen=True)
class EmbedderSpec:
    """An embedder: LangChain ``Embeddings``, plus the identity a store records so it is never read with another."""

    name: str
    summary: str
    factory: str  # "module:function" taking Settings and returning Embeddings
    identity: Callable[[Settings], str]

    def build(self, settings: Settings) -> Embeddings:
        return _load(self.factory)(settings)


GENERATORS: dict[str, GeneratorSpec] = {
    spec.name: spec
    for spec in (
        GeneratorSpec("extractive", "extractive: quotes sentences, no LLM, instant", factory=None),
        GeneratorSpec(
            "local",
            "local: Qwen 1.5B on this CPU (~10 s)",
            factory="qa_bot.generation.models:local_chat_model",
            one_at_a_time=True,
        ),
        GeneratorSpec(
            "openai", "openai: an OpenAI-compatible model server", factory="qa_bot.generation.models:openai_chat_model"
        ),
    )
}

EMBEDDERS: dict[str, EmbedderSpec] = {
    spec.name: spec
    for spec in (
        EmbedderSpec(
            "minilm",
            "all-MiniLM-L6-v2 int8 ONNX, packaged: offline",
            factory="qa_bot.index.embeddings:minilm_embeddings",
            identity=lambda s: "minilm-int8",
        ),
        EmbedderSpec(
            "openai",
            "OpenAI (or compatible) embeddings endpoint",
            factory="qa_bot.index.embeddings:openai_embeddings",
            identity=lambda s: f"openai:{s.embedding.openai_embedding_model}",
        ),
    )
}


def generator(name: str) -> GeneratorSpec:
    try:
        return GENERATORS[name]
    except KeyError:
        raise QABotError(f"unknown generator '{str(name)[:40]}' (choose {', '.join(GENERATORS)})") from None


def embedder(name: str) -> EmbedderSpec:
    try:
        return EMBEDDERS[name]
    except KeyError:
        raise QABotError(f"unknown embedder '{str(name)[:40]}' (choose {', '.join(EMBEDDERS)})") from None


def register_generator(spec: GeneratorSpec) -> None:
    """Add (or replace) a generator at run time: a plugin, or a test's scripted model."""
    GENERATORS[spec.name] = spec


def register_embedder(spec: EmbedderSpec) -> None:
    EMBEDDERS[spec.name] = spec


def auto_generator(settings: Settings) -> str:
    """``QA_BOT_GENERATOR=auto``: a configured OpenAI-compatible server, else the local model if installed, else
    extractive."""
    if settings.generation.openai_api_key is not None or settings.generation.openai_base_url:
        return "openai"
    return "local" if find_spec("llama_cpp") is not None else "extractive"


# What a web user may pick when the operator has not listed generators: the server's own choice and the one that
# costs nothing. Anything else could send the documents out on the operator's API key, or load a 1 GB model, on a click.
ALWAYS_OFFERED = "extractive"
