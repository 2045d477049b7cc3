"""Continuous batching for one MLX model: rows are admitted into free slots mid-decode.

Why: the decoding guards end rows early (a loop, a copy, a label), so a batch that
runs until its last row finishes spends its tail with most slots idle. Here a row
that finishes frees its slot at once, and a waiting row takes it after the next
step: it is prefilled (with the engine's prefix cache) and its KV cache is merged
into the running batch's (``decode.Slots.admit``).

How: :meth:`Scheduler.submit` (any thread) queues rows and returns a future of
their outputs, in order; :meth:`Scheduler.drain` (the MLX thread, one at a time)
decodes until nothing is queued or running. Rows submitted while a drain runs join
its batch, so a caller can keep the slots busy across its own batches by
submitting the next one before the last one's tail has finished.

Admission costs a copy of the batch's KV cache (``BatchKVCache.filter`` and
``extend``), so waiting rows are admitted once a few slots are free (an eighth of
the cap) or once every waiting row fits. Which waiting rows go first is
``admission.pick``'s choice: rows that share a prefix with the batch, within a
bound on how long any row is passed over (``affinity=False``: queue order, kept for
comparison). ``continuous=False`` admits only into an empty batch: the static
batches of earlier versions, kept for comparison. While it decodes, the BLAS thread
count follows what other processes leave free (``cores.CoreWatch``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from contextlib import nullcontext
from functools import partial
from typing import Any

from kasper.agents.runtime import admission
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.cores import MACHINE, CoreWatch
from kasper.agents.runtime.decode import Cancelled, EngineStats, Live, OnDelta, OnRow, Row, RowOutput, Slots
from kasper.agents.runtime.priority import GATE

# Live rows per batch: the generate stage's default micro-batch; bigger batches measured
# little faster per token on the CPU (docs/model-runtime.md).
DEFAULT_SLOTS = 32


class Submission:
    """Rows submitted together; ``future`` gets their outputs in order, and ``on_row`` (if
    given) each row's index and output as soon as that row is done (the MLX thread)."""

    def __init__(self, rows: list[Row], on_delta: OnDelta | None, tokenizer: Any,
                 on_row: OnRow | None = None) -> None:
        self.future: Future[list[RowOutput]] = Future()
        self.future.set_running_or_notify_cancel()
        now = time.perf_counter()
        self.on_row = on_row
        self.rows = [Live(row, i, on_delta, partial(self._one_done, i), now, tokenizer)
                     for i, row in enumerate(rows)]
        self.left = len(rows)

    def _one_done(self, index: int) -> None:
        if self.on_row is not None:
            self.on_row(index, self.rows[index].out)
        self.left -= 1
        if not self.left and not self.future.done():
            self.future.set_result([r.out for r in self.rows])

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Scheduler:
    """Admits queued rows into a running batch of at most ``max_slots`` rows (see the module doc)."""

    def __init__(self, engine: Any, max_slots: int = DEFAULT_SLOTS, continuous: bool = True,
                 affinity: bool = True, serving: bool = True) -> None:
        self.engine = engine
        self.max_slots = max(1, max_slots)
        self.continuous = continuous
        self.affinity = affinity
        # False for the trainer's own generation (golden answers): not serving, so a
        # window's training need not wait for it (priority.py).
        self.serving = serving
        self._lock = threading.Lock()
        self._waiting: deque[Live] = deque()
        self._subs: list[Submission] = []
        self._draining = False
        self._cancel = threading.Event()
        self.last_stats = EngineStats()

    def submit(self, rows: list[Row], on_delta: OnDelta | None = None,
               on_row: OnRow | None = None) -> tuple[Future, bool]:
        """Queue ``rows`` (thread-safe); the future of their outputs, and whether the caller
        must start a :meth:`drain` (none is running or about to)."""
        sub = Submission(rows, on_delta, self.engine.tokenizer, on_row)
        if not rows:
            sub.future.set_result([])
            return sub.future, False
        with self._lock:
            self._waiting.extend(sub.rows)
            self._subs.append(sub)
            start = not self._draining
            self._draining = True
        return sub.future, start

    def cancel(self) -> None:
        """Fail every queued and running row with :class:`Cancelled` (thread-safe)."""
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
            draining = self._draining
        for live in waiting:
            self._owner(live).fail(Cancelled("generation cancelled"))
        if draining:
            self._cancel.set()

    def drain(self) -> None:
        """Decode until nothing is queued or running (the MLX thread; one drain at a time)."""
        self.last_stats = stats = EngineStats()
        self._cancel.clear()
        slots = Slots(self.engine)
        # Serving work beside this drain (the judge's batches) is an MLX thread of this
        # process that the watch cannot see in the machine's figures.
        cores = CoreWatch(peers=GATE.others if self.serving else lambda: GATE.active, history=MACHINE)
        stats.threads = cores.threads
        try:
            with GATE.serving() if self.serving else nullcontext():  # training waits meanwhile (priority.py)
                self._loop(slots, stats, cores)
        except BaseException as exc:  # MLX errors, Cancelled: every row still owed fails with it
            self._fail_all(slots, exc if isinstance(exc, Exception) else Cancelled(str(exc)))
            if not isinstance(exc, Exception):
                raise
        finally:
            cores.close()
            stats.thread_changes = cores.changes

    def _loop(self, slots: Slots, stats: EngineStats, cores: CoreWatch) -> None:
        started = time.perf_counter()
        current = self._admit(slots, None, stats, cores)
        if current is None:
            return
        mx.async_eval(current)
        while True:
            # Queue the next step before reading this one: MLX computes while Python books.
            following = slots.forward(current)
            mx.async_eval(following)
            tokens = current.tolist()
            stats.decode_s = time.perf_counter() - started - stats.prefill_s
            # Counted as booked: a row's future is resolved from inside record().
            slots.record(tokens, stats)
            if slots.redrawn:
                # A row drawn again goes first: its caller is waiting for it alone.
                with self._lock:
                    self._waiting.extendleft(reversed(slots.redrawn))
                slots.redrawn.clear()
            if self._cancel.is_set():
                raise Cancelled("generation cancelled")
            live = slots.live
            if not live or self._should_admit(live):
                # With nothing live, this also ends the drain, unless rows arrived.
                following = self._admit(slots, following if live else None, stats, cores)
                if following is None:
                    return
            # Dropping rows copies every KV cache: wait until enough rows are done.
            elif (len(slots.slots) - live) * 8 >= len(slots.slots):
                following = slots.drop_finished(following)
            current = following
            stats.threads = max(stats.threads, cores.tick())

    def _should_admit(self, live: int) -> bool:
        with self._lock:
            waiting = len(self._waiting)
        if not waiting or live >= self.max_slots or not self.continuous:
            return False
        free = self.max_slots - live
        return free >= min(waiting, max(1, self.max_slots // 8))

    def _admit(self, slots: Slots, inputs: mx.array | None, stats: EngineStats,
               cores: CoreWatch) -> mx.array | None:
        """Prefill as many waiting rows as fit and add them to the batch; the next inputs
        (None: nothing running and nothing waiting, the drain ends)."""
        with self._lock:
            rows = self._take(self.max_slots - slots.live, slots)
            if not rows and inputs is None:
                self._draining = False
                self._subs = [s for s in self._subs if not s.future.done()]
                return None
        if inputs is not None:
            inputs = slots.drop_finished(inputs)
            if not rows:
                return inputs
        started = time.perf_counter()
        cache, last = self.engine.prefill([r.row for r in rows], stats, between=cores.tick)
        stats.prefill_s += time.perf_counter() - started
        if inputs is not None:
            stats.joined += len(rows)
        return slots.admit(rows, cache, last, inputs)

    def _take(self, room: int, slots: Slots) -> list[Live]:
        """Remove and return the waiting rows to admit into ``room`` slots (under the lock)."""
        if not self.affinity or room >= len(self._waiting):
            return [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
        waiting = list(self._waiting)
        running = {live.prefix_key for live in slots.slots if live is not None}
        chosen = admission.pick(waiting, room, running)
        picked = set(chosen)
        self._waiting = deque(w for i, w in enumerate(waiting) if i not in picked)
        return [waiting[i] for i in chosen]

    def _owner(self, live: Live) -> Submission:
        return next(s for s in self._subs if live in s.rows)

    def _fail_all(self, slots: Slots, exc: Exception) -> None:
        with self._lock:
            subs, self._subs = self._subs, []
            self._waiting = deque()
            self._draining = False
        for sub in subs:
            sub.fail(exc)
