"""A Faust worker running some or all roles: ``kasper worker --agents grade,judge``.

Each role lives in its own module with ``register(app, ctx)``, which declares
its agent(s) on the app. The app id (and so the consumer group) is derived from
the set of roles, so workers started with the same roles share the work, and
workers with disjoint roles never steal each other's records.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import faust

from kasper.schemas import Codec
from kasper.streams.app import create_app
from kasper.streams.metrics import watch_consumer_lag
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import Settings, get_settings
from kasper.streams.stage import Sender, faust_sender

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
        from kasper.trainer.config import TrainerConfig

        config = ctx.options.get("trainer_config") or TrainerConfig.from_settings(ctx.settings)
        groups += [config.windows_group, config.training_group]
    return groups
