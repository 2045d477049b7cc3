"""Prompts, LoRA adapters and ModelVersion records for the generate stage's tests."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from kasper.agents.runtime.mlx_backend import MLXBackend
from kasper.schemas.samples import sample_record
from kasper.streams.settings import GenerateSettings, ModelSettings
from kasper.streams.synthetic_prompts import synthetic_prompt

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
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, _ = load(str(model_dir))
    model.freeze()
    lora = {"rank": 4, "scale": 10.0, "dropout": 0.0}
    linear_to_lora_layers(model, 4, lora)
    params = dict(tree_flatten(model.trainable_parameters()))
    mx.random.seed(7)
    for name in params:
        if name.endswith("lora_b"):
            params[name] = mx.random.normal(params[name].shape) * scale
    path.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(path / "adapters.safetensors"), params)
    (path / "adapter_config.json").write_text(json.dumps(
        {"fine_tune_type": "lora", "num_layers": 4, "lora_parameters": lora}))
    return hashlib.sha256((path / "adapters.safetensors").read_bytes()).hexdigest()


def model_version(tier: str, version: str, path: Path | None, sha: str | None, promoted=True) -> dict:
    return sample_record("ModelVersion") | {
        "tier": tier, "version": version, "adapter_path": str(path) if path else None,
        "adapter_sha256": sha, "promoted": promoted}
