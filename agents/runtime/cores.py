"""BLAS threads that follow the machine: every core while no other process is busy, one otherwise.

Why: on an idle machine a second BLAS thread makes a batched decode step markedly faster,
but OpenBLAS threads spin while they wait for work, and once another process holds a core
a second thread makes small matmuls many times slower (docs/model-runtime.md, "Threads").
A fixed count is wrong half the time: the main job's worker decodes while the trainer
waits (priority.py), and trains while the worker waits.

How: :class:`CoreWatch` reads, at most every ``interval`` seconds, the machine's busy CPU
time (``/proc/stat``) and this process's own (``os.times``). What other processes used
over the interval is the difference; the threads are the cores they left free, rounded
(on 2 cores: 2 while others use under half a core, else 1). The engine asks between
prefill passes and before each decode step (:meth:`CoreWatch.tick`), the trainer before
each batch; a new watch decides at once from the process's last reading
(:class:`History`). A reading older than ``stale`` seconds is not used: the average over
a long gap says little about now (a process busy for most of it may have just
stopped), so the watch reads a fresh ``fresh``-second window instead. The count goes back to the process's base count when the work ends
(:meth:`CoreWatch.close`), so MLX work outside a watch (the semantic gate) keeps it.

Other MLX threads of this process are invisible in that difference (their CPU time is
the process's own), and the count is one setting for the whole process. So a watch is
told how many of them are busy beside it (``peers``: the engine and the judge count the
other serving work on :data:`~kasper.agents.runtime.priority.GATE`, the trainer all of
it) and leaves a core to each: a drain and a judge's batch running at once get one
thread each, not two each on two cores. A watch applies a count unless it is the one in
force, whichever watch set that.

Only when :func:`adaptive_threads` allows it (``KASPER_BLAS_THREADS=auto``, the
default unless the user set ``OPENBLAS_NUM_THREADS``); elsewhere, or where ``/proc/stat``
cannot be read, the count stays as it is.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kasper.agents.runtime import blas

_LOG = logging.getLogger(__name__)
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def adaptive_threads() -> bool:
    """Whether the engine may change the BLAS thread count (``KASPER_BLAS_THREADS=auto``,
    the default unless ``OPENBLAS_NUM_THREADS`` was set by the user) and can (OpenBLAS)."""
    return blas.blas_info().name == "openblas" and os.environ.get("KASPER_BLAS_THREADS") == "auto"


def base_threads() -> int:
    """The thread count the process started with, and returns to outside the engine."""
    try:
        return max(1, int(os.environ.get("OPENBLAS_NUM_THREADS", "1")))
    except ValueError:
        return 1


def set_threads(count: int) -> None:
    """Use ``count`` OpenBLAS threads from the next BLAS call on (no-op without OpenBLAS).

    OpenBLAS creates the extra threads the first time the count rises; after that a change
    only sets the count the next call reads, so it is safe between MLX evaluations.
    """
    if blas.blas_info().name == "openblas":
        ctypes.CDLL(None).openblas_set_num_threads(max(1, int(count)))


def get_threads() -> int | None:
    """OpenBLAS's current thread count (None without OpenBLAS)."""
    if blas.blas_info().name != "openblas":
        return None
    return int(ctypes.CDLL(None).openblas_get_num_threads())


def machine_busy_seconds(path: str = "/proc/stat") -> float:
    """CPU seconds all cores have spent busy since boot (everything but idle and iowait)."""
    with open(path, encoding="ascii") as f:
        fields = f.readline().split()
    if not fields or fields[0] != "cpu":
        raise ValueError(f"{path}: first line is not the 'cpu' total: {' '.join(fields[:3])!r}")
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / _HZ


def own_seconds() -> float:
    """CPU seconds this process has used, all its threads."""
    t = os.times()
    return t.user + t.system


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_for(others: float, cores: int) -> int:
    """Threads to use when other processes kept ``others`` cores busy: the free cores, rounded."""
    return max(1, min(cores, int(cores - others + 0.5)))


_APPLY_LOCK = threading.Lock()


class History:
    """The machine's last reading, kept across watches so a new one decides at once.

    Why: a watch needs two readings ``interval`` apart, and a drain's first work, its
    largest prefill, would otherwise run at the base count before the first decision.
    With the last reading any watch of the process took, the interval is the time since
    then: the cores other processes used meanwhile, read at the new watch's start.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last: tuple[float, float, float] | None = None  # (clock, busy, own)
        self.others: float | None = None

    def swap(self, now: tuple[float, float, float], interval: float) -> float | None:
        """Record ``now``; the cores others used since the last reading (if ``interval``
        has passed, else the last figure; None: nothing known)."""
        with self._lock:
            last, self.last = self.last, now
            if last is not None and now[0] - last[0] >= interval:
                self.others = _others(last, now)
            elif last is not None and self.others is None:
                self.last = last  # too close to measure: keep the older reading
            return self.others

    def note(self, now: tuple[float, float, float], others: float) -> None:
        """Record a watch's own reading and what it measured."""
        with self._lock:
            self.last, self.others = now, others


# This process's readings of the machine, shared by the engine's, the judge's and the
# trainer's watches.
MACHINE = History()


def _others(then: tuple[float, float, float], now: tuple[float, float, float]) -> float:
    (t0, busy0, own0), (t1, busy1, own1) = then, now
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / max(t1 - t0, 1e-6)


def _no_peers() -> int:
    return 0


class CoreWatch:
    """Sets the BLAS thread count from what other processes use (see the module doc)."""

    def __init__(self, interval: float = 0.5, cores: int | None = None, *,
                 busy: Callable[[], float] = machine_busy_seconds, own: Callable[[], float] = own_seconds,
                 clock: Callable[[], float] = time.monotonic,
                 apply: Callable[[int], None] = set_threads, enabled: bool | None = None,
                 peers: Callable[[], int] = _no_peers,
                 current: Callable[[], int | None] = get_threads,
                 history: History | None = None, stale: float = 2.0, fresh: float = 0.1,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = interval
        self.stale, self.fresh, self._sleep = stale, fresh, sleep
        self.cores = cores or available_cores()
        self._busy, self._own, self._clock, self._apply = busy, own, clock, apply
        # The count in force now, whichever watch of the process set it (None: unknown).
        self._current = current
        # Other MLX threads of this process busy now (see the module doc).
        self._peers = peers
        self._peers_seen = 0
        self.base = base_threads()
        self.enabled = (adaptive_threads() if enabled is None else enabled) and self.cores > 1
        self.threads = self.base
        self.changes = 0
        # Cores other processes kept busy over the last interval (None: not read yet).
        self.others: float | None = None
        self._last: tuple[float, float, float] | None = None
        self._history = history
        if self.enabled:
            self._last = self._sample()
            if self._last is not None and history is not None:
                last = history.last
                if last is not None and self._last[0] - last[0] > stale:
                    self._fresh_window()
                    if self._last is not None and self.others is not None:
                        history.note(self._last, self.others)
                else:
                    self.others = history.swap(self._last, interval)
                if self.others is not None:  # decide now, not an interval into the work
                    self._decide(self._busy_peers())

    def _sample(self) -> tuple[float, float, float] | None:
        try:
            return self._clock(), self._busy(), self._own()
        except (OSError, ValueError) as exc:
            _LOG.info("BLAS threads stay at %d: cannot read the machine's CPU time (%s)", self.threads, exc)
            self.enabled = False
            return None

    def tick(self) -> int:
        """Re-decide if ``interval`` has passed or the busy peers changed; the thread count in force."""
        if not self.enabled or self._last is None:
            return self.threads
        peers = self._busy_peers()
        if self._clock() - self._last[0] >= self.interval:
            now = self._sample()
            if now is None:
                return self.threads
            if now[0] - self._last[0] > self.stale:
                self._last = now
                self._fresh_window()
                if self._last is None:
                    return self.threads
            else:
                self.others = _others(self._last, now)
                self._last = now
            if self._history is not None:
                self._history.note(self._last, self.others)
        elif peers == self._peers_seen or (self.others is None and not peers):
            return self.threads
        self._decide(peers)
        return self.threads

    def _fresh_window(self) -> None:
        """What others use now: over ``fresh`` seconds from ``_last`` (a gap's average is stale)."""
        self._sleep(self.fresh)
        now = self._sample()
        if now is not None:
            self.others = _others(self._last, now)
        self._last = now

    def _busy_peers(self) -> int:
        return max(0, int(self._peers()))

    def _decide(self, peers: int) -> None:
        """The free cores' count, given what other processes and ``peers`` busy threads use."""
        self._peers_seen = peers
        self._set(threads_for((self.others or 0.0) + peers, self.cores))

    @classmethod
    @contextmanager
    def during(cls, **kwargs) -> Iterator["CoreWatch"]:
        """A watch for a stretch of work, back at the base count when it ends, however it ends."""
        watch = cls(**kwargs)
        try:
            yield watch
        finally:
            watch.close()

    def close(self) -> None:
        """Back to the base count (the end of a drain)."""
        if self.enabled:
            self._set(self.base)

    def _set(self, threads: int) -> None:
        """Make ``threads`` this watch's count, applying it unless it is already in force
        (another watch of the process may have changed it since this one did)."""
        with _APPLY_LOCK:
            in_force = self._current()
            if threads != (self.threads if in_force is None else in_force):
                _LOG.debug("BLAS threads -> %d (other processes: %s cores, peers %d)", threads,
                           "?" if self.others is None else f"{self.others:.2f}", self._peers_seen)
                self._apply(threads)
            if threads != self.threads:
                self.changes += 1
            self.threads = threads
