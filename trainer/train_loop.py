"""The training loop: TrainingWindow events -> LoRA run -> evaluation -> ModelVersion.

One window at a time, in event order. Training runs on the loop's own MLX
thread (:class:`MLXThread`: MLX releases the GIL while it computes, and the
thread is joined before the worker exits), so the event loop keeps the consumer's
heartbeats, the window loop and the Faust worker alive; the consumer's
``max_poll_interval`` is raised so a long run does not cost the group
membership.

Serving first: before each step and before the evaluation the run waits, up to
``KASPER_TRAINER_YIELD_S``, until this worker's generation and judging have
been quiet for a moment (:mod:`kasper.agents.runtime.priority`), so a window
trains in the pipeline's gaps instead of slowing the prompts people wait for.

Order per event: train and record the version (registry), publish the
ModelVersion and wait for the ack, mark it published, commit the event's
offset. A crash anywhere before the commit redelivers the event: a finished
version is found by window id and only (re)published, an interrupted run
resumes from its checkpoint.

Error policy: an undecodable event, a corrupt or empty window go to the DLQ
with the reason (the TrainingWindow bytes are kept there, so the window can be
retrained after a fix) and the loop goes on; a diverged run is a normal,
non-promoted ModelVersion; anything else stops the loop (the event is not
committed and comes again after a restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kasper.agents.runtime.blas import MLXThread
from kasper.agents.runtime.model_store import resolve_model_dir
from kasper.agents.runtime.priority import GATE
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
from .errors import CorruptDatasetError, DatasetError
from .files import manifest_sha256
from .windows import UnsafePathError, window_dir_inside
from .kafka_io import start_group_consumer
from .pipeline import model_version_record, train_window
from .adapters import Registry
from .window_loop import STAGE

log = get_logger(__name__)
_MAX_TRAIN_MS = 6 * 3600 * 1000


class TrainingLoop:
    """Consumes TrainingWindow events and publishes a ModelVersion for each."""

    def __init__(self, settings: Settings, config: TrainerConfig, model_dir: Path | None = None,
                 codec: Codec | None = None) -> None:
        """``model_dir`` None: the configured model, prepared on first use."""
        self.settings, self.config = settings, config
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.codec = codec or codec_from_settings(settings.registry)
        self.producer = Producer(settings, self.codec, linger_ms=0)
        self.stage = Stage(STAGE, topics.TRAINING_WINDOWS, self.codec, self.producer.send_raw)
        self.registry = Registry(config.adapters_dir)
        self.mlx = MLXThread("kasper-train")

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set (a run in progress finishes first)."""
        metrics.report_serving(self.registry)  # survives restarts: the registry is on disk
        await self.producer.start()
        try:
            if self.model_dir is None:
                self.model_dir = await self.mlx.run(resolve_model_dir, self.settings.model)
            consumer = await start_group_consumer(
                self.settings.kafka, [topics.TRAINING_WINDOWS.name], self.config.training_group,
                lambda revoked: None, max_poll_interval_ms=_MAX_TRAIN_MS)
            try:
                while not stop.is_set():
                    batch = await consumer.getmany(timeout_ms=int(self.config.tick_s * 1000),
                                                   max_records=1)
                    for tp, messages in batch.items():
                        for message in messages:
                            await self._handle(message, stop)
                            await consumer.commit({tp: message.offset + 1})
            finally:
                await consumer.stop()
        finally:
            await self.producer.stop()
            await self.mlx.close()

    async def _handle(self, message: Any, stop: asyncio.Event) -> None:
        where = Where(message.topic, message.partition, message.offset)
        received = decode_message(self.codec, message, expect="TrainingWindow")
        if received.error is not None:
            await self.stage.dead_letter(received.error, received.value, message.key, where)
            await self.producer.flush()
            return
        event = received.record
        try:
            # The announced directory must be this window's own under windows_dir.
            directory = window_dir_inside(self.config.windows_dir, event["directory"], event["window_id"])
        except UnsafePathError as exc:
            log.error("window directory refused", window_id=str(event["window_id"])[:80], error=str(exc))
            await self.stage.dead_letter(exc, received.value, message.key, where)
            await self.producer.flush()
            return
        try:
            entry = await self.mlx.run(
                train_window, directory, self.config, self.model_dir,
                tier=event["tier"], manifest_sha256=manifest_sha256(event), should_stop=stop.is_set,
                pause=self._yielder(event["tier"], stop))
        except DatasetError as exc:
            if isinstance(exc, CorruptDatasetError):
                metrics.RUNS.labels(event["tier"], "corrupt").inc()
            log.error("window not trainable", window_id=event["window_id"], error=str(exc))
            await self.stage.dead_letter(exc, received.value, message.key, where)
            await self.producer.flush()
            return
        await self.publish(entry)

    def _yielder(self, tier: str, stop: asyncio.Event) -> Callable[[], None] | None:
        """What the run calls before its plan, each step and its evaluation (on the MLX thread):
        wait for serving to be quiet."""
        limit = self.settings.trainer.yield_s
        if not limit:
            return None

        def pause() -> None:
            waited = GATE.wait_quiet(limit, should_stop=stop.is_set)
            metrics.YIELDED.labels(tier).inc(waited)
            if waited >= limit:
                log.info("training step starts while serving is busy (waited the limit)",
                         tier=tier, waited_s=round(waited, 1))
        return pause

    async def publish(self, entry: dict[str, Any]) -> None:
        """Send the version's ModelVersion (once per version; again only after a crash)."""
        if entry.get("published"):
            return
        await self.producer.send(topics.MODELS, model_version_record(entry))
        await self.producer.flush()
        self.registry.mark_published(entry)


async def run_training(settings: Settings, config: TrainerConfig, stop: asyncio.Event,
                       model_dir: Path | None = None, codec: Codec | None = None) -> None:
    """Run the training loop until ``stop`` is set (see the module docstring)."""
    await TrainingLoop(settings, config, model_dir, codec).run(stop)

