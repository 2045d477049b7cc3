"""``kasper models``, ``kasper train`` and ``kasper windows``: thin wiring to the plain functions.

The work is in :mod:`kasper.agents.runtime.model_store` and :mod:`kasper.trainer.commands`;
errors are ``KasperError`` subclasses, which the ``kasper`` group turns into one
``error: ...`` line and exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from kasper.agents.runtime import model_store
from kasper.schemas.errors import KasperError
from kasper.streams.settings import get_settings
from kasper.trainer import commands


@click.group("models")
def models_group() -> None:
    """The local base model and its adapter versions."""


@models_group.command("prepare")
@click.option("--force", is_flag=True, help="Rebuild even when the prepared directory exists.")
def models_prepare(force: bool) -> None:
    """Turn the shipped GGUF into an mlx-lm model directory (once) and print its path."""
    settings = get_settings()
    if settings.model.model is not None:
        click.echo(str(model_store.resolve_model_dir(settings.model)))
        return
    click.echo(str(model_store.prepare(settings.model, force=force)))


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model or version.")
def models_list(as_json: bool) -> None:
    """Base models, every adapter version with its metrics, and what serves each tier."""
    settings = get_settings()
    rows, serving = commands.models(settings), commands.serving(settings)
    if as_json:
        for row in rows:
            click.echo(commands.to_json_line(row))
        click.echo(commands.to_json_line({"serving": serving}))
        return
    for line in commands.format_models(rows, serving):
        click.echo(line)


@click.command("train")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--tier", default=None, help="Tier to train for (default: the window's own).")
@click.option("--publish", is_flag=True,
              help="Send the ModelVersion to the models topic (generators hot-swap when promoted).")
def train(dataset_dir: Path, tier: str | None, publish: bool) -> None:
    """Train a LoRA adapter offline from window files (or any mlx-lm data directory)."""
    record = commands.train_dataset(dataset_dir, tier=tier, publish=publish, settings=get_settings())
    click.echo(commands.to_json_line(record))


@click.group("windows")
def windows_group() -> None:
    """Retraining windows on disk."""


@windows_group.command("replay")
@click.argument("window_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where the rebuilt window goes (default: a temporary directory).")
def windows_replay(window_dir: Path, out_dir: Path | None) -> None:
    """Re-read a window's source offsets from Kafka and compare every file's sha256."""
    report = commands.replay(window_dir, out_dir=out_dir, settings=get_settings())
    click.echo(json.dumps(report, sort_keys=True))
    if not report["identical"]:
        raise KasperError(f"window {report['window_id']} did not rebuild identically: "
                          f"{', '.join(report['mismatched'])}")


COMMANDS = (models_group, train, windows_group)
