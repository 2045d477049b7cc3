"""The configured LLM judge's score of the golden answers, beside a promotion decision.

When a real judge is configured (``KASPER_JUDGE_BASE_URL``: OpenAI, a GPT-OSS server,
any OpenAI-compatible one), each evaluation also sends the candidate's and the
incumbent's answers to the golden prompts (the texts the users' rate is read from,
:mod:`kasper.trainer.evaluate`) to that judge, with the pipeline's own client, request
and decision policy (:mod:`kasper.agents.judging`). Per golden prompt the mean
``overall`` (1-10) of its answers is one paired value; the version records both
means and the paired bootstrap interval of the relative difference
(:mod:`kasper.trainer.bootstrap`) as ``judge_*`` metrics.

It is a metric, not a rule: the decision stays the loss and the users' rate
(docs/trainer.md, "The decision rule"). Why: the judge's agreement with people is
measured (docs/judge.md) and the embedded 135M judge's is nil, so it is not called
here at all; a judge of unknown calibration should inform an operator, not hold a
candidate back or let one through.

Error policy: a judge that fails (unavailable, refusing, unparseable after the client's
retries) costs the metric, never the decision: a warning names the error and the
version records no ``judge_*`` numbers. The incumbent's answers are usually cached
texts and the judge client's own cache (``KASPER_JUDGE_CACHE_PATH``) answers a text it
judged before without a call.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kasper.agents.judging.client import JudgeClient
from kasper.agents.judging.errors import JudgeError
from kasper.agents.judging.request import JudgeRequest
from kasper.streams.logs import get_logger
from kasper.streams.settings import JudgeSettings

from .bootstrap import paired_bootstrap

log = get_logger(__name__)


def judged_means(settings: JudgeSettings, texts: Sequence[str], prompts: Sequence[Mapping[str, Any]],
                 per_prompt: int) -> list[float]:
    """Per prompt, the judge's mean overall score of its ``per_prompt`` answers (``texts`` in
    prompt order, as :func:`kasper.trainer.probes.score_probes` reads them). One request at
    a time: a promotion is not worth a burst against a rate-limited API."""
    async def run() -> list[float]:
        scores = []
        async with JudgeClient(settings) as client:
            for text, prompt in zip(texts, (p for p in prompts for _ in range(per_prompt))):
                result = await client.judge(JudgeRequest(text, prompt.get("domain"),
                                                         dict(prompt.get("context") or {})))
                scores.append(result.overall)
        return scores
    scores = asyncio.run(run())
    return [sum(scores[i:i + per_prompt]) / per_prompt for i in range(0, len(scores), per_prompt)]


def judge_metrics(settings: JudgeSettings, new_texts: Sequence[str], current_texts: Sequence[str],
                  prompts: Sequence[Mapping[str, Any]], per_prompt: int, tier: str) -> dict[str, float]:
    """``judge_overall``, ``current_judge_overall``, ``judge_improvement`` and its interval,
    ``judge_n``, ``judge_seconds``; empty when there is nothing to judge or the judge failed (logged)."""
    if not prompts or len(new_texts) != len(current_texts) or len(new_texts) != len(prompts) * per_prompt:
        return {}
    started = time.perf_counter()
    try:  # both models' answers through one client: the candidate's first
        means = judged_means(settings, [*new_texts, *current_texts], [*prompts, *prompts], per_prompt)
    except (JudgeError, OSError) as exc:
        log.warning("the judge's score of the golden answers is missing from this decision",
                    tier=tier, error=f"{type(exc).__name__}: {str(exc)[:300]}")
        return {}
    new, current = means[:len(prompts)], means[len(prompts):]
    interval = paired_bootstrap(new, current, lower_is_better=False)
    out = {"judge_overall": sum(new) / len(new), "current_judge_overall": sum(current) / len(current),
           "judge_improvement": interval.improvement, "judge_ci_low": interval.low,
           "judge_ci_high": interval.high, "judge_n": float(interval.n),
           "judge_seconds": time.perf_counter() - started}
    return {k: round(float(v), 6) for k, v in out.items() if math.isfinite(v)}
