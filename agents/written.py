"""The generate role's memory of the prompt attempts already written to the insights topic.

A prompt attempt's insight id is fixed (UUID-5 of prompt id + attempt), but its text
is not: a model version hot-swapped between two deliveries of the prompt writes
another one, which the later stages can decide differently (approved once and sent
back once). So a prompt attempt whose insight is already on ``kasper.insights`` is
not generated again: its insight is on Kafka, and grade reads it from there. Nothing
is re-sent either (a copy would only be graded and judged again).

The memory holds the last ``capacity`` insight ids, read back from the topic by
every generate worker (:func:`follow_written`, every partition, no consumer group:
what any generate worker wrote) and added as this process sends them. The agent
waits for ``ready`` (the topic read to its end as it was at start-up) before its
first batch, so a restarted worker knows what its killed predecessor sent.

Error policy: a follower that fails (broker gone) is logged, marks the memory ready
so that generation goes on with what was read, and starts again 5 s later; an
insight record that does not decode is skipped (the grade stage dead-letters it).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

from kasper.agents.generation import insight_id
from kasper.agents.tail import follow_tail
from kasper.schemas.errors import Where
from kasper.streams import topics
from kasper.streams.logs import get_logger

SKIPPED = Counter("kasper_generate_skipped_total",
                  "Prompt attempts not generated again: their insight was already on the insights topic.")
RETRY_S = 5.0

log = get_logger(__name__)


class Written:
    """The last ``capacity`` insight ids written (read back, or sent by this process)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"the written-insights memory must hold at least one id, got {capacity}")
        self.capacity = capacity
        self.ready = asyncio.Event()
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, ident: str) -> bool:
        return ident in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ident: str) -> None:
        if ident in self._ids:
            return
        self._ids[ident] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


def attempt_id(prompt: dict[str, Any]) -> str:
    """The insight id of ``prompt``'s attempt (what the generator would give its insight)."""
    return insight_id(prompt["prompt_id"], prompt.get("attempt") or 0)


def to_generate(written: Written, prompts: Sequence[dict[str, Any]],
                where: Sequence[Where | None] = ()) -> list[bool]:
    """For each prompt, whether it must be generated: not when its attempt's insight is
    already written, nor when an earlier prompt of the batch is the same attempt (its one
    outcome serves both). Each skip is counted and logged."""
    seen: set[str] = set()
    keep = []
    for n, prompt in enumerate(prompts):
        ident = attempt_id(prompt)
        fresh = ident not in written and ident not in seen
        seen.add(ident)
        keep.append(fresh)
        if not fresh:
            SKIPPED.inc()
            log.info("prompt attempt already written, not generated again", insight_id=ident,
                     prompt_id=prompt["prompt_id"], attempt=prompt.get("attempt") or 0,
                     where=str(where[n]) if n < len(where) else None)
    return keep


async def follow_written(ctx: Any, written: Written) -> None:
    """Read the insights topic's last ``capacity`` records into ``written``, then every new
    one, forever; a failure is logged and the read starts again (module docstring)."""
    while True:
        try:
            await follow_tail(ctx, topics.INSIGHTS, written.capacity,
                              lambda record: written.add(record["insight_id"]), written.ready)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            written.ready.set()
            log.error("written-insights follower failed, retrying", error=str(exc)[:300], retry_s=RETRY_S)
            await asyncio.sleep(RETRY_S)
