"""What a web user may do and see (issue 11, items 11, 13, 16): `/ask` arguments checked like the Python API's, file
names instead of server paths, and only the generators the operator allows.

The shared `python app.py` process (tests/conftest.py ui_server: extractive generator, so `extractive` is the only
generator allowed by default), called with gradio_client. Without a server: tests/unit/test_generator_policy.py.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from support.project import SEEDS

Q1, Q2 = "Who heads NATO's Military Committee?", "Who did he meet?"


def app_error(web_client, *args) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        web_client.predict(*args, api_name="/ask")
    assert "Traceback" not in str(e.value)
    return str(e.value).lower()  # the web capitalises the message


# --- item 11 ---------------------------------------------------------------------------------------------------------
def test_ask_names_source_files_not_server_paths(web_client):
    got = web_client.predict(Q1, api_name="/ask")
    sources = {c["source"] for c in got["citations"]}
    assert sources and all("/" not in s and "\\" not in s for s in sources), sources
    assert sources <= {p.name for p in SEEDS.iterdir()}


# --- item 13 ---------------------------------------------------------------------------------------------------------
def test_ask_takes_role_message_history_like_pairs(web_client):
    first = web_client.predict(Q1, api_name="/ask")
    pairs = web_client.predict(Q2, [[Q1, first["text"]]], None, None, api_name="/ask")
    roles = web_client.predict(
        Q2,
        [{"role": "user", "content": Q1}, {"role": "assistant", "content": first["text"]}],
        None,
        None,
        api_name="/ask",
    )
    assert roles["standalone_question"] == pairs["standalone_question"] != Q2
    assert roles["text"] == pairs["text"]


def test_ask_rejects_a_history_of_plain_strings_and_a_bad_top_k(web_client):
    assert "history item 0 is the text" in app_error(web_client, Q2, [Q1, "Rob Bauer."], None, None)
    assert "top_k must be from 1 to 50" in app_error(web_client, Q1, None, None, 0)
    assert "top_k must be a whole number" in app_error(web_client, Q1, None, None, "many")
    assert (
        len(web_client.predict(Q1, None, None, "2", api_name="/ask")["timings"]) >= 3
    )  # a number as text is read as the number


# --- item 16 ---------------------------------------------------------------------------------------------------------
def test_ask_refuses_a_generator_the_server_does_not_allow(web_client):
    msg = app_error(web_client, Q1, None, "openai", None)
    assert "not enabled on this server" in msg and "available here: extractive" in msg


def test_the_generator_choice_offers_only_allowed_generators(ui_server):
    with urllib.request.urlopen(ui_server.url + "config", timeout=30) as r:
        config = json.load(r)
    (radio,) = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "qa-generator"]
    assert [choice[1] if isinstance(choice, list) else choice for choice in radio["props"]["choices"]] == ["extractive"]
