"""The feedback simulator: simulated users read ``kasper.approved`` and send Feedback events.

Who the users are and what they like is :mod:`kasper.streams.simulated_users` (pure);
this module is the Kafka side. ``kasper up`` runs it beside the pipeline (from the
topic's current end, while the run is on); ``kasper produce feedback --synthetic N``
runs it from the beginning of the topic until N events are sent or the topic has
been quiet for a while.

An insight read twice in one run gets one reaction. Another run with the same seed
sends the same feedback ids again: the trainer takes those as reused ids (dead-lettered
when it saw the first record, docs/feedback.md), so use another seed for new reactions.

Error policy: an approved record that does not decode is counted (``undecodable``)
and skipped, since the simulator stands for people, who never see it; a broker that
cannot be reached raises ``BrokerUnavailable``; a failed send propagates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kasper.streams import topics
from kasper.streams.consumer import decode_message, open_consumer
from kasper.streams.producer import Producer
from kasper.streams.settings import FeedbackSettings, Settings
from kasper.streams.simulated_users import SimUser, feedback_for, user_set


@dataclass(frozen=True)
class Simulation:
    """One simulator's users and rates (from ``KASPER_FEEDBACK_*`` or given)."""

    seed: int = 0
    users: Sequence[SimUser] = field(default_factory=user_set)
    rate: float = 0.1
    comment_rate: float = 0.2
    personal_data_rate: float = 0.1

    @classmethod
    def from_settings(cls, section: FeedbackSettings, **overrides: Any) -> "Simulation":
        values = {"seed": section.seed, "rate": section.rate, "comment_rate": section.comment_rate,
                  "personal_data_rate": section.personal_data_rate, **overrides}
        return cls(users=user_set(values["seed"], section.users), **values)

    def react(self, approved: dict[str, Any]) -> dict[str, Any] | None:
        """The Feedback its reader sends on ``approved``, or None."""
        return feedback_for(approved, seed=self.seed, users=self.users, rate=self.rate,
                            comment_rate=self.comment_rate, personal_data_rate=self.personal_data_rate)


@dataclass
class SimStats:
    """What a simulator run read and sent."""

    read: int = 0  # approved insights read (each once)
    sent: int = 0
    up: int = 0
    down: int = 0
    comments: int = 0
    contact_comments: int = 0  # comments carrying a contact detail (the trainer redacts them)
    users: set[str] = field(default_factory=set)
    undecodable: int = 0
    # (partition, offset) of every approved record read: kasper up checks windows cover them.
    positions: set[tuple[int, int]] = field(default_factory=set)

    def count(self, feedback: dict[str, Any]) -> None:
        self.sent += 1
        self.up += feedback["rating"] == "up"
        self.down += feedback["rating"] == "down"
        comment = feedback.get("comment")
        self.comments += comment is not None
        self.contact_comments += comment is not None and "@" in comment
        self.users.add(feedback["user_hash"])

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["users"] = len(self.users)
        del out["positions"]
        return out


async def simulate(settings: Settings, producer: Producer, sim: Simulation, stop: asyncio.Event, *,
                   stats: SimStats | None = None, ready: asyncio.Event | None = None,
                   from_beginning: bool = False, limit: int | None = None,
                   idle_timeout_s: float | None = None) -> SimStats:
    """Read ``kasper.approved`` and send the simulated users' feedback until ``stop`` is set,
    ``limit`` events are sent, or nothing new came for ``idle_timeout_s``.

    ``ready`` is set once the consumer is positioned (from the current end unless
    ``from_beginning``): approvals after that are all seen.
    """
    stats = stats if stats is not None else SimStats()
    seen: set[str] = set()
    async with open_consumer(settings.kafka, topics.APPROVED.name, from_beginning=from_beginning) as consumer:
        if ready is not None:
            ready.set()
        quiet_since = time.monotonic()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            if not batch:
                if idle_timeout_s is not None and time.monotonic() - quiet_since >= idle_timeout_s:
                    break
                continue
            quiet_since = time.monotonic()
            for messages in batch.values():
                for message in messages:
                    received = decode_message(producer.codec, message, expect="ApprovedInsight")
                    if received.error is not None:
                        stats.undecodable += 1
                        continue
                    stats.positions.add((message.partition, message.offset))
                    if received.record["insight_id"] in seen:
                        continue
                    seen.add(received.record["insight_id"])
                    stats.read += 1
                    feedback = sim.react(received.record)
                    if feedback is None:
                        continue
                    await producer.send(topics.FEEDBACK, feedback)
                    stats.count(feedback)
                    if limit is not None and stats.sent >= limit:
                        await producer.flush()
                        return stats
            await producer.flush()
    return stats
