"""Saved conversations of the web chat.

Gradio's ChatInterface (``save_history=True``) keeps each browser's conversations in its localStorage, encrypted with a
key sent to the page. Gradio draws a new random key on every start, which made every saved conversation unreadable after
a server restart; here the key and the storage slot are fixed per store, so conversations outlive restarts and upgrades.
The key only scrambles the browser's copy (the page receives it): it is not a credential.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

KEY_FILE = "ui_conversations.key"
STORAGE_KEY = "qa_bot_conversations"


def _read_key(path: Path) -> str | None:
    try:
        key = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return key if len(key) >= 16 else None


def conversations_key(store_dir: Path) -> str:
    """The store's key for the browsers' saved conversations, created on first use (file mode 0600)."""
    path = Path(store_dir) / KEY_FILE
    key = _read_key(path)
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{KEY_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(16))
    try:
        if path.exists():
            os.replace(tmp, path)  # an unreadable key is worth nothing: replace it
        else:
            os.link(tmp, path)  # first writer wins: two servers starting together agree on one key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    key = _read_key(path)
    assert key is not None
    return key


def setup_saved_conversations(chat: Any, store_dir: Path) -> None:
    """Give a ChatInterface built with ``save_history=True`` this store's key, a fixed localStorage slot, and element
    ids.

    Must run inside the ``gr.Blocks`` context, before it closes (the page's config is built then)."""
    state = chat.saved_conversations
    state.secret = conversations_key(store_dir)
    state.storage_key = STORAGE_KEY
    chat.chat_history_dataset.elem_id = "qa-conversations"
    chat.new_chat_button.elem_id = "qa-new-chat"
