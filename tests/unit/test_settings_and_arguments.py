"""Bad settings and bad API arguments, checked in-process (issue 11, items 12-13): every numeric setting bounded and
finite, history and top_k normalised or refused with one clear line. Through real processes and a real store:
tests/integration/test_bad_input.py."""

from __future__ import annotations

import math
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_bot.config import FIELDS, get_settings
from qa_bot.schema import QABotError


def _numeric_fields() -> list[str]:
    out = []
    for name, info in FIELDS.items():
        types = set(typing.get_args(info.annotation)) or {info.annotation}
        if types & {int, float}:
            out.append(name)
    return out


def test_every_numeric_setting_is_bounded_on_both_sides():
    unbounded = []
    for name in _numeric_fields():
        kinds = {k for m in FIELDS[name].metadata for k in ("ge", "gt", "le", "lt") if getattr(m, k, None) is not None}
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
