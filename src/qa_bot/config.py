"""The one configuration object: environment variables (``QA_BOT_*``, ``OPENAI_*``) overridden by CLI flags."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as _EnvParseError

from qa_bot import registry
from qa_bot.schema import QABotError


# Names are checked against the registry, not a Literal here, so a new generator is one registry line.
def _generator_name(value: str) -> str:
    if value not in registry.GENERATORS:
        raise ValueError(f"unknown generator '{value[:40]}' (choose {', '.join(registry.GENERATORS)})")
    return value


GeneratorName = Annotated[str, AfterValidator(_generator_name)]  # validated per item: errors name the bad one


def source_checkout() -> Path | None:
    """The source checkout qa_bot runs from (``pyproject.toml`` beside ``src/``), or None when it is installed."""
    here = Path(__file__).resolve().parent  # .../src/qa_bot
    root = here.parents[1]
    return root if here.parent.name == "src" and (root / "pyproject.toml").is_file() else None


def data_home() -> Path:
    """Where qa-bot keeps its data unless told otherwise: the checkout it runs from (the store in ``vectorstore/``,
    evaluation results in ``eval/results/``), else the user's data folder: ``$XDG_DATA_HOME/qa-bot`` (by default
    ``~/.local/share/qa-bot``), ``~/Library/Application Support/qa-bot`` on macOS, ``%LOCALAPPDATA%\\qa-bot``
    on Windows."""
    checkout = source_checkout()
    if checkout is not None:
        return checkout
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "qa-bot"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "qa-bot"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share") / "qa-bot"


def default_seeds_dir() -> Path | None:
    """The seed documents indexed into an empty store: ``seeds/`` of the checkout, else a copy packaged as
    ``qa_bot/data/seeds/`` if the installed package has one, else None (nothing is indexed unless given)."""
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "seeds"
    packaged = Path(str(resources.files("qa_bot").joinpath("data", "seeds")))
    return packaged if packaged.is_dir() else None


def _eval_results_dir() -> Path:
    checkout = source_checkout()
    return checkout / "eval" / "results" if checkout is not None else data_home() / "eval-results"


# Sent as the API key when only a base URL is configured: local OpenAI-compatible servers need no key, but the
# openai client refuses to start without one.
PLACEHOLDER_API_KEY = "not-needed"


def _share(default: float, description: str):
    """A setting that is a share or a weight, 0 to 1."""
    return Field(default=default, ge=0.0, le=1.0, description=description)


class Settings(BaseSettings):
    # allow_inf_nan=False: `nan` slips through every ge/le bound (all comparisons are false) and `inf` through
    # one-sided ones.
    # populate_by_name: Settings(server_host=...) works although the variable also has another name
    # (GRADIO_SERVER_NAME).
    model_config = SettingsConfigDict(
        env_prefix="QA_BOT_", extra="ignore", validate_assignment=True, allow_inf_nan=False, populate_by_name=True
    )

    # --- store ---
    store_dir: Path = Field(
        default_factory=lambda: data_home() / "vectorstore",
        description="Embedded Chroma store directory (a checkout's `vectorstore/`, else the user's data folder).",
    )
    seeds_dir: Path | None = Field(
        default_factory=default_seeds_dir,
        description="Documents `qa-bot ingest` indexes when given no paths, and the web app into an empty store.",
    )
    eval_results_dir: Path = Field(
        default_factory=_eval_results_dir,
        description="Where `qa-bot eval` writes `<questions>-<generator>/` unless given --out.",
    )
    collection: str = Field(default="qa_bot", min_length=3, description="Chroma collection name (>= 3 chars).")
    chroma_host: str | None = Field(
        default=None, description="Chroma server host; set to use `chroma run` instead of the embedded store."
    )
    chroma_port: int = Field(default=8000, ge=1, le=65535, description="Chroma server port.")
    write_wait: float = Field(
        default=300.0,
        ge=0.0,
        le=86400.0,
        description="Seconds a writer waits for another writer of the same store to finish before giving up.",
    )
    write_lease_seconds: float = Field(
        default=60.0,
        ge=5.0,
        le=3600.0,
        description="A Chroma server's writer lease expires this long after its holder stopped renewing it (died).",
    )

    # --- ingestion ---
    chunk_size: int = Field(default=700, ge=100, le=8000, description="Chunk size in characters.")
    chunk_overlap: int = Field(default=100, ge=0, le=2000, description="Overlap between chunks in characters.")
    max_file_mb: float = Field(default=50.0, gt=0, le=10_000, description="Files larger than this are rejected.")

    # --- embeddings ---
    embedder: str = Field(default="minilm", description="`minilm` (offline, packaged ONNX) or `openai`.")
    embed_batch_size: int = Field(
        default=8, ge=1, le=2048, description="Embedding batch size (8 is fastest on 2 cores)."
    )
    openai_embedding_model: str = Field(default="text-embedding-3-small")

    # --- retrieval ---
    top_k: int = Field(default=4, ge=1, le=50, description="Passages given to the generator.")
    fetch_k: int = Field(default=20, ge=1, le=500, description="Candidates fetched from each retriever before fusion.")
    rrf_k: int = Field(default=60, ge=1, le=10_000, description="Reciprocal-rank-fusion constant.")
    mmr_lambda: float = Field(
        default=0.7, ge=0.0, le=1.0, description="MMR relevance/diversity trade-off (1 = relevance only)."
    )
    # A near-duplicate is nearly the same text: below 0.5 unrelated passages would be dropped as duplicates of the
    # first.
    dedup_threshold: float = Field(
        default=0.92, ge=0.5, le=1.0, description="Cosine above which two passages count as near-duplicates."
    )
    # Above ~0.9 almost nothing but a verbatim passage passes, so every question would be refused.
    min_relevance: float = Field(
        default=0.20,
        ge=-1.0,
        le=0.9,
        description="Refuse when the best passage's dense cosine similarity is below this.",
    )

    # --- generation ---
    generator: str = Field(
        default="auto",
        description="`auto` = openai if OPENAI_API_KEY/OPENAI_BASE_URL set, else local if installed, else extractive.",
    )
    # NoDecode: the variable is a comma-separated list (`extractive,local`), not JSON.
    allowed_generators: Annotated[list[GeneratorName] | None, NoDecode] = Field(
        default=None,
        description=(
            "Generators web users may pick (comma-separated); default: the configured generator plus `extractive`."
        ),
    )
    openai_model: str = Field(default="gpt-4.1-mini", description="Chat model for the openai generator.")
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("QA_BOT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("QA_BOT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    request_timeout: float = Field(default=60.0, gt=0, le=3600, description="Seconds before a model request times out.")
    max_retries: int = Field(default=2, ge=0, le=10)
    max_tokens: int = Field(default=300, ge=16, le=32_768, description="Answer length limit in tokens.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    local_model_path: Path | None = Field(
        default=None, description="GGUF file for the local generator (default: the packaged Qwen model)."
    )
    local_threads: int = Field(default=2, ge=1, le=256, description="CPU threads for llama.cpp.")
    local_ctx: int = Field(default=4096, ge=512, le=131_072)
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "qa-bot", description="Where the assembled local model is cached."
    )
    max_question_chars: int = Field(default=4000, ge=10, le=100_000, description="Longer questions are rejected.")
    history_turns: int = Field(default=4, ge=0, le=50, description="Conversation turns used to rewrite follow-ups.")

    # --- answer design (each step can be switched off for the ablation in README "Answer quality") ---
    answer_prompt: Literal["plain", "legacy"] = Field(
        default="plain",
        description=(
            "`plain`: one user turn that only asks to answer from the evidence; "
            "`legacy`: the old system prompt with refusal rule and [n] duty."
        ),
    )
    evidence: Literal["sentences", "passages"] = Field(
        default="sentences",
        description="`sentences`: the best sentence windows of the retrieved passages; `passages`: whole passages.",
    )
    evidence_max_items: int = Field(default=4, ge=1, le=20, description="Sentence windows given to the model.")
    evidence_max_chars: int = Field(
        default=1000, ge=100, le=20000, description="Total characters of evidence given to the model."
    )
    evidence_window: int = Field(
        default=1, ge=0, le=5, description="Neighbour sentences on each side of an evidence sentence."
    )
    # Values tuned on the evaluation sets (eval/seeds_questions.jsonl, SQuAD dev questions): change them with an eval.
    evidence_lexical_weight: float = _share(
        0.5, "A sentence's relevance score puts this weight on question-word coverage, the rest on cosine."
    )
    evidence_second_doc_ratio: float = _share(
        0.75, "Another document's best sentence joins the evidence when it scores this share of the best one."
    )
    extractive_min_score: float = _share(
        0.45, "The extractive generator refuses when the best sentence's relevance score is below this."
    )
    extractive_max_sentences: int = Field(
        default=2, ge=1, le=10, description="Sentences in an extractive answer at most."
    )
    extractive_next_sentence_ratio: float = _share(
        0.85, "A further sentence joins an extractive answer when it scores this share of the best one."
    )
    support_threshold: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="A passage supports a sentence that has this share of its content words (and all numbers, names).",
    )
    abstain: Literal["calibrated", "none"] = Field(
        default="calibrated",
        description=(
            "`calibrated`: refuse when the fitted P(correct) is below the threshold; "
            "`none`: answer whenever the answer is attributable."
        ),
    )
    abstain_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Override the fitted abstention threshold."
    )
    abstain_model: Path | None = Field(
        default=None,
        description=(
            "Another fitted abstention model (JSON written by eval/fit_abstention.py); default: the packaged one."
        ),
    )
    self_check: bool = Field(
        default=True,
        description="Ask the model whether the cited evidence shows the answer (a signal of the abstention decision).",
    )

    # --- web server ---
    server_host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("QA_BOT_SERVER_HOST", "GRADIO_SERVER_NAME"),
        description="Interface the web app listens on (`0.0.0.0`: every interface).",
    )
    ui_concurrency: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Answers one web process computes at once; more wait in a queue (the local model: one at a time).",
    )

    @field_validator("server_host", mode="before")
    @classmethod
    def _empty_host_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():  # GRADIO_SERVER_NAME= (set but empty) meant the default
            return cls.model_fields["server_host"].default
        return value

    @field_validator("allowed_generators", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):  # an empty variable means "not set": the default applies
            return [n.strip() for n in value.split(",") if n.strip()] or None
        return value

    @field_validator("generator")
    @classmethod
    def _known_generator(cls, value: str) -> str:
        if value != "auto" and value not in registry.GENERATORS:
            raise ValueError(f"unknown generator '{value[:40]}' (choose auto, {', '.join(registry.GENERATORS)})")
        return value

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str) -> str:
        if value not in registry.EMBEDDERS:
            raise ValueError(f"unknown embedder '{value[:40]}' (choose {', '.join(registry.EMBEDDERS)})")
        return value

    @property
    def bm25_dir(self) -> Path:
        """The BM25 side index lives beside the store it mirrors; a server-backed store gets its own folder."""
        where = f"{self.chroma_host}_{self.chroma_port}" if self.chroma_host else "local"
        return self.store_dir / "bm25" / where / self.collection

    def resolved_generator(self) -> str:
        return self.generator if self.generator != "auto" else registry.auto_generator(self)

    def allowed(self) -> list[str]:
        """Generators the web app lets its users choose, the server's own choice first."""
        if self.allowed_generators:
            return list(dict.fromkeys(self.allowed_generators))
        return list(dict.fromkeys([self.resolved_generator(), registry.ALWAYS_OFFERED]))


def setting_default(name: str):
    """A setting's default, for library functions called without ``Settings`` (the value is written once, above)."""
    return Settings.model_fields[name].get_default(call_default_factory=True)


class SettingsError(QABotError, ValueError):
    """A setting (environment variable or command-line option) has a value qa-bot cannot use."""


def get_settings(**overrides) -> Settings:
    """Settings from the environment, with explicit (non-None) overrides such as CLI flags on top.

    A bad value raises ``SettingsError`` naming the setting in one line, instead of pydantic's multi-line report."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as e:
        raise SettingsError(_describe(e, given)) from None
    except _EnvParseError as e:  # a value pydantic-settings could not even decode
        raise SettingsError(f"invalid setting: {str(e).splitlines()[0]}") from None


_NOT_ECHOED = {"openai_api_key", "openai_base_url"}  # may carry credentials


def _field_named(loc: str) -> str:
    """The field an error location names: a field name, or one of a field's other names (``GRADIO_SERVER_NAME``)."""
    for name, info in Settings.model_fields.items():
        if isinstance(info.validation_alias, AliasChoices) and loc in info.validation_alias.choices:
            return name
    return loc


def _describe(e: ValidationError, given: dict) -> str:
    problems = []
    for err in e.errors(include_url=False):
        field = _field_named(str(err["loc"][0])) if err["loc"] else "?"
        info = Settings.model_fields.get(field)
        if field in given:  # a command-line option or a keyword argument
            where = field
        elif info is not None and isinstance(info.validation_alias, AliasChoices):
            where = "/".join(str(c) for c in info.validation_alias.choices)
        else:
            where = f"QA_BOT_{field.upper()}"
        value = "" if field in _NOT_ECHOED else f"={str(err.get('input'))[:60]}"
        problems.append(f"{where}{value}: {err['msg'][:1].lower()}{err['msg'][1:]}")
    return "invalid setting " + "; ".join(problems)
