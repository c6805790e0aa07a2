"""The answer chain (``Bot``): condense follow-up -> retrieve -> generate -> verify citations.

Callers reach it through a ``QABot`` (service.py), which also holds the function API (``answer``, ``stream_answer``)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, cast

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from qa_bot import registry
from qa_bot.answer_format import REFUSAL_TEXT, is_refusal, strip_markers
from qa_bot.apps.inputs import check_top_k, normalise_history
from qa_bot.config import Settings
from qa_bot.generation.extractive import compose
from qa_bot.generation.prompts import (
    answer_prompt,
    answers_prompt,
    as_data,
    check_prompt,
    condense_prompt,
    data_hits,
    defang,
    format_evidence,
    format_history,
    format_passages,
    legacy_answer_prompt,
    question_last_answer_prompt,
)
from qa_bot.index.store import Store
from qa_bot.retrieval.evidence import (
    ScoredSentence,
    agreement_sentences,
    known_terms,
    score_sentences,
    select_evidence,
)
from qa_bot.retrieval.hybrid import Retriever
from qa_bot.schema import Answer, QABotError, SearchHit, Stage
from qa_bot.stages import Embedder, Generator, GeneratorFactory
from qa_bot.stages import Retriever as RetrieverStage
from qa_bot.text import content_tokens, content_words, key_terms, norm_token
from qa_bot.verify.abstain import Calibrator, compute_signals, consistency_of
from qa_bot.verify.answer_types import asks_across_documents, echoes_question
from qa_bot.verify.citations import verify

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

# Earlier turns: (question, answer) pairs or OpenAI-style {"role": ..., "content": ...} messages
# (inputs.normalise_history).
History = Sequence[tuple[str, str]] | Sequence[Mapping[str, Any]]

_READS_AS_QUESTION = re.compile(
    r"\?\s*$|^\W*(who|whom|whose|what|which|when|where|why|how"
    r"|is|are|was|were|do|does|did|can|could|will|would|has|have|had"
    r"|in|on|at|for|from|by|to)\b",
    re.I,
)
_FOLLOW_UP = re.compile(
    r"\b(he|she|it|they|them|his|her|hers|its|their|theirs|this|that|these|those|there|then|the same|him)\b", re.I
)


class Bot:
    """The answer chain over its collaborators, which it is given: a retriever, the embedder the evidence sentences
    are scored with, a generator factory (name -> chat model; the Bot keeps each model it got) and the calibrator.

    ``Bot.from_settings`` builds the real ones; a test passes fakes (see ``stages.py`` for the shapes). A ``QABot``
    (service.py) owns the Bot and what it holds, and releases them in ``close()``."""

    def __init__(
        self,
        settings: Settings,
        retriever: RetrieverStage,
        embedder: Embedder,
        models: GeneratorFactory,
        calibrator: Calibrator,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.embedder = embedder
        self.models = models
        self.calibrator = calibrator
        self._models: dict[str, Generator] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: Store | None = None,
        models: GeneratorFactory | None = None,
    ) -> Bot:
        """The real chain for ``settings``: the hybrid retriever over ``store`` (opened here when not given), the
        configured embedder (unless given), chat models built by the registry, and the configured calibrator."""
        from qa_bot.generation.models import ChatModels
        from qa_bot.index.embeddings import get_embeddings

        embedder = embedder if embedder is not None else get_embeddings(settings)
        retriever = Retriever(settings, embeddings=embedder, store=store)
        return cls(
            settings,
            retriever,
            embedder,
            models if models is not None else ChatModels(settings),
            Calibrator.load(settings.verification.abstain_model),
        )

    def model(self, name: str) -> Generator:
        with self._lock:
            if name not in self._models:
                self._models[name] = self.models(name)
            return self._models[name]

    # --- stages ------------------------------------------------------------------------------------------------
    def condense(self, question: str, history: Sequence[tuple[str, str]], generator: str) -> str:
        """``question`` rewritten to stand alone, given the earlier turns (normalised: (question, answer) pairs)."""
        turns = (
            list(history)[-self.settings.generation.history_turns :] if self.settings.generation.history_turns else []
        )
        if not turns:
            return question
        if not registry.generator(generator).uses_model:
            # No model to rewrite with: a question that leans on context borrows the previous question's words.
            if _FOLLOW_UP.search(question) or len(question.split()) <= 4:
                return f"{question} (follow-up to: {turns[-1][0]})"
            return question
        # A Generator is in practice a LangChain Runnable (see stages.Generator); the Protocol does not say so.
        model = cast("Runnable[Any, Any]", self.model(generator))
        chain = condense_prompt | model | StrOutputParser()
        rewritten = chain.invoke({"history": format_history(turns), "question": defang(question)}).strip()
        rewritten = rewritten.split("\n")[0].strip().strip('"').strip()
        # A rewrite that lost the question (empty, or an answer instead) is worse than none.
        if not 3 <= len(rewritten) <= 3 * len(question) + 200 or not _READS_AS_QUESTION.search(rewritten):
            # The model answered instead of rewriting: the previous question gives the context instead.
            return f"{turns[-1][0]} {question}"
        return keep_asked_words(question, drop_given_answer(question, rewritten))

    def retrieve(self, query: str, top_k: int | None) -> list[SearchHit]:
        return self.retriever.search(query, top_k or self.settings.retrieval.top_k)

    def relevant(self, question: str, hits: list[SearchHit]) -> bool:
        """Whether the question is about the documents at all: its best passage is similar enough, or a retrieved
        passage names what the question names. Short questions about a name score low on the embedding alone ("In
        which city did Rob Bauer's visit take place?" 0.1998 against the 0.20 cut-off); the calibrated decision
        afterwards judges the answer either way."""
        best = max((h.dense or 0.0 for h in hits), default=0.0)
        if best >= self.settings.retrieval.min_relevance:
            return True
        names = {t for t in key_terms(question) if not t[:1].isdigit()}  # a bare year names nothing
        return bool(names & known_terms(hits))  # the passages and their titles

    # --- the chain ---------------------------------------------------------------------------------------------
    def run(
        self,
        question: str,
        history: History = (),
        generator: str | None = None,
        top_k: int | None = None,
        stages: bool = False,
    ) -> Iterator[str | Answer | Stage]:
        """Text deltas, then the final ``Answer``; with ``stages``, a ``Stage`` too as each step starts (retrieve: when
        done)."""
        question = check_question(question, self.settings)
        history, top_k = normalise_history(history), check_top_k(top_k)
        gen = generator or self.settings.resolved_generator()
        spec = registry.generator(gen)  # an unknown name fails here, before any work
        ans = Answer(question=question, text="", generator=gen)
        t = time.perf_counter()
        try:
            if stages and history and self.settings.generation.history_turns:
                yield Stage("condense", "Rewriting the follow-up as a standalone question")
            ans.standalone_question = self.condense(question, history, gen)
            ans.timings["condense"] = _lap(t)

            t = time.perf_counter()
            hits = self.retrieve(ans.standalone_question, top_k)
            ans.hits = hits
            ans.timings["retrieve"] = _lap(t)
            if stages:
                n_docs = len({h.chunk.doc_id for h in hits})
                yield Stage(
                    "retrieve", f"Found {_plural(len(hits), 'passage')} in {_plural(n_docs, 'document')}", list(hits)
                )

            t = time.perf_counter()
            raw = ""
            first_token = 0.5
            samples: list[str] = []
            scored: list[ScoredSentence] = []
            documents: dict[str, frozenset[str]] = {}
            if not hits or not self.relevant(ans.standalone_question, hits):
                raw = REFUSAL_TEXT
            else:
                readable = data_hits(hits)
                if stages:
                    yield Stage("generate", f"Writing the answer ({gen} generator)")
                # A model's answer is judged afterwards by the calibrated decision, which needs the question's names
                # looked for in the whole documents; the extractive generator has no decision after it, and answers
                # only from a passage that itself states them (its refusals of false premises rest on that).
                documents = self.document_terms(hits) if spec.uses_model else {}
                scored = score_sentences(
                    ans.standalone_question,
                    readable,
                    self.embedder,
                    self.settings.retrieval.evidence_lexical_weight,
                    documents,
                )
                if not spec.uses_model:
                    raw = (
                        compose(
                            scored,
                            min_score=self.settings.generation.extractive_min_score,
                            max_sentences=self.settings.generation.extractive_max_sentences,
                            next_ratio=self.settings.generation.extractive_next_sentence_ratio,
                        )
                        or REFUSAL_TEXT
                    )
                    yield raw
                else:
                    prompt, inputs = self.prompt_inputs(ans.standalone_question, readable, scored)
                    messages = prompt.format_messages(**inputs)
                    chain = cast("Runnable[Any, Any]", self.model(gen)) | StrOutputParser()
                    for delta in chain.stream(messages):
                        raw += delta
                        yield delta
                    if self.rereads(ans.standalone_question, raw):
                        if stages:
                            yield Stage("reread", "The answer only repeated the question: reading the evidence again")
                        # The other prompt form reads differently: "Japan's" (from the question) becomes
                        # "North Korea" (from the text) for "Whose launches did Japan's ministry cite?".
                        other = question_last_answer_prompt if prompt is answer_prompt else answer_prompt
                        again_messages = other.format_messages(**inputs)
                        t_again = time.perf_counter()
                        again = str(self.model(gen).invoke(again_messages).content)
                        ans.timings["reread"] = _lap(t_again)  # within "generate"; shown in the answer's details
                        if again.strip() and not echoes_question(ans.standalone_question, again):
                            raw, messages = again, again_messages
                    if raw.strip() and not is_refusal(raw) and self.uses_signal("first_token"):
                        from qa_bot.generation.models import first_token_probability

                        # Read now, while the answer prompt is still in the local model's cache (one token to redo).
                        first_token = first_token_probability(self.model(gen), messages, raw)
                    if raw.strip() and not is_refusal(raw) and self.uses_signal("consistency"):
                        from qa_bot.generation.models import sample_replies

                        # Right after the draft: the local model still holds the prompt, each sample costs its tokens.
                        v, t_samples = self.settings.verification, time.perf_counter()
                        samples = sample_replies(
                            self.model(gen), messages, v.consistency_samples, v.consistency_temperature
                        )
                        ans.timings["consistency"] = _lap(t_samples)  # within "generate"
            ans.timings["generate"] = _lap(t)

            t = time.perf_counter()
            if stages:
                yield Stage("verify", "Checking the citations against the passages")
            self.decide(ans, raw, hits, scored, gen, first_token, documents, samples)
            ans.timings["verify"] = _lap(t)
        except QABotError:
            raise
        except Exception as e:
            from qa_bot.generation.models import explain_error

            raise explain_error(e, self.settings) from e
        yield ans

    def prompt_inputs(self, question: str, hits: list[SearchHit], scored: list[ScoredSentence]):
        """The answer prompt and its inputs."""
        s = self.settings
        if s.generation.answer_prompt == "legacy":
            return legacy_answer_prompt, {"passages": format_passages(hits), "question": defang(question)}
        evidence = hits
        if s.retrieval.evidence == "sentences":
            evidence = (
                select_evidence(
                    scored,
                    hits,
                    max_items=s.retrieval.evidence_max_items,
                    max_chars=s.retrieval.evidence_max_chars,
                    window=s.retrieval.evidence_window,
                    second_doc_ratio=s.retrieval.evidence_second_doc_ratio,
                )
                or hits
            )
        prompt = question_last_answer_prompt if s.generation.answer_prompt == "question-last" else answer_prompt
        return prompt, {"evidence": format_evidence(evidence), "question": defang(question)}

    def document_terms(self, hits: list[SearchHit]) -> dict[str, frozenset[str]]:
        """The terms of each hit's whole document, by id (those the retriever knows)."""
        out: dict[str, frozenset[str]] = {}
        for h in hits:
            if h.chunk.doc_id not in out:
                terms = self.retriever.document_terms(h.chunk.doc_id, h.chunk.content_hash)
                if terms:
                    out[h.chunk.doc_id] = terms
        return out

    def rereads(self, question: str, draft: str) -> bool:
        """Whether a draft that only repeats the question's words gets a second reading."""
        g = self.settings.generation
        return g.reread_echo and g.answer_prompt != "legacy" and echoes_question(question, draft)

    def uses_signal(self, name: str) -> bool:
        """Whether the decision needs this signal: a model call for a signal the fitted model gives no weight is
        skipped (``QA_BOT_SELF_CHECK=false`` skips the yes/no checks)."""
        if name in ("self_check", "evidence_answers") and not self.settings.verification.self_check:
            return False
        if name == "consistency" and not self.settings.verification.consistency_samples:
            return False
        return self.settings.generation.answer_prompt != "legacy" and self.calibrator.weights.get(name, 0.0) != 0.0

    def decide(
        self,
        ans: Answer,
        raw: str,
        hits: list[SearchHit],
        scored: list[ScoredSentence],
        gen: str,
        first_token: float = 0.5,
        documents: Mapping[str, frozenset[str]] | None = None,
        samples: Sequence[str] = (),
    ) -> None:
        """Attribute the raw answer to the retrieved passages, then answer or abstain (``documents``: the terms of
        the hits' whole documents, by id, where the question's names and numbers are looked for; ``samples``: answers
        sampled from the answer prompt, for the ``consistency`` signal)."""
        if is_refusal(raw):
            ans.text, ans.refused = REFUSAL_TEXT, True
            return
        question = ans.standalone_question
        # Attribution reads the whole retrieved passages, not only the windows the model saw: a claim may rest on a
        # sentence just outside a window. Each citation's quote is still the exact supporting sentence(s).
        checked = verify(
            raw,
            hits,
            question=question,
            threshold=self.settings.verification.support_threshold,
            every_document=asks_across_documents(question),
        )
        if checked.supported_sentences == 0:
            # Nothing the model said is backed by the evidence: it answered from its own knowledge, or guessed.
            ans.text, ans.refused, ans.flagged_sentences = REFUSAL_TEXT, True, checked.flagged
            return
        ans.text, ans.citations, ans.flagged_sentences = checked.text, checked.citations, checked.flagged
        if not registry.generator(gen).uses_model or self.settings.generation.answer_prompt == "legacy":
            return
        cited = [c.quote for c in ans.citations]
        p_yes = (
            self.self_check(question, " ".join(cited), strip_markers(ans.text), gen)
            if self.uses_signal("self_check")
            else 0.5
        )
        p_answers = (
            # The cited quotes alone: on the dev drafts they separate right from wrong drafts as well as the quotes
            # with a neighbour sentence on each side (ROC AUC seeds 0.91 / SQuAD 0.83 vs 0.91 / 0.81), in 2/3 the time.
            self.evidence_check(question, " ".join(dict.fromkeys(cited)), gen)
            if self.uses_signal("evidence_answers")
            else 0.5
        )
        signals = compute_signals(
            question,
            ans.text,
            cited,
            known_terms(hits, documents),
            self_check=p_yes,
            support=sum(c.support for c in ans.citations) / len(ans.citations),
            retrieval=max((h.dense or 0.0 for h in hits), default=0.0),
            evidence_score=scored[0].score if scored else 0.0,
            # The sentences that best match the question, among those whose documents state its names (if any do).
            best_sentences=agreement_sentences(scored, self.settings.verification.agreement_sentences),
            evidence_answers=p_answers,
            first_token=first_token,
            consistency=consistency_of(ans.text, samples),
        )
        ans.signals = asdict(signals)
        ans.draft = ans.text
        ans.confidence = round(self.calibrator.probability(signals), 4)
        threshold = (
            self.settings.verification.abstain_threshold
            if self.settings.verification.abstain_threshold is not None
            else self.calibrator.threshold
        )
        if self.settings.verification.abstain == "calibrated" and ans.confidence < threshold:
            ans.text, ans.refused, ans.citations = REFUSAL_TEXT, True, []

    def self_check(self, question: str, evidence: str, answer_text: str, gen: str) -> float:
        """The model's P(yes) that ``evidence`` shows ``answer_text`` correctly answers ``question``."""
        return self._p_yes(gen, check_prompt, evidence, question, answer=defang(answer_text))

    def evidence_check(self, question: str, evidence: str, gen: str) -> float:
        """The model's P(yes) that ``evidence`` answers ``question`` (the draft is not shown)."""
        return self._p_yes(gen, answers_prompt, evidence, question)

    def _p_yes(self, gen: str, prompt: ChatPromptTemplate, evidence: str, question: str, **fields: str) -> float:
        from qa_bot.generation.models import yes_probability

        messages = prompt.format_messages(evidence=as_data(evidence), question=defang(question), **fields)
        return yes_probability(self.model(gen), messages)


# When/how-many follow-ups are the ones a rewrite tends to answer itself ("When will they do that?" -> "When will
# they hold exercises by the end of the year?"): a time or a quantity the user did not write is cut from the rewrite.
_TIME_PHRASE = re.compile(
    r",?\s*\b(?:by|before|until|at|in|on|during|from|since|after)?\s*(?:the\s+)?"
    r"(?:end|beginning|start|middle|spring|summer|autumn|fall|winter)"
    r"\s+of\s+(?:the\s+)?(?:year|month|week|decade|century|\d{4})\b"
    r"|,?\s*\b(?:by|before|until|in|on|during|since|after)?\s*(?:next|this|last|early|late)\s+"
    r"(?:year|month|week|spring|summer|autumn|fall|winter)\b",
    re.I,
)


def drop_given_answer(question: str, rewritten: str) -> str:
    """``rewritten`` without the time or quantity that a when / how-many follow-up asks for, if the user did not
    write it."""
    from qa_bot.verify.answer_types import _DATE, _NUM, question_kind

    kind = question_kind(question)
    if kind not in ("date", "number"):
        return rewritten
    asked = question.lower()
    patterns = (
        [_TIME_PHRASE, re.compile(_DATE)] if kind == "date" else [re.compile(r"(?<![\w-])" + _NUM + r"(?![\w-])")]
    )
    out = rewritten
    for pat in patterns:
        out = pat.sub(lambda m: m.group() if m.group().strip(" ,").lower() in asked else "", out)
    out = re.sub(r"\s+([?.,])", r"\1", " ".join(out.split()))
    return out if len(out) >= 3 else rewritten


def keep_asked_words(question: str, rewritten: str) -> str:
    """``rewritten``, followed by the user's own question when the rewrite dropped words of it: the rewrite resolves
    the names, the user's words keep what is asked. "In which city did his visit take place?" was rewritten "Where
    did Rob Bauer meet with Japan's defense minister?" (then answered with a sentence about the palace), "On which day
    of the week did they meet face to face?" as "When did Fumio Kishida and Stoltenberg meet?"."""
    asked = {norm_token(w) for w in content_words(question) if not _FOLLOW_UP.fullmatch(w)}  # "him" is resolved
    if asked <= set(content_tokens(rewritten)):
        return rewritten
    return f"{rewritten} {question}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _lap(t: float) -> float:
    return round(time.perf_counter() - t, 4)


def check_question(question: str, settings: Settings) -> str:
    """The question as the chain takes it (printable, stripped), or a ``QABotError`` saying what is wrong with it."""
    if not isinstance(question, str):
        raise QABotError("the question must be text")
    q = "".join(ch for ch in question if ch.isprintable() or ch in "\n\t").strip()
    if not q:
        raise QABotError("the question is empty: type a question about the documents")
    if len(q) > settings.generation.max_question_chars:
        raise QABotError(
            f"the question is {len(q):,} characters long; "
            f"the limit is {settings.generation.max_question_chars:,} (QA_BOT_MAX_QUESTION_CHARS)"
        )
    return q
