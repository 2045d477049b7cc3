# Long: one frozen settings class per component, kept in one module as the single source of every KASPER_* variable.
"""Settings: the one tree every component takes its part from, read from ``KASPER_*`` env vars.

One frozen section per external system or role (:class:`Settings` lists them with
their prefixes); a component is handed its section (``settings.judge``,
``settings.generate``), never a copy of its fields.  Secrets are ``SecretStr`` so
that ``repr``/logging never shows them; use :func:`redacted` for a loggable dump of
every setting.  A ``KASPER_*`` variable that no section reads is a typo until proven
otherwise: :func:`unknown_variables` names it (with the closest real name) and
:func:`get_settings` logs it.

(One module, over 500 lines: the sections, their defaults and the accepted variable
names are one source of truth; the unknown-variable check must see every section.)
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from kasper.schemas.errors import KasperError

# stdlib logging, not kasper.streams.logs (which imports this module): before
# logs.configure() a warning still reaches stderr, never a command's stdout.
log = logging.getLogger(__name__)

# The prompt template new insights are written with; kasper.agents.quality.prompts
# loads (and so validates) the template of that name.
DEFAULT_TEMPLATE = "insight-v1"

# KASPER_* variables read outside this tree on purpose, and by whom.
OTHER_VARIABLES: Mapping[str, str] = MappingProxyType({
    # Read before any settings import: it decides which BLAS the process loads.
    "KASPER_BLAS": "agents/runtime/blas.py: 'reference' keeps the reference BLAS",
    "KASPER_BLAS_THREADS": "agents/runtime/blas.py: 'auto' (the engine uses the cores other "
                           "processes leave free) or a fixed number of BLAS threads",
    "KASPER_TEST_DEBUG": "tests/test_windows_kafka.py: print the crashed workers' output",
})


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore")


class Section(BaseSettings):
    """A frozen group of settings read from the variables named ``env_prefix + FIELD``."""

    model_config = _config("KASPER_")

    def updated(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated (the environment is not read again)."""
        return self.model_validate({**dict(self), **changes})


class KafkaSettings(Section):
    """The Kafka cluster (or the embedded broker) and how to reach it securely."""

    model_config = _config("KASPER_")

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "kasper"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # Tansu answers InitProducerId with UnknownError; a real cluster may turn it on.
    enable_idempotence: bool = False
    # "all": a send counts once every in-sync replica has it (idempotence requires it).
    acks: Literal["all", "1", "0"] = "all"
    # aiokafka retries a failed produce request itself (retry_backoff_ms apart) until
    # request_timeout_ms has passed; a stage then sends the record again up to
    # send_retries times before it stops the worker (exit 70) without committing.
    retry_backoff_ms: int = Field(100, ge=0)
    send_retries: int = Field(3, ge=0)
    request_timeout_ms: int = 30_000
    # Faust waits out the rebalance timeout on a group's first join (30 s measured
    # on the embedded broker): keep both short unless a cluster needs more.
    session_timeout_s: float = 10.0
    rebalance_timeout_s: float = 10.0

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by every aiokafka client (producer, consumer, admin)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        if self.security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            kwargs["ssl_context"] = create_ssl_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None,
                certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
                keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None,
            )
        return kwargs


    def producer_kwargs(self) -> dict[str, Any]:
        """Delivery options of every producer: the CLI's, the stages' (Faust's) and the trainer's."""
        if self.enable_idempotence and self.acks != "all":
            raise SettingsError(f"KASPER_ENABLE_IDEMPOTENCE needs KASPER_ACKS=all, got {self.acks!r}")
        return {"acks": self.acks if self.acks == "all" else int(self.acks),
                "enable_idempotence": self.enable_idempotence,
                "retry_backoff_ms": self.retry_backoff_ms}

    def group_kwargs(self) -> dict[str, Any]:
        """Consumer-group timeouts for aiokafka consumers that join a group."""
        session_ms = int(self.session_timeout_s * 1000)
        return {
            "session_timeout_ms": session_ms,
            "rebalance_timeout_ms": int(self.rebalance_timeout_s * 1000),
            "heartbeat_interval_ms": max(100, session_ms // 3),
        }


class RegistrySettings(Section):
    """A Confluent-compatible Schema Registry; unset ``url`` means single-object encoding."""

    model_config = _config("KASPER_SCHEMA_REGISTRY_")

    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 10.0


class BrokerSettings(Section):
    """The embedded broker started by ``kasper broker`` / ``kasper up``."""

    model_config = _config("KASPER_BROKER_")

    bin: Path | None = None
    start_timeout_s: float = 30.0


class ModelSettings(Section):
    """The local model: ``KASPER_MODEL`` names an mlx-lm directory, else the shipped default."""

    model_config = _config("KASPER_")

    model: Path | None = None
    cache_dir: Path = Path.home() / ".cache" / "kasper"

    @property
    def adapters_dir(self) -> Path:
        """Where adapter versions live: the trainer writes them here, generate loads only from here."""
        return Path(self.cache_dir).expanduser() / "adapters"


class JudgeSettings(Section):
    """The LLM judge: any OpenAI-compatible server; unset ``base_url`` means the embedded one.

    The judge client (:mod:`kasper.agents.judging.client`) takes this section as is.
    """

    model_config = _config("KASPER_JUDGE_")

    base_url: str | None = None
    model: str = "gpt-5"
    api_key: SecretStr | None = None
    # A key goes over plain http only to a loopback host unless this says otherwise.
    allow_plaintext_key: bool = False
    timeout_s: float = 60.0
    # Prices in USD per million tokens: every verdict carries its cost.
    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0
    requests_per_minute: float = 0.0  # 0: no limit
    tokens_per_minute: float = 0.0
    concurrency: int = 4
    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    parse_retries: int = 2
    approve_threshold: float = 7.0
    score_mode: Literal["logprobs", "text"] = "logprobs"
    structured_output: bool = True
    # Reasoning models spend tokens before they answer.
    max_tokens: int = 1024
    top_logprobs: int = 10
    temperature: float = 0.0
    cache_size: int = 10_000
    cache_path: Path | None = None  # the verdict file; unset: under the model cache_dir
    persist_cache: bool = True
    outage_backoff_max_s: float = 60.0
    # With no base_url: "prefill" scores in process from the score tokens' probabilities
    # (kasper.agents.judging.local); "server" starts mlx_lm.server as before.
    engine: Literal["prefill", "server"] = "prefill"

    def cache_file(self, cache_dir: Path | None) -> Path | None:
        """Where verdicts persist: ``cache_path``, else ``cache_dir/judge/verdicts.sqlite``;
        None (memory only) with ``persist_cache`` off or nowhere to put it."""
        if not self.persist_cache:
            return None
        if self.cache_path is not None:
            return self.cache_path
        return Path(cache_dir).expanduser() / "judge" / "verdicts.sqlite" if cache_dir is not None else None


class GradeSettings(Section):
    """The grade stage (and the offline graders' default)."""

    model_config = _config("KASPER_GRADE_")

    pass_threshold: float = Field(0.6, ge=0.0, le=1.0)  # rubric final score a grade needs to pass
    # The model layers (docs/quality.md): the hard gates' semantic layer (a fine-tuned MiniLM
    # sentence classifier ORed with the rules) and rubric-2.2's salad head. On in the
    # pipeline, where recall on paraphrases matters more than the milliseconds they cost.
    semantic_gate: bool = True


class TrainerSettings(Section):
    """The trainer's operator knobs, the only place their defaults live.

    ``kasper.trainer.config.TrainerConfig.from_settings`` builds the trainer's
    per-tier config from them; the per-tier training shapes (rank, layers, ...)
    are not settings and stay there.
    """

    model_config = _config("KASPER_TRAINER_")

    approved_count: int = 200  # approved records that close a window ...
    feedback_count: int = 1000  # ... or feedback points (the original design's figure)
    max_age_s: float = 3600.0  # ... or this long after its first record
    idle_s: float | None = None  # ... or this long after its last record (None: never)
    feedback_wait_s: float = 600.0  # feedback before its insight waits this long, then DLQ
    # Promotion (docs/trainer.md): relative held-out loss gain on the persistent evaluation set
    # over the serving model needed to promote; its 95% bootstrap interval must also clear 0.
    min_improvement: float = 0.05
    min_eval_examples: int = Field(30, ge=1)  # paired examples a decision needs (fewer: not promoted)
    eval_store_cap: int = Field(200, ge=0)  # held-out lines of past windows kept per tier
    # Golden examples in each evaluation (None: all of them), taken round-robin over domains:
    # each is a forward pass of the candidate and of the serving model (docs/trainer.md).
    golden_count: int | None = Field(None, ge=0)
    # Golden prompts answered as served per evaluation (0: off); at least
    # min_eval_examples of them let a thumbs-trained candidate be decided on its answers.
    probe_count: int = Field(44, ge=0)
    probe_samples: int = Field(2, ge=1)  # answers per golden prompt, averaged
    # When those answers leave a thumbs-trained candidate's decision open, this many more
    # per prompt, then a second decision on all of them (0: one look; docs/trainer.md).
    probe_extra_samples: int = Field(2, ge=0)
    probe_tolerance: float = 0.02  # how far the share of probe answers the rubric passes may drop
    # How far a thumbs-trained candidate may raise the persistent-set loss (relative);
    # 0: not significantly at all.
    loss_tolerance: float = Field(0.0, ge=0.0)
    # Unset: each tier keeps its own value (they differ by tier); set: every tier.
    iters: int | None = None  # training iterations
    # ... at most this many passes over the window's examples (0: iters alone). Why 2:
    # more passes over one window overfit it (docs/trainer.md).
    max_epochs: float = Field(2.0, ge=0.0)
    steps_per_report: int | None = None  # steps between loss reports (and NaN checks)
    min_score: float | None = None  # rubric score an approved record needs to train on
    # At most this many feedback records of one user hash per window (the rest is counted, not trained).
    feedback_per_user: int = Field(20, ge=1)
    # Thumbs a window trained on whose candidate was not promoted are carried into the
    # next window of the tier, at most this many (0: none): sparse feedback adds up
    # instead of being lost with a rejected candidate (docs/trainer.md).
    carry_cap: int = Field(500, ge=0)
    # What a window trains on: sft, dpo, kto or a "+" mix (sft+kto); auto: KTO when the
    # window has at least two thumbs, SFT otherwise (docs/trainer.md).
    objective: str = Field("auto", pattern=r"^(auto|(sft|dpo|kto)(\+(sft|dpo|kto))*)$")
    # DPO/KTO: weight of the anchor holding the reference model's loss on the seed
    # exemplars and the window's liked texts (0: off). Why: docs/trainer.md, "The anchor".
    anchor_weight: float = Field(10.0, ge=0.0)
    # Live rollback (kasper models watch): a promoted version is rolled back when its
    # approval or thumbs-up rate is below the incumbent's by more than the margin, at
    # one-sided level alpha (split over the two rates), once each side has min_count trials.
    rollback_margin: float = Field(0.05, ge=0.0, lt=1.0)
    rollback_min_count: int = Field(100, ge=1)
    rollback_alpha: float = Field(0.05, gt=0.0, lt=0.5)
    # Longest a training step (or an evaluation) waits for this worker's generation and
    # judging to go quiet before it runs anyway (0: never waits). Why: docs/trainer.md.
    yield_s: float = Field(120.0, ge=0.0)
    # Seconds between the train role's live rollback rounds (0: no watch in the role).
    rollback_watch_s: float = Field(60.0, ge=0.0)
    # Share of its tier's prompts a newly promoted version first serves (a canary, beside
    # the incumbent, until the live watch keeps or rolls it back); 0: the whole tier at
    # once. Why 0.2: docs/trainer.md.
    canary_share: float = Field(0.2, ge=0.0, lt=1.0)


class GenerateSettings(Section):
    """The generate stage: backend, micro-batching and sampling.

    Worker options win over the environment: :meth:`with_options`.
    """

    model_config = _config("KASPER_GENERATE_")

    backend: Literal["mlx", "openai"] = "mlx"
    # B=32 is where batched decode on 2 CPU cores stops gaining (docs/benchmarks.md).
    batch_size: int = 32
    batch_window_s: float = 1.0
    max_tokens: int = 160
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 64
    # None: each insight's seed is derived from its insight_id (replays reproduce it).
    seed: int | None = None
    template_version: str = DEFAULT_TEMPLATE
    # Decoding guards (agents/runtime/guards.py, docs/stages.md): 1.0 / 0 / false turn one off.
    repetition_penalty: float = 1.1
    loop_ngram: int = 6
    copy_ngram: int = 8
    stop_at_labels: bool = True
    # Added to the logits of "I", "me", "my"... (0: off): keeps the voice on "you".
    first_person_bias: float = -3.0
    # Per tier, any of temperature, top_p, max_tokens, repetition_penalty, loop_ngram,
    # copy_ngram: KASPER_GENERATE_TIERS='{"pro": {"temperature": 0.6}}'.
    tiers: dict[str, dict[str, float]] = {}
    # Few-shot examples in each prompt (0: none): the best approved insights of the
    # prompt's domain, shipped seed examples until there are enough.
    exemplars: int = 2
    # Whether a revision's prompt shows the model the notes on the draft it replaces.
    # "auto": shown to an OpenAI-compatible model, not to the in-process one: the shipped
    # small model copies the notes back instead of following them, and a fresh draw of the
    # same prompt passes more often (docs/stages.md, "Revisions"). The prompt record keeps
    # the notes either way.
    revise_notes: Literal["auto", "show", "hide"] = "auto"
    stream_tokens: bool = False
    # How long the first batch waits for the model-versions topic to be read.
    models_wait_s: float = 30.0
    # Insight ids read back from the insights topic (the last N): a prompt attempt among
    # them is not generated again (agents/written.py). The route role keeps as many.
    written_memory: int = 20_000

    @property
    def shows_revise_notes(self) -> bool:
        """Whether revision prompts show the model the notes (``revise_notes`` resolved)."""
        return self.revise_notes == "show" or (self.revise_notes == "auto" and self.backend == "openai")

    def with_options(self, options: Mapping[str, Any]) -> Self:
        """These settings overridden by the worker options that name a field and are set
        (``build_app(["generate"], stream_tokens=True)``); other options are not ours."""
        return self.updated(**{k: v for k, v in options.items()
                               if k in type(self).model_fields and v is not None})


class OpenAIGenerateSettings(Section):
    """The OpenAI-compatible server the generate stage calls with ``backend=openai``
    (OpenAI, vLLM, Ollama, llama.cpp, mlx_lm.server)."""

    model_config = _config("KASPER_GENERATE_OPENAI_")

    base_url: str | None = None  # None: the openai client's default (api.openai.com)
    model: str = "gpt-oss-20b"
    api_key: SecretStr | None = None
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 3
    # "llama.cpp": send the decoding guards as llama-server's own sampler fields
    # (agents/runtime/openai_backend.py); other servers refuse or ignore them.
    guards: Literal["none", "llama.cpp"] = "none"


class FeedbackSettings(Section):
    """The feedback simulator (``kasper up``, ``kasper produce feedback --synthetic``):
    simulated users whose taste is not the rubric (docs/feedback.md)."""

    model_config = _config("KASPER_FEEDBACK_")

    rate: float = Field(0.1, ge=0.0, le=1.0)  # share of approved insights that get a reaction (sparse)
    users: int = Field(40, ge=1)  # the fixed set of simulated users
    seed: int = 0  # their taste and every draw derive from it
    comment_rate: float = Field(0.2, ge=0.0, le=1.0)  # share of reactions with a comment
    personal_data_rate: float = Field(0.1, ge=0.0, le=1.0)  # share of comments with a contact detail


class ObservabilitySettings(Section):
    """Logs, metrics and the Faust web server: loopback unless configured otherwise."""

    model_config = _config("KASPER_")

    log_level: str = "INFO"
    log_json: bool = True
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    web_host: str = "127.0.0.1"
    web_port: int = 6066


class WorkerSettings(Section):
    """How a ``kasper worker`` process ends."""

    model_config = _config("KASPER_WORKER_")

    # After SIGTERM/Ctrl-C the worker stops its agents and commits; past this the
    # process exits anyway (a broker that is gone makes Faust's consumer stop hang).
    shutdown_timeout_s: float = 30.0
    # Faust makes its data directory at start even with in-memory tables (the
    # gate's state is in a changelog topic); in the working directory that
    # would be a checkout. "{conf.id}" is the app id.
    data_dir: str = os.path.join(tempfile.gettempdir(), "kasper-{conf.id}-data")


class Settings(BaseModel):
    """All settings: one section per part, each read once from the environment.

    Section (variables): who reads it.

    - ``kafka`` (``KASPER_BOOTSTRAP_SERVERS``, ``KASPER_SASL_*``, ...): every Kafka client
    - ``registry`` (``KASPER_SCHEMA_REGISTRY_*``): the codec
    - ``broker`` (``KASPER_BROKER_*``): ``kasper broker`` / ``kasper up``
    - ``model`` (``KASPER_MODEL``, ``KASPER_CACHE_DIR``): model store, trainer paths, judge cache
    - ``generate`` (``KASPER_GENERATE_*``): the generate role
    - ``generate_openai`` (``KASPER_GENERATE_OPENAI_*``): its OpenAI-compatible backend
    - ``grade`` (``KASPER_GRADE_*``): the grade role
    - ``judge`` (``KASPER_JUDGE_*``): the judge role and client
    - ``trainer`` (``KASPER_TRAINER_*``): the trainer
    - ``feedback`` (``KASPER_FEEDBACK_*``): the feedback simulator
    - ``observability`` (``KASPER_LOG_*``, ``KASPER_METRICS_*``, ``KASPER_WEB_*``): logs, metrics, web
    - ``worker`` (``KASPER_WORKER_*``): ``kasper worker``
    """

    model_config = ConfigDict(frozen=True)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    generate: GenerateSettings = Field(default_factory=GenerateSettings)
    generate_openai: OpenAIGenerateSettings = Field(default_factory=OpenAIGenerateSettings)
    grade: GradeSettings = Field(default_factory=GradeSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    trainer: TrainerSettings = Field(default_factory=TrainerSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)

    def sections(self) -> dict[str, Section]:
        return {name: getattr(self, name) for name in type(self).model_fields}


def known_variables() -> dict[str, str]:
    """Every ``KASPER_*`` variable something reads, with what reads it."""
    known = {}
    for name, field in Settings.model_fields.items():
        section = field.annotation
        prefix = section.model_config["env_prefix"]
        known.update({f"{prefix}{key}".upper(): f"settings.{name}.{key}" for key in section.model_fields})
    return {**known, **OTHER_VARIABLES}


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per ``KASPER_*`` variable in ``environ`` (default: ``os.environ``) that
    nothing reads, with the closest accepted name: a misspelt setting would otherwise
    be ignored and its default used without a word."""
    environ = os.environ if environ is None else environ
    known = known_variables()
    lines = []
    for name in sorted(environ):
        if not name.upper().startswith("KASPER_") or name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        lines.append(f"{name} is not a kasper setting and is ignored{hint}")
    return lines


_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redacted(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every setting as plain data for logs: secrets become ``'**********'``.

    Credentials written into a URL (``https://user:key@registry:8081``) become ``***@``.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, section in settings.sections().items():
        values = {}
        for key, value in section.model_dump().items():
            if isinstance(value, SecretStr):
                value = "**********"
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, str):
                value = _URL_USERINFO.sub("***@", value)
            values[key] = value
        out[name] = values
    return out


class SettingsError(KasperError):
    """A ``KASPER_*`` variable holds a value its setting cannot take."""


def read_settings() -> Settings:
    """The settings from the environment; a value that does not parse is a
    :class:`SettingsError` naming the variable (never a secret's value)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    sections = {field.annotation.__name__: field.annotation for field in Settings.model_fields.values()}
    section = sections.get(exc.title)
    problems = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else "?"
        if section is None:
            problems.append(f"{key}: {error['msg']}")
            continue
        name = f"{section.model_config['env_prefix']}{key}".upper()
        field = section.model_fields.get(key)
        secret = field is not None and "SecretStr" in str(field.annotation)
        shown = "(secret)" if secret else repr(error.get("input"))
        problems.append(f"{name}={shown}: {error['msg']}")
    return "invalid setting(s): " + "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use
    (:func:`read_settings`); each unknown ``KASPER_*`` variable is logged as a warning
    (:func:`unknown_variables`)."""
    settings = read_settings()
    for line in unknown_variables():
        log.warning(line)
    return settings
