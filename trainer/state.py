"""The trainer's durable state: a small sqlite file next to the windows.

Three tables:

- ``insights``: every approved insight that went into a window, with its
  topic/partition/offset and raw bytes. It is the dedupe record ("already
  windowed") and the join store for feedback that arrives after its insight's
  window closed. After ``join_retention_s`` the bytes are dropped (the id
  stays, so dedupe still works).
- ``feedback``: ids of feedback that went into a window (dedupe).
- ``windows``: each written window, the encoded TrainingWindow event, and
  whether the event was published. An unpublished row after a restart means a
  crash between the state write and the publish: the event is sent again.

A window's ids and its row are written in one transaction, so the dedupe
record and the window's existence never disagree. sqlite runs in WAL mode with
``synchronous=FULL``: a committed transaction survives a power cut.

Error policy: every sqlite error becomes :class:`StateError`; the worker stops
(without this store, "at most once per window" cannot be kept).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .dataset import Source
from .errors import StateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS insights (
    insight_id TEXT PRIMARY KEY, tier TEXT NOT NULL, window_id TEXT NOT NULL,
    topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
    value BLOB, approved_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (feedback_id TEXT PRIMARY KEY, window_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS windows (
    window_id TEXT PRIMARY KEY, tier TEXT NOT NULL, directory TEXT NOT NULL,
    event BLOB NOT NULL, published INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class StoredInsight:
    """An approved insight from an earlier window; ``value`` is None past retention."""

    insight_id: str
    tier: str
    topic: str
    partition: int
    offset: int
    value: bytes | None


class TrainerState:
    """The sqlite state store; one writer (the window loop)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open the trainer state {self.path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StateError(f"trainer state {self.path}: {exc}") from exc

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"trainer state {self.path}: {exc}") from exc

    def insight(self, insight_id: str) -> StoredInsight | None:
        """The windowed insight ``insight_id``, or None if it was never windowed."""
        rows = self._query('SELECT insight_id, tier, topic, partition, "offset", value FROM insights '
                           "WHERE insight_id = ?", (insight_id,))
        return StoredInsight(*rows[0]) if rows else None

    def has_feedback(self, feedback_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM feedback WHERE feedback_id = ?", (feedback_id,)))

    def record_window(self, window_id: str, tier: str, directory: str, event: bytes,
                      approved: Iterable[Source], feedback_ids: Iterable[str], now_ms: int) -> None:
        """Make a written window durable: its ids (dedupe + joins) and its event, in one go."""
        with self._transaction() as db:
            db.executemany(
                'INSERT OR IGNORE INTO insights VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
                [(s.record["insight_id"], s.record["prompt"]["tier"], window_id, s.topic,
                  s.partition, s.offset, s.value, _ms(s.record["approved_at"])) for s in approved])
            db.executemany("INSERT OR IGNORE INTO feedback VALUES (?, ?)",
                           [(i, window_id) for i in feedback_ids])
            db.execute("INSERT OR REPLACE INTO windows VALUES (?, ?, ?, ?, 0, ?)",
                       (window_id, tier, directory, event, now_ms))

    def mark_published(self, window_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE windows SET published = 1 WHERE window_id = ?", (window_id,))

    def unpublished(self) -> list[tuple[str, bytes]]:
        """(window_id, encoded event) of windows written but not announced yet, oldest first."""
        return [(w, bytes(e)) for w, e in self._query(
            "SELECT window_id, event FROM windows WHERE published = 0 ORDER BY created_ms, window_id")]

    def window_ids(self) -> set[str]:
        return {row[0] for row in self._query("SELECT window_id FROM windows")}

    def prune(self, before_ms: int) -> int:
        """Drop the bytes of insights approved before ``before_ms``; returns how many."""
        with self._transaction() as db:
            cur = db.execute("UPDATE insights SET value = NULL WHERE approved_ms < ? AND value IS NOT NULL",
                             (before_ms,))
            return cur.rowcount


def _ms(value) -> int:
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)
