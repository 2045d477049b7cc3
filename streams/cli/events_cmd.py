"""``kasper produce`` (upstream events in) and ``kasper tail`` (any topic's records out)."""

from __future__ import annotations

import asyncio
import json
from typing import IO, Any

import click

from kasper.schemas import to_json
from kasper.streams import topics
from kasper.streams.cli.common import seed_or_clock
from kasper.streams.consumer import Received, read
from kasper.streams.feedback_sim import SimStats, Simulation, simulate
from kasper.streams.ingest import produce_lines
from kasper.streams.producer import Producer
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import get_settings
from kasper.streams.synthetic_prompts import synthetic_prompts


@click.group("produce")
def produce() -> None:
    """Send upstream events from JSONL files (or stdin) or the synthetic corpus."""


def _produce(spec: topics.TopicSpec, source: IO[bytes] | None, skip_invalid: bool,
             synthetic: int | None, seed: int | None) -> None:
    async def run() -> None:
        async with Producer() as producer:
            if synthetic is not None:
                for record in synthetic_prompts(synthetic, seed=seed_or_clock(seed)):
                    await producer.send(spec, record)
                click.echo(f"sent {synthetic} synthetic {spec.record} records to {spec.name}", err=True)
                return
            name = getattr(source, "name", "-")
            report = await produce_lines(producer, spec, iter(source), source=name,
                                         skip_invalid=skip_invalid)
            for error in report.errors[:20]:
                click.echo(f"invalid: {error}", err=True)
            click.echo(f"sent {report.sent} to {spec.name}, dead-lettered {report.dead_lettered} "
                       f"to {topics.DLQ.name}", err=True)

    asyncio.run(run())


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
@_source
@_skip
@click.option("--synthetic", type=click.IntRange(min=1), default=None,
              help="Send up to N feedback events from the simulated users, reading kasper.approved "
                   "from its beginning.")
@click.option("--seed", type=int, default=None, help="Seed of the simulated users (KASPER_FEEDBACK_SEED).")
@click.option("--rate", type=click.FloatRange(0.0, 1.0), default=None,
              help="Share of approved insights that get a reaction (KASPER_FEEDBACK_RATE).")
@click.option("--idle-timeout", "idle_timeout_s", type=float, default=5.0, show_default=True,
              help="With --synthetic: stop after this many seconds without a new approved insight.")
def produce_feedback(source: IO[bytes] | None, skip_invalid: bool, synthetic: int | None,
                     seed: int | None, rate: float | None, idle_timeout_s: float) -> None:
    """Validate and send user feedback events from SOURCE (a JSONL file or -), or the
    simulated users' reactions to approved insights (--synthetic N, docs/feedback.md)."""
    if (source is None) == (synthetic is None):
        raise click.UsageError("give a SOURCE file (or -) or --synthetic N, not both")
    if synthetic is None:
        _produce(topics.FEEDBACK, source, skip_invalid, None, None)
        return
    settings = get_settings()
    overrides = {k: v for k, v in (("seed", seed), ("rate", rate)) if v is not None}
    sim = Simulation.from_settings(settings.feedback, **overrides)

    async def run() -> SimStats:
        async with Producer(settings) as producer:
            return await simulate(settings, producer, sim, asyncio.Event(), from_beginning=True,
                                  limit=synthetic, idle_timeout_s=idle_timeout_s)

    stats = asyncio.run(run())
    click.echo(f"sent {stats.sent} synthetic feedback events to {topics.FEEDBACK.name} "
               f"({stats.up} up, {stats.down} down, {stats.comments} with a comment) from "
               f"{len(stats.users)} of {len(sim.users)} simulated users, on {stats.read} approved "
               f"insights read at rate {sim.rate:g}", err=True)
    if stats.sent < synthetic:
        click.echo(f"{topics.APPROVED.name} ran out: {synthetic - stats.sent} fewer than asked "
                   f"(raise --rate, or wait for more approved insights)", err=True)


@click.command("tail")
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


def _format(received: Received, as_json: bool) -> str:
    where = received.where
    if not as_json:
        return f"{where} {received.schema} {json.dumps(to_json(received.record), ensure_ascii=False)}"
    value: dict[str, Any] = {
        "topic": where.topic, "partition": where.partition, "offset": where.offset,
        "key": received.key.decode(errors="replace") if received.key is not None else None,
        "timestamp_ms": received.timestamp_ms, "schema": received.schema,
        "value": to_json(received.record),
    }
    return json.dumps(value, ensure_ascii=False)


COMMANDS = (produce, tail)
