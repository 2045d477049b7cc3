"""The window loop: approved + feedback topics -> window files -> TrainingWindow -> offsets.

When a window closes, the steps run in this order; what a crash right after
each step leaves, and how a restart repairs it:

1. build the content in memory (pure, see :mod:`kasper.trainer.dataset`);
2. write the files: temporary directory, fsync, rename.
   Crash: the directory exists, the state store does not know it. At restart it
   is moved to ``.orphans/``; its records were never committed, so they are
   read again and windowed again (same offsets give the same id and bytes).
3. record the window in the state store: the ids of its records (dedupe and
   joins) and the encoded TrainingWindow event, one sqlite transaction.
   Crash: at restart the event is published from the store; the redelivered
   records are found in the store and skipped, so none is windowed twice.
4. publish the TrainingWindow event and wait for the broker's ack.
   Crash: the state still says "unpublished", so the event is sent again at
   restart; the training loop is idempotent per window id.
5. mark the window published in the state store.
6. release the window's offsets and commit.
   Crash: the records are redelivered and skipped as already windowed.

A close on request (``close_now``: the ``train`` role sets it on SIGUSR1) closes every
open window, reason ``manual``, once the loop has read what the topics held when the
request came: once its positions reach the end offsets taken at the request, and a
poll returns nothing or one more poll has gone by (on a busy topic a poll is never
empty). The extra poll is for the embedded broker, which reports a partition's end as
its last batch's first offset + 1: the rest of that batch comes with the next poll.

So a record is never lost (its offset is committed only after steps 2-4) and
never in two windows (the state store is written before anything announces or
commits). A window's content depends only on its records, never on timing.

Error policy: an undecodable message (a thumbs value outside the Rating enum
among them) or unusable feedback (stars outside 1-5, no signal, a reused
feedback id, an insight that never came) goes to the DLQ with its reason (the
DLQ send is acked before the offset past it is committed) and the loop goes
on; feedback over the per-user cap is counted (``over_user_cap``) and left out; a broker or state-store error stops the loop (and the worker); the records
of open windows are simply read again after the restart.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

from aiokafka import TopicPartition

from kasper.schemas import Codec
from kasper.schemas.errors import Where
from kasper.streams import topics
from kasper.streams.consumer import decode_message
from kasper.streams.logs import get_logger
from kasper.streams.producer import Producer
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import Settings
from kasper.streams.stage import Stage

from . import metrics
from .config import TrainerConfig
from .dataset import Source
from .errors import FeedbackError
from .files import remove_leftovers, window_event, write_window
from .kafka_io import start_group_consumer
from .state import TrainerState
from .windows import ClosedWindow, Windower

log = get_logger(__name__)
STAGE = "train"
_KINDS = {topics.APPROVED.name: ("approved", "ApprovedInsight"),
          topics.FEEDBACK.name: ("feedback", "Feedback")}


class WindowLoop:
    """Consumes approved insights and feedback, writes and announces windows."""

    def __init__(self, settings: Settings, config: TrainerConfig, codec: Codec | None = None) -> None:
        self.settings, self.config = settings, config
        self.codec = codec or codec_from_settings(settings.registry)
        self.state = TrainerState(config.state_path)
        self.windower = Windower(config.window, self.state, self._decode_stored,
                                 feedback_per_user=settings.trainer.feedback_per_user,
                                 idle_s=settings.trainer.idle_s)
        self.producer = Producer(settings, self.codec, linger_ms=5)
        self.stage = Stage(STAGE, topics.APPROVED, self.codec, self.producer.send_raw)
        self._committed: dict[tuple[str, int], int] = {}
        self._consumer: Any = None
        self._close_at: dict[TopicPartition, int] | None = None  # a close on request, pending
        self._close_ready = False  # its end offsets were reached at the poll before

    def _decode_stored(self, value: bytes, where: Where) -> dict[str, Any]:
        return self.codec.decode(value, expect="ApprovedInsight", where=where).record

    async def run(self, stop: asyncio.Event, close_now: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set; commits what is safe before returning.

        ``close_now``: set it to close every open window once what the topics hold is read
        (the loop clears it when it takes the request).
        """
        await self.producer.start()
        try:
            await self._recover()
            self._consumer = await start_group_consumer(
                self.settings.kafka, _KINDS, self.config.windows_group, self._on_revoked)
            try:
                await self._loop(stop, close_now or asyncio.Event())
            finally:
                await self._commit()
                await self._consumer.stop()
        finally:
            await self.producer.stop()
            self.state.close()

    async def _recover(self) -> None:
        moved = remove_leftovers(self.config.windows_dir, self.state.window_ids())
        if moved:
            log.warning("unannounced windows moved to .orphans (their records will be read again)",
                        windows=moved)
        for window_id, event in self.state.unpublished():
            log.info("announcing a window written before a restart", window_id=window_id)
            await self._publish(window_id, event)
            self.state.mark_published(window_id)
        retention_ms = int((time.time() - self.config.window.join_retention_s) * 1000)
        self.state.prune(retention_ms)

    async def _loop(self, stop: asyncio.Event, close_now: asyncio.Event) -> None:
        while not stop.is_set():
            if close_now.is_set() and self._consumer.assignment():  # taken once partitions are assigned
                close_now.clear()
                self._close_at = await self._consumer.end_offsets(list(self._consumer.assignment()))
                log.info("closing every open window once the records up to now are read",
                         open=self.windower.open_tiers())
            batch = await self._consumer.getmany(timeout_ms=int(self.config.tick_s * 1000),
                                                 max_records=500)
            for tp in sorted(batch, key=lambda t: (t.topic, t.partition)):
                for message in batch[tp]:
                    await self._take(message)
                    await self._close_due()
            for source, error in self.windower.expire():
                metrics.FEEDBACK_EXPIRED.inc()
                await self._dead_letter(source.topic, source.partition, source.offset,
                                        source.value, None, error, "feedback")
            await self._close_due()
            await self._close_on_request(caught_up=not batch)
            await self._commit()
            for tier, window in self.windower.windows.items():
                metrics.OPEN_WINDOW_RECORDS.labels(tier).set(len(window.sources))

    async def _close_on_request(self, caught_up: bool) -> None:
        if self._close_at is None or not await self._reached(self._close_at):
            return
        if not (caught_up or self._close_ready):
            self._close_ready = True  # the rest of the last batch comes with the next poll
            return
        self._close_at, self._close_ready = None, False
        closed = []
        for tier in self.windower.open_tiers():
            window = self.windower.close(tier, "manual")
            await self._close(window)
            closed.append(window.content.window_id)
        # `kasper up` reads this line: every window the request asked for is announced.
        log.info("closed every open window on request", windows=closed)

    async def _reached(self, ends: dict[TopicPartition, int]) -> bool:
        assigned = self._consumer.assignment()
        for tp, end in ends.items():
            if tp in assigned and await self._consumer.position(tp) < end:
                return False
        return True

    async def _take(self, message: Any) -> None:
        kind, record_name = _KINDS[message.topic]
        received = decode_message(self.codec, message, expect=record_name)
        if received.error is not None:
            await self._dead_letter(message.topic, message.partition, message.offset,
                                    received.value, message.key, received.error, kind)
            return
        source = Source(message.topic, message.partition, message.offset, kind,
                        received.record, received.value)
        try:
            outcome = self.windower.offer(source)
        except FeedbackError as exc:
            await self._dead_letter(message.topic, message.partition, message.offset,
                                    received.value, message.key, exc, kind)
            return
        metrics.RECORDS.labels(kind, outcome).inc()
        for _ in self.windower.capped:
            metrics.RECORDS.labels("feedback", "over_user_cap").inc()
        self.windower.capped.clear()

    async def _dead_letter(self, topic: str, partition: int, offset: int, value: bytes,
                           key: bytes | None, error: BaseException, kind: str) -> None:
        await self.stage.dead_letter(error, value, key, Where(topic, partition, offset))
        metrics.RECORDS.labels(kind, "dead_lettered").inc()
        self.windower.skip(topic, partition, offset)

    async def _close_due(self) -> None:
        for tier, reason in self.windower.due():
            await self._close(self.windower.close(tier, reason))

    async def _close(self, closed: ClosedWindow) -> None:
        content = closed.content
        try:
            directory = await asyncio.to_thread(write_window, content, self.config.windows_dir)
        except OSError as exc:  # disk full, read-only: an outage, not this window's fault
            log.error("window files not written; its offsets stay uncommitted and the worker "
                      "stops (a restart rebuilds the window)", window_id=content.window_id,
                      tier=content.tier, directory=str(self.config.windows_dir), error=str(exc))
            raise
        self._failpoint("files")
        event = window_event(content, directory, opened_at=_utc(closed.opened_at),
                             closed_at=_utc(closed.closed_at), close_reason=closed.reason,
                             created_at=datetime.now(timezone.utc), over_user_cap=closed.over_cap,
                             comments_redacted=closed.comments_redacted)
        encoded = self.codec.encode("TrainingWindow", event,
                                    subject=f"{topics.TRAINING_WINDOWS.name}-value")
        self.state.record_window(content.window_id, content.tier, str(directory), encoded,
                                 closed.approved, closed.feedback_ids, int(time.time() * 1000))
        self._failpoint("state")
        await self._publish(content.window_id, encoded)
        self._failpoint("event")
        self.state.mark_published(content.window_id)
        self.windower.release(closed)
        await self._commit()
        metrics.WINDOWS.labels(content.tier, closed.reason).inc()
        for split in ("train", "valid", "test"):
            metrics.WINDOW_EXAMPLES.labels(content.tier, split).inc(content.counts[f"sft_{split}"])
        log.info("window closed", window_id=content.window_id, tier=content.tier,
                 reason=closed.reason, counts=content.counts, directory=str(directory),
                 feedback_over_user_cap=closed.over_cap, feedback_comments_redacted=closed.comments_redacted)

    async def _publish(self, window_id: str, encoded: bytes) -> None:
        await self.producer.send_raw(topics.TRAINING_WINDOWS.name, encoded, window_id.encode())
        await self.producer.flush()

    async def _commit(self) -> None:
        if self._consumer is None:
            return
        offsets = {tp: o for tp, o in self.windower.commit_offsets().items()
                   if self._committed.get(tp) != o}
        if not offsets:
            return
        await self.producer.flush()  # dead letters first: committing past them must not lose them
        assigned = self._consumer.assignment()
        commit = {TopicPartition(*tp): o for tp, o in offsets.items() if TopicPartition(*tp) in assigned}
        if commit:
            await self._consumer.commit(commit)
            self._committed.update({(tp.topic, tp.partition): o for tp, o in commit.items()})

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Commit what is already safe, then forget open windows: after the rebalance
        # every assigned partition restarts from its committed offset.
        await self._commit()
        self.windower.reset()
        self._committed.clear()

    def _failpoint(self, step: str) -> None:
        if self.config.crash_after == step:
            print(f"kasper trainer: failpoint: exiting after {step}", file=sys.stderr, flush=True)
            os._exit(70)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


async def run_windows(settings: Settings, config: TrainerConfig, stop: asyncio.Event,
                      codec: Codec | None = None, close_now: asyncio.Event | None = None) -> None:
    """Run the window loop until ``stop`` is set (see the module docstring)."""
    await WindowLoop(settings, config, codec).run(stop, close_now)
