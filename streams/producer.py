"""Sending records: encode with the codec, key by the catalog, produce with aiokafka.

``Producer`` is the async building block every stage and command uses;
``KasperClient`` wraps it for synchronous upstream services (one call, one event).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from kasper.schemas import Codec
from kasper.streams import records, topics
from kasper.streams.admin import check_reachable
from kasper.streams.errors import BrokerUnavailable, StreamsError
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import Settings, get_settings


def message_key(spec: topics.TopicSpec, record: Mapping[str, Any]) -> bytes | None:
    """The Kafka key of ``record`` on ``spec``'s topic: its key field, as bytes."""
    value = record.get(spec.key)
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()


class Producer:
    """Async producer of Avro records onto catalog topics.

    ``send`` returns once the record is in the client's batch; ``flush`` (or
    leaving the ``async with`` block) waits for the broker's acks.
    """

    def __init__(self, settings: Settings | None = None, codec: Codec | None = None,
                 *, linger_ms: int = 5, acks: str | int | None = None) -> None:
        self.settings = settings or get_settings()
        self.codec = codec or codec_from_settings(self.settings.registry)
        # acks, idempotence and backoff: the settings' (KASPER_ACKS, KASPER_ENABLE_IDEMPOTENCE).
        self._options = dict(self.settings.kafka.producer_kwargs(), linger_ms=linger_ms)
        if acks is not None:  # a benchmark's override
            self._options["acks"] = acks
        self._producer: AIOKafkaProducer | None = None
        self._pending: list[asyncio.Future[Any]] = []

    async def start(self) -> "Producer":
        kafka = self.settings.kafka
        check_reachable(kafka)
        producer = AIOKafkaProducer(
            **kafka.client_kwargs(), **self._options, max_request_size=16 * 1024 * 1024,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise BrokerUnavailable(kafka.bootstrap_servers, str(exc)) from exc
        self._producer = producer
        return self

    async def stop(self) -> None:
        if self._producer is None:
            return
        try:
            await self.flush()
        finally:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> "Producer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def encode(self, spec: topics.TopicSpec, record: Mapping[str, Any]) -> bytes:
        return self.codec.encode(spec.record, record, subject=f"{spec.name}-value")

    async def send(self, spec: topics.TopicSpec, record: Mapping[str, Any]) -> None:
        """Encode and enqueue one record; errors surface here or at :meth:`flush`."""
        await self.send_raw(spec.name, self.encode(spec, record), message_key(spec, record))

    async def send_raw(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        if self._producer is None:
            raise StreamsError("the producer is not started (use `async with Producer() as p`)")
        future = await self._producer.send(topic, value, key=key)
        self._pending.append(future)
        if len(self._pending) >= 10_000:
            await self.flush()

    async def flush(self) -> None:
        """Wait until the broker acknowledged everything sent so far."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        results = await asyncio.gather(*pending, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise StreamsError(
                f"{len(failures)} of {len(pending)} records were not acknowledged: {failures[0]!r}"
            ) from failures[0]

    async def send_prompt(self, **fields: Any) -> str:
        """Send one prompt event (ids and timestamps filled in); returns its ``prompt_id``."""
        record = records.new_prompt(fields)
        await self.send(topics.PROMPTS, record)
        return record["prompt_id"]

    async def send_feedback(self, **fields: Any) -> str:
        """Send one feedback event; returns its ``feedback_id``."""
        record = records.new_feedback(fields)
        await self.send(topics.FEEDBACK, record)
        return record["feedback_id"]


class KasperClient:
    """Synchronous client for upstream services: ``client.send_prompt(domain=..., ...)``.

    Runs an event loop in a daemon thread so callers need no asyncio. Each send
    waits for the broker's ack, so a returned id is durable.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="kasper-client")
        self._thread.start()
        try:
            self._producer = self._call(self._start(settings))
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise

    async def _start(self, settings: Settings | None) -> Producer:
        return await Producer(settings, linger_ms=0).start()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _send_and_flush(self, method: str, fields: dict[str, Any]) -> str:
        ident = await getattr(self._producer, method)(**fields)
        await self._producer.flush()
        return ident

    def send_prompt(self, **fields: Any) -> str:
        """Validate, send and await one prompt event; returns its ``prompt_id``."""
        return self._call(self._send_and_flush("send_prompt", fields))

    def send_feedback(self, **fields: Any) -> str:
        """Validate, send and await one feedback event; returns its ``feedback_id``."""
        return self._call(self._send_and_flush("send_feedback", fields))

    def close(self) -> None:
        if self._loop.is_running():
            self._call(self._producer.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> "KasperClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
