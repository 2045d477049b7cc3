"""Re-grading a range of insights (``kasper replay regrade``) and comparing with the originals.

:func:`regrade` sends one Grade per distinct insight in the range to a new topic
(:func:`kasper.streams.topics.replay_grades`), never to the live grades topic, and
compares with the latest original grade per insight. Its originality memory starts
empty, so the originality criterion can score higher than it did live.

Error policy: as :func:`kasper.streams.replay.read_range`; an insight that does not
decode or cannot be graded is listed in the report with its topic/partition/offset.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kasper.agents.grade import GradeError, grade_insight
from kasper.agents.quality.rubric import Rubric
from kasper.schemas import Codec
from kasper.streams import topics
from kasper.streams.admin import create_topics
from kasper.streams.producer import Producer
from kasper.streams.replay import Range, read_range
from kasper.streams.settings import Settings


@dataclass
class RegradeReport:
    """What :func:`regrade` did and how the new grades compare with the original ones."""

    topic: str
    grader_version: str
    pass_threshold: float
    insights: int = 0
    duplicates: int = 0
    undecodable: list[str] = field(default_factory=list)  # "topic[p]@offset: error"
    ungradable: list[str] = field(default_factory=list)
    new: list[dict[str, Any]] = field(default_factory=list)  # the Grade records sent
    original: dict[str, dict[str, Any]] = field(default_factory=dict)  # insight_id -> Grade

    def summary(self) -> dict[str, Any]:
        matched = [(self.original[g["insight_id"]], g) for g in self.new if g["insight_id"] in self.original]
        letters = Counter(f"{o['letter']}->{n['letter']}" for o, n in matched if o["letter"] != n["letter"])
        flips = Counter(f"{_verdict(o)}->{_verdict(n)}" for o, n in matched if o["passed"] != n["passed"])
        return {
            "topic": self.topic, "grader_version": self.grader_version,
            "pass_threshold": self.pass_threshold, "insights": self.insights,
            "graded": len(self.new), "duplicates": self.duplicates,
            "undecodable": len(self.undecodable), "ungradable": len(self.ungradable),
            "new": _rates(self.new),
            "original": {**_rates([o for o, _ in matched]), "matched": len(matched),
                         "grader_versions": dict(Counter(o["grader_version"] for o, _ in matched))},
            "new_on_matched": _rates([n for _, n in matched]),
            "letter_changes": dict(sorted(letters.items())), "pass_changes": dict(sorted(flips.items())),
        }


def _verdict(grade: dict[str, Any]) -> str:
    return "pass" if grade["passed"] else "fail"


def _rates(grades: list[dict[str, Any]]) -> dict[str, Any]:
    if not grades:
        return {"pass_rate": None, "mean_score": None}
    return {"pass_rate": round(sum(g["passed"] for g in grades) / len(grades), 4),
            "mean_score": round(statistics.fmean(g["final_score"] for g in grades), 4)}


async def regrade(settings: Settings, codec: Codec, name: str, request: Range, *,
                  rubric: Any = None, insights_topic: str = topics.INSIGHTS.name,
                  grades_topic: str | None = topics.GRADES.name, idle_timeout_s: float = 2.0,
                  ) -> RegradeReport:
    """Grade every insight of ``insights_topic`` in ``request`` into ``kasper.grades.replay.<name>``.

    The originals are the latest grade per insight on ``grades_topic`` (None: no comparison).
    """
    spec = topics.replay_grades(name)
    rubric = rubric or Rubric()
    report = RegradeReport(spec.name, rubric.version, rubric.pass_threshold)
    await create_topics(settings.kafka, [spec])
    seen: set[str] = set()
    oldest_ms: int | None = None
    async with Producer(settings, codec) as producer:
        async for received in read_range(settings.kafka, codec, insights_topic, request,
                                         idle_timeout_s=idle_timeout_s,
                                         expect=topics.INSIGHTS.record):
            if received.error is not None:
                report.undecodable.append(f"{received.where}: {received.error}")
                continue
            report.insights += 1
            insight = received.record
            if insight["insight_id"] in seen:
                report.duplicates += 1
                continue
            seen.add(insight["insight_id"])
            if oldest_ms is None or received.timestamp_ms < oldest_ms:
                oldest_ms = received.timestamp_ms
            try:
                grade = grade_insight(rubric, insight)
            except GradeError as exc:
                report.ungradable.append(f"{received.where}: {exc}")
                continue
            await producer.send(spec, grade)
            report.new.append(grade)
    if grades_topic is not None and seen:
        report.original = await _original_grades(settings, codec, grades_topic, seen, oldest_ms,
                                                 idle_timeout_s)
    return report


async def _original_grades(settings: Settings, codec: Codec, topic: str, wanted: set[str],
                           since_ms: int | None, idle_timeout_s: float) -> dict[str, dict[str, Any]]:
    """The latest grade per wanted insight; grades come after their insight, so from ``since_ms``."""
    found: dict[str, dict[str, Any]] = {}
    async for received in read_range(settings.kafka, codec, topic, Range(since_ms=since_ms),
                                     idle_timeout_s=idle_timeout_s, expect=topics.GRADES.record):
        record = received.record
        if record is not None and record["insight_id"] in wanted:
            found[record["insight_id"]] = record
    return found
