"""Fakes for the unit tests: a scripted chat model and a deterministic embedder, plugged in through qa_bot.registry.

The idea is simonw/llm's tests/conftest.py (a MockModel whose replies are queued by the test and which keeps the
prompts it was given, registered as a plugin for the test's duration): the answer chain's logic runs for real, in
milliseconds, with no model loaded. What a real model does with the prompts is the integration tests' business.

The registry builds models from "module:function" factories that take only the settings, so the factories below hand
out the instance the active test put in ``ACTIVE`` (tests/unit/conftest.py: ``scripted_model``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

GENERATOR = "scripted"
EMBEDDER = "hashing"


class ScriptExhausted(AssertionError):
    """The chain asked the scripted model for one more reply than the test scripted."""


class ScriptedChatModel(BaseChatModel):
    """A chat model whose replies are a script: each call (invoke or stream) takes the next reply in order.

    ``prompts`` records the messages of every call, ``checks`` those of every yes/no self-check (answered with
    ``p_yes``, as the local model reads P(yes) from its logits). A streamed reply arrives in pieces of at most
    ``chunk_chars`` characters, so a consumer sees several deltas, as from a real model. ``p_first`` is the probability
    it reports for the first token of a reply it gave. Sampled replies (the ``consistency`` signal) are ``samples``
    when a test sets them, else the last reply repeated (a model sure of its answer); ``sampled`` records those calls.
    """

    replies: list[str] = Field(default_factory=list)
    p_yes: float = 0.97
    p_first: float = 0.9
    chunk_chars: int = 6
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    checks: list[list[BaseMessage]] = Field(default_factory=list)
    samples: list[str] | None = None
    sampled: list[list[BaseMessage]] = Field(default_factory=list)
    given: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "qa-bot-tests-scripted"

    def script(self, *replies: str) -> ScriptedChatModel:
        """Queue replies, in the order the chain will ask for them."""
        self.replies.extend(replies)
        return self

    def prompt_texts(self) -> list[str]:
        """Every recorded call as one string (its messages' contents joined), in call order."""
        return ["\n".join(str(m.content) for m in messages) for messages in self.prompts]

    def _next_reply(self, messages: list[BaseMessage]) -> str:
        self.prompts.append(list(messages))
        if not self.replies:
            raise ScriptExhausted(f"no scripted reply left for call {len(self.prompts)}: {messages[-1].content!r}")
        self.given.append(self.replies.pop(0))
        return self.given[-1]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._next_reply(messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._next_reply(messages)
        for start in range(0, len(reply), self.chunk_chars):
            yield ChatGenerationChunk(message=AIMessageChunk(content=reply[start : start + self.chunk_chars]))

    def yes_probability(self, messages: list[BaseMessage], reuse_cache: bool = False) -> float:
        """P(yes) for the self-check question (qa_bot.generation.models.ReadsProbabilities)."""
        self.checks.append(list(messages))
        return self.p_yes

    def first_token_probability(self, messages: list[BaseMessage], reply: str) -> float:
        """How sure the model was of its reply's first token (qa_bot.generation.models.ReadsProbabilities)."""
        return self.p_first

    def sample(self, messages: list[BaseMessage], n: int, temperature: float, max_tokens: int) -> list[str]:
        """Sampled replies (qa_bot.generation.models.SamplesReplies)."""
        self.sampled.append(list(messages))
        return list(self.samples) if self.samples is not None else self.given[-1:] * n


# Words that say nothing about a text's subject: left out, so that similarity comes from the words that do.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "s",
        "she",
        "that",
        "the",
        "their",
        "they",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
    ]
)


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS]


class HashingEmbeddings(Embeddings):
    """Bag of words hashed into a fixed-size vector, L2-normalised: texts sharing words are near (cosine > 0), texts
    sharing none are orthogonal. Deterministic across processes (blake2b, not Python's salted hash())."""

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension

    def _vector(self, text: str) -> list[float]:
        v = np.zeros(self.dimension, dtype=np.float32)
        for w in words(text):
            h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            v[h % self.dimension] += 1.0
        norm = float(np.linalg.norm(v))
        if norm == 0.0:  # no content word at all: a fixed unit vector, so every text has a direction
            v[0], norm = 1.0, 1.0
        return (v / norm).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


# The instances the registry's factories hand out while a test runs (set and cleared by tests/unit/conftest.py).
ACTIVE: dict[str, ScriptedChatModel] = {}


def scripted_chat_model(settings) -> ScriptedChatModel:
    """Registry factory of the ``scripted`` generator: the active test's model."""
    try:
        return ACTIVE[GENERATOR]
    except KeyError:
        raise AssertionError("the scripted generator is used outside the scripted_model fixture") from None


def hashing_embeddings(settings) -> HashingEmbeddings:
    """Registry factory of the ``hashing`` embedder (stateless: a new one is as good as the last)."""
    return HashingEmbeddings()
