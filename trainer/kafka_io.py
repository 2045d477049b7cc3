"""Kafka plumbing shared by the trainer's two loops: a group consumer with manual commits.

The trainer does not consume through Faust streams: Faust acks (and then
commits) a record as soon as the agent moves past it, while the trainer may
commit an offset only after the window holding it is durable and announced.
These loops use aiokafka directly, commit explicitly, and drop their in-memory
state on a rebalance (the records then come again from the committed offsets).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from kasper.streams.admin import check_reachable
from kasper.streams.consumer import start_consumer
from kasper.streams.settings import KafkaSettings


class _Listener(ConsumerRebalanceListener):
    def __init__(self, on_revoked: Callable[[set[TopicPartition]], object]) -> None:
        self._on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        result = self._on_revoked(set(revoked))
        if hasattr(result, "__await__"):
            await result

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None


async def start_group_consumer(kafka: KafkaSettings, topic_names: Iterable[str], group: str,
                               on_revoked: Callable[[set[TopicPartition]], object],
                               **options: object) -> AIOKafkaConsumer:
    """A started consumer in ``group`` on ``topic_names``: earliest, no auto-commit."""
    check_reachable(kafka)
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), **kafka.group_kwargs(), group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest", **options)
    return await start_consumer(kafka, consumer, lambda c: c.subscribe(
        topics=list(topic_names), listener=_Listener(on_revoked)))
