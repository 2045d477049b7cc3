"""``kasper models``: the local base model and its adapter versions.

The work is in :mod:`kasper.agents.runtime.model_store`, :mod:`kasper.trainer.commands`
and :mod:`kasper.trainer.rollback`; errors are ``KasperError`` subclasses (an
unknown tier or version, nothing to roll back to, no broker), which the
``kasper`` group turns into one ``error: ...`` line and exit code 1.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from kasper.agents.runtime import model_store
from kasper.streams.settings import get_settings
from kasper.trainer import commands, rollback
from kasper.trainer.config import TIERS


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


@models_group.command("gguf")
@click.argument("tier")
@click.argument("version", required=False)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write it (default: adapter.gguf in the version's directory).")
def models_gguf(tier: str, version: str | None, out: Path | None) -> None:
    """Write VERSION of TIER (default: the serving one) as a llama.cpp LoRA GGUF, for
    llama-server behind the OpenAI backend (docs/model-runtime.md)."""
    settings = get_settings()
    version, path = commands.export_gguf(tier, version, out, settings)
    click.echo(str(path))
    click.echo(f"# serve {tier} {version} with llama.cpp: llama-server -m {model_store.shipped_gguf()} "
               f"--lora {path}", err=True)


@models_group.command("rollback")
@click.argument("tier")
@click.option("--to", "to", default=None, metavar="VERSION",
              help="The version to serve again, or 'base' (default: the one before the serving one).")
@click.option("--reason", default="", help="Why, recorded with the decision and in the ModelVersion.")
def models_rollback(tier: str, to: str | None, reason: str) -> None:
    """Serve an earlier version of TIER again and announce it on the models topic."""
    done = asyncio.run(rollback.roll_back(get_settings(), tier, to=to, reason=reason))
    if done["pending"] is not None:
        record = done["pending"]
        click.echo(f"announced an earlier rollback that was not announced yet: {record['reason']}; "
                   "nothing else was changed (run the command again to roll back further)")
    elif done["decision"] is None:
        click.echo(f"tier {tier}: {to} serves already; nothing changed")
    else:
        decision = done["decision"]
        click.echo(f"tier {tier}: rolled back {decision['from']} -> {decision['to']}, announced")


@models_group.command("watch")
@click.argument("tiers", nargs=-1, metavar="[TIER]...")
@click.option("--once", is_flag=True, help="One round: read the live topics to their end, decide, exit.")
@click.option("--interval", "interval_s", type=float, default=60.0, show_default=True,
              help="Seconds between rounds.")
def models_watch(tiers: tuple[str, ...], once: bool, interval_s: float) -> None:
    """Compare each TIER's serving version (default: every tier) with its incumbent on live
    approvals and thumbs; roll it back when it does worse (KASPER_TRAINER_ROLLBACK_*),
    else keep it or wait for more evidence. One JSON line per tier and round."""
    asyncio.run(rollback.watch(get_settings(), tiers or TIERS, once=once, interval_s=interval_s,
                               report=lambda seen: click.echo(commands.to_json_line(seen))))


COMMANDS = (models_group,)
