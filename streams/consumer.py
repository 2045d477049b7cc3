"""Reading records: raw bytes from aiokafka, decoded by our codec, errors kept apart.

A record that cannot be decoded is yielded as a :class:`Received` with ``error``
set and ``where`` naming topic/partition/offset, never raised: one poison record
must not stop a reader (Faust's own decoding crashed the agent: docs/embedded-broker.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from kasper.schemas import Codec
from kasper.schemas.errors import CodecError, Where
from kasper.streams.admin import check_reachable
from kasper.streams.errors import BrokerUnavailable, TopicError
from kasper.streams.settings import KafkaSettings


@dataclass(frozen=True)
class Received:
    """One consumed message: the decoded record, or the error that prevented it."""

    where: Where
    key: bytes | None
    value: bytes
    timestamp_ms: int
    schema: str | None = None
    record: dict[str, Any] | None = None
    error: CodecError | None = None


def decode_message(codec: Codec, message: ConsumerRecord, expect: str | None = None) -> Received:
    """Decode one aiokafka message; a codec error is captured, not raised."""
    where = Where(topic=message.topic, partition=message.partition, offset=message.offset)
    base = dict(where=where, key=message.key, value=message.value or b"",
                timestamp_ms=message.timestamp)
    try:
        decoded = codec.decode(message.value or b"", expect=expect, where=where)
    except CodecError as exc:
        return Received(**base, error=exc)
    return Received(**base, schema=decoded.name, record=decoded.record)


@contextlib.asynccontextmanager
async def open_consumer(kafka: KafkaSettings, topic: str, *, group: str | None = None,
                        from_beginning: bool = False) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer on ``topic``.

    Without ``group`` it assigns every partition directly: no group join, so no
    rebalance wait and no disturbance of live consumer groups.
    """
    check_reachable(kafka)
    reset = "earliest" if from_beginning else "latest"
    # Offsets are committed by the reader for what it actually handed out (see read()).
    group_kwargs = kafka.group_kwargs() if group is not None else {}
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), **group_kwargs, group_id=group,
                                auto_offset_reset=reset, enable_auto_commit=False)
    await start_consumer(kafka, consumer, lambda c: attach_topic(c, topic, group, from_beginning))
    try:
        yield consumer
    finally:
        await consumer.stop()


async def start_consumer(kafka: KafkaSettings, consumer: AIOKafkaConsumer,
                         attach: Callable[[AIOKafkaConsumer], Awaitable[None] | None]) -> AIOKafkaConsumer:
    """Start ``consumer`` and ``attach`` it (subscribe, or assign and seek).

    If either fails the consumer is stopped again, so no client is left open;
    Kafka errors become :class:`BrokerUnavailable` naming the bootstrap address.
    """
    try:
        await consumer.start()
        # Let aiokafka's coordinator task run once: a stop() before that raises
        # CancelledError in place of the error that made us stop.
        await asyncio.sleep(0)
        attached = attach(consumer)
        if inspect.isawaitable(attached):
            await attached
    except KafkaError as exc:
        await consumer.stop()
        raise BrokerUnavailable(kafka.bootstrap_servers, str(exc)) from exc
    except BaseException:
        await consumer.stop()
        raise
    return consumer


async def attach_topic(consumer: AIOKafkaConsumer, topic: str, group: str | None,
                       from_beginning: bool) -> None:
    """Subscribe in ``group``, or assign every partition of ``topic`` and seek to one end."""
    if group is not None:
        consumer.subscribe([topic])
        return
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()  # new topics are not in the cache yet
        partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise TopicError(f"topic {topic} does not exist (create it with `kasper topics create`)")
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    if from_beginning:
        await consumer.seek_to_beginning(*assigned)
    else:
        await consumer.seek_to_end(*assigned)


async def read(kafka: KafkaSettings, codec: Codec, topic: str, *, group: str | None = None,
               from_beginning: bool = False, limit: int | None = None,
               idle_timeout_s: float | None = None) -> AsyncIterator[Received]:
    """Yield decoded messages of ``topic`` until ``limit`` or ``idle_timeout_s`` of silence.

    With ``group``, the offsets of the messages yielded (and only those) are
    committed on exit, so a ``--limit`` never skips records for the group.
    """
    async with open_consumer(kafka, topic, group=group, from_beginning=from_beginning) as consumer:
        done: dict[TopicPartition, int] = {}
        try:
            async for received in _messages(consumer, codec, limit, idle_timeout_s):
                done[TopicPartition(topic, received.where.partition)] = received.where.offset + 1
                yield received
        finally:
            if group is not None and done:
                await consumer.commit(done)


async def _messages(consumer: AIOKafkaConsumer, codec: Codec, limit: int | None,
                    idle_timeout_s: float | None) -> AsyncIterator[Received]:
    count = 0
    timeout_ms = int(idle_timeout_s * 1000) if idle_timeout_s is not None else 1000
    while limit is None or count < limit:
        batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=500)
        if not batch and idle_timeout_s is not None:
            return
        for message in _in_offset_order(batch):
            yield decode_message(codec, message)
            count += 1
            if limit is not None and count >= limit:
                return


def _in_offset_order(batch: dict[TopicPartition, list[ConsumerRecord]]) -> list[ConsumerRecord]:
    return [m for tp in sorted(batch, key=lambda tp: tp.partition) for m in batch[tp]]
