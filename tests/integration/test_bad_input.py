"""Bad settings and bad API arguments get one clear line, not a traceback or a silent misreading (issue 11, items
12-13).

Settings through real `qa-bot` / `python app.py` processes; the Python API against a real seeded store. The settings'
bounds and the argument checks in-process: tests/unit/test_settings_and_arguments.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.project import ROOT, clean_env, error_lines, run_cli

from qa_bot import answer
from qa_bot.schema import QABotError


def one_error_line(p: subprocess.CompletedProcess) -> str:
    out = p.stdout + p.stderr
    assert p.returncode == 2, (p.returncode, out)
    assert "Traceback" not in out and "pydantic" not in out.lower() and "validation error" not in out, out
    lines = error_lines(p.stderr)
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
    msg = one_error_line(run_cli("docs", "--store", str(tmp_path), env=clean_env(**{variable: value})))
    assert msg.startswith(f"error: invalid setting {variable}={value.split(',')[-1] if ',' in value else value}"), msg


def test_a_bad_option_is_one_line_naming_it(tmp_path):
    msg = one_error_line(run_cli("ask", "-k", "0", "-g", "extractive", "Who heads NATO?", "--store", str(tmp_path)))
    assert "top_k=0" in msg and "greater than or equal to 1" in msg, msg


def test_serve_with_a_nan_file_limit_stops_with_one_line(tmp_path):
    env = clean_env(QA_BOT_MAX_FILE_MB="nan", QA_BOT_STORE_DIR=str(tmp_path), GRADIO_SERVER_PORT="1")  # never bound
    p = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--no-seed"], capture_output=True, text=True, env=env, timeout=120
    )
    assert "QA_BOT_MAX_FILE_MB=nan" in one_error_line(p) and "finite" in p.stderr


# --- item 13: the Python API's history and top_k ----------------------------------------------------------------------
Q1, Q2 = "Who heads NATO's Military Committee?", "Who did he meet?"


@pytest.fixture(scope="module")
def store(seeds):
    return seeds.settings.with_values(generator="extractive")


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
