"""Bad settings and bad API arguments get one clear line, not a traceback or a silent misreading (issue 11, items 12-13).

Settings through real `qa-bot` / `python app.py` processes; the Python API against a real seeded store.
"""

from __future__ import annotations

import math
import subprocess
import sys
import typing

import pytest
from conftest import QA_ROOT, qa_clean_env, qa_cli, qa_error_lines
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_bot import answer
from qa_bot.config import Settings, get_settings
from qa_bot.schema import QABotError


def one_error_line(p: subprocess.CompletedProcess) -> str:
    out = p.stdout + p.stderr
    assert p.returncode == 2, (p.returncode, out)
    assert "Traceback" not in out and "pydantic" not in out.lower() and "validation error" not in out, out
    lines = qa_error_lines(p.stderr)
    assert len(lines) == 1 and " ".join(p.stderr.split()) == " ".join(lines[0].split()), p.stderr
    return " ".join(lines[0].split())


# --- item 12: settings ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "variable, value",
    [
        ("QA_BOT_TOP_K", "-1"),
        ("QA_BOT_CHUNK_SIZE", "0"),
        ("QA_BOT_CHROMA_PORT", "abc"),
        ("QA_BOT_GENERATOR", "gpt5"),
        ("QA_BOT_MAX_FILE_MB", "nan"),
        ("QA_BOT_MIN_RELEVANCE", "5"),
        ("QA_BOT_DEDUP_THRESHOLD", "-1"),
        ("QA_BOT_ALLOWED_GENERATORS", "extractive,gpt5"),
    ],
)
def test_a_bad_environment_variable_is_one_line_naming_it(tmp_path, variable, value):
    msg = one_error_line(qa_cli("docs", "--store", str(tmp_path), env=qa_clean_env(**{variable: value})))
    assert msg.startswith(f"error: invalid setting {variable}={value.split(',')[-1] if ',' in value else value}"), msg


def test_a_bad_option_is_one_line_naming_it(tmp_path):
    msg = one_error_line(qa_cli("ask", "-k", "0", "-g", "extractive", "Who heads NATO?", "--store", str(tmp_path)))
    assert "top_k=0" in msg and "greater than or equal to 1" in msg, msg


def test_serve_with_a_nan_file_limit_stops_with_one_line(tmp_path):
    env = qa_clean_env(QA_BOT_MAX_FILE_MB="nan", QA_BOT_STORE_DIR=str(tmp_path), GRADIO_SERVER_PORT="1")  # never bound
    p = subprocess.run(
        [sys.executable, str(QA_ROOT / "app.py"), "--no-seed"], capture_output=True, text=True, env=env, timeout=120
    )
    assert "QA_BOT_MAX_FILE_MB=nan" in one_error_line(p) and "finite" in p.stderr


def _numeric_fields() -> list[str]:
    out = []
    for name, info in Settings.model_fields.items():
        types = set(typing.get_args(info.annotation)) or {info.annotation}
        if types & {int, float}:
            out.append(name)
    return out


def test_every_numeric_setting_is_bounded_on_both_sides():
    unbounded = []
    for name in _numeric_fields():
        kinds = {
            k
            for m in Settings.model_fields[name].metadata
            for k in ("ge", "gt", "le", "lt")
            if getattr(m, k, None) is not None
        }
        if not kinds & {"ge", "gt"} or not kinds & {"le", "lt"}:
            unbounded.append(name)
    assert not unbounded


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_no_numeric_setting_takes_nan_or_infinity(bad):
    accepted = []
    for name in _numeric_fields():
        try:
            get_settings(**{name: bad})
        except QABotError as e:  # SettingsError: one line, for the CLI to print
            assert "\n" not in str(e) and name in str(e)
        else:
            accepted.append(name)
    assert not accepted


def test_settings_that_refused_everything_are_rejected():
    for name, value in (("min_relevance", 5), ("dedup_threshold", -1), ("max_file_mb", 0), ("request_timeout", 0)):
        with pytest.raises(QABotError, match=name):
            get_settings(**{name: value})


# --- item 13: the Python API's history and top_k ----------------------------------------------------------------------
Q1, Q2 = "Who heads NATO's Military Committee?", "Who did he meet?"


@pytest.fixture(scope="module")
def store(qa_seeded):
    return qa_seeded.settings.model_copy(update={"generator": "extractive"})


def test_role_message_history_is_read_like_pairs(store):
    first = answer(Q1, settings=store, generator="extractive")
    pairs = answer(Q2, [(Q1, first.text)], settings=store, generator="extractive")
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": Q1},
        {"role": "assistant", "content": [{"type": "text", "text": first.text}]},
    ]
    roles = answer(Q2, messages, settings=store, generator="extractive")
    assert roles.standalone_question == pairs.standalone_question != Q2
    assert (roles.text, roles.refused) == (pairs.text, pairs.refused)


@pytest.mark.parametrize(
    "history, words",
    [
        ([Q1, "Rob Bauer heads it."], "history item 0 is the text"),
        ("Who heads it?", "history must be"),
        ([{"role": "narrator", "content": "x"}], "role 'narrator'"),
        ([(Q1,)], "history item 0 is tuple"),
    ],
)
def test_a_history_of_the_wrong_shape_is_a_clear_error(store, history, words):
    with pytest.raises(QABotError) as e:
        answer(Q2, history, settings=store, generator="extractive")
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("top_k", [-1, 0, 51, "three", 2.5, True, [3]])
def test_a_bad_top_k_is_a_clear_error(store, top_k):
    with pytest.raises(QABotError, match="top_k must be"):
        answer(Q1, settings=store, generator="extractive", top_k=top_k)


def test_top_k_given_as_text_is_taken_as_the_number(store):
    as_text = answer(Q1, settings=store, generator="extractive", top_k="2")
    assert len(as_text.hits) == 2
    assert as_text.text == answer(Q1, settings=store, generator="extractive", top_k=2).text


def test_history_normalisation_of_both_shapes_and_a_mix():
    from qa_bot.apps.inputs import check_top_k, normalise_history

    assert normalise_history(None) == [] and normalise_history([]) == []
    got = normalise_history(
        [
            ["q1", "a1"],
            {"role": "user", "content": "q2"},
            {"role": "user", "content": "more"},
            {"role": "assistant", "content": "a2"},
            {"role": "assistant", "content": "a greeting with no question"},
            {"role": "tool", "content": "{}"},
            {"role": "user", "content": "q3"},
            {"role": "assistant", "content": ""},  # a failed turn is left out
            {"role": "user", "content": "still waiting"},
        ]
    )
    assert got == [("q1", "a1"), ("q2\nmore", "a2")]
    assert check_top_k(None) is None and check_top_k(" 7 ") == 7 and check_top_k(3.0) == 3


JSON_LIKE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["user", "assistant", "system"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(
            st.sampled_from(["role", "content", "text", "type", "metadata"]) | st.text(max_size=4), inner, max_size=4
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, database=None)
@given(history=JSON_LIKE, top_k=JSON_LIKE)
def test_any_history_or_top_k_is_accepted_or_one_clear_error(history, top_k):
    from qa_bot.apps.inputs import check_top_k, normalise_history

    for check, value in ((normalise_history, history), (check_top_k, top_k)):
        try:
            got = check(value)
        except QABotError as e:
            assert str(e) and "\n" not in str(e) and len(str(e)) < 300
            continue
        if check is check_top_k:
            assert got is None or (type(got) is int and 1 <= got <= 50)
        else:
            assert all(type(q) is str and type(a) is str for q, a in got)
