"""``kasper up``: the main job on one machine (see :mod:`kasper.streams.cli.up`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click

from kasper.schemas.errors import KasperError
from kasper.streams import logs, topics
from kasper.streams.cli import up as up_job
from kasper.streams.cli.common import seed_or_clock
from kasper.streams.cli.efficiency import MAX_PROMPTS
from kasper.streams.cli.live import LiveView
from kasper.streams.cli.run_files import APPROVED_FILE, OUTCOMES_FILE, RECORDS_DIR
from kasper.streams.cli.up_feedback import DEMO_FEEDBACK_RATE, feedback_line
from kasper.streams.settings import Settings, get_settings


@click.command("up")
@click.option("-n", "--prompts", "count", type=click.IntRange(min=1), default=24,
              show_default=True, help="Synthetic prompt events to feed.")
@click.option("--seed", type=int, default=None, help="Seed of the synthetic prompts.")
@click.option("--timeout", "timeout_s", type=float, default=3600, show_default=True,
              help="Give up waiting for outcomes after this many seconds.")
@click.option("--run-dir", type=click.Path(path_type=Path), default=None,
              help="Where the run's log, records and report go (default runs/<time>).")
@click.option("--keep", is_flag=True,
              help="After the summary, keep the broker, the worker and its metrics running until Ctrl-C.")
@click.option("--feedback-rate", type=click.FloatRange(0.0, 1.0), default=None,
              help=f"Share of approved insights the simulated users react to (0: no users; default "
                   f"KASPER_FEEDBACK_RATE if set, else {DEMO_FEEDBACK_RATE:g} for the demo).")
@click.option("--efficiency/--no-efficiency", "measure_efficiency", default=True, show_default=True,
              help=f"Once the run has stopped, generate its prompts alone (at most {MAX_PROMPTS}) for the generation "
                   "efficiency figure: the run's generated tok/s over the generator's alone.")
def up(count: int, seed: int | None, timeout_s: float, run_dir: Path | None, keep: bool,
       feedback_rate: float | None, measure_efficiency: bool) -> None:
    """Run the main job: broker (embedded if none answers), topics, model, worker, prompts in,
    simulated users' feedback on what is approved, a window trained, the run's records and a
    report written.

    External services: ``kasper --bootstrap-servers host:9092 up`` (or KASPER_BOOTSTRAP_SERVERS),
    KASPER_SCHEMA_REGISTRY_URL and KASPER_JUDGE_* as for ``kasper worker``.
    """
    settings = get_settings()
    logs.configure(settings.observability)
    say = lambda line: click.echo(f"kasper up: {line}")  # noqa: E731

    def hold(report: up_job.UpReport) -> None:  # called while everything still runs
        _summary(report, say)
        _hold(settings, report, say)

    report = up_job.run(settings, count, seed_or_clock(seed), say, run_dir=run_dir, timeout_s=timeout_s,
                        view=LiveView(say), keep=hold if keep else None, feedback_rate=feedback_rate,
                        measure_efficiency=measure_efficiency)
    if not keep:
        _summary(report, say)
    if sum(report.outcomes.values()) < report.prompts:
        raise KasperError(f"{report.prompts - sum(report.outcomes.values())} prompt(s) have no outcome")


def _summary(report: up_job.UpReport, say: Callable[[str], None]) -> None:
    outcomes = ", ".join(f"{v} {k}" for k, v in report.outcomes.items())
    say(f"done in {report.seconds:.0f}s: {report.prompts} prompts -> {outcomes}")
    say(report.funnel)
    say(f"trainer: {report.windows} window(s) closed, {report.model_versions} trained, "
        f"{report.promoted} promoted" + (f", {report.windows_untrained} not trained in time"
                                         if report.windows_untrained else ""))
    say(feedback_line(report.feedback))
    run_dir = Path(report.run_dir)
    say(f"records: {run_dir / APPROVED_FILE} ({report.files.get(APPROVED_FILE, 0)} approved), "
        f"{run_dir / OUTCOMES_FILE} (one row per prompt), {run_dir / RECORDS_DIR}/<topic>.avro")
    say(f"report: {report.report_html} (figures and report.json beside it)")


def _hold(settings: Settings, report: up_job.UpReport, say: Callable[[str], None]) -> None:
    """Print how to use the running pipeline, then wait for Ctrl-C (or SIGTERM)."""
    address = settings.kafka.bootstrap_servers
    obs = settings.observability
    lines = [
        f"kept running: broker {address}, worker metrics http://{obs.metrics_host}:{obs.metrics_port}/metrics, "
        f"worker log {Path(report.run_dir) / 'worker.log'}",
        "in another terminal:",
        f"  subscribe a downstream app:  KASPER_BOOTSTRAP_SERVERS={address} "
        "python examples/approved_consumer.py --group my-app",
        f"  send prompts:                KASPER_BOOTSTRAP_SERVERS={address} kasper produce prompts --synthetic 5",
        f"  send feedback:               KASPER_BOOTSTRAP_SERVERS={address} kasper produce feedback feedback.jsonl",
        f"  or the simulated users':     KASPER_BOOTSTRAP_SERVERS={address} kasper produce feedback "
        "--synthetic 10 --rate 1 --seed 1 (another seed: other users, new ids)",
        '                               (a line: {"insight_id": "<from approved.jsonl>", "user_hash": "u1", '
        '"rating": "up"})',
        f"  watch the topics:            KASPER_BOOTSTRAP_SERVERS={address} kasper tail {topics.APPROVED.name}",
        "Ctrl-C stops everything" + (" (the embedded broker forgets its topics)" if report.embedded_broker else ""),
    ]
    for line in lines:
        say(line)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("stopping")


COMMANDS = (up,)
