"""Serving first: background MLX work waits while this process serves.

A worker with the generate, judge and train roles runs three MLX threads on the
same cores. When a window trains while rows decode, both compete for every core
and the decode steps slow far more than a fair share would explain (measured in
``kasper up``, docs/trainer.md "Serving first"). Prompts have callers waiting; a window
does not. So serving work marks itself with :meth:`Gate.serving` (the engine's
drain, the in-process judge's scoring) and the trainer calls
:meth:`Gate.wait_quiet` before each step and before its evaluation.

The wait is bounded (``max_wait_s``): under constant load training still makes
a step per bound. Only this process is seen: a trainer in another worker does
not wait for it (give that one its own cores).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Serving runs in bursts with short gaps (a batch is graded and judged, then its
# revisions are queued): a gap shorter than this is not quiet, or a training step
# would start in it and slow the burst that follows.
SETTLE_S = 1.0
_POLL_S = 0.5  # how often a waiting trainer looks at its stop flag


class Gate:
    """Counts serving work in progress; lets background work wait until it is quiet."""

    def __init__(self, settle_s: float = SETTLE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle_s = settle_s
        self._clock = clock
        self._cond = threading.Condition()
        self._busy = 0
        self._quiet_since = float("-inf")

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Mark the work in the ``with`` block as serving (any thread; may nest)."""
        with self._cond:
            self._busy += 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                if not self._busy:
                    self._quiet_since = self._clock()
                    self._cond.notify_all()

    @property
    def busy(self) -> bool:
        """Whether serving work is running now."""
        return self._busy > 0

    @property
    def active(self) -> int:
        """How many serving blocks are running now (each an MLX thread's work)."""
        return self._busy

    def others(self) -> int:
        """Serving blocks running beside the caller's own (call it inside one)."""
        return max(0, self._busy - 1)

    def wait_quiet(self, max_wait_s: float, should_stop: Callable[[], bool] | None = None) -> float:
        """Block until nothing has been served for ``settle_s``, ``max_wait_s`` has passed or
        ``should_stop()`` is true; the seconds waited."""
        started = self._clock()
        with self._cond:
            while True:
                now = self._clock()
                left = max_wait_s - (now - started)
                if left <= 0 or (should_stop is not None and should_stop()):
                    break
                if self._busy:
                    pause = left
                else:
                    quiet_for = now - self._quiet_since
                    if quiet_for >= self.settle_s:
                        break
                    pause = min(left, self.settle_s - quiet_for)
                self._cond.wait(min(pause, _POLL_S))
        return self._clock() - started


# The process's gate: the engine and the judge mark serving on it, the trainer waits on it.
GATE = Gate()
