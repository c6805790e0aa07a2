"""The OpenAI-compatible endpoint's request parsing, without a server: messages become the question and history pairs,
and the models offered follow the operator's setting. Against the running web app:
tests/integration/test_openai_api.py."""

from __future__ import annotations


def test_history_pairs_drop_system_messages_and_our_sources_list(tmp_path):
    from qa_bot.apps.openai_api import parse_request
    from qa_bot.config import Settings

    s = Settings(store_dir=tmp_path, chroma_host=None, generator="extractive")
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Where were"},
            {"role": "user", "content": [{"type": "text", "text": "the drills?"}]},
            {
                "role": "assistant",
                "content": 'Over the Sea of Japan [1].\n\nSources:\n[1] AP (a.txt, chars 1-9): "Sea of Japan"',
            },
            {"role": "assistant", "content": "An assistant turn with no question before it is not a pair."},
            {"role": "user", "content": "When?"},
        ]
    }
    question, history, generator, stream = parse_request(body, s)
    assert (question, generator, stream) == ("When?", "extractive", False)
    assert history == [("Where were\nthe drills?", "Over the Sea of Japan [1].")]


def test_allowed_generators_follow_a_setting_when_there_is_one(tmp_path):
    from qa_bot.apps.openai_api import allowed_generators
    from qa_bot.config import Settings

    def settings(default: str, allowed=None):
        return Settings(generator=default, allowed_generators=allowed, store_dir=tmp_path)

    assert allowed_generators(settings("local")) == ["local", "extractive"]
    assert allowed_generators(settings("extractive")) == ["extractive"]
    assert allowed_generators(settings("local", ["extractive", "local", "openai"])) == ["local", "extractive", "openai"]
    assert allowed_generators(settings("openai", "extractive, openai")) == ["openai", "extractive"]
