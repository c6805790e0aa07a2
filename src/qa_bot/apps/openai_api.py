"""An OpenAI-compatible HTTP API on the web app's server: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Any OpenAI client or chat front-end can then use the bot. Answers go through the same pipeline as the web chat
(``WebApp.stream``: condense -> retrieve -> generate -> verify, with the local model's lock). ``model`` names the
generator. The verified answer is the message content, with ``[n]`` markers and a "Sources" list for clients that
ignore extra fields; the response also carries ``citations`` and ``answer`` (the shape of ``qa-bot ask --json``,
with file names instead of server paths). Errors use OpenAI's ``{"error": {...}}`` body.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Generator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from qa_bot.answer_format import answer_to_dict
from qa_bot.apps.web import WebApp, friendly_error
from qa_bot.config import Settings
from qa_bot.schema import Answer, QABotError

log = logging.getLogger("qa_bot.apps.openai_api")

SOURCES_HEADING = "Sources:"
# Roles whose messages carry no question or answer: a front-end's system prompt cannot steer a bot that only
# answers from documents, so it is ignored rather than failing every client that always sends one.
IGNORED_ROLES = ("system", "developer")


# --- request -------------------------------------------------------------------------------------------------------
class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: Any = None  # normalised to text by the validator

    @field_validator("content")
    @classmethod
    def _text_only(cls, v: Any) -> str:
        """A string, or OpenAI's list of content parts when every part is text (no images or audio here)."""
        if v is None or isinstance(v, str):
            return v or ""
        if isinstance(v, list) and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in v
        ):
            return "".join(p["text"] for p in v)
        raise ValueError("content must be a string or a list of text parts")

    def text(self) -> str:
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields this server reads; sampling options (temperature, max_tokens, ...) are the server's own settings."""

    model_config = ConfigDict(extra="ignore")
    model: StrictStr | None = None
    messages: list[_Message] = Field(min_length=1)
    stream: StrictBool | None = False
    n: StrictInt | None = 1


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def allowed_generators(settings: Settings) -> list[str]:
    """The generators a client may pick with ``model`` (the web app's choice, ``Settings.allowed``), the server's
    default first."""
    default = settings.resolved_generator()
    return sorted(settings.allowed(), key=lambda n: n != default)


def parse_request(body: Any, settings: Settings) -> tuple[str, list[tuple[str, str]], str, bool]:
    """(question, history pairs, generator, stream) from a chat-completions body; ApiError(400) when it is unusable."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object with a messages list")
    try:
        req = ChatRequest.model_validate(body)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(400, f"{where}: {first['msg'].removeprefix('Value error, ')}", param=where) from None
    if req.n not in (None, 1):
        raise ApiError(400, "n: only one choice per request is supported", param="n")
    allowed = allowed_generators(settings)
    generator = req.model or allowed[0]
    if generator not in allowed:
        raise ApiError(
            400,
            f"model '{generator}' is not available here; choose one of: {', '.join(allowed)}",
            param="model",
            code="model_not_found",
        )
    turns = [m for m in req.messages if m.role not in IGNORED_ROLES]
    if not turns or turns[-1].role != "user":
        raise ApiError(
            400, "messages: the last message (after system messages) must be the user's question", param="messages"
        )
    question = turns[-1].text()
    if not question.strip():
        raise ApiError(400, "messages: the user's question is empty", param="messages")
    from qa_bot.pipeline import check_question

    try:
        check_question(question, settings)  # the pipeline's own limits, checked before a stream has begun
    except QABotError as e:
        raise ApiError(400, f"messages: {e}", param="messages") from None
    return question, history_pairs(turns[:-1]), generator, bool(req.stream)


def history_pairs(turns: Sequence[_Message]) -> list[tuple[str, str]]:
    """(question, answer) pairs: each assistant message answers the user messages before it; our own Sources list is
    cut off so that the rewrite step sees the answer, not its bibliography."""
    pairs: list[tuple[str, str]] = []
    question = ""
    for m in turns:
        if m.role == "user":
            question = f"{question}\n{m.text()}".strip()
        elif question:
            pairs.append((question, strip_sources(m.text())))
            question = ""
    return pairs


def strip_sources(text: str) -> str:
    return text.split(f"\n\n{SOURCES_HEADING}\n", 1)[0].strip()


# --- response ------------------------------------------------------------------------------------------------------
def message_content(a: Answer) -> str:
    """The answer text with its [n] markers, then one "Sources" line per citation (file names only)."""
    d = answer_to_dict(a, full_paths=False)
    if not d["citations"]:
        return a.text
    lines = [
        f'[{c["marker"]}] {c["title"] or c["doc_id"]} ({c["source"]}, chars {c["start"]}-{c["end"]}): "{c["quote"]}"'
        for c in d["citations"]
    ]
    return f"{a.text}\n\n{SOURCES_HEADING}\n" + "\n".join(lines)


def _extras(a: Answer) -> dict:
    d = answer_to_dict(a, full_paths=False)
    return {"citations": d["citations"], "answer": d}


def completion(a: Answer, cid: str, created: int) -> dict:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": a.generator,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": message_content(a)},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        **_extras(a),
    }


def _chunk(cid: str, created: int, model: str, delta: dict, finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def sse_events(
    webapp: WebApp, question: str, history: list[tuple[str, str]], generator: str
) -> Generator[str, None, None]:
    """Server-sent events in OpenAI's chunk format.

    The content is the verified answer, identical to the non-streaming one: verification can renumber markers, add
    them, or withhold the draft, and a stream cannot take text back. While the model writes, the unverified draft
    streams as ``delta.reasoning_content`` (chat front-ends show it as progress; other clients ignore it).
    """
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    yield _chunk(cid, created, generator, {"role": "assistant", "content": ""})
    stream = webapp.stream(question, history, generator, None)
    try:
        for item in stream:
            if isinstance(item, Answer):
                yield _chunk(cid, created, generator, {"content": message_content(item)})
                yield _chunk(cid, created, generator, {}, "stop", **_extras(item))
                yield "data: [DONE]\n\n"
                return
            if item == "":
                yield ": waiting for the local model, it is answering another question\n\n"
            else:
                yield _chunk(cid, created, generator, {"reasoning_content": item})
    except Exception as e:  # the 200 header is sent: the error becomes an event the openai client raises as APIError
        yield f"data: {json.dumps(ApiError(500, friendly_error(e)).body(), ensure_ascii=False)}\n\n"
    finally:
        stream.close()  # frees the local model at once when the client goes away


async def _in_threads(events: Generator[str, None, None]) -> AsyncIterator[str]:
    """Drive the blocking pipeline in worker threads; close it even when the client disconnects mid-answer."""
    try:
        while (event := await run_in_threadpool(next, events, None)) is not None:
            yield event
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(events.close)


def _final_answer(webapp: WebApp, question: str, history: list[tuple[str, str]], generator: str) -> Answer:
    final = None
    for item in webapp.stream(question, history, generator, None):
        if isinstance(item, Answer):
            final = item
    assert final is not None
    return final


# --- routes --------------------------------------------------------------------------------------------------------
def build_router(webapp: WebApp) -> APIRouter:
    router = APIRouter(prefix="/v1")
    started = int(time.time())

    @router.get("/models")
    def models() -> JSONResponse:
        data = [
            {"id": g, "object": "model", "created": started, "owned_by": "qa-bot"}
            for g in allowed_generators(webapp.settings)
        ]
        return JSONResponse({"object": "list", "data": data})

    @router.post("/chat/completions")
    async def chat_completions(request: Request):
        try:
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "the request body is not valid JSON") from None
            question, history, generator, stream = parse_request(body, webapp.settings)
        except ApiError as e:
            return e.response()
        if stream:
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy may hold the events back
            return StreamingResponse(
                _in_threads(sse_events(webapp, question, history, generator)),
                media_type="text/event-stream",
                headers=headers,
            )
        try:
            a = await run_in_threadpool(_final_answer, webapp, question, history, generator)
        except Exception as e:
            return ApiError(500, friendly_error(e)).response()
        return JSONResponse(completion(a, f"chatcmpl-{uuid.uuid4().hex}", int(time.time())))

    return router


def mount_openai_api(app: FastAPI, webapp: WebApp) -> None:
    """Add ``/v1/models`` and ``/v1/chat/completions`` to ``app``."""
    app.include_router(build_router(webapp))


def openai_api_lifespan(webapp: WebApp):
    """A FastAPI lifespan that mounts the API at start-up, before the first request: Gradio builds its FastAPI app
    inside ``launch()`` and accepts a lifespan through ``app_kwargs``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mount_openai_api(app, webapp)
        yield

    return lifespan
