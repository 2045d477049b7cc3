"""``kasper replay``: re-read topics by offset or time range, never disturbing live consumers.

Thin wiring to :mod:`kasper.streams.replay` and :mod:`kasper.trainer.rebuild`. A
malformed or unservable range is a usage error (exit 2); a record that does not
decode is reported with its topic/partition/offset and makes the exit code 1
once everything else is done; so does a window that does not rebuild identically.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import Counter
from pathlib import Path
from typing import IO, Any

import click

from kasper.agents.quality.rubric import GRADER_VERSION, GRADER_VERSIONS, Rubric
from kasper.schemas.errors import KasperError
from kasper.streams import topics
from kasper.streams.cli.training_cmd import windows_replay
from kasper.streams.cli.regrade import regrade
from kasper.streams.producer import Producer
from kasper.streams.replay import (
    FileSourceError,
    Range,
    RangeError,
    ReadStats,
    container_topic,
    parse_offsets,
    parse_time,
    read_container,
    read_range,
    record_json,
)
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import get_settings
from kasper.trainer.rebuild import check_window_event


@click.group("replay")
def replay_group() -> None:
    """Re-read topics by offset or time range (no consumer group, or a fresh one; never a live one)."""


def range_options(command: Any) -> Any:
    """The range options every replay command takes; the command gets ``request`` and ``idle``."""
    options = [
        click.option("--from-offset", "from_offsets", multiple=True, metavar="[P:]OFFSET",
                     help="First offset, for every partition or PARTITION:OFFSET (repeat or comma-separate)."),
        click.option("--to-offset", "to_offsets", multiple=True, metavar="[P:]OFFSET",
                     help="Last offset included, likewise."),
        click.option("--since", default=None, metavar="TIME",
                     help="Records stamped at or after TIME: ISO 8601, epoch ms, or an age (90m, 2h, 1d)."),
        click.option("--until", default=None, metavar="TIME",
                     help="Records stamped before TIME (default: when the replay started)."),
        click.option("--partition", "partitions", type=click.IntRange(min=0), multiple=True,
                     help="Only these partitions (repeat; default all)."),
        click.option("--idle-timeout", "idle", type=click.FloatRange(min=0.1), default=2.0,
                     show_default=True, help="A partition has ended after this many seconds without a record."),
    ]

    @functools.wraps(command)
    def wrapper(from_offsets: tuple[str, ...], to_offsets: tuple[str, ...], since: str | None,
                until: str | None, partitions: tuple[int, ...], **kwargs: Any) -> Any:
        try:
            request = Range(parse_offsets(from_offsets), parse_offsets(to_offsets),
                            parse_time(since) if since else None, parse_time(until) if until else None,
                            tuple(partitions) or None)
        except RangeError as exc:
            raise click.UsageError(str(exc)) from None
        return command(request=request, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _run(coro: Any) -> Any:
    """Run ``coro``; a range the topic cannot serve is a usage error."""
    try:
        return asyncio.run(coro)
    except RangeError as exc:
        raise click.UsageError(str(exc)) from None


def _codec(settings: Any) -> Any:
    return codec_from_settings(settings.registry)


@replay_group.command("dump")
@click.argument("topic")
@range_options
@click.option("--group", default=None,
              help="Commit what was read to this fresh group (refused if it has offsets on TOPIC).")
@click.option("--out", "out", type=click.File("w"), default="-", show_default=True,
              help="Where the JSON lines go.")
def replay_dump(topic: str, request: Any, idle: float, group: str | None, out: IO[str]) -> None:
    """Write the records of TOPIC in the range as JSON lines (undecodable ones with their bytes)."""
    settings = get_settings()
    stats = ReadStats()

    async def run() -> None:
        async for received in read_range(settings.kafka, _codec(settings), topic, request,
                                         group=group, idle_timeout_s=idle, stats=stats):
            if received.error is not None:
                click.echo(f"undecodable {received.where}: {received.error}", err=True)
            out.write(json.dumps(record_json(received), ensure_ascii=False) + "\n")

    _run(run())
    out.flush()
    ranges = ", ".join(f"[{p.partition}]{p.first}-{p.last}" for p in stats.plans if p.read)
    click.echo(f"replayed {stats.read} record(s) of {topic} {ranges}".rstrip()
               + (f"; offsets committed to group {group}" if stats.committed_group else ""), err=True)
    for plan in stats.plans:
        if plan.stop is not None and (plan.last is None or plan.last < plan.stop) and not plan.done:
            click.echo(f"note: {topic}[{plan.partition}] ended at offset "
                       f"{plan.last if plan.last is not None else plan.start - 1}, before {plan.stop}",
                       err=True)
    if stats.undecodable:
        raise KasperError(f"{stats.undecodable} record(s) of {topic} could not be decoded")


replay_group.add_command(windows_replay, name="window")


@replay_group.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--topic", default=None,
              help="Send every file here (default: the topic each file is named after, e.g. "
                   "kasper.verdicts.avro, else the catalog topic of its record type).")
@click.option("--dry-run", is_flag=True, help="Read and check the files; send nothing.")
def replay_load(files: tuple[Path, ...], topic: str | None, dry_run: bool) -> None:
    """Send the records of Avro container files (a run directory's records/<topic>.avro) to a broker.

    Each record is validated and sent keyed as a live producer keys it; a file that
    is not a container of a pipeline record, or does not fit its topic, is a usage
    error and nothing of it is sent.
    """
    settings = get_settings()
    try:
        plan = [(path, container_topic(path, topic), list(read_container(path))) for path in files]
    except FileSourceError as exc:
        raise click.UsageError(str(exc)) from None

    async def send() -> None:
        async with Producer(settings, _codec(settings)) as producer:
            for _path, spec, records in plan:
                for record in records:
                    await producer.send(spec, record)
            await producer.flush()

    if not dry_run:
        asyncio.run(send())
    for path, spec, records in plan:
        click.echo(f"{'read' if dry_run else 'sent'} {len(records)} {spec.record} record(s) of {path} "
                   f"{'for' if dry_run else 'to'} {spec.name}")


@replay_group.command("windows")
@click.option("--topic", default=topics.TRAINING_WINDOWS.name, show_default=True,
              help="The topic of TrainingWindow events.")
@range_options
@click.option("--window", "window_ids", multiple=True, help="Only these window ids (repeat).")
@click.option("--out", "out_root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write each rebuilt window to OUT/<window_id>/ (default: verify only).")
def replay_windows(topic: str, request: Any, idle: float, window_ids: tuple[str, ...],
                   out_root: Path | None) -> None:
    """Rebuild every window announced on the training-windows topic and compare it byte for byte.

    One JSON line per window (identical, mismatched, gone: source records past
    retention, failed), then a summary line; exit 1 when any is mismatched or failed.
    """
    settings = get_settings()
    codec = _codec(settings)

    async def run() -> tuple[Counter, list[str]]:
        events: dict[str, dict[str, Any]] = {}
        bad: list[str] = []
        async for received in read_range(settings.kafka, codec, topic, request, idle_timeout_s=idle,
                                         expect=topics.TRAINING_WINDOWS.record):
            if received.error is not None:
                bad.append(f"{received.where}: {received.error}")
                click.echo(f"undecodable {received.where}: {received.error}", err=True)
            elif not window_ids or received.record["window_id"] in window_ids:
                events.setdefault(received.record["window_id"], received.record)  # republished: same
        counts: Counter = Counter()
        for event in events.values():
            check = await check_window_event(settings, event, codec, out_root)
            counts[check.status] += 1
            click.echo(json.dumps(check.as_dict(), sort_keys=True))
        return counts, bad

    counts, bad = _run(run())
    summary = {s: counts.get(s, 0) for s in ("identical", "mismatched", "gone", "failed")}
    click.echo(json.dumps({"summary": {**summary, "undecodable": len(bad)}}, sort_keys=True))
    if summary["mismatched"] or summary["failed"] or bad:
        raise KasperError(f"{summary['mismatched']} window(s) mismatched, {summary['failed']} failed, "
                          f"{len(bad)} event(s) undecodable")


def _replay_name(_ctx: Any, _param: Any, value: str) -> str:
    try:
        topics.replay_grades(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@replay_group.command("regrade")
@click.argument("name", callback=_replay_name)
@click.option("--topic", default=topics.INSIGHTS.name, show_default=True, help="Where the insights are.")
@click.option("--grades-topic", default=topics.GRADES.name, show_default=True,
              help="The original grades to compare with.")
@click.option("--no-compare", is_flag=True, help="Do not read the original grades.")
@click.option("--rubric", "rubric_version", type=click.Choice(GRADER_VERSIONS), default=GRADER_VERSION,
              show_default=True, help="Rubric version to grade with (an older one, to compare).")
@click.option("--pass-threshold", type=click.FloatRange(0, 1), default=0.6, show_default=True)
@range_options
def replay_regrade(name: str, topic: str, grades_topic: str, no_compare: bool,
                   rubric_version: str, pass_threshold: float, request: Any, idle: float) -> None:
    """Grade the insights in the range again into kasper.grades.replay.NAME and compare.

    Prints a JSON summary: pass rate and mean score, new and original, and the
    letter and pass/fail changes per insight that has an original grade.
    """
    settings = get_settings()
    report = _run(regrade(settings, _codec(settings), name, request,
                          rubric=Rubric(pass_threshold=pass_threshold, version=rubric_version,
                                        semantic=settings.grade.semantic_gate), insights_topic=topic,
                          grades_topic=None if no_compare else grades_topic, idle_timeout_s=idle))
    for line in report.undecodable:
        click.echo(f"undecodable {line}", err=True)
    for line in report.ungradable:
        click.echo(f"ungradable {line}", err=True)
    click.echo(json.dumps(report.summary(), sort_keys=True))
    if report.undecodable:
        raise KasperError(f"{len(report.undecodable)} record(s) of {topic} could not be decoded")


COMMANDS = (replay_group,)
