"""eval/recompute_signals.py: the model-free decision signals of recorded answers, recomputed with today's code, are
the values the chain computes (a scripted model and the hashing embedder over the small real store; no model loaded)."""

from __future__ import annotations

import json

import pytest
from fakes import GENERATOR
from support.project import load_eval_script

from qa_bot import Answer
from qa_bot.pipeline import Bot

QUESTIONS = {
    "Who is the head of NATO's Military Committee who visited Tokyo in June 2022?": "Rob Bauer",
    "Over which sea did Japanese and US fighter jets hold joint flight drills?": "Sea of Japan",
}


@pytest.fixture(scope="module")
def recompute():
    return load_eval_script("recompute_signals").recompute


def recorded(fake_store, scripted_model) -> list[dict]:
    """Rows as `qa-bot eval` records them (the fields the script reads), from real runs of the chain."""
    bot, rows = Bot.from_settings(fake_store), []
    for i, (question, reply) in enumerate(QUESTIONS.items()):
        scripted_model.script(reply)
        a = [x for x in bot.run(question, generator=GENERATOR)][-1]
        assert isinstance(a, Answer) and a.citations and a.signals
        rows.append(
            {
                "id": f"q{i}",
                "question": question,
                "standalone_question": a.standalone_question,
                "error": None,
                "hits": [{"chunk_id": h.chunk.chunk_id} for h in a.hits],
                "citations": [{"quote": c.quote, "support": c.support} for c in a.citations],
                "signals": dict(a.signals),
                "draft": a.draft,
            }
        )
    return rows


def test_recomputed_signals_are_the_chain_s_own(recompute, fake_store, scripted_model, tmp_path):
    rows = recorded(fake_store, scripted_model)
    chain = [dict(r["signals"]) for r in rows]
    assert chain[0]["premise"] == 1.0  # the June 2022 date is in the AP article, not in the Bauer passage
    for r in rows:  # as an older version of the code recorded them
        r["signals"]["premise"] = r["signals"]["agreement"] = 0.0
    (tmp_path / "results.json").write_text(json.dumps({"results": rows}))
    assert recompute(tmp_path / "results.json", fake_store, tmp_path / "out") == 2
    again = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["signals"] for r in again["results"]] == chain
    assert "recompute_signals.py" in again["signals_recomputed"]


def test_a_signal_that_does_not_match_the_recording_stops_the_recompute(
    recompute, fake_store, scripted_model, tmp_path
):
    rows = recorded(fake_store, scripted_model)
    rows[1]["signals"]["question_coverage"] = 0.01  # not what today's code computes: the recording is not comparable
    (tmp_path / "results.json").write_text(json.dumps({"results": rows}))
    with pytest.raises(SystemExit, match="question_coverage"):
        recompute(tmp_path / "results.json", fake_store, tmp_path / "out")
