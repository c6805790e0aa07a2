"""One writer at a time per store, across processes (and machines, for a Chroma server).

Chroma has no transactions, so the write protocol in store.py is only safe with a single writer: a repair that runs
while another writer sits between its chunk upsert and its registry commit deletes that writer's chunks. Every write
therefore happens under this lock:

- embedded store: an OS file lock (``filelock``) on ``STORE_DIR/.qa-bot-writer.lock``; the OS drops it when the holder
  dies;
- Chroma server: a lease record in the collection ``<name>__writer``. Chroma's ``add`` keeps an existing id, so the
  first ``add`` wins and every writer reads back whose lease it is; the holder renews it in the background, and a lease
  whose holder died expires after ``write_lease_seconds`` and is then removed by id *and* token, so two waiters can't
  both break it.

A second writer waits (saying so once, with the holder) up to ``write_wait`` seconds, then fails with a message naming
it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Self

import filelock

from qa_bot.schema import QABotError

Notify = Callable[[str], None]
log = logging.getLogger(__name__)
_POLL = 0.2  # seconds between attempts while another writer holds the lock


class WriterBusy(QABotError):
    """Another writer kept the store past the bounded wait, or this writer lost its lease."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    command: str
    since: float  # epoch seconds

    @classmethod
    def me(cls) -> Holder:
        argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
        return cls(os.getpid(), socket.gethostname(), " ".join(argv)[:120], time.time())

    @classmethod
    def parse(cls, raw: dict) -> Holder | None:
        try:
            return cls(int(raw["pid"]), str(raw["host"]), str(raw["command"]), float(raw["since"]))
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        started = time.strftime("%H:%M:%S UTC", time.gmtime(self.since))
        return (
            f"pid {self.pid} on {self.host} ({self.command}), "
            f"writing since {started} ({time.time() - self.since:.0f} s)"
        )


def _describe(holder: Holder | None) -> str:
    return holder.describe() if holder else "another process (holder not recorded yet)"


def _timeout_message(where: str, holder: Holder | None, wait: float) -> str:
    return (
        f"the {where} is being written by {_describe(holder)}; gave up after waiting {wait:.0f} s: "
        "try again when it has finished (QA_BOT_WRITE_WAIT sets how long to wait)"
    )


class _Reentrant:
    """Shared by both locks: nested holds by the same object count, and ``with lock:`` works."""

    _depth = 0

    @property
    def held(self) -> bool:
        return self._depth > 0

    def acquire(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class FileWriterLock(_Reentrant):
    """The embedded store's lock: re-entrant within one object, exclusive between objects, threads and processes."""

    def __init__(self, store_dir: Path, wait: float, notify: Notify | None = None) -> None:
        self.where = f"store {store_dir}"
        self.path = store_dir / ".qa-bot-writer.lock"
        self.wait, self.notify = wait, notify or log.warning
        # preserve_lock_file: the holder record lives in the lock file itself, written through the locked descriptor.
        self._lock = filelock.FileLock(
            self.path, thread_local=False, preserve_lock_file=True, poll_interval=_POLL, on_acquired=self._record_holder
        )
        self._depth = 0

    @staticmethod
    def _record_holder(fd: int) -> None:
        data = json.dumps(asdict(Holder.me())).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)

    def holder(self) -> Holder | None:
        try:
            return Holder.parse(json.loads(self.path.read_text() or "{}"))
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        if self._depth:
            self._depth += 1
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            self.notify(f"waiting for the {self.where}: it is being written by {_describe(self.holder())}")
            try:
                self._lock.acquire(timeout=self.wait)
            except filelock.Timeout:
                raise WriterBusy(_timeout_message(self.where, self.holder(), self.wait)) from None
        self._depth = 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            with contextlib.suppress(OSError):
                os.truncate(self.path, 0)  # so a waiter never names a writer that has finished
            self._lock.release()

    def check(self) -> None:
        """An OS lock can't be lost while its process lives."""


class LeaseWriterLock(_Reentrant):
    """A Chroma server's lock: a lease record with an expiry, renewed by a background thread while held."""

    ID = "lease"

    def __init__(
        self, client, collection: str, where: str, wait: float, ttl: float, notify: Notify | None = None
    ) -> None:
        self.client, self.name, self.where = client, f"{collection}__writer", where
        self.wait, self.ttl, self.notify = wait, ttl, notify or log.warning
        self._depth = 0
        self._token: str | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._col = None
        self._me = Holder.me()

    def _collection(self):
        if self._col is None:
            self._col = self.client.get_or_create_collection(self.name, embedding_function=None)
        return self._col

    def _read(self) -> tuple[str, float, Holder | None] | None:
        got = self._collection().get(ids=[self.ID], include=["metadatas"])
        if not got["ids"]:
            return None
        m = got["metadatas"][0] or {}
        return str(m.get("token", "")), float(m.get("expires", 0.0)), Holder.parse(m)

    def _record(self, token: str) -> dict:
        return {**asdict(self._me), "token": token, "expires": time.time() + self.ttl}

    def acquire(self) -> None:
        if self._depth:
            self._depth += 1
            return
        token, self._me = uuid.uuid4().hex, Holder.me()
        deadline = time.monotonic() + self.wait
        told = False
        while True:
            # add() never replaces an existing id: of several writers adding at once exactly one record survives.
            self._collection().add(ids=[self.ID], embeddings=[[1.0]], metadatas=[self._record(token)])
            current = self._read()
            if current and current[0] == token:
                break
            if current is None:
                continue  # released between our add and the read: try again at once
            held_by, expires, holder = current
            if expires < time.time():
                # A dead holder's lease. Deleting by token too means two waiters can't delete each other's fresh lease.
                self._collection().delete(ids=[self.ID], where={"token": held_by})
                continue
            if not told:
                self.notify(f"waiting for the {self.where}: it is being written by {_describe(holder)}")
                told = True
            if time.monotonic() > deadline:
                raise WriterBusy(_timeout_message(self.where, holder, self.wait))
            time.sleep(_POLL)
        self._token, self._lost, self._depth = token, None, 1
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name="qa-bot-writer-lease", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        expires = time.time() + self.ttl
        while not self._stop.wait(self.ttl / 3):
            try:
                current = self._read()
                if not current or current[0] != self._token:
                    self._lost = "another writer took it over after it expired"
                    return
                record = self._record(self._token)
                self._collection().update(ids=[self.ID], metadatas=[record])
                expires = record["expires"]
            except Exception as e:
                # Server unreachable: the writes fail on their own; once the lease ran out it is lost.
                if time.time() > expires:
                    self._lost = f"could not renew it: {type(e).__name__}"
                    return

    def check(self) -> None:
        """Called before each write: a writer whose lease expired must not go on writing beside the new holder."""
        if self._lost:
            raise WriterBusy(
                f"lost the writer lease on the {self.where} ({self._lost}); "
                "nothing more was written: run the ingest again"
            )

    def release(self) -> None:
        self._depth -= 1
        if self._depth:
            return
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        with contextlib.suppress(Exception):  # the server is gone: the lease expires on its own
            self._collection().delete(ids=[self.ID], where={"token": self._token})
        self._token = self._renewer = None
