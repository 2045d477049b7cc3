"""Following a run through every topic: per-stage counts, the funnel, final outcomes.

``Tally.observe`` is a plain function of (topic, record), so the terminal view
of ``kasper up`` and its tests count the same way. A prompt's final outcome is
the first of: approved, rejected (a REJECT verdict, the judge's or the
router's), dead-lettered (any stage, traced back to its prompt id).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kasper.schemas import Codec
from kasper.schemas.errors import CodecError
from kasper.streams import topics
from kasper.streams.consumer import open_consumer
from kasper.streams.settings import KafkaSettings


def prompt_id_of(codec: Codec, topic: str, record: dict[str, Any]) -> str | None:
    """The prompt id a record is about, on any catalog topic (DLQ: from its original bytes)."""
    if topic == topics.APPROVED.name:
        return record["prompt"]["prompt_id"]
    if topic == topics.DLQ.name:
        return _dead_prompt_id(codec, record)
    return record.get("prompt_id")


def _dead_prompt_id(codec: Codec, letter: dict[str, Any]) -> str | None:
    try:
        original = codec.decode(letter["original_bytes"]).record
    except CodecError:
        key = letter.get("original_key")
        return key.decode(errors="replace") if letter["original_topic"] == topics.PROMPTS.name and key else None
    return original.get("prompt_id") or (original.get("prompt") or {}).get("prompt_id")


def _dead_window_id(codec: Codec, letter: dict[str, Any]) -> str | None:
    """The window id of a dead-lettered TrainingWindow event (None for other letters)."""
    if letter["original_topic"] != topics.TRAINING_WINDOWS.name:
        return None
    try:
        return codec.decode(letter["original_bytes"]).record["window_id"]
    except CodecError:
        return "undecodable"


@dataclass
class Tally:
    """Counts of one run; ``outcomes`` maps prompt id -> approved/rejected/dead-lettered."""

    counts: Counter = field(default_factory=Counter)
    outcomes: dict[str, str] = field(default_factory=dict)
    completion_tokens: int = 0
    generation_seconds: float = 0.0
    judge_cost_usd: float = 0.0
    dlq_by_stage: Counter = field(default_factory=Counter)
    # What the run report draws: rubric criterion scores of every grade, (rubric final
    # score, judge overall, decision) of every verdict the LLM judged, the windows
    # announced and the model versions trained (window id -> version, or the DLQ reason).
    criterion_scores: dict[str, list[float]] = field(default_factory=dict)
    judged: list[tuple[float, float, str]] = field(default_factory=list)
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_windows: dict[str, str] = field(default_factory=dict)

    def observe(self, codec: Codec, topic: str, record: dict[str, Any]) -> None:
        self.counts[topic] += 1
        pid = prompt_id_of(codec, topic, record)
        if topic == topics.PROMPTS.name and record["attempt"] > 0:
            self.counts["revisions"] += 1
        elif topic == topics.INSIGHTS.name:
            self.completion_tokens += record["completion_tokens"]
            self.generation_seconds += record["latency_ms"] / 1000
        elif topic == topics.GRADES.name:
            self.counts["grades_passed"] += record["passed"]
            for criterion, score in record["scores"].items():
                self.criterion_scores.setdefault(criterion, []).append(score)
        elif topic == topics.VERDICTS.name:
            self.counts[f"verdict_{record['recommendation']}"] += 1
            self.judge_cost_usd += record["cost_usd"]
            if record["grade"]["passed"]:  # the others got the rubric's REVISE, no LLM call
                self.judged.append((record["grade"]["final_score"], record["overall"],
                                    record["recommendation"]))
            if record["recommendation"] == "REJECT":
                self._final(pid, "rejected")
        elif topic == topics.APPROVED.name:
            self._final(pid, "approved")
        elif topic == topics.TRAINING_WINDOWS.name:
            self.windows[record["window_id"]] = record
        elif topic == topics.MODELS.name and record["window_id"]:
            self.versions[record["window_id"]] = record
        elif topic == topics.DLQ.name:
            self.dlq_by_stage[record["stage"]] += 1
            window_id = _dead_window_id(codec, record)
            if window_id is not None:
                self.failed_windows[window_id] = record["reason"]
            else:
                self._final(pid, "dead-lettered")

    def windows_pending(self) -> list[str]:
        """Windows announced but neither trained nor dead-lettered yet."""
        return [w for w in self.windows if w not in self.versions and w not in self.failed_windows]

    def _final(self, prompt_id: str | None, outcome: str) -> None:
        if prompt_id is not None:
            self.outcomes.setdefault(prompt_id, outcome)

    def funnel(self) -> str:
        c = self.counts
        return (f"prompts {c[topics.PROMPTS.name]} ({c['revisions']} revisions) -> insights {c[topics.INSIGHTS.name]} -> "
                f"grades {c[topics.GRADES.name]} (passed {c['grades_passed']}) -> verdicts "
                f"{c[topics.VERDICTS.name]} (A {c['verdict_APPROVE']} / R {c['verdict_REVISE']} / "
                f"X {c['verdict_REJECT']}) -> approved {c[topics.APPROVED.name]}; "
                f"dlq {c[topics.DLQ.name]}")


FOLLOWED = (topics.PROMPTS, topics.INSIGHTS, topics.GRADES, topics.VERDICTS, topics.APPROVED,
            topics.DLQ, topics.TRAINING_WINDOWS, topics.MODELS)


async def follow(kafka: KafkaSettings, codec: Codec, tally: Tally, spec: topics.TopicSpec,
                 ready: asyncio.Event, stop: asyncio.Event) -> None:
    """Tally ``spec``'s topic from its current end (``ready`` set then) until ``stop``."""
    async with open_consumer(kafka, spec.name) as consumer:
        ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                for message in messages:
                    try:
                        record = codec.decode(message.value or b"").record
                    except CodecError:
                        tally.counts[f"undecodable:{spec.name}"] += 1
                        continue
                    tally.observe(codec, spec.name, record)
