"""Re-reading topics by offset or time range without disturbing live consumers.

A replay never joins a consumer group: partitions are assigned directly, so no
live group rebalances, and nothing is committed unless a *fresh* group is named
(one with no committed offsets on the topic), which then records what the
replay read. Live groups are refused.

A range is chosen per partition: it starts at ``--from-offset`` or at the first
record stamped at or after ``--since`` (found with ``offsets_for_times``), else
at the oldest record; it ends after ``--to-offset``, before the first record
stamped at or after ``--until``, and otherwise before the first record stamped
after the replay started (so a live topic's range is finite), or where the
partition ends (no record for ``idle_timeout_s``). Time bounds also filter
records by timestamp, because Tansu positions by batch.

Error policy: a broker outage raises ``BrokerUnavailable``; a range that cannot
be served (unknown partition, an offset before the oldest record still kept)
raises :class:`RangeError`; a record that does not decode is yielded with its
error and ``where`` (topic/partition/offset) for the caller to report and count.

Re-grading a range (``kasper replay regrade``) is in :mod:`kasper.streams.cli.regrade`:
it needs the rubric, which sits above this layer.

A file source: :func:`read_container` reads an Avro object container file (such
as a ``kasper up`` run directory's ``records/<topic>.avro``) with the package's
schema of the record type it holds, and :func:`container_topic` picks the topic
it goes back to, so ``kasper replay load`` can send a run's records to a broker.
A file that is not a container of a pipeline record raises :class:`FileSourceError`.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pathlib import Path

import fastavro
from fastavro.read import SchemaResolutionError
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from kasper.schemas import RECORD_NAMES, Codec, standalone_schema, to_json
from kasper.schemas.errors import KasperError
from kasper.streams.admin import check_reachable
from kasper.streams.consumer import Received, decode_message, start_consumer
from kasper.streams import topics
from kasper.streams.consumer import attach_topic as attach_all
from kasper.streams.settings import KafkaSettings

ALL = None  # the partition key of an offset that applies to every partition
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RangeError(KasperError):
    """A requested range is malformed or cannot be served by the topic."""


class FileSourceError(KasperError):
    """A file given to replay is not an Avro container of a pipeline record, or fits no topic."""


@dataclass(frozen=True)
class Range:
    """What to read. Offsets map a partition (or :data:`ALL`) to an offset, inclusive."""

    from_offsets: dict[int | None, int] = field(default_factory=dict)
    to_offsets: dict[int | None, int] = field(default_factory=dict)
    since_ms: int | None = None
    until_ms: int | None = None  # exclusive
    partitions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.from_offsets and self.since_ms is not None:
            raise RangeError("give a start by --from-offset or by --since, not both")
        if self.to_offsets and self.until_ms is not None:
            raise RangeError("give an end by --to-offset or by --until, not both")
        if self.since_ms is not None and self.until_ms is not None and self.since_ms >= self.until_ms:
            raise RangeError("--since must be before --until")
        for partition, start in self.from_offsets.items():
            end = self.to_offsets.get(partition, self.to_offsets.get(ALL))
            if end is not None and start > end:
                raise RangeError(f"--from-offset {start} is after --to-offset {end}"
                                 + (f" on partition {partition}" if partition is not None else ""))


@dataclass
class PartitionPlan:
    """One partition's resolved range and what was read of it."""

    partition: int
    start: int
    stop: int | None  # last offset included, None: up to the time bound or the end
    until_ms: int | None
    first: int | None = None
    last: int | None = None
    read: int = 0
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "start": self.start, "stop": self.stop,
                "first": self.first, "last": self.last, "read": self.read}


@dataclass
class ReadStats:
    """Filled in by :func:`read_range`: the plan per partition and the counts."""

    topic: str = ""
    plans: list[PartitionPlan] = field(default_factory=list)
    read: int = 0
    undecodable: int = 0
    committed_group: str | None = None


def parse_offsets(values: Iterable[str]) -> dict[int | None, int]:
    """``["5"]`` (every partition) or ``["0:5", "1:7"]`` / ``["0:5,1:7"]`` per partition."""
    out: dict[int | None, int] = {}
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            partition, _, offset = part.rpartition(":")
            try:
                key = int(partition) if partition else ALL
                number = int(offset)
            except ValueError:
                raise RangeError(f"bad offset {part!r}: use OFFSET or PARTITION:OFFSET") from None
            if number < 0 or (key is not None and key < 0):
                raise RangeError(f"bad offset {part!r}: offsets and partitions are >= 0")
            out[key] = number
    return out


def parse_time(value: str, now: datetime | None = None) -> int:
    """Epoch milliseconds from ``1764064800000``, ISO 8601 (naive = UTC) or ``90m``/``2h``/``1d`` ago."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    match = _DURATION.match(value)
    if match:
        now = now or datetime.now(timezone.utc)
        ago = timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
        return int((now - ago).timestamp() * 1000)
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RangeError(f"bad time {value!r}: use ISO 8601, epoch milliseconds or an age "
                         "like 90m, 2h, 1d") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return int(stamp.timestamp() * 1000)


async def read_range(kafka: KafkaSettings, codec: Codec, topic: str, request: Range, *,
                     group: str | None = None, idle_timeout_s: float = 2.0,
                     stats: ReadStats | None = None, expect: str | None = None,
                     ) -> AsyncIterator[Received]:
    """Yield the records of ``topic`` in ``request``, undecodable ones with their error.

    ``expect`` names the record type: another type counts as undecodable.

    With ``group`` (which must have no committed offsets on ``topic``), the
    offsets read are committed to it at the end; otherwise nothing is committed.
    """
    check_reachable(kafka)
    stats = stats if stats is not None else ReadStats()
    stats.topic = topic
    started_ms = int(time.time() * 1000)
    group_kwargs = {"group_id": group} if group is not None else {}
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), **group_kwargs, enable_auto_commit=False)

    async def attach(c: AIOKafkaConsumer) -> None:
        stats.plans = await _plan(c, topic, request, started_ms)
        if group is not None:
            await _refuse_used_group(c, topic, group, stats.plans)
        c.assign([TopicPartition(topic, p.partition) for p in stats.plans])
        for plan in stats.plans:
            c.seek(TopicPartition(topic, plan.partition), plan.start)
            _pause_if_done(c, topic, plan)

    await start_consumer(kafka, consumer, attach)
    try:
        async for received in _records(consumer, codec, topic, request, stats, idle_timeout_s,
                                       expect):
            yield received
        if group is not None:
            read = {TopicPartition(topic, p.partition): p.last + 1 for p in stats.plans
                    if p.last is not None}
            if read:
                await consumer.commit(read)
                stats.committed_group = group
    finally:
        await consumer.stop()


async def _plan(consumer: AIOKafkaConsumer, topic: str, request: Range,
                started_ms: int) -> list[PartitionPlan]:
    await attach_all(consumer, topic, None, True)  # every partition; TopicError if there is no topic
    existing = sorted(tp.partition for tp in consumer.assignment())
    chosen = list(request.partitions) if request.partitions is not None else existing
    named = set(chosen) | {p for p in (*request.from_offsets, *request.to_offsets) if p is not None}
    unknown = sorted(named - set(existing))
    if unknown:
        raise RangeError(f"topic {topic} has partitions {existing[0]}-{existing[-1]}, "
                         f"not {', '.join(map(str, unknown))}")
    tps = [TopicPartition(topic, p) for p in chosen]
    oldest = await consumer.beginning_offsets(tps)
    starts = await _times(consumer, tps, request.since_ms)
    stops = await _times(consumer, tps, request.until_ms)
    plans = []
    for tp in tps:
        start = _pick(request.from_offsets, tp.partition)
        if start is not None and start < oldest[tp]:
            raise RangeError(f"{topic}[{tp.partition}]: records before offset {oldest[tp]} are gone "
                             f"(retention); --from-offset {start} cannot be served")
        start = start if start is not None else starts.get(tp, oldest[tp])
        stop = _pick(request.to_offsets, tp.partition)
        if stop is None and tp in stops:
            stop = stops[tp] - 1
        until = request.until_ms
        if until is None and _pick(request.to_offsets, tp.partition) is None:
            until = started_ms  # a live topic's range ends when the replay started
        plans.append(PartitionPlan(tp.partition, max(start, oldest[tp]), stop, until))
    return plans


def _pick(offsets: dict[int | None, int], partition: int) -> int | None:
    return offsets.get(partition, offsets.get(ALL))


async def _times(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                 at_ms: int | None) -> dict[TopicPartition, int]:
    """The first offset stamped at or after ``at_ms`` per partition (absent: none is)."""
    if at_ms is None:
        return {}
    found = await consumer.offsets_for_times({tp: at_ms for tp in tps})
    # Kafka answers None when no record is that new; Tansu 0.6 answers offset 0, timestamp -1.
    return {tp: o.offset for tp, o in found.items() if o is not None and o.timestamp >= 0}


async def _refuse_used_group(consumer: AIOKafkaConsumer, topic: str, group: str,
                             plans: list[PartitionPlan]) -> None:
    for plan in plans:
        if await consumer.committed(TopicPartition(topic, plan.partition)) is not None:
            raise RangeError(f"group {group} has committed offsets on {topic}: replay only "
                             "into a fresh group (or none), never a live one")


def _pause_if_done(consumer: AIOKafkaConsumer, topic: str, plan: PartitionPlan) -> None:
    if plan.stop is not None and plan.start > plan.stop:
        plan.done = True
    if plan.done:
        consumer.pause(TopicPartition(topic, plan.partition))


async def _records(consumer: AIOKafkaConsumer, codec: Codec, topic: str, request: Range,
                   stats: ReadStats, idle_timeout_s: float,
                   expect: str | None) -> AsyncIterator[Received]:
    plans = {p.partition: p for p in stats.plans}
    while not all(p.done for p in plans.values()):
        batch = await consumer.getmany(timeout_ms=int(idle_timeout_s * 1000), max_records=1000)
        if not batch:
            return  # every partition still open has reached its end
        for tp in sorted(batch, key=lambda t: t.partition):
            plan = plans[tp.partition]
            for message in batch[tp]:
                if not _take(plan, message, request):
                    if plan.done:
                        break
                    continue
                received = decode_message(codec, message, expect=expect)
                stats.read += 1
                stats.undecodable += received.error is not None
                yield received
            _pause_if_done(consumer, topic, plan)


def _take(plan: PartitionPlan, message: ConsumerRecord, request: Range) -> bool:
    """Whether ``message`` is in range; marks the plan done at the range's end."""
    if plan.done or (plan.stop is not None and message.offset > plan.stop):
        plan.done = True
        return False
    if plan.until_ms is not None and message.timestamp >= plan.until_ms:
        plan.done = True
        return False
    if request.since_ms is not None and message.timestamp < request.since_ms:
        return False
    plan.first = message.offset if plan.first is None else plan.first
    plan.last, plan.read = message.offset, plan.read + 1
    if plan.stop is not None and message.offset >= plan.stop:
        plan.done = True
    return True


def record_json(received: Received) -> dict[str, Any]:
    """One JSON-lines object of a replayed record; an undecodable one keeps its bytes."""
    where = received.where
    line: dict[str, Any] = {
        "topic": where.topic, "partition": where.partition, "offset": where.offset,
        "key": received.key.decode(errors="replace") if received.key is not None else None,
        "timestamp_ms": received.timestamp_ms, "schema": received.schema,
    }
    if received.error is not None:
        line.update(error=f"{type(received.error).__name__}: {received.error}",
                    value_base64=base64.b64encode(received.value).decode())
    else:
        line["value"] = to_json(received.record)
    return line


def container_record(path: Path) -> str:
    """The short record name an Avro object container file holds (``FileSourceError`` otherwise)."""
    try:
        with path.open("rb") as source:
            name = str(fastavro.reader(source).writer_schema.get("name", ""))
    except (OSError, ValueError, StopIteration) as exc:
        raise FileSourceError(f"{path}: not an Avro object container file ({exc})") from None
    short = name.rpartition(".")[2]
    if short not in RECORD_NAMES:
        raise FileSourceError(f"{path}: holds {name or 'an unnamed schema'}, not a pipeline record "
                              f"({', '.join(RECORD_NAMES)})")
    return short


def read_container(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a container file, read with today's schema of their type (older
    files resolve as schema evolution allows; a record that does not raises ``FileSourceError``)."""
    record = container_record(path)
    reader_schema = fastavro.parse_schema(standalone_schema(record), named_schemas={})
    number = 0
    with path.open("rb") as source:
        try:
            for row in fastavro.reader(source, reader_schema=reader_schema):
                yield row
                number += 1
        except (ValueError, EOFError, SchemaResolutionError) as exc:
            raise FileSourceError(f"{path}: record {number} does not read as {record}: {exc}") from None


def container_topic(path: Path, topic: str | None = None) -> topics.TopicSpec:
    """Where a container file goes back to: ``topic`` if given (it must carry the file's
    record type), else the catalog topic the file is named after (``kasper.approved.avro``),
    else the one catalog topic that carries its record type."""
    record = container_record(path)
    if topic is not None:
        spec = topics.BY_NAME.get(topic)
        if spec is None:  # a topic of one's own: keyed like the catalog topic of the same record
            carriers = [s for s in topics.CATALOG if s.record == record]
            if not carriers:
                raise FileSourceError(f"{path}: no catalog topic carries {record}")
            return topics.TopicSpec(topic, record, carriers[0].key, carriers[0].partitions,
                                    carriers[0].cleanup_policy, carriers[0].retention_ms, carriers[0].doc)
        if spec.record != record:
            raise FileSourceError(f"{path} holds {record} records; {topic} carries {spec.record}")
        return spec
    named = topics.BY_NAME.get(path.name.removesuffix(".avro"))
    if named is not None and named.record == record:
        return named
    carriers = [s for s in topics.CATALOG if s.record == record]
    if len(carriers) != 1:
        raise FileSourceError(f"{path}: {record} goes to {len(carriers)} catalog topics; name one with --topic")
    return carriers[0]
