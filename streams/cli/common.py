"""What several commands share: the error-to-exit-code group and the default seed."""

from __future__ import annotations

import time
from typing import Any

import click

from kasper.schemas.errors import KasperError


class KasperGroup(click.Group):
    """Turns our own errors into one readable line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KasperError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def seed_or_clock(seed: int | None) -> int:
    """``seed``, or one taken from the clock (printed ids then differ run to run)."""
    if seed is not None:
        return seed
    return time.time_ns() // 1000 % 1_000_000_000
