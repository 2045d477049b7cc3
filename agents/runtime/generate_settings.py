"""Settings of the generate stage and of the OpenAI-compatible server it may call.

Read from ``KASPER_GENERATE_*`` and ``KASPER_GENERATE_OPENAI_*``; worker options
(``build_app(["generate"], stream_tokens=True)``) win over the environment.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kasper.agents.quality.prompts import DEFAULT_TEMPLATE


class GenerateSettings(BaseSettings):
    """The generate stage: backend, micro-batching and sampling."""

    model_config = SettingsConfigDict(env_prefix="KASPER_GENERATE_", frozen=True, extra="ignore")

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
    stream_tokens: bool = False
    # How long the first batch waits for the model-versions topic to be read.
    models_wait_s: float = 30.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "GenerateSettings":
        """Settings from the environment, overridden by the worker options that name a field."""
        return cls(**{k: v for k, v in options.items() if k in cls.model_fields and v is not None})


class OpenAIGenerateSettings(BaseSettings):
    """An OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp, mlx_lm.server)."""

    model_config = SettingsConfigDict(env_prefix="KASPER_GENERATE_OPENAI_", frozen=True,
                                      extra="ignore")

    base_url: str | None = None  # None: the openai client's default (api.openai.com)
    model: str = "gpt-oss-20b"
    api_key: SecretStr | None = None
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 3
