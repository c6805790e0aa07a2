"""Parts of the web chat's page around the chat: removing a document (after a confirmation) and rating answers.

Each function adds its components to the ``gr.Blocks`` being built and wires their events to a ``WebApp``. Imported only
when the page is built, so Gradio is imported here at the top (Gradio reads the ``gr.LikeData`` hint to pass the event).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa_bot.schema import QABotError

if TYPE_CHECKING:
    from qa_bot.apps.web import WebApp


def add_document_removal(app: WebApp, docs: Any) -> tuple[Any, Callable[[], Any]]:
    """A menu of the indexed documents with a Remove button that asks for confirmation first.

    Returns the menu and a function giving its refreshed choices (for events that change the index elsewhere)."""
    from qa_bot.apps.web import _esc

    with gr.Row(equal_height=True):
        choice = gr.Dropdown(choices=[], value=None, label="Remove a document", elem_id="qa-remove-choice", scale=3)
        ask = gr.Button("Remove…", size="sm", elem_id="qa-remove", scale=1)
    with gr.Column(visible=False, elem_id="qa-remove-confirm") as confirm:
        prompt = gr.HTML()
        with gr.Row():
            yes = gr.Button("Yes, remove it", variant="stop", size="sm", elem_id="qa-remove-yes")
            no = gr.Button("Cancel", size="sm", elem_id="qa-remove-cancel")
    status = gr.HTML(elem_id="qa-remove-status")

    def choices() -> Any:
        return gr.update(choices=app.document_choices(), value=None)

    def ask_first(doc_id: str | None):
        if not doc_id:
            return gr.update(visible=False), "", '<div class="qa-status-bad">Choose a document to remove first.</div>'
        label = {v: k for k, v in app.document_choices()}.get(doc_id, doc_id)
        text = (
            f"<div>Remove <strong>{_esc(label)}</strong> from the index? Answers will no longer find or cite it.</div>"
        )
        return gr.update(visible=True), text, ""

    def remove(doc_id: str | None):
        return gr.update(visible=False), app.remove(doc_id), app.documents_html(), choices()

    ask.click(ask_first, [choice], [confirm, prompt, status], queue=False, api_visibility="undocumented")
    yes.click(remove, [choice], [confirm, status, docs, choice], concurrency_limit=1, api_visibility="undocumented")
    no.click(
        lambda: (gr.update(visible=False), ""), None, [confirm, status], queue=False, api_visibility="undocumented"
    )
    return choice, choices


def add_rating(app: WebApp, chatbot: Any, counter: Any) -> None:
    """👍 / 👎 under each answer, stored with the answer; then an optional comment box for that rating."""
    with gr.Row(visible=False, elem_id="qa-comment-row") as row:
        text = gr.Textbox(
            placeholder="Thanks! What was right or wrong about this answer? (optional)",
            show_label=False,
            scale=5,
            max_lines=3,
            elem_id="qa-comment",
        )
        send = gr.Button("Send comment", size="sm", scale=1, elem_id="qa-comment-send")
    last = gr.State(None)  # the id of this browser's latest rating, which a comment is added to

    def on_like(messages: list, data: gr.LikeData, request: gr.Request):
        liked = data.liked if isinstance(data.liked, bool) else None  # "" when a thumb is clicked off again
        try:
            fid = app.rate(messages, data.index, liked, rater=request.session_hash or "")
        except QABotError as e:
            gr.Warning(str(e))
            return gr.update(), gr.update(), gr.update(), gr.update()
        if liked is None:
            return app.feedback_html(), gr.update(visible=False), None, ""
        return app.feedback_html(), gr.update(visible=True), fid, ""

    def on_comment(fid: str | None, comment: str):
        if not fid:
            gr.Warning("Rate an answer first: the comment goes with the rating.")
            return gr.update(), gr.update()
        try:
            app.feedback.comment(fid, comment or "")
        except QABotError as e:
            gr.Warning(f"Not saved: {e}.")
            return gr.update(), gr.update()
        gr.Info("Thanks: the comment was saved with your rating.")
        return gr.update(visible=False), ""

    chatbot.like(on_like, [chatbot], [counter, row, last, text], api_visibility="undocumented")
    for trigger in (send.click, text.submit):
        trigger(on_comment, [last, text], [row, text], api_visibility="undocumented")
