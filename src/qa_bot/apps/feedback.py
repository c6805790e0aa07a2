"""Ratings of the chat's answers, appended to a JSON-lines file, and their export as evaluation questions.

A like turns the answer into a regression question (its key phrase is the gold answer); a dislike becomes a question
whose gold a person still has to write: the exported row carries a ``todo`` field, and ``qa-bot eval`` skips such rows
until the field is removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from qa_bot.config import Settings
from qa_bot.schema import Answer, QABotError

log = logging.getLogger("qa_bot.apps.feedback")

FEEDBACK_FILE = "feedback.jsonl"
TODO = (
    "Write the correct answer(s) in 'answers' (or set 'is_impossible' to true if the documents don't say), "
    "then delete this 'todo' field: qa-bot eval skips the question until then."
)
_SECRET_WORDS = ("key", "secret", "token", "password")


def safe_settings(settings: Settings) -> dict:
    """The settings worth keeping beside a rating, with nothing secret: keys dropped, credentials cut from URLs."""
    d = settings.flat_dump(exclude={"openai_api_key"})
    out = {}
    for k, v in d.items():
        if any(w in k.lower() for w in _SECRET_WORDS):
            continue
        if isinstance(v, str) and "://" in v:
            parts = urlsplit(v)
            v = urlunsplit(
                (
                    parts.scheme,
                    parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "",
                    parts.path,
                    "",
                    "",
                )
            )
        out[k] = v
    return out


def answer_record(a: Answer, history: Sequence[tuple[str, str]], settings: Settings, total: float) -> dict:
    """What a rating of ``a`` keeps: enough to replay the question and to judge the answer later."""
    return {
        "question": a.question,
        "history": [[q, ans] for q, ans in history],
        "standalone_question": a.standalone_question,
        "answer": a.text,
        "refused": a.refused,
        "citations": [
            {
                "marker": c.marker,
                "doc_id": c.doc_id,
                "title": c.title,
                "source": c.source,
                "start": c.start,
                "end": c.end,
                "quote": c.quote,
            }
            for c in a.citations
        ],
        "generator": a.generator,
        "confidence": a.confidence,
        "timings": {**a.timings, "total": round(total, 4)},
        "settings": safe_settings(settings),
    }


class RecentAnswers:
    """The last answers given, by (question, answer text), so a rating can store what the page no longer holds."""

    def __init__(self, size: int = 2000) -> None:
        self._items: OrderedDict[tuple[str, str], dict] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, question: str, text: str, record: dict) -> None:
        with self._lock:
            self._items[(question.strip(), text.strip())] = record
            self._items.move_to_end((question.strip(), text.strip()))
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, question: str, text: str) -> dict | None:
        with self._lock:
            return self._items.get((question.strip(), text.strip()))


class FeedbackLog:
    """Append-only JSON lines: one line per rating, and one per comment added to a rating later (merged on read)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _append(self, row: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)  # one write per line: a crash leaves at most one broken last line, which reading skips

    def add(self, liked: bool | None, record: dict, comment: str = "", rater: str = "") -> str:
        """Append a rating of the answer in ``record``; ``liked=None`` takes the rater's rating of it back.

        One rater (a browser session) has one rating per answer: a later one replaces the earlier (thumbs up, then
        down)."""
        fid = uuid.uuid4().hex[:12]
        key = hashlib.sha256(
            json.dumps([rater, record.get("question"), record.get("history"), record.get("answer")]).encode()
        ).hexdigest()[:16]
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        if liked is None:
            self._append({"id": fid, "answer_key": key, "retracted": True, "time": now})
        else:
            self._append(
                {
                    "id": fid,
                    "answer_key": key,
                    "time": now,
                    "rating": "like" if liked else "dislike",
                    "comment": comment.strip(),
                    **record,
                }
            )
        return fid

    def comment(self, fid: str, text: str) -> None:
        if not text.strip():
            raise QABotError("the comment is empty")
        self._append({"id": fid, "comment": text.strip(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    def entries(self) -> list[dict]:
        """Every rating, with its later comments joined (one per line) into ``comment``."""
        if not self.path.is_file():
            return []
        ratings: dict[str, dict] = {}
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s:%d: not valid JSON, skipped", self.path, n)
                continue
            fid = row.get("id")
            if "rating" in row or row.get("retracted"):
                for old in [
                    k for k, r in ratings.items() if row.get("answer_key") and r.get("answer_key") == row["answer_key"]
                ]:
                    del ratings[old]  # replaced or taken back by the same rater
            if "rating" in row:
                ratings[fid] = row
            elif fid in ratings and row.get("comment"):
                prev = ratings[fid].get("comment", "")
                ratings[fid]["comment"] = f"{prev}\n{row['comment']}".strip()
        return list(ratings.values())

    def counts(self) -> tuple[int, int]:
        """(likes, dislikes)."""
        rows = self.entries()
        likes = sum(r["rating"] == "like" for r in rows)
        return likes, len(rows) - likes


def to_question(entry: dict) -> dict:
    """One rating as a question in the seed evaluation format (see eval/seeds_questions.jsonl)."""
    from qa_bot.verify.answer_types import short_answer

    liked = entry["rating"] == "like"
    cites = entry.get("citations") or []
    row: dict = {
        "id": f"fb-{entry['id']}",
        "type": "followup" if entry.get("history") else "single",
        "question": entry["question"],
        "history": entry.get("history") or [],
        "answers": [],
        "is_impossible": False,
        "gold_docs": sorted({c["doc_id"] for c in cites}) if liked else [],
        "gold_quotes": [c["quote"] for c in cites] if liked else [],
    }
    if liked and entry.get("refused"):
        row["type"], row["is_impossible"] = "unanswerable", True  # a liked refusal: the bot should keep refusing
    elif liked:
        phrase = short_answer(entry["question"], entry.get("answer", ""))
        row["answers"] = [phrase] if phrase else []
    if not liked or not (row["answers"] or row["is_impossible"]):
        row["todo"] = TODO
    row["feedback"] = {k: entry.get(k) for k in ("rating", "comment", "answer", "generator", "time")}
    return row


def export_questions(log_: FeedbackLog, out: Path) -> tuple[int, int]:
    """Write every rating as an evaluation question to ``out``; returns (ready questions, questions waiting for a
    gold)."""
    rows = [to_question(e) for e in log_.entries()]
    if not rows:
        raise QABotError(f"no feedback to export: {log_.path} has no ratings yet")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    waiting = sum("todo" in r for r in rows)
    return len(rows) - waiting, waiting


def feedback_path(settings: Settings) -> Path:
    """Ratings live beside the store they are about."""
    return settings.store.store_dir / FEEDBACK_FILE
