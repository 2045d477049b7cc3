"""The simulated users in ``kasper up``: their rate for the demo, and where their feedback went.

``kasper up`` runs the feedback simulator (:mod:`kasper.streams.feedback_sim`) beside
the pipeline. A 24-prompt run approves a handful of insights, so at the production
rate (``KASPER_FEEDBACK_RATE``, sparse) it would see no feedback at all: unless that
variable is set, every approved insight gets its reader's reaction
(:data:`DEMO_FEEDBACK_RATE`), and windows also close :data:`DEMO_IDLE_S` after their
last record (unless ``KASPER_TRAINER_IDLE_S`` is set), so the run's thumbs reach a
window before it ends while a busy tier still closes its windows on count.

:func:`feedback_account` says how much feedback arrived and how much reached windows,
from what the run saw: the simulator's counts, the TrainingWindow events and the DLQ.
:func:`unwindowed` is what ``kasper up`` waits for before it calls training done;
:func:`reactions_sent` says when it may ask the trainer to close its windows at once.

Error policy: pure functions of their inputs; none raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kasper.streams import topics
from kasper.streams.feedback_sim import SimStats, Simulation
from kasper.streams.settings import Settings

DEMO_FEEDBACK_RATE = 1.0
DEMO_IDLE_S = 120.0


def simulation_for(settings: Settings, rate: float | None = None,
                   environ: Mapping[str, str] | None = None) -> Simulation:
    """The run's simulator: ``rate`` if given, else ``KASPER_FEEDBACK_RATE`` if set, else the demo's."""
    environ = os.environ if environ is None else environ
    if rate is None:
        rate = settings.feedback.rate if "KASPER_FEEDBACK_RATE" in environ else DEMO_FEEDBACK_RATE
    return Simulation.from_settings(settings.feedback, rate=rate)


def idle_limit(settings: Settings, env: Mapping[str, str]) -> float:
    """How long ``kasper up`` waits, with nothing moving, for records to be windowed: the
    worker's window clocks (``env``: its environment) and a minute to announce."""
    max_age = float(env.get("KASPER_TRAINER_MAX_AGE_S", settings.trainer.max_age_s))
    idle = float(env["KASPER_TRAINER_IDLE_S"]) if env.get("KASPER_TRAINER_IDLE_S") else max_age
    return min(max_age, idle) + 60


def _approved_covered(windows: Iterable[Mapping[str, Any]]) -> set[tuple[int, int]]:
    return {(r["partition"], offset) for window in windows for r in window["source_offsets"]
            if r["topic"] == topics.APPROVED.name
            for offset in range(r["start_offset"], r["end_offset"] + 1)}


def _feedback_dead(letters: Iterable[Mapping[str, Any]]) -> int:
    return sum(1 for d in letters if d.get("original_topic") == topics.FEEDBACK.name)


def unwindowed(stats: SimStats, windows: Mapping[str, Mapping[str, Any]],
               letters: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(approved insights the simulator read that no announced window covers, feedback it
    sent that is neither in a window, over the per-user cap, nor dead-lettered)."""
    approved = len(stats.positions - _approved_covered(windows.values()))
    counts = [w["counts"] for w in windows.values()]
    accounted = (sum(c["feedback"] for c in counts) + sum(c.get("feedback_over_user_cap", 0) for c in counts)
                 + _feedback_dead(letters))
    return approved, max(0, stats.sent - accounted)


def reactions_sent(stats: SimStats | None, outcomes: Iterable[str],
                   approved: Iterable[Mapping[str, Any]]) -> bool:
    """Whether every approved outcome's insight has been seen on the approved topic and,
    with simulated users (``stats``), read by them (and so reacted to): then the run's
    trainer may close its windows without waiting for their idle time."""
    approved_outcomes = sum(1 for o in outcomes if o == "approved")
    seen = len({r["insight_id"] for r in approved})
    return seen >= approved_outcomes and (stats is None or stats.read >= seen)


def feedback_account(stats: SimStats, windows: Mapping[str, Mapping[str, Any]],
                     letters: Iterable[Mapping[str, Any]], rate: float) -> dict[str, Any]:
    """How much feedback the run's users sent and how much of it reached windows."""
    counts = [w["counts"] for w in windows.values()]
    with_preference = [c for c in counts if c["preference_pairs"] or c.get("thumbs_up", 0)
                       or c.get("thumbs_down", 0)]
    approved_open, feedback_open = unwindowed(stats, windows, letters)
    return {
        "rate": rate, **stats.as_dict(),
        "in_windows": sum(c["feedback"] for c in counts),
        "windows_with_feedback": sum(1 for c in counts if c["feedback"]),
        "windows_with_preference_data": len(with_preference),
        "preference_pairs": sum(c["preference_pairs"] for c in counts),
        "thumbs_examples": sum(c.get("thumbs_up", 0) + c.get("thumbs_down", 0) for c in counts),
        "over_user_cap": sum(c.get("feedback_over_user_cap", 0) for c in counts),
        "comments_redacted": sum(c.get("feedback_comments_redacted", 0) for c in counts),
        "dead_lettered": _feedback_dead(letters),
        "not_windowed": feedback_open, "approved_not_windowed": approved_open,
    }


def feedback_line(account: Mapping[str, Any]) -> str:
    """One line for the summary and the live view's end."""
    if not account:
        return "feedback: the simulated users did not run"
    line = (f"feedback: {account['sent']} sent by {account['users']} simulated users at rate "
            f"{account['rate']:g} ({account['up']} up, {account['down']} down, {account['comments']} "
            f"with a comment) on {account['read']} approved insights -> {account['in_windows']} in "
            f"{account['windows_with_feedback']} window(s), {account['windows_with_preference_data']} "
            f"with preference data ({account['preference_pairs']} pairs, {account['thumbs_examples']} "
            f"thumbs examples); {account['comments_redacted']} comments redacted, "
            f"{account['over_user_cap']} over the per-user cap, {account['dead_lettered']} dead-lettered")
    if account["not_windowed"]:
        line += f", {account['not_windowed']} still in open windows"
    return line


class WindowWait:
    """Waiting for the run's approved records and feedback to be in announced windows (a
    window closes by age at the latest): until none is pending, or nothing changed for
    ``limit_s`` (then it says so once and stops waiting)."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.last: tuple[int, int] = (0, 0)
        self.since = 0.0
        self.gave_up = False

    def waiting(self, pending: tuple[int, int], now: float, say: Callable[[str], None]) -> bool:
        if pending == (0, 0) or self.gave_up:
            return False
        if pending != self.last:
            self.last, self.since = pending, now
            return True
        if now - self.since < self.limit_s:
            return True
        self.gave_up = True
        say(f"stopped waiting for windows: {pending[0]} approved insight(s) and {pending[1]} feedback "
            f"record(s) not in an announced window after {self.limit_s:.0f}s")
        return False
