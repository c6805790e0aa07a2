"""Settings in groups (``settings.retrieval.top_k``) keep their flat names: every variable README documents
(QA_BOT_TOP_K, OPENAI_API_KEY, GRADIO_SERVER_NAME) lands in its group, a bad value is the same one line naming it, and
``with_values`` (the validated ``model_copy``) takes the flat names too."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from qa_bot.config import FIELDS, GROUP_OF, GROUPS, Settings, SettingsError, env_names, get_settings, nested_env_name


@pytest.fixture
def env(monkeypatch):
    """A clean environment of settings: set variables with env(NAME="value")."""
    import os

    for k in list(os.environ):
        if k.upper().startswith(("QA_BOT_", "OPENAI_", "GRADIO_")):
            monkeypatch.delenv(k)

    def setenv(**variables: str) -> None:
        for k, v in variables.items():
            monkeypatch.setenv(k, v)

    return setenv


def test_every_setting_is_in_exactly_one_group_by_its_flat_name():
    assert set(GROUPS) == {"store", "ingestion", "embedding", "retrieval", "generation", "verification", "ui"}
    assert sum(len(model.model_fields) for model in GROUPS.values()) == len(FIELDS) == len(GROUP_OF)
    s = Settings()
    for name, group in GROUP_OF.items():
        assert name in type(getattr(s, group)).model_fields
    assert GROUP_OF["top_k"] == "retrieval" and GROUP_OF["support_threshold"] == "verification"


def test_a_flat_variable_is_routed_into_its_group(env):
    env(QA_BOT_TOP_K="7", qa_bot_chunk_size="900", OPENAI_API_KEY="sk-flat-SECRET", GRADIO_SERVER_NAME="0.0.0.0")
    s = get_settings()
    assert s.retrieval.top_k == 7 and s.ingestion.chunk_size == 900 and s.ui.server_host == "0.0.0.0"
    assert isinstance(s.generation.openai_api_key, SecretStr)
    assert s.generation.openai_api_key.get_secret_value() == "sk-flat-SECRET"
    assert "sk-flat-SECRET" not in json.dumps(s.flat_dump()) + s.model_dump_json() + repr(s)


def test_a_nested_variable_works_and_the_flat_one_wins_over_it(env):
    assert nested_env_name("top_k") == "QA_BOT_RETRIEVAL__TOP_K"
    env(QA_BOT_RETRIEVAL__TOP_K="9", QA_BOT_UI__UI_CONCURRENCY="3")
    assert (get_settings().retrieval.top_k, get_settings().ui.ui_concurrency) == (9, 3)
    env(QA_BOT_TOP_K="5")
    assert get_settings().retrieval.top_k == 5


def test_keyword_arguments_beat_the_environment(env):
    env(QA_BOT_TOP_K="7", QA_BOT_RETRIEVAL__FETCH_K="30")
    s = get_settings(top_k=3, fetch_k=40, chroma_host=None)
    assert (s.retrieval.top_k, s.retrieval.fetch_k) == (3, 40)
    assert Settings(top_k=2).retrieval.top_k == 2


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"QA_BOT_TOP_K": "99"}, "invalid setting QA_BOT_TOP_K=99: input should be less than or equal to 50"),
        ({"QA_BOT_MIN_RELEVANCE": "nan"}, "invalid setting QA_BOT_MIN_RELEVANCE=nan: input should be a finite number"),
        (
            {"QA_BOT_ALLOWED_GENERATORS": "extractive,gpt5"},
            "invalid setting QA_BOT_ALLOWED_GENERATORS=gpt5: value error, unknown generator 'gpt5'",
        ),
        ({"GRADIO_SERVER_NAME": "0.0.0.0", "QA_BOT_UI_CONCURRENCY": "0"}, "invalid setting QA_BOT_UI_CONCURRENCY=0: "),
        ({"QA_BOT_RETRIEVAL__TOP_K": "0"}, "invalid setting QA_BOT_RETRIEVAL__TOP_K=0: input should be greater"),
    ],
)
def test_a_bad_value_in_a_group_is_one_line_naming_the_variable(env, variables, message):
    env(**variables)
    with pytest.raises(SettingsError) as e:
        get_settings()
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_bad_secret_is_named_but_not_echoed(env):
    env(OPENAI_BASE_URL="http://127.0.0.1:8080/v1")
    assert get_settings().generation.openai_base_url == "http://127.0.0.1:8080/v1"
    with pytest.raises(SettingsError) as e:
        get_settings(openai_api_key=12)
    assert str(e.value).startswith("invalid setting openai_api_key: ") and "12" not in str(e.value)
    assert env_names("openai_api_key") == ["QA_BOT_OPENAI_API_KEY", "OPENAI_API_KEY"]


def test_with_values_is_a_validated_copy_by_flat_names(env):
    env(QA_BOT_TOP_K="7")
    base = get_settings(chroma_host=None)
    copy = base.with_values(fetch_k=33, generator="extractive", abstain_threshold=None)
    assert (copy.retrieval.fetch_k, copy.generation.generator) == (33, "extractive")
    assert copy.retrieval.top_k == 7 and base.retrieval.fetch_k == 20  # the rest kept; the original unchanged
    assert copy.store.store_dir == base.store.store_dir
    env(QA_BOT_TOP_K="8")
    assert base.with_values(fetch_k=21).retrieval.top_k == 7  # a copy, not a fresh read of the environment


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"top_k": 0}, "invalid setting top_k=0: input should be greater than or equal to 1"),
        ({"temperature": float("inf")}, "invalid setting temperature=inf: input should be a finite number"),
        ({"generator": "gpt5"}, "invalid setting generator=gpt5: value error, unknown generator 'gpt5'"),
        ({"abstain": "maybe"}, "invalid setting abstain=maybe: input should be 'calibrated' or 'none'"),
        ({"tpo_k": 3}, "unknown setting tpo_k"),
    ],
)
def test_with_values_refuses_a_bad_value(values, message):
    with pytest.raises(SettingsError) as e:
        Settings().with_values(**values)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_flat_dump_has_every_flat_name_and_leaves_out_what_it_is_told():
    d = Settings(top_k=3, openai_api_key="sk-dump-SECRET").flat_dump(exclude={"openai_base_url"})
    assert set(d) == set(FIELDS) - {"openai_base_url"} and d["top_k"] == 3 and d["openai_api_key"] == "**********"
