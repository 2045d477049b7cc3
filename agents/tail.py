"""Followers: a topic's recent records read into a role's memory, then every new one.

The grade role's originality memory and the route role's top-fraction gate keep
their state in Kafka topics they also write (or that the pipeline writes): each
worker reads the last ``capacity`` records of the topic (every partition, no
consumer group) at start-up and then follows it, so a restart or a rebalance
finds the same state. ``ready`` is set once the records that were on the topic
at start-up are in: read up to the end offsets and to the high watermarks of
the fetch responses (the embedded broker reports end offsets short,
docs/embedded-broker.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kasper.streams import topics
from kasper.streams.consumer import decode_message, open_consumer
from kasper.streams.logs import get_logger

log = get_logger(__name__)


async def follow_tail(ctx: Any, spec: topics.TopicSpec, capacity: int,
                      on_record: Callable[[dict[str, Any]], None], ready: asyncio.Event) -> None:
    """Hand every decoded record of ``spec``'s last ``capacity`` and new ones to ``on_record``."""
    async with open_consumer(ctx.settings.kafka, spec.name) as consumer:
        ends = await rewind(consumer, capacity)
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for message in messages:
                    received = decode_message(ctx.codec, message, expect=spec.record)
                    if received.record is not None:
                        on_record(received.record)
            if not ready.is_set() and await _caught_up(consumer, ends):
                log.info("topic tail read", topic=spec.name)
                ready.set()


async def _caught_up(consumer: Any, ends: dict[Any, int]) -> bool:
    # The fetch responses' high watermarks, not ListOffsets alone: Tansu 0.6.0 reports
    # end offsets short for partitions holding batches of several records.
    for tp, end in ends.items():
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < max(end, highwater):
            return False
    return True


async def rewind(consumer: Any, capacity: int) -> dict[Any, int]:
    """Start each partition ``capacity / partitions`` records before its end; the ends."""
    assigned = list(consumer.assignment())
    ends = await consumer.end_offsets(assigned)
    starts = await consumer.beginning_offsets(assigned)
    per_partition = max(1, capacity // max(1, len(assigned)))
    for tp in assigned:
        consumer.seek(tp, max(starts[tp], ends[tp] - per_partition))
    return ends


def millis(when: datetime | int | None) -> int | None:
    """Epoch milliseconds of a decoded ``timestamp-millis`` field."""
    if when is None or isinstance(when, int):
        return when
    return int(when.timestamp() * 1000)
