"""The ``kasper`` command: the root group and the list of command groups.

Each command group lives in its own ``*_cmd.py`` module and wires options to
plain functions of the layers below. Every ``KasperError`` ends as one
``error: ...`` line on stderr and exit code 1; a traceback means a bug, never
bad input or a missing broker.
"""

from __future__ import annotations

import os
import sys

import click

from kasper.streams.cli import (
    broker_cmd,
    events_cmd,
    grade_cmd,
    inspect_cmd,
    judge_cmd,
    models_cmd,
    replay_cmd,
    training_cmd,
    up_cmd,
    worker_cmd,
)
from kasper.streams.cli.common import KasperGroup
from kasper.streams.settings import get_settings


@click.group(cls=KasperGroup)
@click.option("--bootstrap-servers", envvar="KASPER_BOOTSTRAP_SERVERS", default=None,
              help="Kafka bootstrap servers (default 127.0.0.1:9092).")
def main(bootstrap_servers: str | None) -> None:
    """kasper: prompt events in, graded, judged, approved insights out."""
    if bootstrap_servers:
        # Settings are read from the environment once; make the flag win everywhere.
        os.environ["KASPER_BOOTSTRAP_SERVERS"] = bootstrap_servers
        get_settings.cache_clear()


for _module in (broker_cmd, events_cmd, up_cmd, worker_cmd, grade_cmd, judge_cmd, inspect_cmd,
                models_cmd, training_cmd, replay_cmd):
    for _command in _module.COMMANDS:
        main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
