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
from typing import Any, Protocol

from kasper.agents.quality.agreement import grade_decision, thumbs_decision
from kasper.schemas import Codec
from kasper.schemas.errors import CodecError
from kasper.streams import topics
from kasper.streams.consumer import open_consumer
from kasper.streams.settings import KafkaSettings

# kasper.agents.route.ROUTER_PREFIX: the router's own final REJECTs, read back from the
# verdicts topic, are its decision and not the judge's. Spelled out here because
# importing the route role would load Faust into every CLI command (test_report
# checks the two agree).
ROUTER_PREFIX = "router: "


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
    # What the run report draws: rubric criterion scores of every grade, the windows
    # announced and the model versions trained (window id -> version, or the DLQ reason).
    criterion_scores: dict[str, list[float]] = field(default_factory=dict)
    # Its calibration section, per insight id: (grader_version, rubric decision) of the
    # grade; (judge rubric_version, judge decision, rubric final score, judge overall)
    # when the LLM judged it; per feedback id, (insight id, thumbs decision or None).
    # First record wins: a redelivered record is the same record (delivery is at least
    # once), and only ids and decisions are kept, never a comment or a user.
    rubric: dict[str, tuple[str, str]] = field(default_factory=dict)
    llm_verdicts: dict[str, tuple[str, str, float, float]] = field(default_factory=dict)
    thumbs: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_windows: dict[str, str] = field(default_factory=dict)
    # Per insight id, the adapter version that wrote it (None: the base model), so the
    # report can attribute the users' thumbs to model versions.
    written_by: dict[str, str | None] = field(default_factory=dict)

    def observe(self, codec: Codec, topic: str, record: dict[str, Any]) -> None:
        self.counts[topic] += 1
        pid = prompt_id_of(codec, topic, record)
        if topic == topics.PROMPTS.name and record["attempt"] > 0:
            self.counts["revisions"] += 1
        elif topic == topics.INSIGHTS.name:
            self.completion_tokens += record["completion_tokens"]
            self.generation_seconds += record["latency_ms"] / 1000
            self.written_by.setdefault(record["insight_id"], record.get("adapter_version"))
        elif topic == topics.GRADES.name:
            self.counts["grades_passed"] += record["passed"]
            for criterion, score in record["scores"].items():
                self.criterion_scores.setdefault(criterion, []).append(score)
            self.rubric.setdefault(record["insight_id"], (record["grader_version"], grade_decision(record)))
        elif topic == topics.VERDICTS.name:
            self.counts[f"verdict_{record['recommendation']}"] += 1
            self.judge_cost_usd += record["cost_usd"]
            self._verdict(record)
            if record["recommendation"] == "REJECT":
                self._final(pid, "rejected")
        elif topic == topics.APPROVED.name:
            self._final(pid, "approved")
        elif topic == topics.FEEDBACK.name:
            self.thumbs.setdefault(record["feedback_id"], (record["insight_id"], thumbs_decision(record)))
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

    def _verdict(self, verdict: dict[str, Any]) -> None:
        grade = verdict.get("grade")
        if grade is None:  # written before verdicts carried their grade: nothing to pair
            return
        insight_id = verdict["insight_id"]
        self.rubric.setdefault(insight_id, (grade["grader_version"], grade_decision(grade)))
        # A failed grade got the rubric's own REVISE (no LLM call), and a router REJECT
        # repeats a verdict already counted: neither is the judge's opinion.
        if grade["passed"] and not verdict["rationale"].startswith(ROUTER_PREFIX):
            self.llm_verdicts.setdefault(insight_id, (verdict["rubric_version"], verdict["recommendation"],
                                                      grade["final_score"], verdict["overall"]))

    @property
    def judged(self) -> list[tuple[float, float, str]]:
        """(rubric final score, judge overall, judge decision) of every insight the LLM judged."""
        return [(final, overall, decision) for _, decision, final, overall in self.llm_verdicts.values()]

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
                f"dlq {c[topics.DLQ.name]}{self._windows_dead_lettered()}; "
                f"{self.revisions_per_approved()} revisions per approved insight")

    def _windows_dead_lettered(self) -> str:
        # The outcome counts are per prompt, so a dead-lettered window must be named apart.
        n = len(self.failed_windows)
        return f" ({n} training window{'s' if n != 1 else ''}, not prompts)" if n else ""

    def revisions_per_approved(self) -> str:
        """Revisions asked in the run per insight it approved: what a draft costs to get right."""
        approved = self.counts[topics.APPROVED.name]
        return f"{self.counts['revisions'] / approved:.2f}" if approved else "n/a (none approved)"


# Every catalog topic: the run directory keeps a file of each (the tokens topic has
# records only when generate streams tokens).
FOLLOWED = topics.CATALOG


class Keeper(Protocol):
    """What keeps a run's records as they arrive (``run_files.RunRecords``)."""

    def record(self, topic: str, record: dict[str, Any]) -> None: ...

    def undecodable(self, topic: str, partition: int, offset: int, value: bytes,
                    error: Exception) -> None: ...


async def follow(kafka: KafkaSettings, codec: Codec, tally: Tally, spec: topics.TopicSpec,
                 ready: asyncio.Event, stop: asyncio.Event, keeper: Keeper | None = None) -> None:
    """Tally ``spec``'s topic from its current end (``ready`` set then) until ``stop``;
    ``keeper`` gets every record (and every undecodable one) in the order tallied."""
    async with open_consumer(kafka, spec.name) as consumer:
        ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                for message in messages:
                    try:
                        record = codec.decode(message.value or b"").record
                    except CodecError as exc:
                        tally.counts[f"undecodable:{spec.name}"] += 1
                        if keeper is not None:
                            keeper.undecodable(spec.name, message.partition, message.offset,
                                               message.value or b"", exc)
                        continue
                    tally.observe(codec, spec.name, record)
                    if keeper is not None:
                        keeper.record(spec.name, record)
