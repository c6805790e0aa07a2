"""The answer chain on a real store (MiniLM, Chroma) with the extractive generator (no LLM): citations, refusal,
follow-ups, planted orders, bad input. The same chain with a scripted model: tests/unit/test_pipeline.py."""

from __future__ import annotations

import pytest
from support.project import AP_DOC as AP
from support.project import UNN_DOC as UNN
from support.project import doc_texts

from qa_bot import Answer, QABotError, answer, stream_answer
from qa_bot.config import Settings


def assert_citations_exact(a: Answer, settings: Settings) -> None:
    texts = doc_texts(settings)
    assert a.citations, a
    for c in a.citations:
        assert texts[c.doc_id][c.start : c.end] == c.quote
        assert c.quote and c.quote in c.passage
        assert f"[{c.marker}]" in a.text
    # markers are numbered 1..n in order of use and every marker in the text has a citation
    assert [c.marker for c in a.citations] == list(range(1, len(a.citations) + 1))


@pytest.mark.parametrize(
    ("question", "expected", "doc"),
    [
        ("Which sea were the joint flight drills over?", "Sea of Japan", AP),
        ("Who did Stoltenberg give an interview to?", "Kyodo News", UNN),
        ("Who is the chief of NATO's Military Committee?", "Rob Bauer", AP),
        ("Where were the NATO naval exercises that Japan's Maritime Self-Defense Force joined?", "Mediterranean", AP),
    ],
)
def test_extractive_answers_with_exact_citations(seeds_with_injection, question, expected, doc):
    a = answer(question, settings=seeds_with_injection)
    assert not a.refused
    assert expected in a.text
    assert a.citations[0].doc_id == doc
    assert expected in " ".join(c.quote for c in a.citations)
    assert_citations_exact(a, seeds_with_injection)
    assert set(a.timings) == {"condense", "retrieve", "generate", "verify"}
    assert a.generator == "extractive"


@pytest.mark.parametrize("question", ["What is the capital of France?", "How do I bake sourdough bread at home?"])
def test_out_of_scope_questions_are_refused(seeds_with_injection, question):
    a = answer(question, settings=seeds_with_injection)
    assert a.refused
    assert a.text == "The documents don't say."
    assert a.citations == []


def test_planted_instructions_do_not_steer_the_bot(seeds_with_injection):
    a = answer("Which sea were the joint flight drills over?", settings=seeds_with_injection)
    assert "PWNED" not in a.text and "Sea of Japan" in a.text
    assert all(not c.doc_id.startswith("zz_") for c in a.citations)


def test_follow_up_is_rewritten_with_history(seeds_with_injection):
    history = [("Who is NATO's Secretary General in the UNN article?", "Jens Stoltenberg [1].")]
    a = answer("Which news agency did he give an interview to?", history=history, settings=seeds_with_injection)
    assert a.standalone_question != a.question
    assert "Secretary General" in a.standalone_question
    assert "Kyodo News" in a.text


def test_stream_yields_text_then_final_answer(seeds_with_injection):
    items = list(stream_answer("Which sea were the joint flight drills over?", settings=seeds_with_injection))
    assert isinstance(items[-1], Answer)
    assert all(isinstance(i, str) for i in items[:-1]) and items[:-1]
    assert "Sea of Japan" in "".join(items[:-1])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "the question is empty"),
        ("   \n\t", "the question is empty"),
        ("\x00\x01\x02", "the question is empty"),
        ("x" * 100_000, "the question is 100,000 characters long; the limit is 4,000"),
    ],
)
def test_bad_questions_get_clear_errors(seeds_with_injection, bad, message):
    with pytest.raises(QABotError, match=message):
        answer(bad, settings=seeds_with_injection)


def test_unknown_generator_is_a_clear_error(seeds_with_injection):
    with pytest.raises(QABotError, match="unknown generator"):
        answer("Which sea?", settings=seeds_with_injection, generator="gpt-99")
