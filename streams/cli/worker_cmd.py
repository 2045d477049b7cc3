"""``kasper worker``: a Faust worker running some or all roles (``--agents grade,judge``).

Each role lives in its own module with ``register(app, ctx)``, which declares
its agent(s) on the app. Roles are imported by name, only those the worker runs:
the generate role loads MLX, which a ``grade,judge`` worker never needs. The app id (and so the consumer group) is derived from
the set of roles, so workers started with the same roles share the work, and
workers with disjoint roles never steal each other's records.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import click
import faust

from kasper.schemas import Codec
from kasper.streams import logs, metrics
from kasper.streams.app import create_app
from kasper.streams.metrics import watch_consumer_lag
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import Settings, get_settings
from kasper.streams.shutdown import BoundedWorker
from kasper.streams.stage import Sender, faust_sender
from kasper.trainer.config import TrainerConfig

ROLES: dict[str, str] = {
    "generate": "kasper.agents.generate",
    "grade": "kasper.agents.grade",
    "judge": "kasper.agents.judge",
    "route": "kasper.agents.route",
    "train": "kasper.trainer.agent",
}


@dataclass
class WorkerContext:
    """What every role needs: settings, the codec, and the app's sender."""

    settings: Settings
    codec: Codec
    send: Sender
    options: dict[str, Any] = field(default_factory=dict)


def parse_roles(text: str) -> list[str]:
    """``"grade, judge"`` -> ``["grade", "judge"]`` in pipeline order; unknown roles are an error."""
    wanted = [r.strip() for r in text.split(",") if r.strip()]
    unknown = sorted(set(wanted) - set(ROLES))
    if unknown or not wanted:
        raise ValueError(f"unknown role(s) {unknown or text!r}; choose from {', '.join(ROLES)}")
    return [r for r in ROLES if r in wanted]


def app_id(roles: list[str]) -> str:
    return "kasper-" + "-".join(roles) if len(roles) < len(ROLES) else "kasper-all"


def build_app(roles: list[str], settings: Settings | None = None,
              **options: Any) -> tuple[faust.App, WorkerContext]:
    """A Faust app with the agents of ``roles``; ``options`` reach each role's ``register``."""
    settings = settings or get_settings()
    app = create_app(app_id(roles), settings)
    ctx = WorkerContext(settings, codec_from_settings(settings.registry), faust_sender(app), options)
    for role in roles:
        importlib.import_module(ROLES[role]).register(app, ctx)
    watch_consumer_lag(app, settings.kafka, consumer_groups(app, roles, ctx))
    return app, ctx


def consumer_groups(app: faust.App, roles: list[str], ctx: WorkerContext) -> list[str]:
    """The consumer groups a worker with ``roles`` commits in: the app's, and the trainer's two."""
    groups = [app.conf.id] if set(roles) - {"train"} else []
    if "train" in roles:
        config = ctx.options.get("trainer_config") or TrainerConfig.from_settings(ctx.settings)
        groups += [config.windows_group, config.training_group]
    return groups


@click.command("worker")
@click.option("--agents", "roles", default="generate,grade,judge,route,train", show_default=True,
              help="Comma-separated roles this worker runs.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=3, show_default=True,
              help="route: attempts per prompt before a REVISE becomes a REJECT.")
@click.option("--approve-top-fraction", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="route: approve only this top fraction of recent judge scores (e.g. 0.15).")
@click.option("--pass-threshold", type=click.FloatRange(0, 1), default=None,
              help="grade: rubric final score needed to pass (default: KASPER_GRADE_PASS_THRESHOLD, 0.6).")
@click.option("--stream-tokens", is_flag=True, default=None,
              help="generate: also send token deltas to kasper.tokens while insights are written.")
def worker(roles: str, max_attempts: int, approve_top_fraction: float | None,
           pass_threshold: float | None, stream_tokens: bool | None) -> None:
    """Run a Faust worker with the given roles until Ctrl-C or SIGTERM."""
    try:
        chosen = parse_roles(roles)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    settings = get_settings()
    logs.configure(settings.observability)
    host, port = metrics.serve(settings.observability)
    app, _ctx = build_app(chosen, settings, max_attempts=max_attempts, pass_threshold=pass_threshold,
                          approve_top_fraction=approve_top_fraction, stream_tokens=stream_tokens)
    click.echo(f"worker {app.conf.id}: roles {','.join(chosen)}, metrics http://{host}:{port}/metrics",
               err=True)
    level = {"WARNING": "warn", "CRITICAL": "crit"}.get(settings.observability.log_level.upper(),
                                                        settings.observability.log_level.lower())
    # Our JSON logging stays: Faust's own setup would replace the root handler with its
    # plain-text format, and every structured event would become a dict's repr.
    BoundedWorker(app, loglevel=level, quiet=True, override_logging=False,
                  shutdown_timeout_s=settings.worker.shutdown_timeout_s).execute_from_commandline()


COMMANDS = (worker,)
