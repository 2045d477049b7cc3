"""Plain functions behind ``kasper train``, ``kasper models list`` / ``gguf`` and ``kasper windows replay``.

The CLI (``streams/cli/training_cmd.py``, ``models_cmd.py``) only parses options and prints; every error is a
``KasperError`` with a readable message.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from kasper.agents.runtime.model_store import list_models, resolve_model_dir
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import Settings, get_settings

from .config import TIERS, TrainerConfig
from .errors import DatasetError, UnknownVersionError
from .adapters import Registry, known_tier, list_versions
from .rebuild import replay_window


def train_dataset(dataset_dir: Path, *, tier: str | None = None, publish: bool = False,
                  settings: Settings | None = None, config: TrainerConfig | None = None) -> dict[str, Any]:
    """``kasper train DATASET_DIR``: train, evaluate and record a version from window files.

    ``DATASET_DIR`` is a window directory (its manifest is verified first) or
    any mlx-lm data directory with ``train.jsonl`` (then ``tier`` defaults to
    ``standard``). Returns the ModelVersion record; with ``publish`` it is also
    sent to the models topic (generators hot-swap to it when promoted).
    """
    # Deferred: the training stack (mlx_lm's tuner) loads only when a command trains.
    from kasper.trainer.pipeline import model_version_record, train_window

    settings = settings or get_settings()
    config = config or TrainerConfig.from_settings(settings)
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir} is not a directory")
    if tier is not None and tier not in TIERS:
        raise DatasetError(f"unknown tier {tier!r}; choose from {', '.join(TIERS)}")
    entry = train_window(dataset_dir, config, resolve_model_dir(settings.model), tier=tier)
    if publish:
        asyncio.run(_publish(settings, config, entry))
    return model_version_record(entry)


async def _publish(settings: Settings, config: TrainerConfig, entry: dict[str, Any]) -> None:
    # Deferred with the training stack it imports (see train_dataset).
    from kasper.trainer.train_loop import TrainingLoop

    loop = TrainingLoop(settings, config, Path(entry["base_model"]))
    await loop.producer.start()
    try:
        await loop.publish(entry)
    finally:
        await loop.producer.stop()


def models(settings: Settings | None = None) -> list[dict[str, Any]]:
    """``kasper models list``: base models, then every adapter version with its metrics."""

    settings = settings or get_settings()
    rows = list_models(settings.model)
    if not any(r.get("kind") == "adapter" for r in rows):  # until model_store's hook is wired
        rows += list_versions(settings)
    return rows


def serving(settings: Settings | None = None) -> dict[str, str]:
    """Which version serves each tier (``"base"`` when no adapter does)."""
    config = TrainerConfig.from_settings(settings or get_settings())
    current = Registry(config.adapters_dir).serving()
    return {tier: current.get(tier, "base") for tier in TIERS}


def export_gguf(tier: str, version: str | None = None, out: Path | None = None,
                settings: Settings | None = None) -> tuple[str, Path]:
    """``kasper models gguf TIER [VERSION]``: a version's adapter as a llama.cpp LoRA GGUF.

    ``version`` defaults to the one serving ``tier``; the file goes into the version's
    directory unless ``out`` is given. Returns the version and the file's path.
    """
    # Deferred: exporting loads MLX, which listing versions does not need.
    from kasper.trainer.export_gguf import to_gguf

    config = TrainerConfig.from_settings(settings or get_settings())
    registry = Registry(config.adapters_dir)
    version = version or registry.serving().get(known_tier(tier))
    if version is None:
        raise UnknownVersionError(f"tier {tier} serves the base model: there is no adapter to export "
                                  "(name a version, see `kasper models list`)")
    entry = registry.entry(tier, version)
    if not entry.get("adapter_path"):
        raise UnknownVersionError(f"version {version} of tier {tier} has no adapter weights")
    return version, to_gguf(registry.adapter_inside(entry["adapter_path"]), out)


def format_models(rows: list[dict[str, Any]], serving_map: dict[str, str]) -> list[str]:
    """Human-readable lines: one per model, then one per tier saying what serves it."""
    lines = []
    for row in rows:
        if row.get("kind") != "adapter":
            lines.append(f"{row['name']}\tbase\t{row.get('path', '')}")
            continue
        keys = ("test_loss", "current_test_loss", "probe_mean", "tokens_per_second")
        numbers = " ".join(f"{k}={row['metrics'][k]:.4g}" for k in keys if k in row["metrics"])
        mark = (f"SERVING (canary {row['canary']:.0%})" if row["serving"] and row.get("canary")
                else "SERVING" if row["serving"] else "rolled-back" if row.get("rolled_back")
                else "promoted" if row["promoted"] else "rejected")
        lines.append(f"{row['version']}\t{row['tier']}\t{mark}\t{row['window_id']}\t"
                     f"{row['created_at']}\t{numbers}\t{row['reason']}")
    lines += [f"tier {tier}: {version}" for tier, version in serving_map.items()]
    return lines


def replay(window_dir: Path, *, out_dir: Path | None = None,
           settings: Settings | None = None) -> dict[str, Any]:
    """``kasper windows replay WINDOW_DIR``: rebuild from Kafka and compare sha256s."""
    settings = settings or get_settings()
    report = asyncio.run(replay_window(settings, Path(window_dir),
                                       codec_from_settings(settings.registry), out_dir))
    return {"window_id": report.window_id, "rebuilt_window_id": report.rebuilt_id,
            "identical": report.identical, "mismatched": report.mismatched}


def to_json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)
