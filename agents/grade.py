"""The grade role: insights -> grades, with the rubric of ``agents/quality/rubric.py``.

Error policy:
- an insight that does not decode, or carries no text -> DLQ (by ``Stage``);
- grading itself is pure and cannot fail on any string; a bug propagates.

Originality needs the recently approved insights. They are read straight from
the approved topic (every partition, no consumer group), the last
``ORIGINALITY_CAPACITY`` of them at start-up and then as they come, so every
grade worker sees all of them: the topic is the state store. Grading waits until
that start-up read reached the topic's end.

Same record, same grade: an insight is scored against the memory as of its
prompt (the carried PromptEvent's ``created_at``, which a regenerated copy of the
insight shares, unlike its own): its own approved copy (by ``insight_id``) and
anything approved after its prompt was written do not count. So an insight delivered again after a
crash, whose approved copy is by then in the memory, gets the score it got the
first time, and the same decision (tests/test_originality_redelivery.py).
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from prometheus_client import Histogram

from kasper.agents.quality import salad
from kasper.agents.quality.harm import injection_head
from kasper.agents.quality.harm.semantic import load as load_semantic_gate
from kasper.agents.quality.rubric import GRADER_VERSION, Rubric, to_record
from kasper.agents.tail import follow_tail, millis
from kasper.schemas.errors import KasperError
from kasper.streams import records, topics
from kasper.streams.app import topic
from kasper.streams.logs import get_logger
from kasper.streams.stage import Output, Stage, run_agent

ORIGINALITY_CAPACITY = 5_000

log = get_logger(__name__)
SCORES = Histogram("kasper_grade_score", "Rubric scores (0-1) of graded insights, by criterion "
                   "('final' is the weighted score).", ["criterion"],
                   buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0))


class GradeError(KasperError):
    """An insight that cannot be graded (no text)."""


def as_of(rubric: Rubric, insight: dict[str, Any]) -> Rubric:
    """``rubric`` with its originality memory as ``insight`` sees it (the module docstring)."""
    prompt = insight.get("prompt") or {}
    view = copy.copy(rubric)
    view.originality = rubric.originality.as_of(
        exclude=insight["insight_id"], before=millis(prompt.get("created_at") or insight.get("created_at")))
    return view


def grade_insight(rubric: Rubric, insight: dict[str, Any]) -> dict[str, Any]:
    """The Grade record for ``insight``, carrying the insight forward for the judge."""
    text = insight.get("text") or ""
    if not text.strip():
        raise GradeError(f"insight {insight['insight_id']}: empty text")
    prompt = insight.get("prompt") or {}
    result = as_of(rubric, insight).grade(text, insight.get("domain"), prompt.get("context"))
    grade = to_record(result, insight["insight_id"], insight["prompt_id"], records.now())
    grade["insight"] = insight
    return grade


def remember(rubric: Rubric, approved: dict[str, Any]) -> bool:
    """Add an approved insight to the memory once, keyed and stamped; ``False`` if known."""
    return rubric.originality.add(approved["insight"]["text"], key=approved["insight_id"],
                                  stamp=millis(approved.get("approved_at")))


def make_process(rubric: Rubric, ready: asyncio.Event | None = None):
    async def process(insight: dict[str, Any]) -> list[Output]:
        if ready is not None and not ready.is_set():
            await ready.wait()
        grade = grade_insight(rubric, insight)
        for criterion, score in (*grade["scores"].items(), ("final", grade["final_score"])):
            SCORES.labels(criterion).observe(score)
        return [(topics.GRADES, grade)]
    return process


async def follow_approved(ctx: Any, rubric: Rubric, capacity: int = ORIGINALITY_CAPACITY,
                          ready: asyncio.Event | None = None) -> None:
    """Feed approved texts into the rubric's originality memory, forever; set ``ready``
    once the records that were on the topic at start-up are in."""
    await follow_tail(ctx, topics.APPROVED, capacity, lambda record: remember(rubric, record),
                      ready or asyncio.Event())


def register(app: Any, ctx: Any) -> None:
    """Declare the grade agent and the originality follower on ``app``."""
    # None (the worker's flag not given) means the setting.
    threshold = ctx.options.get("pass_threshold")
    rubric = Rubric(pass_threshold=ctx.settings.grade.pass_threshold if threshold is None else float(threshold),
                    semantic=ctx.settings.grade.semantic_gate)
    if rubric.semantic:
        # At start: a missing model package or weights file fails the worker, not every grade.
        load_semantic_gate()
        injection_head.weights()
        salad.load()
    stage = Stage("grade", topics.INSIGHTS, ctx.codec, ctx.send)
    ready = asyncio.Event()
    process = make_process(rubric, ready)

    @app.agent(topic(app, topics.INSIGHTS), name="kasper.grade")
    async def grade(stream: Any) -> None:
        await run_agent(stage, stream, process)

    @app.task
    async def originality_memory() -> None:
        try:
            await follow_approved(ctx, rubric, ready=ready)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # originality degrades to what was read; grading goes on
            log.error("originality follower stopped", error=str(exc), grader=GRADER_VERSION)
            ready.set()
