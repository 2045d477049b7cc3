"""The grade role: insights -> grades, with the rubric of ``agents/quality/rubric.py``.

Error policy:
- an insight that does not decode, or carries no text -> DLQ (by ``Stage``);
- grading itself is pure and cannot fail on any string; a bug propagates.

Originality needs the recently approved insights. They are read straight from
the approved topic (every partition, no consumer group), the last
``ORIGINALITY_CAPACITY`` of them at start-up and then as they come, so every
grade worker sees all of them: the topic is the state store.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import Histogram

from kasper.agents.quality.rubric import GRADER_VERSION, Rubric, to_record
from kasper.schemas.errors import KasperError
from kasper.streams import records, topics
from kasper.streams.app import topic
from kasper.streams.consumer import decode_message, open_consumer
from kasper.streams.logs import get_logger
from kasper.streams.stage import Output, Stage, run_agent

ORIGINALITY_CAPACITY = 5_000

log = get_logger(__name__)
SCORES = Histogram("kasper_grade_score", "Rubric scores (0-1) of graded insights, by criterion "
                   "('final' is the weighted score).", ["criterion"],
                   buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0))


class GradeError(KasperError):
    """An insight that cannot be graded (no text)."""


def grade_insight(rubric: Rubric, insight: dict[str, Any]) -> dict[str, Any]:
    """The Grade record for ``insight``, carrying the insight forward for the judge."""
    text = insight.get("text") or ""
    if not text.strip():
        raise GradeError(f"insight {insight['insight_id']}: empty text")
    prompt = insight.get("prompt") or {}
    result = rubric.grade(text, insight.get("domain"), prompt.get("context"))
    grade = to_record(result, insight["insight_id"], insight["prompt_id"], records.now())
    grade["insight"] = insight
    return grade


def make_process(rubric: Rubric):
    async def process(insight: dict[str, Any]) -> list[Output]:
        grade = grade_insight(rubric, insight)
        for criterion, score in (*grade["scores"].items(), ("final", grade["final_score"])):
            SCORES.labels(criterion).observe(score)
        return [(topics.GRADES, grade)]
    return process


async def follow_approved(ctx: Any, rubric: Rubric, capacity: int = ORIGINALITY_CAPACITY) -> None:
    """Feed approved texts into the rubric's originality memory, forever."""
    async with open_consumer(ctx.settings.kafka, topics.APPROVED.name) as consumer:
        await _rewind(consumer, capacity)
        async for message in consumer:
            received = decode_message(ctx.codec, message, expect=topics.APPROVED.record)
            if received.record is not None:
                rubric.remember(received.record["insight"]["text"])


async def _rewind(consumer: Any, capacity: int) -> None:
    """Start each partition ``capacity / partitions`` records before its end."""
    assigned = list(consumer.assignment())
    ends = await consumer.end_offsets(assigned)
    starts = await consumer.beginning_offsets(assigned)
    per_partition = max(1, capacity // max(1, len(assigned)))
    for tp in assigned:
        consumer.seek(tp, max(starts[tp], ends[tp] - per_partition))


def register(app: Any, ctx: Any) -> None:
    """Declare the grade agent and the originality follower on ``app``."""
    # None (the worker's flag not given) means the setting.
    threshold = ctx.options.get("pass_threshold")
    rubric = Rubric(pass_threshold=ctx.settings.grade.pass_threshold if threshold is None else float(threshold))
    stage = Stage("grade", topics.INSIGHTS, ctx.codec, ctx.send)
    process = make_process(rubric)

    @app.agent(topic(app, topics.INSIGHTS), name="kasper.grade")
    async def grade(stream: Any) -> None:
        await run_agent(stage, stream, process)

    @app.task
    async def originality_memory() -> None:
        try:
            await follow_approved(ctx, rubric)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # originality degrades to "novel"; grading goes on
            log.error("originality follower stopped", error=str(exc), grader=GRADER_VERSION)
