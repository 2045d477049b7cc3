"""Settings: one frozen class per external system, read from ``KASPER_*`` env vars.

Secrets are ``SecretStr`` so that ``repr``/logging never shows them; use
:func:`redacted` for a loggable dump of every setting.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore")


class KafkaSettings(BaseSettings):
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


    def group_kwargs(self) -> dict[str, Any]:
        """Consumer-group timeouts for aiokafka consumers that join a group."""
        session_ms = int(self.session_timeout_s * 1000)
        return {
            "session_timeout_ms": session_ms,
            "rebalance_timeout_ms": int(self.rebalance_timeout_s * 1000),
            "heartbeat_interval_ms": max(100, session_ms // 3),
        }


class RegistrySettings(BaseSettings):
    """A Confluent-compatible Schema Registry; unset ``url`` means single-object encoding."""

    model_config = _config("KASPER_SCHEMA_REGISTRY_")

    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 10.0


class BrokerSettings(BaseSettings):
    """The embedded broker started by ``kasper broker`` / ``kasper up``."""

    model_config = _config("KASPER_BROKER_")

    bin: Path | None = None
    start_timeout_s: float = 30.0


class ModelSettings(BaseSettings):
    """The local model: ``KASPER_MODEL`` names an mlx-lm directory, else the shipped default."""

    model_config = _config("KASPER_")

    model: Path | None = None
    cache_dir: Path = Path.home() / ".cache" / "kasper"


class JudgeSettings(BaseSettings):
    """The LLM judge: any OpenAI-compatible server; unset ``base_url`` means the embedded one.

    Field names match ``kasper.agents.judging.client.JudgeConfig``, which reads them by name.
    """

    model_config = _config("KASPER_JUDGE_")

    base_url: str | None = None
    model: str = "gpt-5"
    api_key: SecretStr | None = None
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
    cache_path: Path | None = None
    persist_cache: bool = True
    outage_backoff_max_s: float = 60.0


class TrainerSettings(BaseSettings):
    """The trainer's operator knobs; unset ones keep the defaults of ``trainer/config.py``."""

    model_config = _config("KASPER_TRAINER_")

    approved_count: int | None = None  # approved records that close a window
    feedback_count: int | None = None  # feedback points that close a window
    max_age_s: float | None = None  # a window closes this long after its first record
    feedback_wait_s: float | None = None  # feedback before its insight waits this long
    min_improvement: float | None = None  # relative test-loss gain needed to promote
    probe_count: int | None = None  # rubric-scored probe prompts per evaluation (0: off)
    iters: int | None = None  # training iterations, every tier
    steps_per_report: int | None = None  # steps between loss reports (and NaN checks), every tier
    min_score: float | None = None  # rubric score an approved record needs to train on, every tier


class ObservabilitySettings(BaseSettings):
    """Logs, metrics and the Faust web server: loopback unless configured otherwise."""

    model_config = _config("KASPER_")

    log_level: str = "INFO"
    log_json: bool = True
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    web_host: str = "127.0.0.1"
    web_port: int = 6066


class WorkerSettings(BaseSettings):
    """How a ``kasper worker`` process ends."""

    model_config = _config("KASPER_WORKER_")

    # After SIGTERM/Ctrl-C the worker stops its agents and commits; past this the
    # process exits anyway (a broker that is gone makes Faust's consumer stop hang).
    shutdown_timeout_s: float = 30.0


class Settings:
    """All settings, each section read once from the environment."""

    def __init__(self, **sections: BaseSettings) -> None:
        self.kafka: KafkaSettings = sections.get("kafka") or KafkaSettings()
        self.registry: RegistrySettings = sections.get("registry") or RegistrySettings()
        self.broker: BrokerSettings = sections.get("broker") or BrokerSettings()
        self.model: ModelSettings = sections.get("model") or ModelSettings()
        self.judge: JudgeSettings = sections.get("judge") or JudgeSettings()
        self.trainer: TrainerSettings = sections.get("trainer") or TrainerSettings()
        self.observability: ObservabilitySettings = (
            sections.get("observability") or ObservabilitySettings()
        )
        self.worker: WorkerSettings = sections.get("worker") or WorkerSettings()

    def sections(self) -> dict[str, BaseSettings]:
        return dict(vars(self))


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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
