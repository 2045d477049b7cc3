"""``kasper models``: the local base model and its adapter versions.

The work is in :mod:`kasper.agents.runtime.model_store` and :mod:`kasper.trainer.commands`;
errors are ``KasperError`` subclasses, which the ``kasper`` group turns into one
``error: ...`` line and exit code 1.
"""

from __future__ import annotations

import click

from kasper.agents.runtime import model_store
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


COMMANDS = (models_group,)
