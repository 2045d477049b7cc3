"""Topic administration: create the catalog idempotently, list and describe topics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from kasper.streams import topics
from kasper.streams.broker import ping
from kasper.streams.errors import BrokerUnavailable, TopicError
from kasper.streams.settings import KafkaSettings

_TOPIC_ALREADY_EXISTS = 36


def check_reachable(kafka: KafkaSettings) -> None:
    """Fail fast with a clear error when nothing listens at the bootstrap servers.

    aiokafka alone retries for ``request_timeout_ms`` and then raises a bare
    connection error. Only plaintext listeners can be pinged this way.
    """
    if kafka.security_protocol == "PLAINTEXT":
        ping(kafka.bootstrap_servers)


@contextlib.asynccontextmanager
async def admin_client(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    check_reachable(kafka)
    client = AIOKafkaAdminClient(**kafka.client_kwargs())
    try:
        await client.start()
    except KafkaError as exc:
        raise BrokerUnavailable(kafka.bootstrap_servers, str(exc)) from exc
    try:
        yield client
    finally:
        await client.close()


@dataclass(frozen=True)
class TopicState:
    """What the broker says about one topic."""

    name: str
    partitions: int
    configs: dict[str, str]


async def create_topics(
    kafka: KafkaSettings, specs: Iterable[topics.TopicSpec] = topics.CATALOG
) -> dict[str, str]:
    """Create every topic that does not exist yet: ``{name: "created" | "exists"}``.

    Running it twice is fine. An existing topic with a different partition count
    is an error, because keyed state and joins depend on the count.
    """
    specs = list(specs)
    async with admin_client(kafka) as client:
        new = [NewTopic(s.name, s.partitions, 1, topic_configs=s.configs()) for s in specs]
        response = await client.create_topics(new)
        outcome: dict[str, str] = {}
        for name, code, message in response.topic_errors:
            if code == 0:
                outcome[name] = "created"
            elif code == _TOPIC_ALREADY_EXISTS:
                outcome[name] = "exists"
            else:
                raise TopicError(f"cannot create topic {name}: error {code} {message or ''}".strip())
        existing = [s for s in specs if outcome.get(s.name) == "exists"]
        if existing:
            states = await _describe(client, [s.name for s in existing])
            for spec in existing:
                if states[spec.name].partitions != spec.partitions:
                    raise TopicError(
                        f"topic {spec.name} exists with {states[spec.name].partitions} partitions, "
                        f"the catalog says {spec.partitions}"
                    )
        return outcome


async def list_topics(kafka: KafkaSettings) -> list[str]:
    """Names of the topics on the broker, sorted."""
    async with admin_client(kafka) as client:
        return sorted(await client.list_topics())


async def describe_topics(kafka: KafkaSettings, names: list[str]) -> dict[str, TopicState]:
    """Partition count and configs of each named topic."""
    async with admin_client(kafka) as client:
        return await _describe(client, names)


async def _describe(client: AIOKafkaAdminClient, names: list[str]) -> dict[str, TopicState]:
    described = await client.describe_topics(names)
    states: dict[str, TopicState] = {}
    for topic in described:
        if topic["error_code"]:
            raise TopicError(f"cannot describe topic {topic['topic']}: error {topic['error_code']}")
        states[topic["topic"]] = TopicState(topic["topic"], len(topic["partitions"]), {})
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    for response in await client.describe_configs(resources):
        for _code, _msg, _type, name, entries in response.resources:
            configs = {entry[0]: entry[1] for entry in entries}
            states[name] = TopicState(name, states[name].partitions, configs)
    return states


class LagProbe:
    """Consumer-group lag from the broker: log-end offset minus the group's committed offset.

    Measured from the committed offsets (not a member's position), so a stalled
    or dead consumer shows as growing lag. Only catalog topics count (Faust's
    internal topics are left out); a catalog partition of a topic the group
    commits to, with no commit yet, counts from its beginning. Clients are kept
    between calls and dropped on any error, to be reopened on the next call.
    """

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def measure(self, group: str) -> dict[tuple[str, int], int]:
        """``{(topic, partition): lag}`` for ``group``; empty when it committed nothing."""
        try:
            return await self._measure(group)
        except BaseException:
            await self.close()
            raise

    async def _measure(self, group: str) -> dict[tuple[str, int], int]:
        if self._admin is None or self._consumer is None:
            self._admin = AIOKafkaAdminClient(**self.kafka.client_kwargs())
            await self._admin.start()
            self._consumer = AIOKafkaConsumer(**self.kafka.client_kwargs(), enable_auto_commit=False)
            await self._consumer.start()
        every = [TopicPartition(s.name, p) for s in topics.CATALOG for p in range(s.partitions)]
        committed = await self._admin.list_consumer_group_offsets(group, partitions=every)
        names = {tp.topic for tp, meta in committed.items() if meta.offset >= 0}
        tps = [tp for tp in every if tp.topic in names]
        if not tps:
            return {}
        ends = await self._consumer.end_offsets(tps)
        starts = await self._consumer.beginning_offsets(tps)
        lag = {}
        for tp in tps:
            offset = committed[tp].offset if tp in committed and committed[tp].offset >= 0 else starts[tp]
            lag[(tp.topic, tp.partition)] = max(0, ends[tp] - offset)
        return lag

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()
