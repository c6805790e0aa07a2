"""The Gradio web chat: streaming answers with expandable, highlighted sources, uploads, settings and an ``/ask`` API.

Start it with ``python app.py`` or ``qa-bot serve``. Everything a document says is untrusted data: every piece of
document text (answers quote documents verbatim) is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from qa_bot import registry
from qa_bot.answer_format import answer_to_dict, markers_html
from qa_bot.apps.feedback import FeedbackLog, RecentAnswers, answer_record, feedback_path
from qa_bot.apps.inputs import message_text, normalise_history
from qa_bot.config import Settings, get_settings
from qa_bot.ingestion.loaders import SUPPORTED
from qa_bot.schema import Answer, Citation, IngestReport, QABotError, SearchHit, Stage
from qa_bot.service import QABot

if TYPE_CHECKING:
    from qa_bot.pipeline import History

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # an offline tool does not phone home

log = logging.getLogger("qa_bot.apps.web")

UPLOAD_TYPES = sorted(SUPPORTED)
EXAMPLES = [
    "Who heads NATO's Military Committee?",
    "Which sea were the joint flight drills over?",
    "What did Stoltenberg and Kishida agree on?",
]
ERROR_PREFIX = "⚠️ "
HOW_TITLE = "How this was answered"

CSS = """
.qa-answer { margin: 0 0 .4em 0; }
.qa-marker { font-size: .75em; vertical-align: super; font-weight: 600; color: var(--color-accent); }
.qa-sources { margin-top: .6em; border-top: 1px solid var(--border-color-primary); padding-top: .4em; }
.qa-sources-title { font-weight: 600; font-size: .9em; margin-bottom: .2em; }
.qa-source { margin: .25em 0; }
.qa-source > summary { cursor: pointer; font-size: .9em; }
.qa-passage { margin: .4em 0 .2em 0; padding: .5em .7em; border-left: 3px solid var(--color-accent); font-size: .88em;
              background: var(--background-fill-secondary); white-space: normal; }
.qa-passage mark { background: #ffe58a; color: #000; padding: 0 .1em; }
.qa-meta { font-size: .8em; opacity: .75; }
.qa-docs ul { padding-left: 1.1em; margin: .3em 0; }
.qa-docs li { margin-bottom: .3em; font-size: .9em; }
.qa-status-ok { color: var(--color-green-600, #15803d); }
.qa-status-bad { color: var(--color-red-600, #b91c1c); }
.qa-steps { list-style: none; padding-left: .2em; margin: .2em 0; }
.qa-retrieved .qa-sources-title { font-weight: 400; font-style: italic; }
"""


# --- HTML rendering (all document text escaped) ------------------------------------------------------------------
def _esc(text: str) -> str:
    """HTML-escape and keep line breaks without ever emitting a blank line (which would end the HTML block)."""
    return html.escape(text or "", quote=True).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def render_answer_text(text: str, streaming: bool = False) -> str:
    body = markers_html(_esc(text), "qa-marker")
    cls = "qa-answer qa-streaming" if streaming else "qa-answer"
    return f'<p class="{cls}">{body}{" ▍" if streaming else ""}</p>'


def _passage_with_mark(c: Citation) -> str:
    """The whole passage, escaped, with the cited span wrapped in <mark>."""
    passage = c.passage or c.quote
    s, e = c.start - c.passage_start, c.end - c.passage_start
    if not (0 <= s <= e <= len(passage)) or passage[s:e] != c.quote:
        found = passage.find(c.quote)
        s, e = (found, found + len(c.quote)) if found >= 0 else (0, 0)
    if e <= s:  # quote not inside the passage (should not happen): show the quote alone, highlighted
        return f"<mark>{_esc(c.quote)}</mark>"
    return f"{_esc(passage[:s])}<mark>{_esc(passage[s:e])}</mark>{_esc(passage[e:])}"


def public_source(source: str) -> str:
    """What web users see of a document's location: its file name, never the server's folders."""
    return PurePath(source).name or source if source else ""


# An absolute POSIX path, not one inside a URL ("http://host/v1") or a relative one ("a/b").
_ABS_PATH = re.compile(r"(?<![\w:/.~-])(?:/[^\s/'\"`<>|;,()]+)+/?")


def hide_paths(text: str) -> str:
    """``text`` with every absolute server path cut to its last part (error messages name the store's folder)."""
    return _ABS_PATH.sub(lambda m: "…/" + m.group().rstrip("/").rsplit("/", 1)[-1], text)


def render_sources(citations: Sequence[Citation]) -> str:
    if not citations:
        return ""
    items = []
    for c in citations:
        fname = public_source(c.source) if c.source else c.doc_id
        pstart = c.passage_start
        pend = pstart + len(c.passage or c.quote)
        items.append(
            f'<details class="qa-source"><summary><span class="qa-marker">[{c.marker}]</span> '
            f"<strong>{_esc(c.title or c.doc_id)}</strong> · <code>{_esc(fname)}</code> · "
            f"chars {c.start}–{c.end}</summary>"
            f'<blockquote class="qa-passage">{_passage_with_mark(c)}</blockquote>'
            f'<div class="qa-meta">document <code>{_esc(c.doc_id)}</code> · file {_esc(fname)} · '
            f"quote at chars {c.start}–{c.end}, passage at chars {pstart}–{pend}</div></details>"
        )
    return f'<div class="qa-sources"><div class="qa-sources-title">Sources</div>{"".join(items)}</div>'


def render_hits(hits: Sequence[SearchHit]) -> str:
    """The retrieved passages, shown while the answer is written; the verified citations replace them."""
    if not hits:
        return ""
    items = "".join(
        f'<details class="qa-source qa-hit"><summary><span class="qa-marker">#{h.rank or n}</span> '
        f"<strong>{_esc(h.chunk.title or h.chunk.doc_id)}</strong> · "
        f"<code>{_esc(public_source(h.chunk.source))}</code> · chars {h.chunk.start}–{h.chunk.end}</summary>"
        f'<blockquote class="qa-passage">{_esc(h.chunk.text)}</blockquote></details>'
        for n, h in enumerate(hits, 1)
    )
    return (
        '<div class="qa-sources qa-retrieved"><div class="qa-sources-title">'
        "Retrieved passages (the cited ones are confirmed "
        f"when the answer is checked)</div>{items}</div>"
    )


def render_steps(steps: Sequence[tuple[str, bool]]) -> str:
    return (
        '<ul class="qa-steps">'
        + "".join(f"<li>{'✓' if done else '…'} {_esc(text)}</li>" for text, done in steps)
        + "</ul>"
    )


def render_answer(a: Answer) -> str:
    confidence = ""
    if a.confidence is not None and not a.refused:
        from qa_bot.verify.abstain import confidence_words

        confidence = f'<p class="qa-confidence">{_esc(confidence_words(a.confidence))}</p>'
    return render_answer_text(a.text) + confidence + render_sources(a.citations)


def render_how(a: Answer, total: float) -> str:
    timings = " · ".join(f"{k} {v:.3f} s" for k, v in a.timing_items())
    rows = [
        ("Question", a.question),
        ("Searched for (standalone question)", a.standalone_question or a.question),
        ("Generator", a.generator),
        ("Timings", f"{timings} (total {total:.2f} s)"),
        ("Passages", f"{len(a.hits)} retrieved, {len({c.chunk_id for c in a.citations})} cited"),
    ]
    if a.confidence is not None:
        from qa_bot.verify.abstain import confidence_words

        rows.append(
            (
                "Confidence",
                confidence_words(a.confidence)
                + ("" if not a.refused else ": below the threshold, so the draft answer was withheld"),
            )
        )
    if a.refused:
        rows.append(("Result", "refused: the retrieved passages don't support an answer"))
    for s in a.flagged_sentences:
        rows.append(("Not supported by the documents (left uncited)", s))
    return '<ul class="qa-how">' + "".join(f"<li><strong>{_esc(k)}:</strong> {_esc(v)}</li>" for k, v in rows) + "</ul>"


def _how_message(content: str, status: str, duration: float | None = None, log: str | None = None) -> dict:
    meta: dict[str, Any] = {"title": HOW_TITLE, "status": status}
    if duration is not None:
        meta["duration"] = round(duration, 2)
    if log:
        meta["log"] = log  # the current stage, beside the title while the answer is on its way
    return {"role": "assistant", "content": content, "metadata": meta}


def _error_message(text: str) -> dict:
    return {"role": "assistant", "content": ERROR_PREFIX + _esc(text)}


# --- chat history -> (question, plain answer) pairs --------------------------------------------------------------
_ANSWER_P = re.compile(r'<p class="qa-answer[^"]*">(.*?)</p>', re.S)


def plain_answer(rendered: str) -> str:
    """Recover the answer text (with its [n] markers) from a rendered assistant message."""
    m = _ANSWER_P.search(rendered)
    body = m.group(1) if m else rendered
    body = re.sub(r"<br\s*/?>", "\n", body)
    body = re.sub(r"<[^>]+>", "", body)
    return html.unescape(body).replace(" ▍", "").strip()


def _chat_answer(message: dict) -> str | None:
    """The answer of one of the chat's assistant messages: None for the "how" block, "" for an error notice."""
    if (message.get("metadata") or {}).get("title"):
        return None
    text = message_text(message.get("content"))
    return "" if text.startswith(ERROR_PREFIX) else plain_answer(text)


def history_pairs(messages: Sequence[dict] | None) -> list[tuple[str, str]]:
    """(question, plain answer) pairs from Gradio's messages; failed turns and "how" blocks are left out."""
    return normalise_history(messages, answer_text=_chat_answer)


# --- the app -----------------------------------------------------------------------------------------------------
def friendly_error(e: BaseException) -> str:
    if isinstance(e, QABotError):
        msg = hide_paths(str(e))
        return msg[:1].upper() + msg[1:]
    log.exception("unexpected error while answering")
    return (
        f"Something went wrong while answering ({type(e).__name__}). "
        "The details are in the server log; please try again."
    )


class WebApp:
    """State shared by every browser session: settings, the service that answers and indexes (a ``QABot``, made here
    unless one is given, and then closed by ``close()``), the uploads folder, ratings and the per-model locks."""

    def __init__(self, settings: Settings | None = None, service: QABot | None = None) -> None:
        self.settings = settings or (service.settings if service is not None else get_settings())
        self._owns_service = service is None
        self.service = service if service is not None else QABot(self.settings)
        # Uploads and removals keep uploads/ in step with the index: one at a time.
        self._documents_lock = threading.Lock()
        self.allowed_generators = self.settings.allowed()
        configured = self.settings.resolved_generator()
        self.default_generator = configured if configured in self.allowed_generators else self.allowed_generators[0]
        # Resolved: ingest records resolved paths, and uploads are matched against those records.
        self.uploads_dir = (self.settings.store.store_dir / "uploads").resolve()
        self.recent = RecentAnswers()  # what a rating stores about an answer the page shows only as HTML
        self.feedback = FeedbackLog(feedback_path(self.settings))
        # A generator with one in-process model (local) answers one session at a time; the others wait on its lock.
        self.model_locks = {n: threading.Lock() for n, spec in registry.GENERATORS.items() if spec.one_at_a_time}

    def close(self) -> None:
        """Release the store and the models (when this app made its service)."""
        if self._owns_service:
            self.service.close()

    # --- answering -----------------------------------------------------------------------------------------------
    def stream(
        self,
        question: str,
        history: History | None,
        generator: str | None,
        top_k: int | None,
        stages: bool = False,
    ) -> Generator[str | Answer | Stage, None, None]:
        gen = generator or self.default_generator
        self.check_generator(gen)
        lock = self.model_locks.get(gen)
        if lock is None:
            yield from self.service.stream(question, history, generator=gen, top_k=top_k, stages=stages)
            return
        if not lock.acquire(blocking=False):
            yield ""  # signals "waiting for the model" to the chat
            lock.acquire()
        try:
            yield from self.service.stream(question, history, generator=gen, top_k=top_k, stages=stages)
        finally:
            lock.release()

    def check_generator(self, name: str) -> None:
        """Web users pick among the operator's allowed generators only (QA_BOT_ALLOWED_GENERATORS)."""
        if name in self.allowed_generators:
            return
        offered = ", ".join(self.allowed_generators)
        if name not in registry.GENERATORS:
            raise QABotError(f"unknown generator '{str(name)[:40]}' (available here: {offered})")
        raise QABotError(f"the {name} generator is not enabled on this server (available here: {offered})")

    def chat(self, message: str, history: list[dict], generator: str, top_k: float) -> Iterator[list[dict]]:
        """The ChatInterface function: yields the assistant's messages (how-block + answer) as they grow."""
        t0 = time.perf_counter()
        question = message_text(message)
        if not question.strip():
            yield [_error_message("Please type a question about the documents (the message was empty).")]
            return
        gen = generator if generator in registry.GENERATORS else self.default_generator
        # Progress shows at once: a checklist of the stages in a pending "how" block, the passages as soon as they are
        # found, then the streamed text, then the verified answer replacing all of it.
        steps: list[tuple[str, bool]] = [(f"Searching the documents ({gen} generator)", False)]
        hits: list[SearchHit] = []
        raw = ""

        def progress() -> list[dict]:
            how = _how_message(render_steps(steps), "pending", log=steps[-1][0] + ("…" if not steps[-1][1] else ""))
            if not hits and not raw:
                return [how]
            return [how, {"role": "assistant", "content": render_answer_text(raw, streaming=True) + render_hits(hits)}]

        yield progress()
        pairs = history_pairs(history)
        stream = self.stream(question, pairs, gen, int(top_k) if top_k else None, stages=True)
        try:
            for item in stream:
                if isinstance(item, Answer):
                    total = time.perf_counter() - t0
                    self.recent.put(question, item.text, answer_record(item, pairs, self.settings, total))
                    yield [
                        _how_message(render_how(item, total), "done", total),
                        {"role": "assistant", "content": render_answer(item)},
                    ]
                    return
                if isinstance(item, Stage):
                    steps[:] = [(text, True) for text, _ in steps if not text.startswith("Searching the documents")]
                    steps.append((item.detail, item.name == "retrieve"))  # retrieval is reported when it is done
                    hits = item.hits or hits
                elif item == "" and not raw:
                    steps.append(("Waiting for the local model: it is answering another question", False))
                else:
                    raw += item
                yield progress()
        except Exception as e:  # never a stack trace in the chat
            yield [_error_message(friendly_error(e))]
        finally:
            stream.close()  # the stop button closes this generator: free the model at once

    def ask(
        self, question: str, history: list | None = None, generator: str | None = None, top_k: int | None = None
    ) -> dict:
        """Answer a question from the indexed documents. Returns text, citations, refused and standalone_question.

        history: earlier turns, as [question, answer] pairs or {"role": "user"|"assistant", "content": ...} messages;
        generator: one the server allows (default: the server's); top_k: passages to retrieve (1-50).
        """
        import gradio as gr

        final = None
        try:
            # History and top_k are checked by the answer chain itself, the same way for every caller.
            for item in self.stream(question, history, generator or None, top_k):
                if isinstance(item, Answer):
                    final = item
        except Exception as e:
            raise gr.Error(friendly_error(e), print_exception=False) from None
        assert final is not None
        return answer_to_dict(final, full_paths=False)

    # --- documents -----------------------------------------------------------------------------------------------
    def registry(self) -> dict:
        """doc_id -> record of every indexed document (none yet: empty)."""
        return self.service.documents(missing_ok=True)

    def documents_html(self) -> str:
        try:
            reg = self.registry()
        except Exception as e:
            return f'<div class="qa-docs qa-status-bad">{_esc(friendly_error(e))}</div>'
        if not reg:
            return '<div class="qa-docs">No documents are indexed yet: upload some.</div>'
        items = "".join(
            f"<li><strong>{_esc(d.title or d.doc_id)}</strong><br>"
            f"<small><code>{_esc(public_source(d.source))}</code> · "
            f"{d.n_chunks} chunk{'s' if d.n_chunks != 1 else ''} · {_indexed_when(d.indexed_at)}</small></li>"
            for d in sorted(reg.values(), key=lambda d: (d.title or d.doc_id).lower())
        )
        n = len(reg)
        return (
            f'<div class="qa-docs"><div><strong>{n} document{"s" if n != 1 else ""} indexed</strong></div>'
            f"<ul>{items}</ul></div>"
        )

    def document_choices(self) -> list[tuple[str, str]]:
        """(label, doc_id) of every indexed document, for the remove menu."""
        try:
            reg = self.registry()
        except Exception:
            return []  # the list above already shows the error
        return [
            (f"{d.title or d.doc_id} · {public_source(d.source)}", d.doc_id)
            for d in sorted(reg.values(), key=lambda d: (d.title or d.doc_id).lower())
        ]

    def remove(self, doc_id: str | None) -> str:
        """Remove one document from the index (and its uploaded copy, so it is not indexed again). Returns status
        html."""
        if not doc_id:
            return '<div class="qa-status-bad">Choose a document to remove first.</div>'
        try:
            with self._documents_lock:
                rec = self.registry().get(doc_id)
                if rec is None:
                    return (
                        f'<div class="qa-status-bad">✗ {_esc(doc_id)} is not indexed (was it removed already?).</div>'
                    )
                self.service.remove([doc_id])
                src = Path(rec.source)
                if src.is_file() and src.resolve().is_relative_to(self.uploads_dir.resolve()):
                    src.unlink()
        except Exception as e:
            return f'<div class="qa-status-bad">✗ Not removed: {_esc(friendly_error(e))}</div>'
        return (
            f'<div class="qa-status-ok">✓ Removed {_esc(rec.title or rec.doc_id)} '
            f"({rec.n_chunks} chunk{'s' if rec.n_chunks != 1 else ''}).</div>"
        )

    # --- feedback ------------------------------------------------------------------------------------------------
    def rate(self, messages: Sequence[Any], index: int | Sequence[int], liked: bool | None, rater: str = "") -> str:
        """Store a like / dislike (None: take it back) of the answer at ``index`` in the chat's messages; returns the
        rating's id."""
        msgs = [_as_dict(m) for m in messages or []]
        i = index if isinstance(index, int) else int(index[0])
        if not 0 <= i < len(msgs):
            raise QABotError("the rated message is no longer in the chat")
        if msgs[i].get("role") != "assistant":
            raise QABotError("only answers can be rated")
        # A turn is [how block, answer]: either may carry the thumbs; the answer is the one without a title.
        j = next(
            (
                k
                for k in range(i, len(msgs))
                if msgs[k].get("role") == "assistant" and not (msgs[k].get("metadata") or {}).get("title")
            ),
            None,
        )
        q = next((k for k in range(i, -1, -1) if msgs[k].get("role") == "user"), None)
        content = message_text(msgs[j].get("content")) if j is not None else ""
        if q is None or content.startswith(ERROR_PREFIX) or 'class="qa-answer' not in content:
            raise QABotError("only answers can be rated")
        question, text = message_text(msgs[q].get("content")), plain_answer(content)
        record = self.recent.get(question, text) or {
            # The server restarted since (a resumed conversation): keep what the page still shows.
            "question": question,
            "history": [list(p) for p in history_pairs(msgs[:q])],
            "answer": text,
            "citations": [],
            "note": "answered before the server restarted: citations and timings were not kept",
        }
        return self.feedback.add(liked, record, rater=rater)

    def feedback_html(self) -> str:
        likes, dislikes = self.feedback.counts()
        if not likes + dislikes:
            return '<div class="qa-feedback">No answers rated yet: use 👍 / 👎 under an answer.</div>'
        return (
            f'<div class="qa-feedback"><strong>{likes + dislikes} '
            f"answer{'s' if likes + dislikes != 1 else ''} rated</strong> "
            f"({likes} 👍, {dislikes} 👎)<br><small>Export them as evaluation questions: "
            "<code>qa-bot feedback export OUT.jsonl</code></small></div>"
        )

    def ensure_seeded(self) -> IngestReport | None:
        """A new user gets a working bot: an empty store is filled with the bundled seeds/."""
        if self.registry():
            return None
        seeds = self.settings.store.seeds_dir
        if seeds is None or not seeds.is_dir():
            log.warning("the store is empty and there is no seeds/ folder (%s): upload documents to start", seeds)
            return None
        with self._documents_lock:
            report = self.service.ingest([seeds], prune=False)
        log.info("seeded an empty store from %s: %s", seeds, report.summary())
        return report

    def upload(self, files: list[str] | None, progress=None) -> tuple[str, str]:
        """Copy uploaded files into <store_dir>/uploads/ and index them. Returns (status html, documents html)."""
        paths = [Path(f) for f in (files or [])]
        if not paths:
            return '<div class="qa-status-bad">No files were uploaded.</div>', self.documents_html()
        bad: list[tuple[str, str]] = []
        good: list[Path] = []
        created: list[Path] = []  # files this upload added to uploads/: the only ones a failure may take away again
        renamed: list[tuple[str, str]] = []
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(paths):
            name = _safe_name(p.name)
            if progress:
                progress((i, len(paths) * 2), desc=f"Checking {name}")
            try:
                self.service.read_document(p)  # a bad file never replaces a good one in uploads/
            except QABotError as e:
                bad.append((name, str(e)))
                continue
            except Exception as e:
                bad.append((name, f"{type(e).__name__}: {e}"))
                continue
            try:
                dest, new = place_upload(p, self.uploads_dir, name)
            except OSError as e:
                bad.append((name, f"could not be saved on the server ({e.strerror or type(e).__name__})"))
                continue
            good.append(dest)
            if new:
                created.append(dest)
            if dest.name != name:
                renamed.append((name, dest.name))

        report = None
        if good:

            def on_progress(done: int, total: int, name: str) -> None:
                if progress:
                    progress(
                        (len(paths) + done, len(paths) + total), desc=f"Indexing {name}" if name else "Indexing done"
                    )

            try:
                with self._documents_lock:
                    report = self.service.ingest(good, prune=False, progress=on_progress)
            except Exception as e:
                bad.append(("(indexing)", friendly_error(e)))
                self._drop_unindexed(created)
            else:
                bad.extend((Path(f.path).name, f.reason) for f in report.failed)
                failed = {f.path for f in report.failed}
                # Keep uploads/ in step with the index; a file that was already there stays, whatever became of this
                # upload.
                self._drop_unindexed([c for c in created if str(c) in failed])
        parts = []
        if report is not None and (report.added or report.updated or report.skipped):
            ok_names = ", ".join(_esc(p.name) for p in good if str(p) not in {f.path for f in report.failed})
            parts.append(
                f'<div class="qa-status-ok">✓ Indexed {ok_names}: {report.added} added, {report.updated} updated, '
                f"{report.skipped} unchanged ({report.chunks} chunk{'s' if report.chunks != 1 else ''}, "
                f"{report.seconds:.1f} s). You can ask about them now.</div>"
            )
        for original, kept in renamed:
            parts.append(
                f'<div class="qa-status-ok">{_esc(original)} was saved as {_esc(kept)}: '
                "a different document already has that name.</div>"
            )
        for name, reason in bad:
            parts.append(f'<div class="qa-status-bad">✗ Not indexed: {_esc(name)}: {_esc(hide_paths(reason))}</div>')
        return "".join(parts), self.documents_html()

    def _drop_unindexed(self, created: list[Path]) -> None:
        """Remove files this upload added that did not make it into the index."""
        try:
            indexed = {rec.source for rec in self.registry().values()}
        except QABotError:  # the store is unreadable: nothing was indexed from this upload
            indexed = set()
        for path in created:
            if str(path) not in indexed:
                path.unlink(missing_ok=True)


def _indexed_when(ts: float | None) -> str:
    return "indexed " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "indexing time not recorded"


def _as_dict(m: Any) -> dict:
    return m if isinstance(m, dict) else (getattr(m, "model_dump", lambda: {})() or vars(m))


MAX_NAME = 150


def _safe_name(name: str, limit: int = MAX_NAME) -> str:
    """A file name safe to create in uploads/, at most ``limit`` characters; the extension survives shortening."""
    name = Path(name).name.strip().replace("\x00", "")
    name = re.sub(r"[^\w.\- ]+", "_", name).strip(". ") or "upload.txt"
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 10:  # no extension worth keeping
        return name[:limit]
    return stem[: max(1, limit - len(ext) - 1)].rstrip(". ") + "." + ext


def _name_variants(name: str) -> Iterator[str]:
    """``name``, then ``name-2``, ``name-3``, ... (extension kept, length bounded)."""
    yield name
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, dot + ext) if dot and stem else (name, "")
    for n in range(2, 1000):
        yield _safe_name(f"{stem[: MAX_NAME - len(ext) - 5]}-{n}{ext}")
    yield f"{uuid.uuid4().hex}{ext}"


def _digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def place_upload(src: Path, folder: Path, name: str) -> tuple[Path, bool]:
    """Copy ``src`` into ``folder`` as ``name`` or, when a different file already has that name, as ``name-2`` etc.

    Returns the path and whether it is new (False: an identical file was already there and is reused). Never
    replaces an existing file (an upload is no way to overwrite another user's document), and readers never see a
    half-written file: the bytes go to a hidden temporary file first, which is renamed onto a name claimed with O_EXCL.
    """
    digest = _digest(src)
    tmp = folder / f".upload-{uuid.uuid4().hex}.part"  # hidden: a folder ingest of uploads/ skips dotfiles
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        for candidate in _name_variants(name):
            dest = folder / candidate
            try:
                os.close(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))  # claim the name
            except FileExistsError:
                if dest.is_file() and _digest(dest) == digest:
                    return dest, False
                continue
            os.replace(tmp, dest)
            return dest, True
        raise FileExistsError(name)  # unreachable: the last variant is a fresh uuid
    finally:
        tmp.unlink(missing_ok=True)


def build_demo(settings: Settings | None = None, webapp: WebApp | None = None):
    import gradio as gr

    from qa_bot.apps.conversations import setup_saved_conversations
    from qa_bot.apps.web_panels import add_document_removal, add_rating

    app = webapp or WebApp(settings)

    # Gradio recognises the progress parameter by its default, a gr.Progress, and passes that same object in: one per
    # demo, made here rather than in the signature (B008).
    upload_progress = gr.Progress()

    def upload(files: list[str] | None, progress=upload_progress):
        status, docs = app.upload(files, progress)
        return status, docs, None

    with gr.Blocks(title="qa-bot", fill_height=True) as demo:
        with gr.Sidebar(label="Settings and documents", open=True, width=340):
            gr.Markdown("### Settings")
            generator = gr.Radio(
                app.allowed_generators,
                value=app.default_generator,
                label="Generator",
                elem_id="qa-generator",
                info=" · ".join(registry.generator(g).summary for g in app.allowed_generators),
            )
            top_k = gr.Slider(
                1,
                10,
                value=min(app.settings.retrieval.top_k, 10),
                step=1,
                label="Passages to retrieve (top-k)",
                elem_id="qa-topk",
            )
            gr.Markdown("### Add documents")
            files = gr.File(
                label="Upload txt, md, html or pdf",
                file_count="multiple",
                file_types=UPLOAD_TYPES,
                type="filepath",
                elem_id="qa-upload",
            )
            status = gr.HTML(elem_id="qa-upload-status")
            gr.Markdown("### Indexed documents")
            docs = gr.HTML(
                "<div>Loading the list…</div>", elem_id="qa-docs"
            )  # filled on page load, so it is never stale
            refresh = gr.Button("Refresh list", size="sm", elem_id="qa-refresh")
            remove_choice, remove_choices = add_document_removal(app, docs)
            gr.Markdown("### Feedback")
            feedback = gr.HTML("<div>…</div>", elem_id="qa-feedback")

        chatbot = gr.Chatbot(
            elem_id="qa-chatbot",
            label="qa-bot",
            scale=1,
            height="72vh",
            latex_delimiters=[],
            sanitize_html=True,
            allow_tags=False,
            buttons=["copy", "copy_all"],
            placeholder="Ask a question about the indexed documents. Every answer cites its sources.",
        )
        chat = gr.ChatInterface(
            app.chat,
            chatbot=chatbot,
            textbox=gr.Textbox(
                placeholder="Ask about the documents…",
                show_label=False,
                elem_id="qa-question",
                submit_btn=True,
                stop_btn=True,
            ),
            additional_inputs=[generator, top_k],
            examples=[[q, None, None] for q in EXAMPLES],
            title="qa-bot: answers from your documents, with verified sources",
            api_name="chat",
            api_description="Chat turn as Gradio messages (for the UI); use /ask for answer text and citations.",
            fill_height=True,
            save_history=True,  # past conversations listed beside the chat, kept in the browser
        )
        setup_saved_conversations(chat, app.settings.store.store_dir)
        add_rating(app, chatbot, feedback)
        files.upload(
            upload,
            [files],
            [status, docs, files],
            concurrency_limit=1,
            api_visibility="undocumented",
            show_progress="full",
        ).then(remove_choices, None, remove_choice, api_visibility="undocumented", queue=False)
        refresh.click(app.documents_html, None, docs, api_visibility="undocumented", queue=False).then(
            remove_choices, None, remove_choice, api_visibility="undocumented", queue=False
        )
        demo.load(app.documents_html, None, docs, api_visibility="undocumented", queue=False)
        demo.load(remove_choices, None, remove_choice, api_visibility="undocumented", queue=False)
        demo.load(app.feedback_html, None, feedback, api_visibility="undocumented", queue=False)
        gr.api(app.ask, api_name="ask")
    return demo


def launch(
    settings: Settings | None = None,
    host: str | None = None,
    port: int | None = None,
    share: bool = False,
    seed: bool = True,
    concurrency: int | None = None,
    block: bool = True,
):
    """Seed an empty store, build the app and serve it (default http://127.0.0.1:7860).

    ``host`` and ``concurrency`` default to the settings (QA_BOT_SERVER_HOST, QA_BOT_UI_CONCURRENCY); GRADIO_SERVER_PORT
    applies when no ``port`` is given."""
    settings = settings or get_settings()
    app = WebApp(settings)
    seeding: dict[str, Any] = {}

    def seed_store() -> None:
        try:
            seeding["report"] = app.ensure_seeded()
        except BaseException as e:  # re-raised in the main thread below
            seeding["error"] = e

    # Seeding (embedding, mostly native code) overlaps with importing Gradio and building the page.
    seeder = threading.Thread(target=seed_store, name="qa-bot-seed", daemon=True)
    if seed:
        seeder.start()
    demo = build_demo(webapp=app)
    if seed:
        seeder.join()
        if "error" in seeding:
            raise seeding["error"]
        if seeding.get("report") is not None:
            print(f"empty store: indexed the bundled seeds/ ({seeding['report'].summary()})", flush=True)
    from qa_bot.apps.openai_api import openai_api_lifespan

    demo.queue(default_concurrency_limit=concurrency or settings.ui.ui_concurrency)
    try:
        demo.launch(
            server_name=host or settings.ui.server_host,
            server_port=port,
            share=share,
            prevent_thread_lock=not block,
            css=CSS,
            footer_links=["api"],
            max_file_size=int(
                settings.ingestion.max_file_mb * 1024 * 1024
            ),  # bigger uploads are refused before they fill the disk
            app_kwargs={"lifespan": openai_api_lifespan(app)},  # /v1/chat/completions and /v1/models on the same server
        )
    finally:
        if block:
            app.close()  # the server has stopped (or never started): release the store and the models
    return demo
