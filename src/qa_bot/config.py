"""The one configuration object: environment variables (``QA_BOT_*``, ``OPENAI_*``) overridden by CLI flags.

``Settings`` holds its settings in groups (``settings.retrieval.top_k``); each setting keeps its one flat name
(``top_k``, variable ``QA_BOT_TOP_K``) for the environment, CLI flags, ``get_settings(top_k=3)``,
``settings.with_values(top_k=3)`` and what ``flat_dump`` records."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
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


class _Group(BaseModel):
    """One group of settings. allow_inf_nan=False: `nan` slips through every ge/le bound (all comparisons are false)
    and `inf` through one-sided ones. populate_by_name: a setting with other names (`GRADIO_SERVER_NAME`) is still
    given by its field name. extra="forbid": a misspelt name in a group is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False, populate_by_name=True)


class StoreSettings(_Group):
    """Where the documents, their index and the evaluation results live, and who may write them."""

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


class IngestionSettings(_Group):
    """How files become chunks."""

    chunk_size: int = Field(default=700, ge=100, le=8000, description="Chunk size in characters.")
    chunk_overlap: int = Field(default=100, ge=0, le=2000, description="Overlap between chunks in characters.")
    max_file_mb: float = Field(default=50.0, gt=0, le=10_000, description="Files larger than this are rejected.")


class EmbeddingSettings(_Group):
    """How chunks and questions become vectors."""

    embedder: str = Field(default="minilm", description="`minilm` (offline, packaged ONNX) or `openai`.")
    embed_batch_size: int = Field(
        default=8, ge=1, le=2048, description="Embedding batch size (8 is fastest on 2 cores)."
    )
    openai_embedding_model: str = Field(default="text-embedding-3-small")

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str) -> str:
        if value not in registry.EMBEDDERS:
            raise ValueError(f"unknown embedder '{value[:40]}' (choose {', '.join(registry.EMBEDDERS)})")
        return value


class RetrievalSettings(_Group):
    """Which passages a question gets, and which of their sentences the model sees as evidence."""

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
        description=(
            "Refuse when the best passage's dense cosine similarity is below this"
            " and no retrieved passage names a name of the question."
        ),
    )
    # Answer design (each step can be switched off for the ablation in README "Answer quality").
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


class GenerationSettings(_Group):
    """Which generator answers, how it is reached, and how it is asked."""

    generator: str = Field(
        default="auto",
        description="`auto` = openai if OPENAI_API_KEY/OPENAI_BASE_URL set, else local if installed, else extractive.",
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
    answer_prompt: Literal["plain", "question-last", "legacy"] = Field(
        default="plain",
        description=(
            "`plain`: one user turn that only asks to answer from the evidence, the question before and after it; "
            "`question-last`: the same with the question only after the evidence; "
            "`legacy`: the old system prompt with refusal rule and [n] duty."
        ),
    )
    reread_echo: bool = Field(
        default=True,
        description=(
            'When the model\'s answer only repeats words of the question ("Japan\'s" for "Whose launches did Japan '
            'cite?"), read once more with the other prompt form (question before/after the evidence) and keep that '
            "answer if it says something new."
        ),
    )
    # Tuned on the evaluation sets, like the evidence weights above: change them with an eval.
    extractive_min_score: float = _share(
        0.45, "The extractive generator refuses when the best sentence's relevance score is below this."
    )
    extractive_max_sentences: int = Field(
        default=2, ge=1, le=10, description="Sentences in an extractive answer at most."
    )
    extractive_next_sentence_ratio: float = _share(
        0.85, "A further sentence joins an extractive answer when it scores this share of the best one."
    )

    @field_validator("generator")
    @classmethod
    def _known_generator(cls, value: str) -> str:
        if value != "auto" and value not in registry.GENERATORS:
            raise ValueError(f"unknown generator '{value[:40]}' (choose auto, {', '.join(registry.GENERATORS)})")
        return value


class VerificationSettings(_Group):
    """Whether an answer's sentences are supported by what they cite, and when to refuse instead of answering."""

    agreement_sentences: int = Field(
        default=2,
        ge=1,
        le=20,
        description="Best-matching evidence sentences an answer is compared with (the abstention signal `agreement`).",
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
        description=(
            "Ask the model the yes/no checks of the abstention decision: does the cited evidence show the answer, "
            "does the cited text answer the question."
        ),
    )
    consistency_samples: int = Field(
        default=4,
        ge=0,
        le=20,
        description=(
            "Answers sampled from the answer prompt for the abstention signal `consistency` (how often they say what "
            "the answer says); 0 skips them."
        ),
    )
    consistency_temperature: float = Field(
        default=0.8, gt=0.0, le=2.0, description="Sampling temperature of those answers."
    )


class UISettings(_Group):
    """The web app: where it listens, how much it does at once, what its users may choose."""

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
    # NoDecode: the variable is a comma-separated list (`extractive,local`), not JSON.
    allowed_generators: Annotated[list[GeneratorName] | None, NoDecode] = Field(
        default=None,
        description=(
            "Generators web users may pick (comma-separated); default: the configured generator plus `extractive`."
        ),
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


ENV_PREFIX = "QA_BOT_"
NESTED_DELIMITER = "__"


class _EnvSource(PydanticBaseSettingsSource):
    """The environment, read into the groups: a setting's flat names (its other names if it has them, such as
    ``OPENAI_API_KEY``, else ``QA_BOT_<NAME>``), then ``QA_BOT_<GROUP>__<NAME>``; the first one set counts. Names are
    case-insensitive, values are passed on as the strings they are (validation converts them)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # not used: __call__ reads every setting at once

    def __call__(self) -> dict[str, Any]:
        env = {k.lower(): v for k, v in os.environ.items()}
        out: dict[str, dict[str, str]] = {}
        for name, group in GROUP_OF.items():
            for var in (*env_names(name), nested_env_name(name)):
                if var.lower() in env:
                    out.setdefault(group, {})[name] = env[var.lower()]
                    break
        return out


class Settings(BaseSettings):
    """Every setting, in groups: ``settings.store``, ``.ingestion``, ``.embedding``, ``.retrieval``, ``.generation``,
    ``.verification``, ``.ui``. Flat names given to the constructor (``Settings(top_k=3)``) go to their group."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_assignment=True)

    store: StoreSettings = Field(default_factory=StoreSettings)
    ingestion: IngestionSettings = Field(default_factory=IngestionSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    verification: VerificationSettings = Field(default_factory=VerificationSettings)
    ui: UISettings = Field(default_factory=UISettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments first, then the environment as _EnvSource reads it (no .env file, no secrets folder:
        # neither was ever configured).
        return init_settings, _EnvSource(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _route_flat_names(cls, data: Any) -> Any:
        """``top_k=3`` -> ``retrieval={"top_k": 3}``. Only keyword arguments are flat (the environment arrives in
        groups), so a flat value overrides the same setting of its group."""
        if not isinstance(data, dict) or not any(k in _ROUTE for k in data):
            return data
        data = dict(data)
        for key in [k for k in data if k in _ROUTE]:
            name = _ROUTE[key]
            group = GROUP_OF[name]
            current = data.get(group)
            given = dict(current) if isinstance(current, dict | BaseModel) else {}
            data[group] = {**given, name: data.pop(key)}
        return data

    def with_values(self, **values: Any) -> Settings:
        """A validated copy with some settings changed, by their flat names: ``settings.with_values(top_k=3)``.
        A bad value or an unknown name raises ``SettingsError`` (``model_copy`` would validate nothing)."""
        unknown = sorted(set(values) - set(GROUP_OF))
        if unknown:
            raise SettingsError(f"unknown setting {', '.join(unknown)}")
        data: dict[str, Any] = {group: dict(getattr(self, group)) for group in GROUPS}
        try:
            return type(self).model_validate({**data, **values})
        except ValidationError as e:
            raise SettingsError(_describe(e, values)) from None

    def flat_dump(self, exclude: Collection[str] = ()) -> dict[str, Any]:
        """Every setting by its flat name, as JSON values (secrets masked as ``model_dump_json`` masks them): what
        results.json and a feedback record keep."""
        groups = self.model_dump(mode="json")
        return {name: groups[group][name] for name, group in GROUP_OF.items() if name not in exclude}

    @property
    def bm25_dir(self) -> Path:
        """The BM25 side index lives beside the store it mirrors; a server-backed store gets its own folder."""
        s = self.store
        where = f"{s.chroma_host}_{s.chroma_port}" if s.chroma_host else "local"
        return s.store_dir / "bm25" / where / s.collection

    def resolved_generator(self) -> str:
        generator = self.generation.generator
        return generator if generator != "auto" else registry.auto_generator(self)

    def allowed(self) -> list[str]:
        """Generators the web app lets its users choose, the server's own choice first."""
        if self.ui.allowed_generators:
            return list(dict.fromkeys(self.ui.allowed_generators))
        return list(dict.fromkeys([self.resolved_generator(), registry.ALWAYS_OFFERED]))


# The one table of where each setting lives, read off the groups above: group name -> model, flat name -> group,
# flat name -> field, and every name a keyword argument may use (aliases such as GRADIO_SERVER_NAME too) -> flat name.
GROUPS: dict[str, type[_Group]] = {
    name: info.annotation
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, _Group)
}
GROUP_OF: dict[str, str] = {name: group for group, model in GROUPS.items() for name in model.model_fields}
FIELDS: dict[str, FieldInfo] = {name: GROUPS[group].model_fields[name] for name, group in GROUP_OF.items()}
_ROUTE: dict[str, str] = {
    **{
        alias: name
        for name, info in FIELDS.items()
        if isinstance(info.validation_alias, AliasChoices)
        for alias in info.validation_alias.choices
        if isinstance(alias, str)
    },
    **{name: name for name in FIELDS},
}
if len(GROUP_OF) != sum(len(m.model_fields) for m in GROUPS.values()) or GROUP_OF.keys() & GROUPS.keys():
    raise RuntimeError("a setting's flat name must be unique: in one group only, and not a group's name")


def env_names(name: str) -> list[str]:
    """The environment variables a setting is read from, by its flat name, first one first: ``QA_BOT_TOP_K``;
    ``QA_BOT_OPENAI_API_KEY``, ``OPENAI_API_KEY``."""
    alias = FIELDS[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices]
    return [f"{ENV_PREFIX}{name.upper()}"]


def nested_env_name(name: str) -> str:
    """The setting's variable by its group, read when none of its flat names is set: ``QA_BOT_RETRIEVAL__TOP_K``."""
    return f"{ENV_PREFIX}{GROUP_OF[name].upper()}{NESTED_DELIMITER}{name.upper()}"


def setting_default(name: str):
    """A setting's default, for library functions called without ``Settings`` (the value is written once, above)."""
    return FIELDS[name].get_default(call_default_factory=True)


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


def _field_named(loc: tuple) -> str:
    """The setting an error location names by its flat name: ``("retrieval", "top_k")`` from a group, ``("top_k",)``
    or one of a setting's other names (``GRADIO_SERVER_NAME``) at the top."""
    key = str(loc[1]) if len(loc) > 1 and loc[0] in GROUPS else str(loc[0]) if loc else "?"
    return _ROUTE.get(key, key)


def _variable_named(field: str) -> str:
    """The variable a bad value came from: its flat names (``QA_BOT_SERVER_HOST/GRADIO_SERVER_NAME``), or the nested
    ``QA_BOT_<GROUP>__<NAME>`` when only that one is set."""
    names, nested = env_names(field), nested_env_name(field)
    present = {k.lower() for k in os.environ}
    if nested.lower() in present and not any(n.lower() in present for n in names):
        return nested
    return "/".join(names)


def _describe(e: ValidationError, given: dict) -> str:
    problems = []
    for err in e.errors(include_url=False):
        field = _field_named(err["loc"])
        if field in given:  # a command-line option or a keyword argument
            where = field
        elif field in FIELDS:
            where = _variable_named(field)
        else:
            where = f"{ENV_PREFIX}{field.upper()}"
        value = "" if field in _NOT_ECHOED else f"={str(err.get('input'))[:60]}"
        problems.append(f"{where}{value}: {err['msg'][:1].lower()}{err['msg'][1:]}")
    return "invalid setting " + "; ".join(problems)
