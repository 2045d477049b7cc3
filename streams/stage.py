"""One record through one stage: decode, process, send the outputs, or dead-letter it.

Every agent is three lines around :meth:`Stage.handle`; the error policy lives
here once:

- a value that does not decode as the source's record type -> DLQ, keep going;
- a ``KasperError`` from the processing function (bad input it recognised) -> DLQ;
- any other exception is a bug or an outage the stage could not ride out: the
  worker exits at once with ``EXIT_UNEXPECTED`` (70) and commits nothing, so the
  record, and every record after it, is processed again after a restart. Letting
  Faust restart the agent instead would commit the offsets of the batch it was
  in, and lose records.
- every output (a DLQ letter too) is awaited until the broker acknowledged it
  before the batch's input offsets are acked: a send the client gave up on is
  sent again up to ``KASPER_SEND_RETRIES`` times (a broker away for a while), and
  one still undelivered, or refused for good, stops the worker the same way
  (exit 70, nothing committed). A flush would not do: it does not report which
  records failed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiokafka.errors import KafkaError, KafkaTimeoutError

from kasper.schemas import Codec
from kasper.schemas.errors import CodecError, KasperError, Where
from kasper.streams import records, topics
from kasper.streams.errors import StreamsError
from kasper.streams.logs import get_logger
from kasper.streams.metrics import DEAD_LETTERS, DECODE_ERRORS, RECORDS_IN, RECORDS_OUT, STAGE_SECONDS
from kasper.streams.producer import message_key
from kasper.streams.settings import get_settings

Output = tuple[topics.TopicSpec, Mapping[str, Any]]
Sender = Callable[[str, bytes, bytes | None], Awaitable[Any]]
Process = Callable[[dict[str, Any]], Awaitable[Iterable[Output]]]

log = get_logger(__name__)
EXIT_UNEXPECTED = 70  # EX_SOFTWARE
BATCH_SIZE = 500
BATCH_WITHIN_S = 0.05
MAX_SEND_BACKOFF_S = 30.0
PENDING_COMPACT_AT = 10_000


class SendFailed(StreamsError):
    """An output the broker did not acknowledge, after the stage's own re-sends."""


def resendable(error: BaseException) -> bool:
    """A delivery failure worth sending again: the client's own retries ran out of time
    (``KafkaTimeoutError``) or the broker said to retry; not a refusal (too large, ...)."""
    return isinstance(error, KafkaTimeoutError) or (isinstance(error, KafkaError) and error.retriable)


def _delivered(sent: Awaitable[Any]) -> bool:
    return isinstance(sent, asyncio.Future) and sent.done() and not sent.cancelled() \
        and sent.exception() is None


class Stage:
    """The plumbing shared by every stage; ``send`` is the transport (Faust or aiokafka).

    A ``send`` that returns an awaitable (Faust's producer: a future of the broker's
    ack) is awaited by :meth:`settle`; one that returns ``None`` (``Producer.send_raw``)
    leaves delivery to its owner's flush. ``send_retries``: how many times an output
    whose delivery failed is sent again (default ``KASPER_SEND_RETRIES``).
    """

    def __init__(self, name: str, source: topics.TopicSpec, codec: Codec, send: Sender,
                 send_retries: int | None = None) -> None:
        self.name = name
        self.source = source
        self.codec = codec
        self._send = send
        self.send_retries = get_settings().kafka.send_retries if send_retries is None else send_retries
        self._pending: list[tuple[str, bytes, bytes | None, Awaitable[Any]]] = []

    async def _transmit(self, topic: str, value: bytes, key: bytes | None) -> None:
        sent = await self._send(topic, value, key)
        if inspect.isawaitable(sent):
            self._pending.append((topic, value, key, sent))
            if len(self._pending) >= PENDING_COMPACT_AT:
                # A caller that settles seldom: forget the delivered ones, keep the rest.
                self._pending = [out for out in self._pending if not _delivered(out[3])]

    async def settle(self) -> None:
        """Return once the broker acknowledged every output sent so far.

        A failed one is sent again (1, 2, 4... s apart) up to ``send_retries`` times while
        the failure is :func:`resendable`; then ``SendFailed`` names the topic and error.
        """
        for attempt in range(self.send_retries + 1):
            pending, self._pending = self._pending, []
            if not pending:
                return
            results = await asyncio.gather(*(sent for *_, sent in pending), return_exceptions=True)
            failed = [(out, error) for out, error in zip(pending, results)
                      if isinstance(error, BaseException)]
            if not failed:
                return
            (topic, *_), error = failed[0]
            if isinstance(error, asyncio.CancelledError):
                raise error
            if attempt == self.send_retries or not all(resendable(e) for _, e in failed):
                raise SendFailed(
                    f"stage {self.name}: {len(failed)} of {len(pending)} outputs not acknowledged "
                    f"by the broker after {attempt} re-send(s); first on {topic}: {error!r}"
                ) from error
            backoff = min(MAX_SEND_BACKOFF_S, 2.0 ** attempt)
            log.warning("outputs not acknowledged, sending them again", stage=self.name,
                        topic=topic, failed=len(failed), error=repr(error)[:300],
                        attempt=attempt + 1, backoff_s=backoff)
            await asyncio.sleep(backoff)
            for (topic, value, key, _), _error in failed:
                await self._transmit(topic, value, key)

    def decode(self, value: bytes, where: Where) -> dict[str, Any]:
        """The source record in ``value``; raises ``CodecError`` naming ``where``."""
        return self.codec.decode(value, expect=self.source.record, where=where).record

    async def emit(self, spec: topics.TopicSpec, record: Mapping[str, Any]) -> None:
        value = self.codec.encode(spec.record, record, subject=f"{spec.name}-value")
        await self._transmit(spec.name, value, message_key(spec, record))
        RECORDS_OUT.labels(self.name, spec.name).inc()

    async def dead_letter(self, error: BaseException | str, value: bytes, key: bytes | None,
                          where: Where, attempt: int = 0) -> None:
        """Send ``value`` to the DLQ with the reason; never raises for a bad record."""
        record = records.dead_letter(self.name, error, value, key=key, where=where, attempt=attempt)
        await self.emit(topics.DLQ, record)
        DEAD_LETTERS.labels(self.name, record["error_type"]).inc()
        log.warning("dead-lettered", stage=self.name, where=str(where),
                    error_type=record["error_type"], reason=record["reason"][:500])

    async def receive(self, value: bytes | None, key: bytes | None,
                      where: Where) -> dict[str, Any] | None:
        """Count one message in and decode it; ``None`` when it did not decode (dead-lettered)."""
        RECORDS_IN.labels(self.name, self.source.name).inc()
        try:
            return self.decode(value or b"", where)
        except CodecError as exc:
            DECODE_ERRORS.labels(self.source.name, type(exc).__name__).inc()
            await self.dead_letter(exc, value or b"", key, where)
            return None

    async def handle(self, value: bytes | None, key: bytes | None, where: Where,
                     process: Process) -> bool:
        """Run one message through ``process``; ``False`` when it was dead-lettered."""
        record = await self.receive(value, key, where)
        if record is None:
            return False
        value = value or b""
        started = time.perf_counter()
        try:
            outputs = list(await process(record))
        except KasperError as exc:
            await self.dead_letter(exc, value, key, where, attempt=record.get("attempt", 0) or 0)
            return False
        finally:
            STAGE_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        for spec, out in outputs:
            await self.emit(spec, out)
        return True

    async def handle_events(self, events: Iterable[Any], process: Process,
                            concurrency: int = 1) -> None:
        """Run a batch of Faust events through :meth:`handle`, up to ``concurrency`` at once.

        Concurrency is for stages that wait on a server (the judge); the batch is
        acked only after all of it is handled and every output acknowledged by the
        broker (:meth:`settle`). Exits on the unexpected and on an undelivered output.
        """
        slots = asyncio.Semaphore(max(1, concurrency))

        async def one(event: Any) -> None:
            async with slots:
                await self.handle(event.value, event.key, where_of(event), process)

        try:
            if concurrency <= 1:
                for event in events:
                    await one(event)
            else:
                await asyncio.gather(*(one(event) for event in events))
            await self.settle()
        except Exception as exc:
            fail_fast(self.name, exc)


def fail_fast(stage: str, exc: BaseException) -> None:
    """Log and end the process without committing offsets (see the module docstring)."""
    log.critical("unexpected error, exiting without commit", stage=stage,
                 error_type=type(exc).__name__, error=str(exc)[:1000], exc_info=exc)
    logging.shutdown()
    os._exit(EXIT_UNEXPECTED)


async def run_agent(stage: Stage, stream: Any, process: Process, *,
                    batch_size: int = BATCH_SIZE, concurrency: int = 1) -> None:
    """The body of a one-in, some-out agent: micro-batches of events through ``process``.

    Faust acks a batch's events only after the batch is handled, and
    :func:`fail_fast` keeps a failed batch from being acked at all.
    """
    async for events in stream.take_events(batch_size, within=BATCH_WITHIN_S):
        await stage.handle_events(events, process, concurrency)


def where_of(event: Any) -> Where:
    """Topic/partition/offset of a Faust event."""
    message = event.message
    return Where(topic=message.topic, partition=message.partition, offset=message.offset)


def faust_sender(app: Any) -> Sender:
    """Send through the Faust app's producer; returns the future of the broker's ack,
    which :meth:`Stage.settle` awaits before the batch's offsets are acked.

    ``app.producer.send`` skips Faust's channel and serializer layers (our values
    are already encoded); it measured several times faster per record than ``app.send``.
    """
    async def send(topic: str, value: bytes, key: bytes | None) -> Any:
        return await app.producer.send(topic, key, value, None, None, None)
    return send
