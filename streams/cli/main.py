"""The ``kasper`` command line: thin wiring of options to the plain functions.

Every ``KasperError`` ends as one ``error: ...`` line on stderr and exit code 1;
a traceback means a bug, never bad input or a missing broker.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from kasper.schemas import to_json
from kasper.schemas.errors import KasperError
from kasper.streams import topics
from kasper.streams.settings import get_settings, redacted


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


@click.group(cls=KasperGroup)
@click.option("--bootstrap-servers", envvar="KASPER_BOOTSTRAP_SERVERS", default=None,
              help="Kafka bootstrap servers (default 127.0.0.1:9092).")
def main(bootstrap_servers: str | None) -> None:
    """kasper: prompt events in, graded, judged, approved insights out."""
    if bootstrap_servers:
        # Settings are read from the environment once; make the flag win everywhere.
        import os

        os.environ["KASPER_BOOTSTRAP_SERVERS"] = bootstrap_servers
        get_settings.cache_clear()


@main.command()
@click.option("--address", default=None, help="host:port to listen on (default: the bootstrap address).")
def broker(address: str | None) -> None:
    """Run the embedded Kafka-compatible broker until Ctrl-C or SIGTERM."""
    from kasper.streams.broker import EmbeddedBroker

    settings = get_settings()
    address = address or settings.kafka.bootstrap_servers
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with EmbeddedBroker(address, settings.broker) as running:
        click.echo(f"broker listening on {address} (pid {running.process.pid}, "
                   f"log {running.log_path}); Ctrl-C stops it", err=True)
        while not stop.wait(0.5):
            if running.process is None or running.process.poll() is not None:
                raise KasperError(f"broker exited unexpectedly: {running.log_tail()}")
    click.echo("broker stopped", err=True)


@main.group()
def topics_group() -> None:
    """Create, list and describe the pipeline's topics."""


main.add_command(topics_group, name="topics")


@topics_group.command("create")
def topics_create() -> None:
    """Create every catalog topic that does not exist yet (safe to run twice)."""
    from kasper.streams.admin import create_topics

    outcome = asyncio.run(create_topics(get_settings().kafka))
    for name, state in outcome.items():
        click.echo(f"{name}\t{state}")


@topics_group.command("list")
def topics_list() -> None:
    """Topics on the broker; catalog topics are marked."""
    from kasper.streams.admin import list_topics

    for name in asyncio.run(list_topics(get_settings().kafka)):
        mark = "catalog" if name in topics.BY_NAME else "-"
        click.echo(f"{name}\t{mark}")


@topics_group.command("describe")
@click.argument("names", nargs=-1)
def topics_describe(names: tuple[str, ...]) -> None:
    """Partitions and configs of NAMES (default: every catalog topic) vs. the catalog."""
    from kasper.streams.admin import describe_topics

    names = names or tuple(topics.BY_NAME)
    states = asyncio.run(describe_topics(get_settings().kafka, list(names)))
    for name in names:
        state, spec = states[name], topics.BY_NAME.get(name)
        expected = f" (catalog: {spec.partitions}, {spec.record})" if spec else ""
        configs = " ".join(f"{k}={v}" for k, v in sorted(state.configs.items()))
        click.echo(f"{name}\tpartitions={state.partitions}{expected}\t{configs}")


@main.group()
def produce() -> None:
    """Send upstream events from JSONL files (or stdin) or the synthetic corpus."""


def _lines(source: IO[bytes]) -> Iterator[bytes]:
    yield from source


def _produce(spec: topics.TopicSpec, source: IO[bytes] | None, skip_invalid: bool,
             synthetic: int | None, seed: int | None) -> None:
    from kasper.streams.ingest import produce_lines
    from kasper.streams.producer import Producer

    async def run() -> None:
        async with Producer() as producer:
            if synthetic is not None:
                from kasper.streams.synthetic_prompts import synthetic_prompts

                for record in synthetic_prompts(synthetic, seed=_seed(seed)):
                    await producer.send(spec, record)
                click.echo(f"sent {synthetic} synthetic {spec.record} records to {spec.name}", err=True)
                return
            name = getattr(source, "name", "-")
            report = await produce_lines(producer, spec, _lines(source), source=name,
                                         skip_invalid=skip_invalid)
            for error in report.errors[:20]:
                click.echo(f"invalid: {error}", err=True)
            click.echo(f"sent {report.sent} to {spec.name}, dead-lettered {report.dead_lettered} "
                       f"to {topics.DLQ.name}", err=True)

    asyncio.run(run())


def _seed(seed: int | None) -> int:
    if seed is not None:
        return seed
    import time

    return time.time_ns() // 1000 % 1_000_000_000


_source = click.argument("source", type=click.File("rb"), required=False)
_skip = click.option("--skip-invalid", is_flag=True,
                     help="Send the valid lines and dead-letter the invalid ones.")


@produce.command("prompts")
@_source
@_skip
@click.option("--synthetic", type=click.IntRange(min=1), default=None,
              help="Send N realistic synthetic prompt events instead of a file.")
@click.option("--seed", type=int, default=None, help="Seed for --synthetic (ids derive from it).")
def produce_prompts(source: IO[bytes] | None, skip_invalid: bool, synthetic: int | None,
                    seed: int | None) -> None:
    """Validate and send prompt events from SOURCE (a JSONL file or -)."""
    if (source is None) == (synthetic is None):
        raise click.UsageError("give a SOURCE file (or -) or --synthetic N, not both")
    _produce(topics.PROMPTS, source, skip_invalid, synthetic, seed)


@produce.command("feedback")
@click.argument("source", type=click.File("rb"))
@_skip
def produce_feedback(source: IO[bytes], skip_invalid: bool) -> None:
    """Validate and send user feedback events from SOURCE (a JSONL file or -)."""
    _produce(topics.FEEDBACK, source, skip_invalid, None, None)


@main.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after N records.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--group", default=None, help="Consume in this group and commit (default: no group).")
@click.option("--idle-timeout", type=float, default=None,
              help="Stop after this many seconds without a record.")
def tail(topic: str, from_beginning: bool, limit: int | None, as_json: bool,
         group: str | None, idle_timeout: float | None) -> None:
    """Print the decoded records of TOPIC; undecodable ones are reported and skipped."""
    from kasper.streams.consumer import read
    from kasper.streams.serde import codec_from_settings

    settings = get_settings()
    codec = codec_from_settings(settings.registry)

    async def run() -> int:
        skipped = 0
        async for received in read(settings.kafka, codec, topic, group=group,
                                   from_beginning=from_beginning, limit=limit,
                                   idle_timeout_s=idle_timeout):
            if received.error is not None:
                skipped += 1
                click.echo(f"skipped {received.where}: {received.error}", err=True)
                continue
            click.echo(_format(received, as_json))
        return skipped

    skipped = asyncio.run(run())
    if skipped:
        click.echo(f"{skipped} record(s) could not be decoded", err=True)


def _format(received: Any, as_json: bool) -> str:
    where = received.where
    if not as_json:
        return f"{where} {received.schema} {json.dumps(to_json(received.record), ensure_ascii=False)}"
    return json.dumps({
        "topic": where.topic, "partition": where.partition, "offset": where.offset,
        "key": received.key.decode(errors="replace") if received.key is not None else None,
        "timestamp_ms": received.timestamp_ms, "schema": received.schema,
        "value": to_json(received.record),
    }, ensure_ascii=False)


@main.command()
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
    from kasper.streams import logs, up as up_job

    settings = get_settings()
    logs.configure(settings.observability)
    say = lambda line: click.echo(f"kasper up: {line}")  # noqa: E731
    report = up_job.run(settings, count, _seed(seed), say, run_dir=run_dir, timeout_s=timeout_s)
    outcomes = ", ".join(f"{v} {k}" for k, v in report.outcomes.items())
    say(f"done in {report.seconds:.0f}s: {report.prompts} prompts -> {outcomes}")
    say(report.funnel)
    say(f"trainer: {report.windows} window(s) closed, {report.model_versions} trained, "
        f"{report.promoted} promoted" + (f", {report.windows_untrained} not trained in time"
                                         if report.windows_untrained else ""))
    say(f"report: {report.report_html} (figures and report.json beside it)")
    if sum(report.outcomes.values()) < report.prompts:
        raise KasperError(f"{report.prompts - sum(report.outcomes.values())} prompt(s) have no outcome")


@main.command()
@click.option("--agents", "roles", default="generate,grade,judge,route,train", show_default=True,
              help="Comma-separated roles this worker runs.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=3, show_default=True,
              help="route: attempts per prompt before a REVISE becomes a REJECT.")
@click.option("--approve-top-fraction", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="route: approve only this top fraction of recent judge scores (e.g. 0.15).")
@click.option("--pass-threshold", type=float, default=0.6, show_default=True,
              help="grade: rubric final score needed to pass.")
@click.option("--stream-tokens", is_flag=True, default=None,
              help="generate: also send token deltas to kasper.tokens while insights are written.")
def worker(roles: str, max_attempts: int, approve_top_fraction: float | None,
           pass_threshold: float, stream_tokens: bool | None) -> None:
    """Run a Faust worker with the given roles until Ctrl-C or SIGTERM."""
    from kasper.streams.cli.worker_cmd import build_app, parse_roles
    from kasper.streams import logs, metrics
    from kasper.streams.shutdown import BoundedWorker

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


@main.command("grade")
@click.argument("source", type=click.File("rb"))
@click.option("--json", "as_json", is_flag=True, help="One Grade record per line as JSON.")
@click.option("--pass-threshold", type=float, default=0.6, show_default=True)
def grade_offline(source: IO[bytes], as_json: bool, pass_threshold: float) -> None:
    """Grade insight records from SOURCE (JSONL with at least `text`) without Kafka."""
    from kasper.agents.quality.rubric import Rubric, grade_records

    rubric, bad = Rubric(pass_threshold=pass_threshold), 0
    for number, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            [grade] = grade_records([record], rubric)
        except (ValueError, AttributeError, TypeError) as exc:
            bad += 1
            click.echo(f"line {number}: {exc}", err=True)
            continue
        click.echo(json.dumps(to_json(grade), ensure_ascii=False) if as_json else
                   f"{grade['insight_id']}\t{grade['final_score']:.3f}\t{grade['letter']}\t"
                   f"{'PASS' if grade['passed'] else 'FAIL'}\t{'; '.join(grade['gate_failures'])}")
    if bad:
        raise KasperError(f"{bad} line(s) could not be graded")


@main.group()
def schemas() -> None:
    """The Avro contracts."""


@schemas.command("check")
def schemas_check() -> None:
    """Fail unless every schema is BACKWARD_TRANSITIVE compatible with all released versions."""
    from kasper.schemas.compat import check_package

    problems = check_package()
    bad = {name: found for name, found in problems.items() if found}
    for name, found in problems.items():
        click.echo(f"{name}\t{'ok' if not found else 'INCOMPATIBLE'}")
        for problem in found:
            click.echo(f"  - {problem}")
    if bad:
        raise KasperError(f"{len(bad)} schema(s) break compatibility with released versions")


@main.command("settings")
def show_settings() -> None:
    """Print the effective settings as JSON, secrets redacted."""
    click.echo(json.dumps(redacted(get_settings()), indent=2))


def _add_model_commands() -> None:
    from kasper.streams.cli.models_cmd import COMMANDS
    from kasper.streams.cli.replay_cmd import COMMANDS as REPLAY_COMMANDS

    for command in COMMANDS + REPLAY_COMMANDS:
        main.add_command(command)


_add_model_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
