"""``kasper up``: the main job on one machine (see :mod:`kasper.streams.cli.up`)."""

from __future__ import annotations

from pathlib import Path

import click

from kasper.schemas.errors import KasperError
from kasper.streams import logs
from kasper.streams.cli import up as up_job
from kasper.streams.cli.common import seed_or_clock
from kasper.streams.settings import get_settings


@click.command("up")
@click.option("-n", "--prompts", "count", type=click.IntRange(min=1), default=24,
              show_default=True, help="Synthetic prompt events to feed.")
@click.option("--seed", type=int, default=None, help="Seed of the synthetic prompts.")
@click.option("--timeout", "timeout_s", type=float, default=3600, show_default=True,
              help="Give up waiting for outcomes after this many seconds.")
@click.option("--run-dir", type=click.Path(path_type=Path), default=None,
              help="Where the run's log and report go (default runs/<time>).")
def up(count: int, seed: int | None, timeout_s: float, run_dir: Path | None) -> None:
    """Run the main job: broker (embedded if none answers), topics, model, worker, prompts in,
    a window trained, a report written.

    External services: ``kasper --bootstrap-servers host:9092 up`` (or KASPER_BOOTSTRAP_SERVERS),
    KASPER_SCHEMA_REGISTRY_URL and KASPER_JUDGE_* as for ``kasper worker``.
    """
    settings = get_settings()
    logs.configure(settings.observability)
    say = lambda line: click.echo(f"kasper up: {line}")  # noqa: E731
    report = up_job.run(settings, count, seed_or_clock(seed), say, run_dir=run_dir, timeout_s=timeout_s)
    outcomes = ", ".join(f"{v} {k}" for k, v in report.outcomes.items())
    say(f"done in {report.seconds:.0f}s: {report.prompts} prompts -> {outcomes}")
    say(report.funnel)
    say(f"trainer: {report.windows} window(s) closed, {report.model_versions} trained, "
        f"{report.promoted} promoted" + (f", {report.windows_untrained} not trained in time"
                                         if report.windows_untrained else ""))
    say(f"report: {report.report_html} (figures and report.json beside it)")
    if sum(report.outcomes.values()) < report.prompts:
        raise KasperError(f"{report.prompts - sum(report.outcomes.values())} prompt(s) have no outcome")


COMMANDS = (up,)
