"""Data that crosses module lines."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


class QABotError(Exception):
    """An error with a message fit to show a user (no stack trace needed)."""


@dataclass(frozen=True)
class Document:
    """A cleaned source document."""

    doc_id: str
    title: str
    source: str
    text: str
    sha256: str


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    source: str
    start: int
    end: int
    text: str
    content_hash: str

    def metadata(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "content_hash": self.content_hash,
        }


@dataclass
class SearchHit:
    chunk: Chunk
    score: float  # fused (reciprocal rank) score, higher is better
    dense: float | None = None  # cosine similarity to the query, when the dense retriever found it
    bm25: float | None = None  # BM25 score, when the lexical retriever found it
    rank: int = 0

    def to_dict(self) -> dict:
        return {"rank": self.rank, "score": self.score, "dense": self.dense, "bm25": self.bm25, **asdict(self.chunk)}


@dataclass
class Citation:
    marker: int
    doc_id: str
    title: str
    source: str
    start: int  # offsets of `quote` in the document's cleaned text
    end: int
    quote: str
    chunk_id: str = ""
    passage: str = ""  # the whole retrieved passage the quote comes from
    passage_start: int = 0
    support: float = 0.0


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    standalone_question: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    generator: str = ""
    hits: list[SearchHit] = field(default_factory=list)
    flagged_sentences: list[str] = field(default_factory=list)
    error: str | None = None
    confidence: float | None = None  # calibrated P(the answer is correct), when the generator's answer was judged
    signals: dict[str, float] = field(default_factory=dict)  # what the abstention decision was based on
    draft: str = ""  # the attributed answer the decision was about (kept when the bot abstained)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hits"] = [h.to_dict() for h in self.hits]
        return d

    def timing_items(self) -> list[tuple[str, float]]:
        """The timings in the chain's order; the parts timed within "generate" (reread, consistency) after it."""
        stages = ("condense", "retrieve", "generate", "verify")
        within = [k for k in self.timings if k not in stages]
        order = ["condense", "retrieve", "generate", *within, "verify"]
        return [(k, self.timings[k]) for k in order if k in self.timings]


@dataclass
class FileIssue:
    path: str
    reason: str


@dataclass
class IngestReport:
    files: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    removed: int = 0
    chunks: int = 0
    seconds: float = 0.0
    failed: list[FileIssue] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"{self.files} files: {self.added} added, {self.updated} updated, {self.skipped} unchanged (skipped), "
            f"{self.removed} removed, {len(self.failed)} failed; {self.chunks} chunks written in {self.seconds:.1f} s"
        )


@dataclass
class Stage:
    """A step of the answer chain as it starts or finishes, for a user watching: ``stream_answer(..., stages=True)``.

    name: ``condense`` (rewriting a follow-up), ``retrieve`` (done: ``hits`` holds the passages), ``generate`` (the
    answer is being written), ``reread`` (the answer only repeated the question: read again) or ``verify`` (checking
    the citations). detail: one line in plain words.
    """

    name: str
    detail: str
    hits: list[SearchHit] = field(default_factory=list)

    @property
    def documents(self) -> int:
        return len({h.chunk.doc_id for h in self.hits})
