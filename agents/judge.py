"""The judge role: grades -> verdicts, each carrying its grade so the router needs no join.

- A grade that passed the rubric is judged by the LLM (:mod:`kasper.agents.judging.client`),
  reading the text from the grade's carried insight (event-carried state, no join).  The
  decision is ours (:mod:`kasper.agents.judging.decision`): the model's REJECT or a safety
  flag is never outvoted by scores; the verdict says why (``decision_reason``) and carries
  the flag (``safety``).
- A grade that failed the rubric is not sent to the LLM: it gets a REVISE verdict from
  the rubric itself (``judge_model`` ``"rubric"``, the gate failures and
  recommendations as revise notes, cost 0); the router revises it up to its maximum
  number of attempts, then rejects it.
- With no judge configured (``KASPER_JUDGE_BASE_URL`` unset) the role judges with the
  local model: by default in process, each score read from the score tokens'
  probabilities in a prefill (:mod:`kasper.agents.judging.local`,
  ``KASPER_JUDGE_ENGINE=prefill``); with ``KASPER_JUDGE_ENGINE=server`` it starts the
  embedded ``mlx_lm.server`` (:mod:`kasper.agents.judging.server`) on first use and
  stops it when the agent stops.  A configured base URL always wins.

Error policy (the Stage dead-letters ``KasperError`` and exits the worker, without
committing, on anything else):

- a grade with no carried insight text -> ``JudgeInputError`` -> DLQ;
- ``JudgeRefused``, ``JudgeUnparseable``, ``JudgeRequestError``: this record's content
  is the problem, after the client's own re-asks -> DLQ, where it is kept with its
  original bytes and replayable once the prompt or the model changes;
- ``JudgeUnavailable`` (retries exhausted on 429/5xx/timeouts/closed connections, or
  a bad key/model) is about the judge, not the record.  It never reaches the Stage:
  the record is asked again, with backoff capped at ``outage_backoff_max_s``, until
  the judge answers (a local model that cannot be loaded is this case too).  Dead-lettering would drain every record into the DLQ during
  an outage; raising a non-Kasper error would make the Stage exit the worker, and a
  restart loop against a judge that is down helps nobody.  Holding the record is
  backpressure: the batch is not finished, its offsets are not committed, consumer
  lag and ``kasper_judge_held_records`` show it, and a SIGTERM cancels the wait
  (the uncommitted records are judged after the restart).  Nothing is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from kasper.agents.judging.client import JudgeClient
from kasper.agents.judging.decision import JudgeResult, with_reason
from kasper.agents.judging.errors import JudgeError, JudgeUnavailable
from kasper.agents.judging.local import LocalJudge
from kasper.agents.judging.request import JudgeRequest
from kasper.agents.judging.server import EmbeddedJudgeServer
from kasper.agents.runtime.model_store import resolve_model_dir
from kasper.schemas.errors import KasperError
from kasper.streams import records, topics
from kasper.streams.app import topic
from kasper.streams.logs import get_logger
from kasper.streams.settings import JudgeSettings, ModelSettings
from kasper.streams.stage import Output, Stage, run_agent

RUBRIC_JUDGE = "rubric"
log = get_logger(__name__)

VERDICTS = Counter("kasper_judge_verdicts_total", "Verdicts made, by source and recommendation.",
                   ["source", "recommendation"])
HELD = Gauge("kasper_judge_held_records", "Records held back while the judge is unavailable.")
OUTAGE_WAITS = Counter("kasper_judge_outage_waits_total", "Waits on an unavailable judge.")
SCORES = Histogram("kasper_judge_score", "LLM judge scores (1-10) of verdicts, by criterion "
                   "('overall' included; rubric-only REVISEs are not scored).", ["criterion"],
                   buckets=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10))


class JudgeInputError(JudgeError):
    """A grade the judge cannot read (no carried insight or text)."""


# --- plain functions ---------------------------------------------------------


def judge_request(grade: dict[str, Any]) -> JudgeRequest:
    """What the LLM judges, from the insight (and prompt) carried by ``grade``."""
    insight = grade.get("insight") or {}
    text = (insight.get("text") or "").strip()
    if not text:
        raise JudgeInputError(f"grade {grade['insight_id']}: no insight text carried", reason="no_text")
    prompt = insight.get("prompt") or {}
    return JudgeRequest(text, insight.get("domain") or prompt.get("domain"), prompt.get("context") or {})


def verdict_record(grade: dict[str, Any], result: JudgeResult) -> dict[str, Any]:
    """The Verdict for an LLM-judged grade, carrying the grade."""
    return llm_verdict(grade["insight_id"], grade["prompt_id"], result, grade)


def llm_verdict(insight_id: str, prompt_id: str, result: JudgeResult,
                grade: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Verdict for an LLM-judged insight; ``grade`` is carried when there is one
    (``kasper judge`` also judges bare insights)."""
    return {
        "insight_id": insight_id, "prompt_id": prompt_id,
        "judge_model": result.model, "scores": dict(result.answer.scores), "overall": result.overall,
        "recommendation": result.recommendation, "rationale": result.answer.rationale,
        "revise_notes": result.revise_notes, "score_mode": result.answer.score_mode,
        "rubric_version": result.rubric_version,
        "usage": {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens},
        "cost_usd": result.cost_usd, "cached": result.cached, "latency_ms": round(result.latency_ms, 3),
        "created_at": records.now(), "grade": grade, "decision_reason": result.decision_reason,
        "safety": result.answer.safety,
    }


def rubric_verdict(grade: dict[str, Any]) -> dict[str, Any]:
    """REVISE for a grade that failed the rubric: no LLM call, the rubric's notes, cost 0."""
    rubric = grade["scores"]
    scores = {"authenticity": rubric["spiritual_authenticity"], "practical_wisdom": rubric["practical_wisdom"],
              "emotional_resonance": rubric["emotional_resonance"], "clarity": rubric["clarity_coherence"],
              "originality": rubric["originality"]}
    failures, advice = list(grade.get("gate_failures") or []), list(grade.get("recommendations") or [])
    why = f"failed hard gates: {'; '.join(failures)}" if failures else \
        f"rubric score {grade['final_score']:.2f} below the pass threshold"
    return {
        "insight_id": grade["insight_id"], "prompt_id": grade["prompt_id"], "judge_model": RUBRIC_JUDGE,
        "scores": {k: _to_ten(v) for k, v in scores.items()}, "overall": _to_ten(grade["final_score"]),
        "recommendation": "REVISE", "rationale": f"Not sent to the LLM judge: {why}.",
        "revise_notes": "; ".join(failures + advice) or "Raise the rubric score.",
        "score_mode": "text", "rubric_version": grade["grader_version"],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0}, "cost_usd": 0.0, "cached": False,
        "latency_ms": 0.0, "created_at": records.now(), "grade": grade,
        "decision_reason": f"rubric: {why}", "safety": None,
    }


def _to_ten(unit: float) -> float:
    """A 0-1 rubric score on the judge's 1-10 scale."""
    return round(1.0 + 9.0 * min(1.0, max(0.0, float(unit))), 3)


async def judge_until_answered(judge: Callable[[JudgeRequest], Awaitable[JudgeResult]],
                               request: JudgeRequest, max_wait_s: float = 60.0,
                               first_wait_s: float = 1.0) -> JudgeResult:
    """``await judge(request)``, waiting out ``JudgeUnavailable`` for as long as it lasts."""
    waits = 0
    try:
        while True:
            try:
                return await judge(request)
            except JudgeUnavailable as exc:
                if waits == 0:
                    HELD.inc()
                waits += 1
                delay = min(max_wait_s, first_wait_s * 2 ** min(waits - 1, 16))
                OUTAGE_WAITS.inc()
                log.error("judge unavailable: holding the record", reason=exc.reason, waits=waits,
                          retry_in_s=delay, error=str(exc)[:300])
                await asyncio.sleep(delay)
    finally:
        if waits:
            HELD.dec()


# --- the role ----------------------------------------------------------------


class JudgeRole:
    """The judge's state: its client (opened on first use: the remote client, the local
    prefill judge, or the client of the embedded server it started).

    Verdicts persist under ``cache_dir`` when given (see :class:`JudgeClient`).
    """

    def __init__(self, settings: JudgeSettings, model_settings: ModelSettings | None = None, *,
                 cache_dir: Path | None = None) -> None:
        self.settings = settings
        self._model_settings = model_settings
        self._cache_dir = cache_dir
        self._client: JudgeClient | LocalJudge | None = None
        self._server: Any = None
        self._opening = asyncio.Lock()

    async def client(self) -> JudgeClient | LocalJudge:
        """The judge client: the local prefill judge when none is configured (it loads its
        model at its first verdict), or the embedded judge server, started first.

        An embedded judge that cannot start is ``JudgeUnavailable``: not the record's fault.
        """
        async with self._opening:
            if self._client is None:
                settings = self.settings
                if settings.base_url is None and settings.engine == "prefill":
                    self._client = LocalJudge(settings, self._model_settings, cache_dir=self._cache_dir)
                    return self._client
                if settings.base_url is None:
                    try:
                        settings = await self._start_embedded(settings)
                    except KasperError as exc:  # JudgeServerError, ModelError
                        raise JudgeUnavailable(f"the embedded judge could not start: {exc}",
                                               reason="embedded_start") from exc
                self._client = JudgeClient(settings, cache_dir=self._cache_dir)
            return self._client

    async def judge(self, request: JudgeRequest) -> JudgeResult:
        """The client's verdict on ``request``, with the reason for its decision."""
        return with_reason(await (await self.client()).judge(request), self.settings.approve_threshold)

    async def _start_embedded(self, settings: JudgeSettings) -> JudgeSettings:
        model_dir = await asyncio.to_thread(resolve_model_dir, self._model_settings)
        self._server = await EmbeddedJudgeServer(model_dir).astart()
        log.info("no judge configured: judging with the embedded local model", url=self._server.base_url)
        return self._server.judge_settings(settings)

    async def process(self, grade: dict[str, Any]) -> list[Output]:
        """One grade -> one verdict (see the module docstring)."""
        if not grade["passed"]:
            VERDICTS.labels(RUBRIC_JUDGE, "REVISE").inc()
            return [(topics.VERDICTS, rubric_verdict(grade))]
        request = judge_request(grade)
        result = await judge_until_answered(self.judge, request, self.settings.outage_backoff_max_s)
        VERDICTS.labels("cache" if result.cached else "llm", result.recommendation).inc()
        verdict = verdict_record(grade, result)
        for criterion, score in (*verdict["scores"].items(), ("overall", verdict["overall"])):
            SCORES.labels(criterion).observe(score)
        return [(topics.VERDICTS, verdict)]

    async def aclose(self) -> None:
        """Close the client and stop the embedded server; the next record reopens them."""
        client, server, self._client, self._server = self._client, self._server, None, None
        if client is not None:
            await client.aclose()
        if server is not None:
            await server.astop()


def register(app: Any, ctx: Any) -> None:
    """Declare the judge agent; ``ctx.options["judge_overrides"]`` may replace ``JudgeSettings`` fields."""
    settings = ctx.settings
    judge_settings = settings.judge.updated(**(ctx.options.get("judge_overrides") or {}))
    role = JudgeRole(judge_settings, settings.model, cache_dir=settings.model.cache_dir)
    stage = Stage("judge", topics.GRADES, ctx.codec, ctx.send)
    # Small batches: a batch is acked when its slowest verdict is in.
    batch = max(8, 4 * judge_settings.concurrency)

    @app.agent(topic(app, topics.GRADES), name="kasper.judge")
    async def judge(stream: Any) -> None:
        try:
            await run_agent(stage, stream, role.process, batch_size=batch,
                            concurrency=judge_settings.concurrency)
        finally:
            await role.aclose()
