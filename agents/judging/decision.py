"""The verdict: our decision from the parsed answer, and what the call cost.

The decision is ours, not the model's: APPROVE at mean score >= ``approve_threshold``;
below it REJECT if the model said so, else REVISE with the model's notes (or, without
any, the two weakest criteria).
"""

from __future__ import annotations

from dataclasses import dataclass

from kasper.agents.judging.parse import JudgeAnswer
from kasper.agents.judging.request import CRITERIA, RUBRIC_VERSION
from kasper.streams.settings import JudgeSettings


@dataclass(frozen=True)
class JudgeResult:
    """A judged insight: the answer, our decision, usage and cost of this call."""

    answer: JudgeAnswer
    overall: float
    recommendation: str
    revise_notes: str | None
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    cached: bool = False
    rubric_version: str = RUBRIC_VERSION


def decide(answer: JudgeAnswer, threshold: float) -> tuple[float, str, str | None]:
    """(overall, recommendation, revise notes): APPROVE at mean >= threshold; below it the
    model's REJECT stands and anything else is a REVISE with notes."""
    overall = round(sum(answer.scores.values()) / len(CRITERIA), 3)
    if overall >= threshold:
        return overall, "APPROVE", None
    decision = "REJECT" if answer.recommendation == "REJECT" else "REVISE"
    weakest = sorted(answer.scores.items(), key=lambda kv: kv[1])[:2]
    default = "Improve " + " and ".join(f"{k.replace('_', ' ')} ({v:.1f}/10)" for k, v in weakest) + "."
    return overall, decision, answer.revise_notes or default


def cost_usd(settings: JudgeSettings, prompt_tokens: int, completion_tokens: int) -> float:
    """US dollars for one call at the configured per-million-token prices."""
    return (prompt_tokens * settings.input_usd_per_mtok
            + completion_tokens * settings.output_usd_per_mtok) / 1e6
