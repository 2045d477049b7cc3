"""Open retraining windows: which records wait in which tier's window, and what may be committed.

:class:`Windower` is plain Python (no Kafka, no files): the window loop
(:mod:`kasper.trainer.window_loop`) feeds it decoded records in offset order and
does the I/O. Per tier there is at most one open window; it closes on
``approved_count`` approved records, ``feedback_count`` feedback points,
``max_age_s`` after its first record, or (with ``idle_s``) that long after its
last record, whichever comes first (close reason ``time`` for both clocks), or when
an operator asks (``manual``: :meth:`Windower.open_tiers` lists what that closes).

Offsets: a record in an open window, or feedback waiting for its insight, is
*held*; the committable offset of a partition is its lowest held offset (or
the next one when nothing is held). So nothing is committed before the window
holding it is written, recorded in the state store and announced, and a
restart re-reads exactly the records of windows that never got that far.

Dedupe: an approved insight or feedback already in the state store is
skipped (a redelivery after a crash or a rebalance); duplicates inside one open
window are kept as sources and dropped by the dataset builder (first one wins).
A feedback id this process already saw at another position (topic, partition,
offset) is a different record reusing the id, not a redelivery: it is
dead-lettered (:class:`DuplicateFeedbackError`). The positions are remembered
for the last ``_SEEN_FEEDBACK`` ids, across rebalances (a position never changes).

Users: at most ``feedback_per_user`` feedback records of one user hash join a
window; the rest is left out (outcome ``over_user_cap``, counted in the window's
event), so no single user dominates what a window trains on. The records stay on
``kasper.feedback``. A comment holding personal data is counted when it joins (the
dataset builder redacts it in the files), and :func:`window_content` blanks every
user hash before the files are built: no training file names a user.

Feedback joins its insight by id: a member of an open window, else the state
store (the insight then comes into the window as a source record too, see
:mod:`kasper.trainer.dataset`), else it waits ``feedback_wait_s`` (measured
from when this process first saw it) and is then dead-lettered.

Names from records are not paths: a window id, a tier or a file name read from a
manifest or a topic passes :func:`checked_name` before it names anything on disk,
and a window directory announced on a topic passes :func:`window_dir_inside`
(the very ``<windows_dir>/<window_id>`` directory, symlinks resolved), so a forged
record cannot make the trainer read or write outside its directories.

Error policy: :meth:`Windower.offer` raises a :class:`FeedbackError` for
feedback that must be dead-lettered (stars out of range, no signal, a reused
id; the caller sends it to the DLQ and calls :meth:`Windower.skip`);
:meth:`Windower.expire` returns the feedback whose wait is over (unknown
insight). State store errors propagate (they stop the worker).
"""

from __future__ import annotations

import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kasper.agents.quality.personal_data import find_personal_data
from kasper.schemas.errors import Where

from . import metrics
from .config import WindowPolicy
from .dataset import Source, WindowContent, build_window
from .errors import FeedbackError, InvalidFeedbackError, TrainerError, UnknownInsightError
from .state import TrainerState

TP = tuple[str, int]
# One path component: no separators, no "." or "..", nothing hidden, no control characters.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
# Feedback ids whose position is remembered (about 100 bytes each).
_SEEN_FEEDBACK = 200_000


class DuplicateFeedbackError(FeedbackError):
    """A feedback id already used by another record (at another position)."""


class UnsafePathError(TrainerError):
    """A name or path from a record that would reach outside the trainer's directories."""


def checked_name(name: Any, what: str) -> str:
    """``name`` if it is one safe path component (``what`` names it in the error)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise UnsafePathError(f"{what} {name!r} is not a plain name (letters, digits, '.', '_', '-')")
    return name


def inside(root: Path, path: Path | str, what: str) -> Path:
    """``path`` resolved (symlinks followed) if it is ``root`` itself or under it."""
    base = Path(root).expanduser().resolve()
    resolved = Path(path).expanduser().resolve()
    if resolved != base and base not in resolved.parents:
        raise UnsafePathError(f"{what} {str(path)!r} is outside {base}")
    return resolved


def window_dir_inside(windows_dir: Path, directory: str | Path, window_id: str) -> Path:
    """The announced ``directory`` of window ``window_id``, if it is ``windows_dir/<window_id>``."""
    checked_name(window_id, "window id")
    if not Path(directory).is_absolute():
        raise UnsafePathError(f"window directory {str(directory)!r} is not an absolute path")
    resolved = inside(windows_dir, directory, "window directory")
    if resolved != Path(windows_dir).expanduser().resolve() / window_id:
        raise UnsafePathError(f"window directory {str(directory)!r} is not the directory of "
                              f"window {window_id} under {windows_dir}")
    return resolved


def window_content(tier: str, sources: Iterable[Source], policy: WindowPolicy) -> WindowContent:
    """The files of a window over ``sources``, with no user hash in them.

    The window loop and a rebuild both build through here, so a replay stays byte-identical.
    """
    return build_window(tier, [_anonymous(s) for s in sources], policy)


def _anonymous(source: Source) -> Source:
    record = _without_user_hash(source.record)
    if source.kind == "feedback":
        record["user_hash"] = ""  # a required string in the Feedback schema
    return Source(source.topic, source.partition, source.offset, source.kind, record, source.value)


def _without_user_hash(node: Any) -> Any:
    # Every PromptEvent a record carries (the approved record's, an Insight's own) has one.
    if isinstance(node, Mapping):
        return {k: None if k == "user_hash" else _without_user_hash(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_user_hash(v) for v in node]
    return node


def window_file(window_dir: Path, name: Any) -> Path:
    """The file ``name`` (from a manifest) of a window: a plain name, resolving inside it."""
    return inside(window_dir, Path(window_dir) / checked_name(name, "window file name"), "window file")


@dataclass
class _Open:
    tier: str
    opened_at: float
    sources: list[Source] = field(default_factory=list)  # held: this window's own records
    last_at: float = 0.0  # when the last record joined
    context: dict[str, Source] = field(default_factory=dict)  # earlier insights joined by feedback
    insight_ids: set[str] = field(default_factory=set)
    feedback_ids: set[str] = field(default_factory=set)
    per_user: Counter = field(default_factory=Counter)  # user hash -> feedback joined
    over_cap: int = 0
    comments_redacted: int = 0


@dataclass(frozen=True)
class ClosedWindow:
    """A window taken out of the windower: its content and what to record and release."""

    content: WindowContent
    reason: str
    opened_at: float
    closed_at: float
    approved: list[Source]  # this window's own approved records (for the state store)
    feedback_ids: list[str]
    held: list[tuple[str, int, int]]
    over_cap: int = 0  # feedback left out: its user hash had the window's maximum
    comments_redacted: int = 0  # feedback comments holding personal data (redacted in the files)


class Windower:
    """Per-tier open windows, pending feedback and committable offsets."""

    def __init__(self, policy: WindowPolicy, state: TrainerState,
                 decode_approved: Callable[[bytes, Where], Mapping[str, Any]],
                 clock: Callable[[], float] = time.time, feedback_per_user: int | None = None,
                 idle_s: float | None = None) -> None:
        if feedback_per_user is not None and feedback_per_user < 1:
            raise ValueError(f"feedback_per_user must be at least 1, got {feedback_per_user}")
        if idle_s is not None and idle_s <= 0:
            raise ValueError(f"idle_s must be positive, got {idle_s}")
        self.idle_s = idle_s
        self.policy = policy
        self.state = state
        self.feedback_per_user = feedback_per_user
        self._decode = decode_approved
        self._clock = clock
        self._feedback_at: OrderedDict[str, tuple[str, int, int]] = OrderedDict()
        # Waiting feedback left out over the user cap when its insight came (the caller counts
        # and clears it; feedback capped on arrival is offer()'s "over_user_cap" outcome).
        self.capped: list[Source] = []
        self.reset()

    def reset(self) -> None:
        """Forget everything in memory (after a rebalance: the records come again)."""
        self.windows: dict[str, _Open] = {}
        self._members: dict[str, Source] = {}  # insight id -> its approved record in an open window
        self._pending: dict[str, list[tuple[Source, float]]] = {}
        self._held: dict[TP, set[int]] = {}
        self._next: dict[TP, int] = {}

    # --- records in ---------------------------------------------------------------

    def offer(self, source: Source) -> str:
        """Take one record: ``"held"``, ``"waiting"`` (feedback) or ``"duplicate"``."""
        tp = (source.topic, source.partition)
        self._next[tp] = max(self._next.get(tp, 0), source.offset + 1)
        if source.kind == "approved":
            return self._offer_approved(source)
        return self._offer_feedback(source)

    def skip(self, topic: str, partition: int, offset: int) -> None:
        """A record that was handled outside any window (dead-lettered, undecodable)."""
        tp = (topic, partition)
        self._next[tp] = max(self._next.get(tp, 0), offset + 1)

    def _offer_approved(self, source: Source) -> str:
        insight_id = source.record["insight_id"]
        if insight_id not in self._members and self.state.insight(insight_id) is not None:
            return "duplicate"
        window = self._window(source.record["prompt"]["tier"])
        self._hold(window, source)
        window.insight_ids.add(insight_id)
        self._members.setdefault(insight_id, source)
        for waiting, _ in self._pending.pop(insight_id, []):
            if not self._join(waiting, source):
                self.capped.append(waiting)
        return "held"

    def _offer_feedback(self, source: Source) -> str:
        record = source.record
        _check_feedback(record)
        feedback_id = record["feedback_id"]
        self._check_position(feedback_id, source.position)
        in_open = any(feedback_id in w.feedback_ids for w in self.windows.values())
        if not in_open and self.state.has_feedback(feedback_id):
            return "duplicate"
        insight = self._members.get(record["insight_id"]) or self._stored(record["insight_id"])
        if insight is None:
            self._pending.setdefault(record["insight_id"], []).append((source, self._clock()))
            self._held.setdefault((source.topic, source.partition), set()).add(source.offset)
            return "waiting"
        return "held" if self._join(source, insight) else "over_user_cap"

    def _check_position(self, feedback_id: str, position: tuple[str, int, int]) -> None:
        first = self._feedback_at.get(feedback_id)
        if first is not None and first != position:
            raise DuplicateFeedbackError(
                f"feedback id {feedback_id} at {position[0]}[{position[1]}]@{position[2]} is already "
                f"used by the record at {first[0]}[{first[1]}]@{first[2]}")
        self._feedback_at[feedback_id] = position
        self._feedback_at.move_to_end(feedback_id)
        while len(self._feedback_at) > _SEEN_FEEDBACK:
            self._feedback_at.popitem(last=False)

    def _stored(self, insight_id: str) -> Source | None:
        stored = self.state.insight(insight_id)
        if stored is None:
            return None
        if stored.value is None:
            raise UnknownInsightError(
                f"feedback for insight {insight_id}, which is past the join retention "
                f"({self.policy.join_retention_s / 86400:.0f} days)")
        where = Where(stored.topic, stored.partition, stored.offset)
        return Source(stored.topic, stored.partition, stored.offset, "approved",
                      self._decode(stored.value, where), stored.value)

    def _join(self, feedback: Source, insight: Source) -> bool:
        """Put ``feedback`` in its insight's window; False when its user is over the cap."""
        window = self._window(insight.record["prompt"]["tier"])
        self._release_pending_hold(feedback)
        user = feedback.record["user_hash"]
        if self.feedback_per_user is not None and window.per_user[user] >= self.feedback_per_user:
            window.over_cap += 1
            return False
        window.per_user[user] += 1
        if find_personal_data(feedback.record.get("comment") or ""):
            window.comments_redacted += 1
        self._hold(window, feedback)
        window.feedback_ids.add(feedback.record["feedback_id"])
        metrics.report_feedback_agreement(insight.record, feedback.record)
        insight_id = insight.record["insight_id"]
        if insight_id not in window.insight_ids:
            window.context.setdefault(insight_id, insight)
        return True

    def _window(self, tier: str) -> _Open:
        if tier not in self.windows:
            self.windows[tier] = _Open(tier, self._clock())
        return self.windows[tier]

    def _hold(self, window: _Open, source: Source) -> None:
        window.sources.append(source)
        window.last_at = self._clock()
        self._held.setdefault((source.topic, source.partition), set()).add(source.offset)

    def _release_pending_hold(self, source: Source) -> None:
        self._held.get((source.topic, source.partition), set()).discard(source.offset)

    # --- closing ------------------------------------------------------------------

    def expire(self) -> list[tuple[Source, UnknownInsightError]]:
        """Feedback whose insight did not come within ``feedback_wait_s``: dead-letter these."""
        now, out = self._clock(), []
        for insight_id in list(self._pending):
            keep = []
            for source, since in self._pending[insight_id]:
                if now - since < self.policy.feedback_wait_s:
                    keep.append((source, since))
                    continue
                self._release_pending_hold(source)
                out.append((source, UnknownInsightError(
                    f"feedback {source.record['feedback_id']} is for insight {insight_id}, but no "
                    f"approved insight with that id arrived within {self.policy.feedback_wait_s:.0f} s")))
            if keep:
                self._pending[insight_id] = keep
            else:
                del self._pending[insight_id]
        return out

    def due(self) -> list[tuple[str, str]]:
        """(tier, close reason) of every window that should close now."""
        now, out = self._clock(), []
        for tier, w in sorted(self.windows.items()):
            if len(w.insight_ids) >= self.policy.approved_count:
                out.append((tier, "count"))
            elif len(w.feedback_ids) >= self.policy.feedback_count:
                out.append((tier, "feedback"))
            elif now - w.opened_at >= self.policy.max_age_s:
                out.append((tier, "time"))
            elif self.idle_s is not None and w.sources and now - w.last_at >= self.idle_s:
                out.append((tier, "time"))
        return out

    def open_tiers(self) -> list[str]:
        """Tiers whose open window holds a record (what a close on request closes)."""
        return sorted(tier for tier, w in self.windows.items() if w.sources)

    def close(self, tier: str, reason: str) -> ClosedWindow:
        """Take ``tier``'s window out and build its content (nothing is released yet)."""
        window = self.windows.pop(tier)
        content = window_content(tier, [*window.sources, *window.context.values()], self.policy)
        return ClosedWindow(
            content=content, reason=reason, opened_at=window.opened_at, closed_at=self._clock(),
            approved=[s for s in window.sources if s.kind == "approved"],
            feedback_ids=sorted(window.feedback_ids),
            held=[s.position for s in window.sources],
            over_cap=window.over_cap, comments_redacted=window.comments_redacted,
        )

    def release(self, closed: ClosedWindow) -> None:
        """The window is durable and announced: its offsets may be committed."""
        for topic, partition, offset in closed.held:
            self._held.get((topic, partition), set()).discard(offset)
        for source in closed.approved:
            self._members.pop(source.record["insight_id"], None)

    def commit_offsets(self) -> dict[TP, int]:
        """Per partition: the offset up to which everything is windowed or handled."""
        out = {}
        for tp, nxt in self._next.items():
            held = self._held.get(tp)
            out[tp] = min(held) if held else nxt
        return out


def _check_feedback(record: Mapping[str, Any]) -> None:
    stars = record.get("stars")
    if stars is not None and not 1 <= stars <= 5:
        raise InvalidFeedbackError(f"feedback {record['feedback_id']}: stars {stars} outside 1-5")
    comment = (record.get("comment") or "").strip()
    if record.get("rating", "none") == "none" and stars is None and not comment:
        raise InvalidFeedbackError(f"feedback {record['feedback_id']}: no rating, stars or comment")
