"""LLM generators, chosen by configuration: ``local`` (llama.cpp in-process) or ``openai`` (any OpenAI-compatible
server).

Both are LangChain chat models, so the answer chain streams from either the same way. ``explain_error`` turns whatever
a model call raised into one clear ``QABotError`` line that never contains the API key.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ChatMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr, SecretStr

from qa_bot.config import PLACEHOLDER_API_KEY, Settings
from qa_bot.generation.local_model import INSTALL_HINT, local_model_file
from qa_bot.schema import QABotError
from qa_bot.stages import Generator

log = logging.getLogger(__name__)

OPENAI_DEFAULT_HOST = "api.openai.com"

# --------------------------------------------------------------------------------------------------------------------
# local: llama.cpp in this process
# --------------------------------------------------------------------------------------------------------------------


class LlamaPool:
    """Loaded llama.cpp models: one ``llama_cpp.Llama`` per (path, threads, ctx), each with the lock that guards its
    (unsafe) context. Owned by whoever creates it: a ``QABot`` makes one for its chat models and frees it on close."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
        self._lock = threading.Lock()

    def get(self, path: str, threads: int, ctx: int) -> tuple[Any, threading.Lock]:
        key = (path, threads, ctx)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = (_load_llama(path, threads, ctx), threading.Lock())
            return self._loaded[key]

    def close(self) -> None:
        """Free every loaded model, each once no answer is using it (the next use loads it again)."""
        with self._lock:
            for llm, lock in self._loaded.values():
                with lock:
                    llm.close()
            self._loaded.clear()


def _load_llama(path: str, threads: int, ctx: int) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as e:
        raise QABotError(f"the local generator needs llama-cpp-python: {INSTALL_HINT}") from e
    try:
        return Llama(
            model_path=path,
            n_threads=threads,
            n_threads_batch=threads,  # prompt processing too; llama-cpp-python defaults this to every core
            n_ctx=ctx,
            verbose=False,
        )
    except MemoryError as e:
        raise QABotError(f"not enough memory to load the local model {path}") from e
    except (ValueError, RuntimeError) as e:
        raise QABotError(f"cannot load the local model {path}: not a GGUF file llama.cpp can read ({e})") from e


# The pool of local chat models that no QABot owns: built by get_chat_model directly (tests, plugins, scripts), and the
# function API's default services (qa_bot.answer() and friends, which keep theirs for the process anyway).
SHARED_LLAMAS = LlamaPool()


def unload_local_models() -> None:
    """Free the local models of ``SHARED_LLAMAS`` (tests and scripts; the next call reloads). A QABot frees its own in
    ``close()``."""
    SHARED_LLAMAS.close()


_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def _to_llama_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    out = []
    for m in messages:
        if isinstance(m, ChatMessage):
            role = m.role
        elif isinstance(m, (HumanMessage, AIMessage, SystemMessage)):
            role = _ROLES[m.type]
        else:
            raise QABotError(f"the local generator cannot take a {m.type} message")
        out.append({"role": role, "content": str(m.text)})
    return out


_PASSTHROUGH = ("temperature", "max_tokens", "top_p", "top_k", "seed", "repeat_penalty")


class LocalChatModel(BaseChatModel):
    """A chat model backed by ``llama_cpp.Llama.create_chat_completion`` with the GGUF's own chat template."""

    model_path: str
    n_threads: int = Field(default=2, ge=1)
    n_ctx: int = Field(default=4096, ge=256)
    temperature: float = 0.0
    max_tokens: int = 300
    deterministic: bool = True
    """Re-evaluate the whole prompt on every call. llama.cpp otherwise reuses the KV cache of a shared prompt prefix,
    and the different batching changes logits slightly, so greedy decoding of the same prompt can give different
    text from call to call. Costs the prefix's prompt-processing time (~140 tok/s for Qwen 1.5B on 2 threads)."""

    @property
    def _llm_type(self) -> str:
        return "qa-bot-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "n_threads": self.n_threads,
            "n_ctx": self.n_ctx,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "deterministic": self.deterministic,
        }

    @property
    def model_name(self) -> str:
        return Path(self.model_path).name

    _pool: LlamaPool | None = PrivateAttr(default=None)

    def use_pool(self, pool: LlamaPool) -> LocalChatModel:
        """Load the model into ``pool`` (its owner frees it) instead of ``SHARED_LLAMAS``."""
        self._pool = pool
        return self

    def llama(self) -> tuple[Any, threading.Lock]:
        """The loaded ``Llama`` (once per pool) and its lock."""
        return (self._pool or SHARED_LLAMAS).get(self.model_path, self.n_threads, self.n_ctx)

    def _call_args(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        args: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        args.update({k: v for k, v in kwargs.items() if k in _PASSTHROUGH})
        return {"messages": _to_llama_messages(messages), "stop": list(stop or []), **args}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        args = self._call_args(messages, stop, kwargs)
        llm, lock = self.llama()
        try:
            with lock:
                if self.deterministic:
                    llm.reset()
                resp = llm.create_chat_completion(**args, stream=False)
        except Exception as e:
            raise _llama_error(e, self.model_path) from e
        choice = resp["choices"][0]
        usage = resp.get("usage") or {}
        msg = AIMessage(
            content=choice["message"].get("content") or "",
            response_metadata={"model_name": self.model_name, "finish_reason": choice.get("finish_reason")},
            usage_metadata={
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
        )
        return ChatResult(
            generations=[ChatGeneration(message=msg, generation_info={"finish_reason": choice.get("finish_reason")})]
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # langchain-core 1.7 calls on_llm_new_token itself for every chunk _stream yields, so we do not.
        args = self._call_args(messages, stop, kwargs)
        llm, lock = self.llama()
        finish = None
        with lock:  # held until the stream is exhausted or closed: one generation at a time per context
            try:
                if self.deterministic:
                    llm.reset()
                for part in llm.create_chat_completion(**args, stream=True):
                    choice = part["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    text = choice.get("delta", {}).get("content")
                    if text:
                        yield ChatGenerationChunk(message=AIMessageChunk(content=text))
            except GeneratorExit:
                raise
            except Exception as e:
                raise _llama_error(e, self.model_path) from e
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                chunk_position="last",
                response_metadata={"model_name": self.model_name, "finish_reason": finish},
            ),
            generation_info={"finish_reason": finish},
        )

    def sample(self, messages: list[BaseMessage], n: int, temperature: float, max_tokens: int) -> list[str]:
        """``n`` replies sampled at ``temperature`` (seeds 1..n, so the same prompt gives the same samples). Asked right
        after the greedy reply to the same prompt, llama.cpp keeps the prompt's evaluated prefix: each sample costs
        only its own tokens."""
        llm, lock = self.llama()
        chat = _to_llama_messages(messages)
        out = []
        try:
            with lock:
                for seed in range(1, n + 1):
                    resp = llm.create_chat_completion(
                        messages=chat, temperature=temperature, seed=seed, max_tokens=max_tokens
                    )
                    out.append(resp["choices"][0]["message"].get("content") or "")
        except Exception as e:
            raise _llama_error(e, self.model_path) from e
        return out

    def yes_probability(self, messages: list[BaseMessage], reuse_cache: bool = False) -> float:
        """P(yes) / (P(yes) + P(no)) for the first token of the reply, read from the logits of one forward pass.

        ``reuse_cache``: keep the evaluated prefix this prompt shares with the previous call (a follow-on turn of the
        conversation just generated), so only the new tokens are processed."""
        llm, probs = self._next_token_probabilities(messages, reuse_cache)
        return _yes_share(lambda word: float(sum(probs[t] for t in _single_tokens(llm, word))))

    def first_token_probability(self, messages: list[BaseMessage], reply: str) -> float:
        """The probability of ``reply``'s first token as the first token of the model's reply to ``messages``: how sure
        the model was of how its answer begins. Asked right after that reply was generated, the prompt is still in the
        cache and only its last token is processed again."""
        llm, probs = self._next_token_probabilities(messages, reuse_cache=True)
        first = llm.tokenize(reply.encode(), add_bos=False, special=False)[:1]
        return float(probs[first[0]]) if first else 0.0

    def prompt_tokens(self, messages: list[BaseMessage]) -> list[int]:
        """``messages`` rendered with the GGUF's own chat template, ready for a reply, as token ids."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm, _ = self.llama()
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise QABotError(f"the local model {self.model_name} has no chat template")
        vocab = llm._model  # private: the template needs the bos/eos token texts, as llama-cpp-python does
        eos, bos = vocab.token_eos(), vocab.token_bos()
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.token_get_text(eos) if eos != -1 else "",
            bos_token=vocab.token_get_text(bos) if bos != -1 else "",
        )
        # llama-cpp-python types the messages as per-role TypedDicts; ours are plain role/content dicts (a ChatMessage
        # may carry any role), which its Jinja formatter renders all the same.
        prompt = formatter(messages=_to_llama_messages(messages)).prompt  # type: ignore[arg-type]
        return llm.tokenize(prompt.encode(), add_bos=False, special=True)

    def _next_token_probabilities(self, messages: list[BaseMessage], reuse_cache: bool) -> tuple[Any, Any]:
        """The loaded model and its distribution over the first token of the reply to ``messages``."""
        import numpy as np

        llm, lock = self.llama()
        try:
            tokens = self.prompt_tokens(messages)
            with lock:
                keep = 0
                if reuse_cache:
                    # The common prefix of the evaluated tokens and the new prompt, less its last token: that one is
                    # always evaluated again so the logits are the prompt's.
                    for old, new in zip(llm.input_ids[: llm.n_tokens].tolist(), tokens[:-1], strict=False):
                        if old != new:
                            break
                        keep += 1
                llm.n_tokens = keep
                llm.eval(tokens[keep:])
                # Only the last position's logits are computed (logits_all=False): row 0 of the context's output.
                logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        except QABotError:
            raise
        except Exception as e:
            raise _llama_error(e, self.model_path) from e
        probs = np.exp(logits - logits.max())
        return llm, probs / probs.sum()


def _single_tokens(llm: Any, word: str) -> set[int]:
    """Token ids that spell ``word`` (as first token of a reply) on their own."""
    out = set()
    for variant in (word, " " + word):
        ids = llm.tokenize(variant.encode(), add_bos=False, special=False)
        if len(ids) == 1:
            out.add(ids[0])
    return out


def _yes_share(prob_of: Any) -> float:
    yes = sum(prob_of(w) for w in ("yes", "Yes", "YES"))
    no = sum(prob_of(w) for w in ("no", "No", "NO"))
    return 0.5 if yes + no <= 0 else yes / (yes + no)


@runtime_checkable
class ReadsProbabilities(Protocol):
    """A chat model that reads its own next-token probabilities (the local model from its logits; a test's scripted
    model)."""

    def yes_probability(self, messages: list[BaseMessage], reuse_cache: bool = False) -> float: ...

    def first_token_probability(self, messages: list[BaseMessage], reply: str) -> float: ...


@runtime_checkable
class SamplesReplies(Protocol):
    """A chat model with its own way to sample several replies to one prompt (the local model reuses its KV cache)."""

    def sample(self, messages: list[BaseMessage], n: int, temperature: float, max_tokens: int) -> list[str]: ...


def sample_replies(
    model: Generator, messages: list[BaseMessage], n: int, temperature: float, max_tokens: int = 48
) -> list[str]:
    """``n`` replies to ``messages`` sampled at ``temperature``, seeds 1..n: the model's own way (``SamplesReplies``),
    else one request each (an OpenAI-compatible server; under the model's own token limit, since the field a limit
    is sent in differs between servers: see ``openai_chat_model``)."""
    if isinstance(model, SamplesReplies):
        return model.sample(messages, n, temperature, max_tokens)
    return [str(model.bind(temperature=temperature, seed=seed).invoke(messages).content) for seed in range(1, n + 1)]


def yes_probability(model: Generator, messages: list[BaseMessage], reuse_cache: bool = False) -> float:
    """The model's P(yes) for a yes/no question: its own reading if it has one (``ReadsProbabilities``: the local
    model's logits), from the first token's log-probabilities (OpenAI-compatible servers that return them), else
    1.0 / 0.0 / 0.5 from the reply text."""
    if isinstance(model, ReadsProbabilities):
        return model.yes_probability(messages, reuse_cache)
    table, msg = _first_token_table(model, messages, fallback_tokens=2)
    if table:
        return _yes_share(lambda w: sum(p for tok, p in table.items() if tok.strip() == w))
    reply = str(msg.content).strip().lower() if msg is not None else ""
    return 1.0 if reply.startswith("yes") else 0.0 if reply.startswith("no") else 0.5


def first_token_probability(model: Generator, messages: list[BaseMessage], reply: str) -> float:
    """The probability of ``reply``'s first token as the model's first reply token to ``messages`` (its own reading,
    or a server's top log-probabilities for one more token); 0.5, no information, when the server returns none."""
    if isinstance(model, ReadsProbabilities):
        return model.first_token_probability(messages, reply)
    table, _ = _first_token_table(model, messages, fallback_tokens=0)
    text = reply.lstrip()
    # The longest listed token the reply begins with; a first token outside the top list was at most that unlikely.
    begins = [(len(tok.strip()), p) for tok, p in table.items() if tok.strip() and text.startswith(tok.strip())]
    if begins:
        return max(begins)[1]
    return min(table.values()) if table else 0.5


def _first_token_table(model: Generator, messages: list[BaseMessage], fallback_tokens: int) -> tuple[dict, Any]:
    """{token text: probability} of the first reply token from a server's top log-probabilities ({} if it gives
    none), and the reply message (None when the server rejected the request and no fallback was asked for)."""
    import math

    try:
        msg = model.bind(logprobs=True, top_logprobs=10, max_tokens=1).invoke(messages)
    except Exception:
        if not fallback_tokens:
            return {}, None
        # A server that rejects logprobs: the plain reply still says yes or no.
        return {}, model.bind(max_tokens=fallback_tokens).invoke(messages)
    content = ((msg.response_metadata or {}).get("logprobs") or {}).get("content") or []
    table: dict[str, float] = {}
    if content and content[0].get("top_logprobs"):
        for entry in content[0]["top_logprobs"]:
            word = str(entry.get("token", ""))
            table[word] = table.get(word, 0.0) + math.exp(float(entry.get("logprob", -100.0)))
    return table, msg


_CTX_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


def _llama_error(e: BaseException, model_path: str) -> QABotError:
    if isinstance(e, QABotError):
        return e
    m = _CTX_OVERFLOW.search(str(e))
    if m:
        return QABotError(
            f"the prompt ({m.group(1)} tokens) does not fit the local model's context window ({m.group(2)} tokens): "
            "raise QA_BOT_LOCAL_CTX or lower QA_BOT_TOP_K"
        )
    if isinstance(e, MemoryError):
        return QABotError("the local model ran out of memory")
    return QABotError(f"the local model ({Path(model_path).name}) failed: {_one_line(str(e)) or type(e).__name__}")


# --------------------------------------------------------------------------------------------------------------------
# openai: any OpenAI-compatible server
# --------------------------------------------------------------------------------------------------------------------


def _is_openai_host(base_url: str | None) -> bool:
    return not base_url or (urlsplit(base_url).hostname or "").endswith(OPENAI_DEFAULT_HOST)


def openai_chat_model(settings: Settings) -> BaseChatModel:
    """The ``openai`` generator: any OpenAI-compatible chat server (``OPENAI_BASE_URL``) or api.openai.com."""
    from langchain_openai import ChatOpenAI

    g = settings.generation
    key = g.openai_api_key.get_secret_value() if g.openai_api_key is not None else None
    if not key and not g.openai_base_url:
        raise QABotError(
            "the openai generator needs OPENAI_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible server)"
        )
    extra_body = None
    if not _is_openai_host(g.openai_base_url):
        # langchain-openai sends the limit as `max_completion_tokens`, which llama.cpp's server (and some other
        # compatible servers) ignore; repeat it under the old name. api.openai.com gets only the new name, since
        # reasoning models there reject `max_tokens`.
        extra_body = {"max_tokens": g.max_tokens}
    return ChatOpenAI(
        model=g.openai_model,
        base_url=g.openai_base_url,
        api_key=SecretStr(key or PLACEHOLDER_API_KEY),
        timeout=g.request_timeout,
        max_retries=g.max_retries,
        temperature=g.temperature,
        max_completion_tokens=g.max_tokens,  # the alias of ChatOpenAI.max_tokens, the name it is sent as
        extra_body=extra_body,
    )


def local_chat_model(settings: Settings) -> BaseChatModel:
    """The ``local`` generator: the packaged (or configured) GGUF model in this process."""
    g = settings.generation
    try:
        import llama_cpp  # noqa: F401
    except ImportError as e:
        raise QABotError(f"the local generator needs llama-cpp-python: {INSTALL_HINT}") from e
    return LocalChatModel(
        model_path=str(local_model_file(settings)),
        n_threads=g.local_threads,
        n_ctx=g.local_ctx,
        temperature=g.temperature,
        max_tokens=g.max_tokens,
    )


def get_chat_model(settings: Settings, name: str, llamas: LlamaPool | None = None) -> BaseChatModel:
    """The chat model of generator ``name``, built by the implementation the registry names. A local model loads into
    ``llamas`` (default: ``SHARED_LLAMAS``)."""
    from qa_bot import registry

    model = registry.generator(name).build(settings)
    if llamas is not None and isinstance(model, LocalChatModel):
        model.use_pool(llamas)
    return model


class ChatModels:
    """The generator factory a ``QABot`` gives its ``Bot``: generator name -> chat model, local ones loaded into a pool
    this object owns (unless it was given one) and frees in ``close()``."""

    def __init__(self, settings: Settings, llamas: LlamaPool | None = None) -> None:
        self.settings = settings
        self._owns_pool = llamas is None
        self.llamas = llamas if llamas is not None else LlamaPool()

    def __call__(self, name: str) -> BaseChatModel:
        return get_chat_model(self.settings, name, self.llamas)

    def close(self) -> None:
        if self._owns_pool:
            self.llamas.close()


# --------------------------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------------------------


def display_url(settings: Settings) -> str:
    """The server address for messages: no user:password part, no query string."""
    if not settings.generation.openai_base_url:
        return OPENAI_DEFAULT_HOST
    parts = urlsplit(settings.generation.openai_base_url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")) or settings.generation.openai_base_url


_KEYLIKE = re.compile(r"(sk-[A-Za-z0-9_\-*.]{6,}|Bearer\s+\S+)")


def _scrub(text: str, settings: Settings) -> str:
    if settings.generation.openai_api_key is not None:
        secret = settings.generation.openai_api_key.get_secret_value()
        if secret:
            text = text.replace(secret, "***")
    if settings.generation.openai_base_url and "@" in settings.generation.openai_base_url:
        text = text.replace(settings.generation.openai_base_url, display_url(settings))
    return _KEYLIKE.sub("***", text)


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _server_message(e: Exception) -> str:
    """The human part of an error response (``{"error": {"message": ...}}`` or ``{"message": ...}`` or raw)."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    msg = getattr(e, "message", None) or str(e)
    return re.sub(r"^Error code: \d+ - ", "", msg)


def _transport_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for mod in ("httpx", "httpx2"):  # openai>=3 is built on httpx2, langchain-openai still imports httpx
        try:
            m = __import__(mod)
            found.append(m.TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def _raised_in_llama_cpp(e: BaseException) -> bool:
    return any("llama_cpp" in (frame.filename or "") for frame in traceback.extract_tb(e.__traceback__))


def explain_error(e: Exception, settings: Settings) -> QABotError:
    """One clear line for a failed model call. Never contains the API key."""
    err = _explain(e, settings)
    err = QABotError(_scrub(str(err), settings))
    log.debug("model call failed (%s): %s", type(e).__name__, err)
    return err


def fails_every_request(e: BaseException) -> bool:
    """Whether every later request to the same server would fail the same way: a rejected key, no access, a wrong
    URL, an unreachable server. A batch job stops at the first such error instead of failing item after item."""
    try:
        import openai
    except ImportError:  # pragma: no cover - a core dependency
        return False
    persistent = (
        openai.AuthenticationError,
        openai.PermissionDeniedError,
        openai.NotFoundError,
        openai.APIConnectionError,
    )
    return isinstance(e, persistent + _transport_errors())


def _explain(e: Exception, settings: Settings) -> QABotError:
    if isinstance(e, QABotError):
        return e
    g = settings.generation
    url = display_url(settings)
    try:
        import openai
    except ImportError:  # pragma: no cover - a core dependency
        openai = None  # type: ignore[assignment]

    if openai is not None:
        if isinstance(e, openai.AuthenticationError):
            hint = "check OPENAI_API_KEY" if g.openai_api_key is not None else "set OPENAI_API_KEY"
            return QABotError(f"the API key was rejected (401) by {url}: {hint}")
        if isinstance(e, openai.PermissionDeniedError):
            return QABotError(
                f"access denied (403) by {url}: the API key may not have access to model '{g.openai_model}'"
            )
        if isinstance(e, openai.APITimeoutError):
            return QABotError(
                f"the model server at {url} did not answer within {g.request_timeout:g} s "
                "(raise QA_BOT_REQUEST_TIMEOUT or try again)"
            )
        if isinstance(e, openai.APIConnectionError):
            return QABotError(f"cannot reach the model server at {url}: is it running?")
        if isinstance(e, openai.NotFoundError):
            return QABotError(
                f"the model server at {url} answered 404 Not Found: "
                f"check the model name ('{g.openai_model}') and the base URL"
            )
        if isinstance(e, openai.RateLimitError):
            return QABotError(
                f"rate limit or quota exceeded (429) at {url}: wait and try again, or check your plan's quota"
            )
        if isinstance(e, openai.BadRequestError):
            return QABotError(f"the model server at {url} rejected the request (400): {_one_line(_server_message(e))}")
        if isinstance(e, openai.InternalServerError):
            return QABotError(f"the model server at {url} failed ({e.status_code}): try again later")
        if isinstance(e, openai.APIStatusError):
            return QABotError(f"the model server at {url} answered {e.status_code}: {_one_line(_server_message(e))}")
        if isinstance(e, openai.OpenAIError):
            return QABotError(f"the openai client failed: {_one_line(str(e))}")

    transport = _transport_errors()
    if transport and isinstance(e, transport):
        if "Timeout" in type(e).__name__:
            return QABotError(f"the model server at {url} did not answer within {g.request_timeout:g} s")
        if "Connect" in type(e).__name__:
            return QABotError(f"cannot reach the model server at {url}: is it running?")
        return QABotError(
            f"lost the connection to the model server at {url} ({type(e).__name__}): is it still running?"
        )

    if _raised_in_llama_cpp(e) or isinstance(e, MemoryError):
        return _llama_error(e, str(g.local_model_path or "local model"))
    return QABotError(f"the generator failed: {type(e).__name__}: {_one_line(str(e))}")
