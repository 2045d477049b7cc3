"""The verdict: our decision from the parsed answer, why it was made, and what the call cost.

The decision is ours, not the model's, and the same whatever the server: the
strictest of these wins (REJECT > REVISE > APPROVE):

- the scores: APPROVE at mean >= ``approve_threshold``, else REVISE;
- the floor: any criterion at or below ``SCORE_FLOOR`` is at most a REVISE (a text
  scoring 1 on one criterion is not publishable, whatever its mean);
- the model's recommendation (a missing or unreadable one counts as the scores' decision);
- the safety flag: anything but ``none`` is a REJECT.

So scores never turn a REJECT or a safety flag into an APPROVE.  :class:`Decision`
says why in one line (``reason``); REVISE and REJECT carry revise notes (the model's,
else the two weakest criteria).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kasper.agents.judging.parse import JudgeAnswer
from kasper.agents.judging.request import CRITERIA, DECISIONS, RUBRIC_VERSION
from kasper.streams.settings import JudgeSettings

SCORE_FLOOR = 3.0


@dataclass(frozen=True)
class Decision:
    """What we decided from one answer, and why (``reason``, e.g. ``"model recommended REJECT"``)."""

    overall: float
    recommendation: str
    revise_notes: str | None
    reason: str


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
    decision_reason: str | None = None


def judge_decision(answer: JudgeAnswer, threshold: float, floor: float = SCORE_FLOOR) -> Decision:
    """Our decision on ``answer`` (see the module docstring); ``reason`` names every cause
    that forced it (mean, floor, model, safety, in that order), joined by ``"; "``."""
    overall = round(sum(answer.scores.values()) / len(CRITERIA), 3)
    by_mean = "APPROVE" if overall >= threshold else "REVISE"
    causes = [(by_mean, f"mean {_num(overall)} {'>=' if by_mean == 'APPROVE' else '<'} {_num(threshold)}")]
    low = [(name, value) for name, value in answer.scores.items() if value <= floor]
    causes += [("REVISE", f"{name} {value:g}/10 <= floor {floor:g}") for name, value in low]
    by_scores = max((level for level, _ in causes), key=DECISIONS.index)
    if answer.recommendation in DECISIONS:
        causes.append((answer.recommendation, f"model recommended {answer.recommendation}"))
    else:  # counts as the scores' decision: never an easier APPROVE than the scores give
        causes.append((by_scores, "model gave no recommendation"))
    if answer.safety != "none":
        causes.append(("REJECT", f"safety flag: {answer.safety}"))
    decision = max((level for level, _ in causes), key=DECISIONS.index)
    reason = "; ".join(text for level, text in causes if level == decision)
    if decision == "APPROVE":
        return Decision(overall, decision, None, reason)
    return Decision(overall, decision, answer.revise_notes or _default_notes(answer), reason)


def _default_notes(answer: JudgeAnswer) -> str:
    if answer.safety != "none":
        return f"Not publishable as written: {answer.safety.replace('_', ' ')} content."
    weakest = sorted(answer.scores.items(), key=lambda kv: kv[1])[:2]
    return "Improve " + " and ".join(f"{k.replace('_', ' ')} ({v:.1f}/10)" for k, v in weakest) + "."


def _num(value: float) -> str:
    """7.0 as "7.0", 7.35 as "7.35": one decimal at least, as a threshold is written."""
    return f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


def decide(answer: JudgeAnswer, threshold: float) -> tuple[float, str, str | None]:
    """(overall, recommendation, revise notes) of :func:`judge_decision`, for callers
    that predate the reason."""
    decision = judge_decision(answer, threshold)
    return decision.overall, decision.recommendation, decision.revise_notes


def with_reason(result: JudgeResult, threshold: float) -> JudgeResult:
    """``result`` with its decision and ``decision_reason`` filled from :func:`judge_decision`.

    The client builds results through :func:`decide`, which has no reason: recomputing
    here is pure and cheap, and gives the same decision.
    """
    if result.decision_reason is not None:
        return result
    decision = judge_decision(result.answer, threshold)
    return replace(result, overall=decision.overall, recommendation=decision.recommendation,
                   revise_notes=decision.revise_notes, decision_reason=decision.reason)


def cost_usd(settings: JudgeSettings, prompt_tokens: int, completion_tokens: int) -> float:
    """US dollars for one call at the configured per-million-token prices."""
    return (prompt_tokens * settings.input_usd_per_mtok
            + completion_tokens * settings.output_usd_per_mtok) / 1e6
