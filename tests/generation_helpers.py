"""Prompts, LoRA adapters and ModelVersion records for the generate stage's tests."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from kasper.agents.runtime.mlx_backend import MLXBackend
from kasper.schemas.samples import sample_record
from kasper.streams.settings import GenerateSettings, ModelSettings
from kasper.streams.synthetic_prompts import synthetic_prompt

from tests.helpers import lora_adapter

MAX_TOKENS = 24


@pytest.fixture(scope="module")
def settings() -> GenerateSettings:
    """Short outputs, small batches (import the fixture into the test module)."""
    return GenerateSettings(max_tokens=MAX_TOKENS, batch_size=8, batch_window_s=0.5)


@pytest.fixture(scope="module")
def backend(shipped_model, settings):
    """The MLX backend on the session's shipped model, started once per module."""
    backend = MLXBackend(ModelSettings(model=shipped_model), settings)
    asyncio.run(backend.start())
    yield backend
    asyncio.run(backend.close())


def prompts(n: int, seed: int, **fields) -> list[dict]:
    return [synthetic_prompt(i, seed) | {"prompt_id": f"gen-{seed}-{i}"} | fields for i in range(n)]


def make_adapter(model_dir: Path, path: Path, scale: float = 0.5) -> str:
    """A small LoRA adapter (last 4 layers, random B) in mlx-lm's format; returns its sha256."""
    lora_adapter(model_dir, path, seed=7, layers=4, scale=scale)
    return hashlib.sha256((path / "adapters.safetensors").read_bytes()).hexdigest()


def model_version(tier: str, version: str, path: Path | None, sha: str | None, promoted=True) -> dict:
    return sample_record("ModelVersion") | {
        "tier": tier, "version": version, "adapter_path": str(path) if path else None,
        "adapter_sha256": sha, "promoted": promoted}
