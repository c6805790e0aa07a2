"""The no-LLM generator: the best-supported retrieved sentences, each cited. Fast and deterministic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from .schema import SearchHit
from .text import content_tokens, key_terms, norm_token, passage_terms, sentence_spans

# Words that shape a question rather than describe its subject ("how many", "what kind of", "what is it called").
_QUESTION_FORM = frozenset(norm_token(w) for w in "many much often name named type kind called".split())


@dataclass
class Scored:
    passage: int  # 1-based passage number
    text: str
    score: float
    lexical: float
    dense: float
    missing: frozenset[str] = frozenset()  # the question's numbers and names that this sentence's passage lacks


def score_sentences(question: str, hits: list[SearchHit], embeddings: Embeddings) -> list[Scored]:
    q_tokens = set(content_tokens(question)) - _QUESTION_FORM
    keys = key_terms(question)
    missing = {i: frozenset(keys - passage_terms(h.chunk.text)) for i, h in enumerate(hits, 1)}
    cands: list[tuple[int, str]] = []
    for i, h in enumerate(hits, 1):
        for s, e in sentence_spans(h.chunk.text):
            sent = h.chunk.text[s:e].strip()
            if len(content_tokens(sent)) >= 3:
                cands.append((i, sent))
    if not cands:
        return []
    vecs = np.asarray(embeddings.embed_documents([c[1] for c in cands]), dtype=np.float32)
    q = np.asarray(embeddings.embed_query(question), dtype=np.float32)
    dense = vecs @ q
    out = []
    for (i, sent), d in zip(cands, dense):
        lex = len(q_tokens & set(content_tokens(sent))) / max(1, len(q_tokens))
        out.append(Scored(i, sent, 0.5 * lex + 0.5 * float(d), lex, float(d), missing[i]))
    out.sort(key=lambda s: s.score, reverse=True)
    return out


def compose(scored: list[Scored], min_score: float, max_sentences: int = 2) -> str | None:
    """The answer text, or None when no sentence is relevant enough (a refusal).

    Only sentences from passages that contain every number and name the question states can answer it: a question
    about a year, person or place the documents never mention (a false premise) is refused."""
    scored = [s for s in scored if not s.missing]
    if not scored or scored[0].score < min_score:
        return None
    chosen = [scored[0]]
    for s in scored[1:]:
        if len(chosen) >= max_sentences or s.score < 0.85 * scored[0].score:
            break
        if s.text not in {c.text for c in chosen}:
            chosen.append(s)
    return " ".join(_cite(c.text, c.passage) for c in chosen)


def _cite(sentence: str, n: int) -> str:
    body, tail = (sentence[:-1], sentence[-1]) if sentence[-1] in ".!?" else (sentence, ".")
    return f"{body} [{n}]{tail}"
