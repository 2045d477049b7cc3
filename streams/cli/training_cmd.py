"""``kasper train`` (a LoRA adapter from window files, offline) and ``kasper windows`` (windows on disk).

The work is in :mod:`kasper.trainer.commands`; errors are ``KasperError`` subclasses,
which the ``kasper`` group turns into one ``error: ...`` line and exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from kasper.schemas.errors import KasperError
from kasper.streams.settings import get_settings
from kasper.trainer import commands


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


COMMANDS = (train, windows_group)
