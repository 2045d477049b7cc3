"""What keeps the judge cheap and polite: the verdict cache, the rate limiter, backoff helpers.

- :class:`VerdictCache`: parsed answers by request key, an in-process LRU in front of an
  optional sqlite file, so replays and restarts cost nothing.
- :class:`RateLimiter`: token buckets for requests/min and tokens/min; ``pause`` (from a
  429's Retry-After) holds every caller of the client.
- :func:`backoff_delay`, :func:`retry_after_s`: jittered exponential backoff, and the
  server's ``Retry-After``/``retry-after-ms`` headers.

Error policy: nothing here fails a verdict.  A cache file that cannot be opened or
written is logged and the cache stays in memory (it saves money, it is never needed);
a row in an older layout is a miss.  What to retry, and when to give up, is the
client's decision (:mod:`kasper.agents.judging.client`).
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import asdict
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Mapping

from prometheus_client import Counter

from kasper.agents.judging.parse import JudgeAnswer
from kasper.streams.logs import get_logger

log = get_logger(__name__)

CACHE = Counter("kasper_judge_cache_total", "Verdict cache lookups, by result.", ["result"])


# --- verdict cache -----------------------------------------------------------


class VerdictCache:
    """Parsed answers by key: an in-process LRU in front of an optional sqlite file.

    The file makes replays and restarts free; if it cannot be used the cache logs
    once and stays in memory: it saves money, it never fails a verdict.
    """

    def __init__(self, size: int = 10_000, path: Path | None = None) -> None:
        self._lru: OrderedDict[str, JudgeAnswer] = OrderedDict()
        self._size = max(1, size)
        self._lock = threading.Lock()
        self._db = self._open(Path(path)) if path else None

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), timeout=5, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")  # several workers may share the file
            db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, answer TEXT NOT NULL, at REAL)")
            return db
        except (OSError, sqlite3.Error) as exc:
            log.warning("judge cache file unusable: memory only", path=str(path), error=str(exc))
            return None

    def get(self, key: str) -> JudgeAnswer | None:
        with self._lock:
            if key in self._lru:
                self._lru.move_to_end(key)
                CACHE.labels("memory").inc()
                return self._lru[key]
        answer = self._load(key)
        CACHE.labels("disk" if answer else "miss").inc()
        if answer is not None:
            self._remember(key, answer)
        return answer

    def put(self, key: str, answer: JudgeAnswer) -> None:
        self._remember(key, answer)
        if self._db is not None:
            self._sql("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?)", key, json.dumps(asdict(answer)), time.time())

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _remember(self, key: str, answer: JudgeAnswer) -> None:
        with self._lock:
            self._lru[key] = answer
            self._lru.move_to_end(key)
            while len(self._lru) > self._size:
                self._lru.popitem(last=False)

    def _load(self, key: str) -> JudgeAnswer | None:
        rows = self._sql("SELECT answer FROM verdicts WHERE key = ?", key) if self._db else None
        try:
            return JudgeAnswer(**json.loads(rows[0][0])) if rows else None
        except (TypeError, ValueError):  # a row from an older layout: a miss
            return None

    def _sql(self, query: str, *args: Any) -> list | None:
        try:
            with self._lock:
                return self._db.execute(query, args).fetchall()
        except sqlite3.Error as exc:
            log.warning("judge cache file error", error=str(exc))
            return None


# --- rate limiting and backoff -----------------------------------------------


class RateLimiter:
    """Token buckets for requests/min and tokens/min (0: unlimited), refilled continuously.

    A bucket holds one second's worth (at least one request): smooth pacing rather
    than minute-long bursts that trip a server's shorter windows.  A call larger than
    the bucket is let through when the bucket is full and leaves a debt.
    ``pause`` (from a 429's Retry-After) holds every caller.
    """

    def __init__(self, requests_per_minute: float = 0.0, tokens_per_minute: float = 0.0,
                 clock: Any = time.monotonic) -> None:
        self._rates = (requests_per_minute / 60.0, tokens_per_minute / 60.0)
        self._caps = tuple(max(1.0, r) for r in self._rates)
        self._levels = list(self._caps)
        self._clock = clock
        self._stamp = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: float) -> float:
        """Wait for room for one request of ``tokens``; returns the seconds waited."""
        needs, waited = (1.0, float(tokens)), 0.0
        async with self._lock:  # first come, first served
            while (delay := self._delay(needs)) > 0:
                await asyncio.sleep(delay)
                waited += delay
            for i, need in enumerate(needs):
                if self._rates[i]:
                    self._levels[i] -= need
        return waited

    def settle(self, estimated: float, actual: float) -> None:
        """Correct the token bucket once the real usage is known."""
        if self._rates[1]:
            self._levels[1] = min(self._caps[1], self._levels[1] + estimated - actual)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _delay(self, needs: tuple[float, float]) -> float:
        now = self._clock()
        for i, rate in enumerate(self._rates):
            if rate:
                self._levels[i] = min(self._caps[i], self._levels[i] + (now - self._stamp) * rate)
        self._stamp = now
        delay = self._paused_until - now
        for i, rate in enumerate(self._rates):
            if rate and self._levels[i] < min(needs[i], self._caps[i]):
                delay = max(delay, (min(needs[i], self._caps[i]) - self._levels[i]) / rate)
        return delay


def backoff_delay(failures: int, base_s: float, max_s: float, retry_after: float | None = None) -> float:
    """Seconds before the next try: at least ``Retry-After`` when the server sent one,
    else exponential with equal jitter (half fixed, half random) so clients spread out."""
    step = min(max_s, base_s * 2 ** failures)
    jittered = step / 2 + random.uniform(0, step / 2)
    if retry_after is not None:
        return max(0.0, retry_after) + random.uniform(0, min(base_s, step) / 2)
    return jittered


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` (OpenAI), else ``retry-after`` in seconds or as an HTTP date."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return float(raw) / scale
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            continue
    return None

