"""What callers pass with a question — conversation history and top-k — checked and brought to one shape.

The Python API, the web ``/ask`` endpoint and the chat all go through ``normalise_history`` and ``check_top_k``, so a
shape one of them accepts is accepted by all, and a wrong one gets the same one-line message everywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from qa_bot.config import FIELDS
from qa_bot.schema import QABotError

Pair = tuple[str, str]
HISTORY_SHAPES = "a list of [question, answer] pairs or of {'role': 'user'|'assistant', 'content': ...} messages"
# Messages that carry no conversation turn: instructions and tool traffic are not history a follow-up can lean on.
_SKIPPED_ROLES = {"system", "developer", "tool", "function"}
# The same bound as QA_BOT_TOP_K's.
MAX_TOP_K = next(m.le for m in FIELDS["top_k"].metadata if getattr(m, "le", None) is not None)


def message_text(content: Any) -> str:
    """Text of a message's content in any of the usual shapes (str, list of parts, a ``{"type": "text"}`` part)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if content.get("type") == "text" or "text" in content:
            return str(content.get("text", ""))
        return ""
    if isinstance(content, (list, tuple)):
        return "".join(message_text(c) for c in content)
    return ""


def _as_message(item: Any) -> dict | None:
    """A role message as a dict (plain dicts, and Gradio's message objects), or None when ``item`` is not one."""
    if isinstance(item, dict):
        return item if "role" in item else None
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        d = dump()
        return d if isinstance(d, dict) and "role" in d else None
    d = getattr(item, "__dict__", None)
    return d if isinstance(d, dict) and "role" in d else None


def normalise_history(history: Any, answer_text: Callable[[dict], str | None] | None = None) -> list[Pair]:
    """Earlier turns as (question, answer) pairs, from either shape of ``HISTORY_SHAPES`` (or a mix).

    Consecutive user messages are one question; a question without an answer yet is dropped, and so is a turn whose
    answer is empty (it failed). ``answer_text`` reads an assistant message's answer (the chat's messages are rendered
    HTML): None for a message that is no answer (a status block), "" for a failed turn; by default the content's text.
    """
    if history is None:
        return []
    if isinstance(history, (str, bytes, dict)) or not hasattr(history, "__iter__"):
        raise QABotError(f"history must be {HISTORY_SHAPES}; got {type(history).__name__}")
    pairs: list[Pair] = []
    question: str | None = None
    for n, item in enumerate(history):
        msg = _as_message(item)
        if msg is None:
            if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
                pairs.append((item[0], item[1]))
                question = None
                continue
            shown = f"the text {item[:40]!r}" if isinstance(item, str) else type(item).__name__
            raise QABotError(f"history item {n} is {shown}: history must be {HISTORY_SHAPES}")
        role = msg.get("role")
        if not isinstance(role, str):
            raise QABotError(f"history item {n} has a role that is not text: use 'user' or 'assistant'")
        text = message_text(msg.get("content"))
        if role == "user":
            question = text if question is None else f"{question}\n{text}"
        elif role == "assistant":
            if question is None:
                continue  # a greeting or a second part of an answer already paired
            answer = answer_text(msg) if answer_text else text
            if answer is None:
                continue
            if answer.strip():
                pairs.append((question, answer))
            question = None
        elif role not in _SKIPPED_ROLES:
            raise QABotError(f"history item {n} has role {role[:20]!r}: use 'user' or 'assistant'")
    return pairs


def check_top_k(top_k: Any) -> int | None:
    """``top_k`` as an int in 1..MAX_TOP_K (None: the configured default). Whole numbers given as text or float are
    accepted."""
    if top_k is None:
        return None
    value = top_k
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # rejected below, with the text as given
            value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise QABotError(f"top_k must be a whole number from 1 to {MAX_TOP_K}; got {str(top_k)[:40]!r}")
    if not 1 <= value <= MAX_TOP_K:
        shown = value if abs(value) < 10**9 else "a larger number"
        raise QABotError(f"top_k must be from 1 to {MAX_TOP_K} (passages to retrieve); got {shown}")
    return value
