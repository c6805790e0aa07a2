"""The no-LLM generator: the best-supported retrieved sentences, each cited. Fast and deterministic."""

from __future__ import annotations

from qa_bot.retrieval.evidence import ScoredSentence, answerable


def compose(scored: list[ScoredSentence], *, min_score: float, max_sentences: int, next_ratio: float) -> str | None:
    """The answer text, or None when no sentence scores ``min_score`` (a refusal). Up to ``max_sentences`` sentences,
    each further one scoring at least ``next_ratio`` of the best (QA_BOT_EXTRACTIVE_* settings).

    Only sentences from passages that contain every number and name the question states can answer it: a question
    about a year, person or place the documents never mention (a false premise) is refused."""
    scored = answerable(scored)
    if not scored or scored[0].score < min_score:
        return None
    chosen = [scored[0]]
    for s in scored[1:]:
        if len(chosen) >= max_sentences or s.score < next_ratio * scored[0].score:
            break
        if s.text.strip() not in {c.text.strip() for c in chosen}:
            chosen.append(s)
    return " ".join(_cite(c.text.strip(), c.hit + 1) for c in chosen)


def _cite(sentence: str, n: int) -> str:
    body, tail = (sentence[:-1], sentence[-1]) if sentence[-1] in ".!?" else (sentence, ".")
    return f"{body} [{n}]{tail}"
