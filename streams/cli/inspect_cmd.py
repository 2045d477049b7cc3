"""``kasper settings`` (the effective configuration) and ``kasper schemas check`` (the contracts)."""

from __future__ import annotations

import json

import click

from kasper.schemas import compat
from kasper.schemas.errors import KasperError
from kasper.streams.settings import read_settings, redacted, unknown_variables


@click.command("settings")
def show_settings() -> None:
    """Print the effective settings as JSON, secrets redacted; fail on unknown KASPER_* variables."""
    # read_settings() rather than get_settings(): the latter would also log each unknown
    # variable, and this command reports them itself.
    click.echo(json.dumps(redacted(read_settings()), indent=2))
    unknown = unknown_variables()
    for line in unknown:
        click.echo(f"unknown: {line}", err=True)
    if unknown:
        raise KasperError(f"{len(unknown)} unknown KASPER_* variable(s): a misspelt setting keeps "
                          f"its default")


@click.group("schemas")
def schemas() -> None:
    """The Avro contracts."""


@schemas.command("check")
def schemas_check() -> None:
    """Fail unless every schema is BACKWARD_TRANSITIVE compatible with all released versions."""
    problems = compat.check_package()
    bad = {name: found for name, found in problems.items() if found}
    for name, found in problems.items():
        click.echo(f"{name}\t{'ok' if not found else 'INCOMPATIBLE'}")
        for problem in found:
            click.echo(f"  - {problem}")
    if bad:
        raise KasperError(f"{len(bad)} schema(s) break compatibility with released versions")


COMMANDS = (show_settings, schemas)
