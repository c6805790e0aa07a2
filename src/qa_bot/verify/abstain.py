"""The calibrated decision to answer or abstain.

The model is never asked whether it can answer (asked in the answer prompt, it refused answerable questions and still
answered unanswerable ones). Instead, once it has answered, a few signals about that answer are combined by a logistic
model fitted on dev data only (``eval/fit_abstention.py`` writes ``abstention.json``) into P(answer is correct); below
the fitted threshold the bot says "The documents don't say."
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from qa_bot.answer_format import strip_markers
from qa_bot.retrieval.evidence import QUESTION_FORM
from qa_bot.schema import QABotError
from qa_bot.text import DEMONYMS, STOPWORDS, content_tokens, key_terms, passage_terms
from qa_bot.verify.answer_types import _DATE, _MONTH, _NUM, _NUM_WORDS, question_kind


@dataclass
class Signals:
    """What is known about one answer when the decision is made; every value is in [0, 1]."""

    self_check: float  # the model's P(yes) that the cited evidence shows the answer answers the question
    support: float  # mean lexical support of the answer's sentences by their cited evidence
    type_match: float  # 1 when the answer contains what the question asks for (a number for "how many", ...)
    question_coverage: float  # share of the question's content words found in the cited evidence
    # 1 when every number and name of the question occurs in the retrieved documents (0: a false premise?)
    premise: float
    retrieval: float  # best cosine similarity of a retrieved passage to the question
    evidence_score: float  # best evidence sentence's relevance score
    # Share of the answer's content words found in the two sentences that best match the question (among those whose
    # documents state the question's names, if any do): an answer taken from elsewhere is more often wrong.
    agreement: float = 0.0
    # The model's P(yes) that the cited sentences answer the question; asked without the answer, so an answer that
    # merely sounds right cannot sway it.
    evidence_answers: float = 0.0
    # The probability of the answer's first token under the answer prompt: how sure the model was of how to begin.
    first_token: float = 0.0
    # How far answers sampled from the same prompt say the same thing (mean word-overlap F1 with the answer): a model
    # sure of its reading repeats it; one that guessed says something else each time (self-consistency).
    consistency: float = 0.0

    def vector(self) -> list[float]:
        return [float(v) for v in asdict(self).values()]

    @classmethod
    def names(cls) -> list[str]:
        return list(cls.__dataclass_fields__)


def compute_signals(
    question: str,
    answer_text: str,
    cited_evidence: list[str],
    known_terms: Collection[str],
    *,
    self_check: float,
    support: float,
    retrieval: float,
    evidence_score: float,
    best_sentences: Sequence[str] = (),
    evidence_answers: float = 0.0,
    first_token: float = 0.0,
    consistency: float = 0.0,
) -> Signals:
    type_match = answer_type_match(question, answer_text)
    q_tokens = set(content_tokens(question)) - QUESTION_FORM
    cited = set().union(*(passage_terms(t) for t in cited_evidence)) if cited_evidence else set()
    coverage = len(q_tokens & cited) / len(q_tokens) if q_tokens else 1.0
    premise = float(all(k in known_terms for k in key_terms(question)))
    return Signals(
        self_check=_unit(self_check),
        support=_unit(support),
        type_match=type_match,
        question_coverage=_unit(coverage),
        premise=premise,
        retrieval=_unit(retrieval),
        evidence_score=_unit(evidence_score),
        agreement=agreement(answer_text, best_sentences),
        evidence_answers=_unit(evidence_answers),
        first_token=_unit(first_token),
        consistency=_unit(consistency),
    )


def consistency_of(answer_text: str, samples: Sequence[str]) -> float:
    """Mean SQuAD F1 of the ``samples`` against the answer (0.5 without samples: no information). On the fresh dev
    drafts (``eval/experiments/sample_agreement.py``, out of sample) the decision fitted with it gets more of them right
    than one fitted with the share of samples that contain the answer (0.762 vs 0.742)."""
    from qa_bot.evaluation.squad import f1

    answer = strip_markers(answer_text).strip()
    if not samples or not answer:
        return 0.5
    return sum(f1(answer, s) for s in samples) / len(samples)


def agreement(answer_text: str, best_sentences: Sequence[str]) -> float:
    """Share of the answer's content words that the best-matching evidence sentences contain (0 without either)."""
    claim = content_tokens(strip_markers(answer_text))
    if not claim or not best_sentences:
        return 0.0
    have = set().union(*(passage_terms(t) for t in best_sentences))
    return sum(t in have for t in claim) / len(claim)


def confidence_words(p: float) -> str:
    """The calibrated P(correct) in plain words for people (the numbers stay in the Answer)."""
    if p >= 0.85:
        return f"high confidence ({p:.0%} likely correct)"
    if p >= 0.6:
        return f"medium confidence ({p:.0%} likely correct)"
    return f"low confidence ({p:.0%} likely correct)"


_NUMBER = re.compile(rf"(?<![\w-]){_NUM}(?![\w-])|{_NUM_WORDS}|\b(?:a|one) (?:few|couple|dozen|pair)\b", re.I)
_TIME = re.compile(
    rf"{_DATE}|\b{_MONTH}\b|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
    r"spring|summer|autumn|fall|winter|year|month|week|day|decade|century|era|period|morning|evening|night|"
    r"before|after|during|since|until|ago)s?\b",
    re.I,
)
_CAPITALISED = re.compile(r"\b[A-Z][\w'’.-]*")


def answer_type_match(question: str, answer_text: str) -> float:
    """1.0 when the answer holds what the question asks for: a number for "how many", a date or time word for "when", a
    name (a capitalised word that is not a nationality) for "who" and "where"; 1.0 for other questions."""
    claim = strip_markers(answer_text)
    kind = question_kind(question)
    if kind == "number":
        return float(bool(_NUMBER.search(claim)))
    if kind == "date":
        return float(bool(_TIME.search(claim)))
    if kind in ("name", "place"):
        names = [w.lower().rstrip(".'’s") for w in _CAPITALISED.findall(claim)]
        return float(any(w not in STOPWORDS and w not in DEMONYMS for w in names))
    return 1.0


def _unit(x: float) -> float:
    return 0.0 if x != x else min(1.0, max(0.0, float(x)))  # NaN -> 0


@dataclass
class Calibrator:
    """Logistic model over ``Signals``: P(correct) = sigmoid(bias + weights . signals); answer when >= threshold."""

    weights: dict[str, float]
    bias: float
    threshold: float
    fitted_on: str = ""

    def probability(self, signals: Signals) -> float:
        z = self.bias + sum(
            self.weights.get(n, 0.0) * v for n, v in zip(Signals.names(), signals.vector(), strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    def load(cls, path: Path | None = None) -> Calibrator:
        try:
            raw = path.read_text() if path else resources.files("qa_bot").joinpath("data/abstention.json").read_text()
            data = json.loads(raw)
            return cls(
                weights={k: float(v) for k, v in data["weights"].items()},
                bias=float(data["bias"]),
                threshold=float(data["threshold"]),
                fitted_on=str(data.get("fitted_on", "")),
            )
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise QABotError(f"cannot read the abstention model {path or 'qa_bot/data/abstention.json'}: {e}") from e

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def fit_logistic(
    x: list[list[float]], y: list[int], l2: float = 1.0, iterations: int = 50
) -> tuple[list[float], float]:
    """Weights and bias of an L2-regularised logistic regression (Newton's method; the bias is not penalised)."""
    import numpy as np

    X = np.hstack([np.asarray(x, dtype=float), np.ones((len(x), 1))])
    t = np.asarray(y, dtype=float)
    w = np.zeros(X.shape[1])
    reg = np.eye(X.shape[1]) * l2
    reg[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -50, 50)))
        grad = X.T @ (p - t) + reg @ w
        hess = X.T @ (X * (p * (1 - p))[:, None]) + reg + 1e-9 * np.eye(X.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return [float(v) for v in w[:-1]], float(w[-1])
