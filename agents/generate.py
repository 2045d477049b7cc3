"""The generate role: prompts -> insights (+ token deltas), with hot-swapped model versions.

A thin Faust agent around :class:`kasper.agents.generation.Generator`: it takes
micro-batches of up to ``batch_size`` prompts (or what arrived within
``batch_window_s``), generates them off the event loop (the MLX thread, or the
HTTP client's tasks), and sends one Insight per prompt in the batch's order.
Two micro-batches generate at once (:class:`Pipeline`): the MLX engine admits the
next batch's prompts into slots the last batch's early finishers free. An insight
final on its first try is sent as soon as its row is done, so grading, judging and
a revision need not wait for the batch's longest row; the rest (redrawn, retried,
dead-lettered) follow once the batch is done, and batches are still settled and
acked one after the other, in arrival order, once all their outputs are sent.
With ``stream_tokens`` the text deltas go to the tokens topic while it is written.

Model versions: a task reads the whole models topic (every partition, no consumer
group, so every worker sees every version) and offers each event to the
:class:`VersionSwitcher`; the agent applies them between batches. An announced
adapter path must lie inside the adapters directory (``ModelSettings.adapters_dir``). The first batch
waits (up to ``models_wait_s``) until the topic has been read to its end, so a
restarted worker starts on the promoted adapters, not the base model.

Written insights: a third task reads the insights topic back into a :class:`Written`
memory (``agents/written.py``); the first batch waits until it is read, and a prompt
attempt whose insight is already there is acked without generating it again (a
redelivery, possibly after a hot-swap that would write another text).

Few-shot exemplars: another task reads the approved topic from its beginning (no
consumer group) and offers each approval to the :class:`ExemplarBook`, so a prompt
is shown the best approved insights of its domain (``agents/quality/exemplars.py``).

Error policy (details in ``generation.py`` and ``runtime/hot_swap.py``):

- undecodable prompt, rejected prompt, generation failing twice -> DLQ, batch goes on;
- a model version that cannot be loaded -> DLQ (the ModelVersion), tier keeps its model;
- ``BackendUnavailable`` or any unexpected error -> :func:`fail_fast`: the worker
  exits (70) without committing; the batch is generated again after a restart.
  Events are taken with ``noack_take`` and acked only after their outputs were
  sent, so a worker stopped mid-batch (SIGTERM) never commits unsent prompts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kasper.agents.runtime.backend import Backend
from kasper.agents.runtime.hot_swap import VersionSwitcher, publish_serving
from kasper.agents.generation import QUEUE_DEPTH, Generator, Outcome
from kasper.agents.quality.exemplars import ExemplarBook
from kasper.agents.written import Written, follow_written, to_generate
from kasper.schemas.errors import Where
from kasper.streams import records, topics
from kasper.streams.app import topic
from kasper.streams.consumer import decode_message, open_consumer
from kasper.streams.logs import get_logger
from kasper.streams.settings import GenerateSettings, Settings
from kasper.streams.stage import Stage, fail_fast, where_of

STAGE = "generate"
# Micro-batches generating at once (see Pipeline).
PIPELINE_DEPTH = 2
log = get_logger(__name__)


def make_backend(settings: GenerateSettings, worker_settings: Settings) -> Backend:
    """The backend named by ``settings.backend``."""
    # Imported on demand: each backend pulls in its own client (MLX or openai), and a
    # worker needs only the one it is configured for.
    if settings.backend == "openai":
        from kasper.agents.runtime.openai_backend import OpenAIBackend

        return OpenAIBackend(worker_settings.generate_openai)
    # Deferred too: loads MLX and the model code.
    from kasper.agents.runtime.mlx_backend import MLXBackend

    return MLXBackend(worker_settings.model, settings)


class DeltaPump:
    """Token deltas from the generation thread -> TokenDelta records on the tokens topic."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._drain())

    def __call__(self, insight_id: str, prompt_id: str, index: int, delta: str, done: bool) -> None:
        record = {"insight_id": insight_id, "prompt_id": prompt_id, "index": index,
                  "delta": delta, "done": done, "created_at": records.now()}
        self.loop.call_soon_threadsafe(self.queue.put_nowait, record)

    async def _drain(self) -> None:
        while (record := await self.queue.get()) is not None:
            await self.stage.emit(topics.TOKENS, record)

    async def close(self) -> None:
        """Send what is queued (the thread is done calling us), then stop."""
        # Through the loop's callbacks, behind the deltas scheduled before it (some are
        # scheduled from this thread just before the close).
        self.loop.call_soon(self.queue.put_nowait, None)
        await self.task


async def handle_batch(stage: Stage, generator: Generator, events: list[Any],
                       stream_tokens: bool = False, written: Written | None = None,
                       previous: asyncio.Future | None = None) -> None:
    """Decode, generate and send one micro-batch: an Insight or a DLQ record per event,
    none for a prompt attempt already in ``written`` (its insight is on Kafka).

    With ``previous`` (the batch before this one, still running), the outputs are sent
    only once that batch has sent and settled its own.
    """
    decoded = []
    for event in events:
        where = where_of(event)
        record = await stage.receive(event.value, event.key, where)
        if record is not None:
            decoded.append((event, record, event.value or b"", where))
    if written is not None:
        keep = to_generate(written, [d[1] for d in decoded], [d[3] for d in decoded])
        decoded = [d for d, fresh in zip(decoded, keep) if fresh]
    pump = DeltaPump(stage) if stream_tokens else None
    sends: list[asyncio.Task] = []

    def claim(insight: dict[str, Any]) -> bool:
        # A redelivered prompt attempt also in the other batch in flight: the first done writes it.
        ident = insight["insight_id"]
        if written is None:
            return True
        if ident in written:
            return False
        written.add(ident)
        return True

    def send_now(outcome: Outcome) -> None:
        if claim(outcome.insight):
            sends.append(asyncio.ensure_future(stage.emit(topics.INSIGHTS, outcome.insight)))

    try:
        outcomes = await generator.run([d[1] for d in decoded], pump, on_insight=send_now)
    finally:
        if pump is not None:
            await pump.close()
        await asyncio.gather(*sends)  # a failed send stops the worker (SendFailed), unacked
    rest = [(d, o) for d, o in zip(decoded, outcomes) if not o.early]
    if previous is not None:
        # Its failure stops the worker (the acker's fail_fast): nothing to send here then.
        await asyncio.wait([previous])
        if written is not None:
            # A redelivered prompt attempt in both batches: the previous one wrote it.
            keep = to_generate(written, [d[1] for d, _ in rest], [d[3] for d, _ in rest])
            rest = [r for r, k in zip(rest, keep) if k]
    for (event, record, value, where), outcome in rest:
        if outcome.insight is not None:
            if claim(outcome.insight):  # not if the batch beside this one sent it early
                await stage.emit(topics.INSIGHTS, outcome.insight)
        else:
            await stage.dead_letter(outcome.error, value, event.key, where,
                                    attempt=record.get("attempt") or 0)
    # The broker acknowledged every output (or SendFailed stops the worker) before the
    # batch's events are acked.
    await stage.settle()


class Models:
    """The version switcher's batch lock, shared by the pipelined batches.

    The first batch in flight takes the lock (applying queued versions); batches that
    start while it is held join it, unless a version is queued: then the next batch
    waits until the batches in flight are done, and takes the lock again, which applies
    the version between batches. A batch's prompts are all generated by the models that
    served when it started.
    """

    def __init__(self, switcher: VersionSwitcher) -> None:
        self.switcher = switcher
        self.count = 0
        self._held: Any = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def enter(self) -> None:
        while self.count and self.switcher.pending:
            await self._idle.wait()
        if not self.count:
            self._held = self.switcher.batch()
            await self._held.__aenter__()
            self._idle.clear()
        self.count += 1

    async def leave(self) -> None:
        self.count -= 1
        if not self.count:
            held, self._held = self._held, None
            self._idle.set()
            await held.__aexit__(None, None, None)


class Pipeline:
    """Up to ``depth`` micro-batches generating at once; each is acked in arrival order
    once its outputs are sent and settled (see :func:`register`)."""

    def __init__(self, models: Models, ack: Any, depth: int = PIPELINE_DEPTH) -> None:
        self.models, self._ack = models, ack
        self.room = asyncio.Semaphore(depth)
        self.done: asyncio.Queue[tuple[list[Any], asyncio.Task] | None] = asyncio.Queue()
        self.last: asyncio.Task | None = None

    async def start(self, events: list[Any], handle: Any) -> None:
        """Start ``handle(previous)`` for ``events`` once a place in the pipeline is free."""
        await self.room.acquire()
        await self.models.enter()
        self.last = task = asyncio.create_task(self._run(handle, self.last))
        self.done.put_nowait((events, task))

    async def _run(self, handle: Any, previous: asyncio.Task | None) -> None:
        try:
            await handle(previous)
        finally:
            await self.models.leave()

    async def acker(self) -> None:
        """Await the batches in order, ack each one's events; stop the worker on a failure."""
        while (item := await self.done.get()) is not None:
            events, task = item
            try:
                await task
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                fail_fast(STAGE, exc)
            for event in events:
                await self._ack(event)
            self.room.release()

    async def cancel(self) -> None:
        """Stop the batches in flight (their events are not acked)."""
        while not self.done.empty():
            item = self.done.get_nowait()
            if item is not None:
                item[1].cancel()


def queue_depth(app: Any, events: list[Any]) -> int:
    """Messages behind this batch on the partitions it came from (highwater - offset)."""
    last: dict[Any, int] = {}
    for event in events:
        tp = event.message.tp
        last[tp] = max(last.get(tp, -1), event.message.offset)
    depth = 0
    for tp, offset in last.items():
        try:
            depth += max(0, app.consumer.highwater(tp) - offset - 1)
        except Exception:  # no highwater known yet: this gauge is best effort
            continue
    return depth


async def follow_versions(ctx: Any, switcher: VersionSwitcher) -> None:
    """Offer every ModelVersion on the models topic to ``switcher``, forever."""
    async with open_consumer(ctx.settings.kafka, topics.MODELS.name, from_beginning=True) as consumer:
        assigned = list(consumer.assignment())
        ends = await consumer.end_offsets(assigned)
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for message in messages:
                    _offer(ctx, switcher, message)
            if not switcher.caught_up.is_set():
                positions = [await consumer.position(tp) for tp in assigned]
                if all(pos >= ends[tp] for pos, tp in zip(positions, assigned)):
                    switcher.caught_up.set()
            # Until then, only the latest version per tier is kept, for the first batch.
            if switcher.caught_up.is_set():
                await switcher.apply()


async def follow_approvals(ctx: Any, book: ExemplarBook) -> None:
    """Offer every ApprovedInsight, from the topic's beginning, to ``book``, forever."""
    async with open_consumer(ctx.settings.kafka, topics.APPROVED.name, from_beginning=True) as consumer:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for message in messages:
                    received = decode_message(ctx.codec, message, expect=topics.APPROVED.record)
                    # Not ours to dead-letter: the approved topic's own consumers do.
                    if received.record is not None and book.offer(received.record):
                        log.info("exemplars changed", domain=received.record["insight"]["domain"])


def _offer(ctx: Any, switcher: VersionSwitcher, message: Any) -> None:
    received = decode_message(ctx.codec, message, expect=topics.MODELS.record)
    if received.record is None:  # a foreign record on the models topic: not ours to dead-letter twice
        log.error("undecodable model version skipped", where=str(received.where),
                  error=str(received.error)[:300])
        return
    switcher.offer(received.record, received.value, received.key, received.where)


def register(app: Any, ctx: Any) -> None:
    """Declare the generate agent and the model-versions follower on ``app``.

    Worker options (``ctx.options``) named like :class:`GenerateSettings` fields
    override the environment, e.g. ``build_app(["generate"], stream_tokens=True)``.
    """
    settings = ctx.settings.generate.with_options(ctx.options)
    stage = Stage(STAGE, topics.PROMPTS, ctx.codec, ctx.send)
    backend = make_backend(settings, ctx.settings)
    book = ExemplarBook(settings.exemplars)
    generator = Generator(backend, settings, book)
    written = Written(settings.written_memory)

    async def dead_letter(exc: BaseException, value: bytes, key: bytes | None, where: Where) -> None:
        await stage.dead_letter(exc, value, key, where)

    # An announced adapter path comes from a topic: only versions under the adapters
    # directory (where the trainer writes them) may be loaded.
    switcher = VersionSwitcher(backend, dead_letter, ctx.settings.model.adapters_dir)

    @app.agent(topic(app, topics.PROMPTS), name="kasper.generate")
    async def generate(stream: Any) -> None:
        try:
            await _start(backend, switcher, settings, written)
        except Exception as exc:
            fail_fast(STAGE, exc)
        # Two micro-batches in flight: the next one's prompts take the slots the last
        # one's early finishers free (the engine's continuous batching), while outputs
        # are still sent, settled and acked batch by batch, in order.
        pipeline = Pipeline(Models(switcher), stream.ack)
        acker = asyncio.create_task(pipeline.acker())
        try:
            async for events in stream.noack_take(settings.batch_size, within=settings.batch_window_s):
                QUEUE_DEPTH.set(queue_depth(app, events))
                await pipeline.start(events, lambda previous, events=events: handle_batch(
                    stage, generator, events, settings.stream_tokens, written, previous))
        except asyncio.CancelledError:
            _cancel(backend)
            await pipeline.cancel()
            acker.cancel()
            raise
        except Exception as exc:
            fail_fast(STAGE, exc)

    @app.task
    async def model_versions() -> None:
        while True:
            try:
                await follow_versions(ctx, switcher)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away: keep serving, read again soon
                switcher.caught_up.set()
                log.error("model-versions follower failed, retrying in 5 s", error=str(exc)[:300])
                await asyncio.sleep(5)

    @app.task
    async def written_insights() -> None:
        await follow_written(ctx, written)

    @app.task
    async def exemplars() -> None:
        while settings.exemplars > 0:
            try:
                await follow_approvals(ctx, book)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away: keep the exemplars, read again soon
                log.error("approvals follower failed, retrying in 5 s", error=str(exc)[:300])
                await asyncio.sleep(5)

    @app.on_before_shutdown.connect
    async def close_backend(app: Any, **_: Any) -> None:
        await backend.close()


async def _start(backend: Backend, switcher: VersionSwitcher, settings: GenerateSettings,
                 written: Written) -> None:
    await backend.start()
    # Unbounded, as the router's: the follower marks it ready when it fails.
    await written.ready.wait()
    try:
        await asyncio.wait_for(switcher.caught_up.wait(), settings.models_wait_s)
    except asyncio.TimeoutError:
        log.warning("models topic not read to its end in time: starting on the current models",
                    wait_s=settings.models_wait_s)
    switcher.ready.set()
    for tier in ("lite", "standard", "pro"):
        publish_serving(tier, None, backend.serving(tier))
    log.info("generate ready", backend=backend.name, written_known=len(written),
             serving={t: backend.serving(t).version_key for t in ("lite", "standard", "pro")})


def _cancel(backend: Backend) -> None:
    cancel = getattr(backend, "cancel", None)
    if cancel is not None:
        cancel()
