"""The route role: verdicts -> approved insights, revise requests, or final rejections.

- APPROVE -> an ApprovedInsight on the approved topic (prompt + insight + grade +
  verdict, each once: the carried copies are dropped).
- REVISE  -> the prompt again with ``attempt + 1`` and the judge's notes, until
  ``max_attempts`` attempts were made; then a final REJECT verdict.
- REJECT  -> nothing: it stays on the verdicts topic.
- With ``top_fraction`` set, an APPROVE outside the top fraction of the recent
  judge scores becomes a REJECT (the original design approves the top 15%).

Every output is a function of the verdict alone (timestamps included), so a
redelivered verdict produces identical records: consumers dedupe by id. A
revise request keeps its prompt's ``created_at`` (see :func:`revised_prompt`). The
top-fraction gate depends on the recent scores, so its state lives in Kafka:
its decisions are the router's own outputs (an ApprovedInsight, or a
not-in-the-top REJECT), which every route worker reads back at start-up and
then as they come (:mod:`kasper.agents.tail`). A verdict is ranked among the
scores decided before it (by ``created_at``), and a verdict id already decided
gets its first answer and is not counted again, across restarts and rebalances
(tests/test_route_gate.py; what is left is in docs/reliability.md).

Calibration on /metrics: for each verdict the LLM judged (its grade passed), the
rubric's decision (:func:`~kasper.agents.quality.agreement.grade_decision`) and the
judge's are counted, and Cohen's kappa over the last ``AGREEMENT_WINDOW`` such pairs
is a gauge per version pair (:class:`AgreementWindow`).  A redelivered verdict counts
again there.  Agreement with people's thumbs is not here: feedback never reaches
the router (the run report measures it).

Error policy: a verdict without its carried grade/insight/prompt cannot be
routed -> DLQ (``RouteError``); anything else is a bug and propagates.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import OrderedDict, deque
from typing import Any

from prometheus_client import Counter, Gauge

from kasper.agents.quality.agreement import DECISIONS, cohen_kappa, grade_decision, verdict_decision
from kasper.agents.tail import follow_tail, millis
from kasper.schemas.errors import KasperError
from kasper.streams import topics
from kasper.streams.app import topic
from kasper.streams.logs import get_logger
from kasper.streams.stage import Output, Stage, run_agent

DEFAULT_MAX_ATTEMPTS = 3
# Marks the REJECT verdicts the router itself writes; it reads them back from the
# verdicts topic and must not count them twice.
ROUTER_PREFIX = "router: "
NOT_TOP = "not in the top"
GATE_MEMORY = 2000  # decisions kept beyond the window, to answer redeliveries as before
SENT_MEMORY = 20_000  # router outputs remembered so that a repeat is not sent again

ROUTED = Counter("kasper_routed_total", "Verdicts routed, by outcome.", ["outcome"])
AGREEMENT = Counter(
    "kasper_judge_rubric_agreement_total",
    "Judge verdicts against rubric grades, per grader version (calibration).",
    ["grader_version", "rubric_passed", "judge_recommendation"],
)
# rubric_version is the grade's grader_version (the rubric's side of the pair),
# judge_rubric_version the verdict's rubric_version (the judge prompt's).
AGREEMENT_KAPPA = Gauge(
    "kasper_quality_agreement_kappa",
    "Cohen's kappa of two raters' APPROVE/REVISE/REJECT decisions over a rolling window of pairs.",
    ["pair", "rubric_version", "judge_rubric_version"],
)
AGREEMENT_PAIRS = Counter(
    "kasper_quality_agreement_pairs_total",
    "Decision pairs behind kasper_quality_agreement_kappa, by each rater's decision.",
    ["pair", "rubric_version", "judge_rubric_version", "rubric_decision", "judge_decision"],
)
AGREEMENT_WINDOW = 500

log = get_logger(__name__)


class RouteError(KasperError):
    """A verdict that cannot be routed."""


class TopFraction:
    """Is a score within the top ``fraction`` of the ``window`` scores decided before it?

    Every decision is an entry (key: the verdict's insight id, stamp: its
    ``created_at`` in ms, score, admitted). A verdict is ranked among the ``window``
    entries stamped before it, so the answer does not depend on what was decided
    after it; a key seen again gets its first answer and is not counted again.
    :meth:`record` adds decisions read back from Kafka (:func:`decision_of`): a
    restarted worker, or one taking over partitions, finds the gate as it was.
    The newest ``window + remember`` entries are kept.
    """

    def __init__(self, fraction: float, window: int = 200, remember: int = 2000) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"top fraction must be in (0, 1], got {fraction}")
        self.fraction = fraction
        self.window = window
        self._capacity = window + remember
        self._order: list[tuple[int, int, str]] = []  # (stamp, arrival, key), by stamp
        self._entries: dict[str, tuple[int, int, float, bool]] = {}
        self._arrivals = 0

    def __len__(self) -> int:
        return len(self._entries)

    def admit(self, score: float, key: str | None = None, stamp: int | None = None) -> bool:
        if key is not None and (known := self._entries.get(key)) is not None:
            return known[3]
        if stamp is None:  # no time: after everything seen so far
            stamp = self._order[-1][0] if self._order else 0
        position = bisect.bisect_right(self._order, (stamp, self._arrivals + 1, ""))
        earlier = [self._entries[k][2] for _, _, k in self._order[max(0, position - self.window + 1):position]]
        scores = sorted([*earlier, score])
        # Rank among the window: admitted when fewer than fraction*n scores beat it.
        better = len(scores) - bisect.bisect_right(scores, score)
        admitted = better < max(1, round(self.fraction * len(scores)))
        self.record(key, stamp, score, admitted)
        return admitted

    def record(self, key: str | None, stamp: int, score: float, admitted: bool) -> None:
        """Add a decision (made here, or read back from Kafka); a known key is kept as it is."""
        self._arrivals += 1
        key = key if key is not None else f"#{self._arrivals}"
        if key in self._entries:
            return
        self._entries[key] = (stamp, self._arrivals, score, admitted)
        bisect.insort(self._order, (stamp, self._arrivals, key))
        if len(self._order) > self._capacity:
            _, _, oldest = self._order.pop(0)
            del self._entries[oldest]


def decision_of(record: dict[str, Any]) -> tuple[str, int, float, bool] | None:
    """(insight id, stamp, score, admitted) of a gate decision the router wrote: an
    ApprovedInsight (admitted) or its own not-in-the-top REJECT verdict; else None."""
    verdict = record.get("verdict") if "approved_at" in record else record
    if verdict is None:
        return None
    admitted = "approved_at" in record
    if not admitted and not verdict.get("rationale", "").startswith(ROUTER_PREFIX + NOT_TOP):
        return None
    return record["insight_id"], millis(verdict["created_at"]), verdict["overall"], admitted


class AgreementWindow:
    """The last ``size`` (rubric, judge) decision pairs per version pair, and their kappa."""

    def __init__(self, size: int = AGREEMENT_WINDOW) -> None:
        if size < 1:
            raise ValueError(f"agreement window must hold at least one pair, got {size}")
        self.size = size
        self._pairs: dict[tuple[str, str], deque[tuple[str, str]]] = {}

    def add(self, versions: tuple[str, str], rubric: str, judge: str) -> float:
        """Add one pair under ``versions`` and return the kappa of that window."""
        window = self._pairs.setdefault(versions, deque(maxlen=self.size))
        window.append((rubric, judge))
        # A full recount per verdict: a few hundred pairs, cheap beside a judge call.
        return cohen_kappa([r for r, _ in window], [j for _, j in window], DECISIONS)


def observe_agreement(window: AgreementWindow, grade: dict[str, Any], verdict: dict[str, Any]) -> None:
    """Count the rubric-judge pair of an LLM-judged verdict and update its kappa gauge."""
    versions = (grade["grader_version"], verdict["rubric_version"])
    rubric, judge = grade_decision(grade), verdict_decision(verdict)
    AGREEMENT_PAIRS.labels("rubric_judge", *versions, rubric, judge).inc()
    AGREEMENT_KAPPA.labels("rubric_judge", *versions).set(window.add(versions, rubric, judge))


def carried(verdict: dict[str, Any]) -> tuple[dict, dict, dict]:
    """(grade, insight, prompt) carried by ``verdict``; ``RouteError`` when any is missing."""
    grade = verdict.get("grade")
    insight = grade.get("insight") if grade else None
    prompt = insight.get("prompt") if insight else None
    if prompt is None:
        missing = "grade" if grade is None else "grade.insight" if insight is None else "grade.insight.prompt"
        raise RouteError(f"verdict {verdict['insight_id']}: no {missing} carried; cannot route")
    return grade, insight, prompt


def approved(verdict: dict[str, Any]) -> dict[str, Any]:
    grade, insight, prompt = carried(verdict)
    return {
        "insight_id": verdict["insight_id"],
        "prompt": prompt,
        "insight": {**insight, "prompt": None},
        "grade": {**grade, "insight": None},
        "verdict": {**verdict, "grade": None},
        "approved_at": verdict["created_at"],
    }


def revised_prompt(verdict: dict[str, Any]) -> dict[str, Any]:
    """The prompt again, attempt + 1, with the judge's notes. It keeps the upstream event's
    ``created_at``: a verdict's own time changes when a grade is judged again after a
    crash, and the grade stage reads the originality memory as of this time."""
    _grade, _insight, prompt = carried(verdict)
    notes = verdict.get("revise_notes") or verdict["rationale"]
    return {**prompt, "attempt": prompt["attempt"] + 1, "revise_notes": notes}


def rejected(verdict: dict[str, Any], why: str) -> dict[str, Any]:
    rationale = f"{ROUTER_PREFIX}{why}; judge said: {verdict['rationale']}"
    return {**verdict, "recommendation": "REJECT", "rationale": rationale}


def route(verdict: dict[str, Any], max_attempts: int = DEFAULT_MAX_ATTEMPTS,
          top: TopFraction | None = None, agreement: AgreementWindow | None = None) -> list[Output]:
    """The records ``verdict`` leads to (see the module docstring); with ``agreement``,
    an LLM-judged verdict also updates the rubric-judge agreement metrics."""
    grade, _insight, prompt = carried(verdict)
    decision = verdict["recommendation"]
    if decision == "REJECT" and verdict["rationale"].startswith(ROUTER_PREFIX):
        return []  # our own final rejection, read back: already counted
    AGREEMENT.labels(grade["grader_version"], str(grade["passed"]).lower(), decision).inc()
    # A failed grade got the rubric's own REVISE without an LLM call (the judge role):
    # pairing it would be the rubric agreeing with itself. The codec reads unknown
    # recommendations as REJECT; the membership test only keeps a metric from ever
    # turning a routable verdict into a dead letter.
    if agreement is not None and grade["passed"] and decision in DECISIONS:
        observe_agreement(agreement, grade, verdict)
    if decision == "APPROVE":
        if top is not None and not top.admit(verdict["overall"], key=verdict["insight_id"],
                                             stamp=millis(verdict["created_at"])):
            ROUTED.labels("rejected_not_top").inc()
            return [(topics.VERDICTS, rejected(verdict, f"{NOT_TOP} {top.fraction:.0%} of recent scores"))]
        ROUTED.labels("approved").inc()
        return [(topics.APPROVED, approved(verdict))]
    if decision == "REVISE":
        if prompt["attempt"] + 1 < max_attempts:
            ROUTED.labels("revised").inc()
            return [(topics.PROMPTS, revised_prompt(verdict))]
        ROUTED.labels("rejected_max_attempts").inc()
        return [(topics.VERDICTS, rejected(verdict, f"still REVISE after {max_attempts} attempts"))]
    ROUTED.labels("rejected").inc()
    return []


class Sent:
    """The router's outputs already on Kafka (read back) or sent by this process: one is
    not sent again. The last ``capacity`` are kept."""

    def __init__(self, capacity: int = SENT_MEMORY) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[tuple, None] = OrderedDict()

    def __contains__(self, key: tuple) -> bool:
        return key in self._keys

    def add(self, key: tuple | None) -> None:
        if key is None or key in self._keys:
            return
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)

    def fresh(self, outputs: list[Output]) -> list[Output]:
        """``outputs`` without those already sent; the rest now count as sent."""
        out = []
        for spec, record in outputs:
            key = output_key(spec, record)
            if key is not None and key in self._keys:
                log.info("output already sent, not sent again", topic=spec.name, key=list(key))
                continue
            self.add(key)
            out.append((spec, record))
        return out


def output_key(spec: topics.TopicSpec, record: dict[str, Any]) -> tuple | None:
    """What makes a router output on ``spec`` the same one again: the approved insight,
    the prompt attempt asked for, the insight finally rejected; None for other records."""
    if spec is topics.APPROVED:
        return ("approved", record["insight_id"])
    if spec is topics.PROMPTS:
        return ("revise", record["prompt_id"], record["attempt"]) if record["attempt"] else None
    if spec is topics.VERDICTS and record["recommendation"] == "REJECT" \
            and record["rationale"].startswith(ROUTER_PREFIX):
        return ("rejected", record["insight_id"])
    return None


def register(app: Any, ctx: Any) -> None:
    """Declare the route agent on ``app``, and the followers of its outputs (the gate's
    decisions and the repeats it does not send again)."""
    max_attempts = int(ctx.options.get("max_attempts", DEFAULT_MAX_ATTEMPTS))
    fraction = ctx.options.get("approve_top_fraction")
    top = TopFraction(float(fraction)) if fraction else None
    agreement = AgreementWindow()
    sent = Sent()
    stage = Stage("route", topics.VERDICTS, ctx.codec, ctx.send)
    followed = (topics.APPROVED, topics.VERDICTS, topics.PROMPTS)
    ready = {spec.name: asyncio.Event() for spec in followed}

    async def process(verdict: dict[str, Any]) -> list[Output]:
        if not all(r.is_set() for r in ready.values()):
            await asyncio.gather(*(r.wait() for r in ready.values()))
        return sent.fresh(route(verdict, max_attempts, top, agreement))

    @app.agent(topic(app, topics.VERDICTS), name="kasper.route")
    async def route_agent(stream: Any) -> None:
        await run_agent(stage, stream, process)

    def read_back(spec: topics.TopicSpec):
        def on_record(record: dict[str, Any]) -> None:
            sent.add(output_key(spec, record))
            if top is not None and (decision := decision_of(record)) is not None:
                top.record(*decision)
        return on_record

    async def follow(spec: topics.TopicSpec) -> None:
        # Prompts and verdicts hold far more than the router's outputs: read more of them.
        capacity = SENT_MEMORY if spec is topics.APPROVED else 4 * SENT_MEMORY
        try:
            await follow_tail(ctx, spec, capacity, read_back(spec), ready[spec.name])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # routing goes on with what was read
            log.error("route output follower stopped", topic=spec.name, error=str(exc)[:300])
            ready[spec.name].set()

    def follower(spec: topics.TopicSpec) -> Any:
        async def follow_outputs() -> None:
            await follow(spec)
        follow_outputs.__qualname__ = f"route_follows_{spec.name.replace('.', '_')}"
        return follow_outputs

    for spec in followed:
        app.task(follower(spec))
