"""Each prompt of a run, rebuilt from the run's records: its attempts (insight, grade,
verdicts), the notes each revision got, its dead letters and its final outcome.

A plain function of the records in the order ``kasper up`` saw them, so
``outcomes.csv``, the report's gallery and their tests read the same histories.
The final outcome is the :class:`Tally`'s (the same records in the same order),
so the file, the gallery and the summary never disagree.

Records carry what came before them (a Verdict its Grade, a Grade its Insight),
so an attempt whose insight or grade record the run did not see is still
rebuilt from what its later records carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kasper.schemas import Codec
from kasper.schemas.errors import CodecError
from kasper.streams import topics
from kasper.streams.cli.progress import ROUTER_PREFIX, Tally, prompt_id_of

PENDING = "pending"  # no final outcome when the run ended (a timeout)
OUTCOME_COLUMNS = ("prompt_id", "domain", "tier", "attempts", "outcome", "insight_id", "rubric_score",
                   "rubric_letter", "judge_overall", "judge_recommendation", "model_version", "reason")


@dataclass
class Attempt:
    """One attempt at a prompt: the insight written, its grade, and the verdicts on it."""

    number: int
    insight: dict[str, Any] | None = None
    grade: dict[str, Any] | None = None
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # the judge's, then the router's

    @property
    def judged(self) -> dict[str, Any] | None:
        """The LLM judge's verdict: a grade that failed got the rubric's own REVISE instead,
        and a router REJECT repeats a verdict (first one wins on redelivery)."""
        for verdict in self.verdicts:
            grade = verdict.get("grade") or self.grade
            if (grade is None or grade["passed"]) and not verdict["rationale"].startswith(ROUTER_PREFIX):
                return verdict
        return None

    @property
    def verdict(self) -> dict[str, Any] | None:
        """The last word on this attempt (a router REJECT after the judge's REVISE)."""
        return self.verdicts[-1] if self.verdicts else None


@dataclass
class PromptHistory:
    """What one prompt went through in the run."""

    prompt_id: str
    prompt: dict[str, Any] | None = None  # the first PromptEvent seen (or carried)
    attempts: dict[int, Attempt] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)  # attempt -> the revise notes it was written with
    dead_letters: list[dict[str, Any]] = field(default_factory=list)  # each with "original" decoded or None
    approved: dict[str, Any] | None = None
    outcome: str = PENDING

    def attempt(self, number: int) -> Attempt:
        return self.attempts.setdefault(number, Attempt(number))

    @property
    def last(self) -> Attempt | None:
        """The latest attempt with a text (the one the outcome is about)."""
        written = [a for a in self.attempts.values() if a.insight is not None]
        return max(written, key=lambda a: a.number) if written else None

    @property
    def attempts_made(self) -> int:
        numbers = [*self.attempts, *self.notes]
        return max(numbers) + 1 if numbers else (1 if self.prompt else 0)


def histories(codec: Codec, seen: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, PromptHistory]:
    """Prompt id -> its history, from (topic, record) pairs in the order they were seen."""
    tally, out, attempt_of = Tally(), {}, {}  # attempt_of: insight id -> attempt number
    for topic, record in seen:
        tally.observe(codec, topic, record)
        if topic not in _ABOUT_PROMPTS:
            continue
        pid = prompt_id_of(codec, topic, record)
        if pid is None:
            continue
        history = out.setdefault(pid, PromptHistory(pid))
        if topic == topics.PROMPTS.name:
            _prompt(history, record)
        elif topic == topics.INSIGHTS.name:
            _insight(history, record, attempt_of)
        elif topic == topics.GRADES.name:
            _grade(history, record, attempt_of)
        elif topic == topics.VERDICTS.name:
            _verdict(history, record, attempt_of)
        elif topic == topics.APPROVED.name:
            history.approved = history.approved or record
            _prompt(history, record["prompt"])
            _insight(history, record["insight"], attempt_of)
            _grade(history, record["grade"], attempt_of)
            _verdict(history, record["verdict"], attempt_of)
        else:
            history.dead_letters.append({**record, "original": _original(codec, record)})
    for pid, history in out.items():
        history.outcome = tally.outcomes.get(pid, PENDING)
    return out


_ABOUT_PROMPTS = {topics.PROMPTS.name, topics.INSIGHTS.name, topics.GRADES.name, topics.VERDICTS.name,
                  topics.APPROVED.name, topics.DLQ.name}


def _prompt(history: PromptHistory, prompt: dict[str, Any] | None) -> None:
    if prompt is None:
        return
    if history.prompt is None or prompt["attempt"] < history.prompt["attempt"]:
        history.prompt = prompt
    if prompt["attempt"] > 0 and prompt.get("revise_notes"):
        history.notes.setdefault(prompt["attempt"], prompt["revise_notes"])


def _insight(history: PromptHistory, insight: dict[str, Any] | None, attempt_of: dict[str, int]) -> int | None:
    if insight is None:
        return None
    number = attempt_of.setdefault(insight["insight_id"], insight["attempt"])
    attempt = history.attempt(number)
    if attempt.insight is None:
        attempt.insight = insight
    _prompt(history, insight.get("prompt"))
    return number


def _number(history: PromptHistory, insight_id: str, carried: dict[str, Any] | None,
            attempt_of: dict[str, int]) -> int:
    number = _insight(history, carried, attempt_of)
    if number is None:
        number = attempt_of.setdefault(insight_id, max(history.attempts, default=-1) + 1)
    return number


def _grade(history: PromptHistory, grade: dict[str, Any] | None, attempt_of: dict[str, int]) -> None:
    if grade is None:
        return
    attempt = history.attempt(_number(history, grade["insight_id"], grade.get("insight"), attempt_of))
    if attempt.grade is None:
        attempt.grade = grade


def _verdict(history: PromptHistory, verdict: dict[str, Any], attempt_of: dict[str, int]) -> None:
    grade = verdict.get("grade")
    _grade(history, grade, attempt_of)
    attempt = history.attempt(_number(history, verdict["insight_id"], (grade or {}).get("insight"),
                                      attempt_of))
    if not any(_same(v, verdict) for v in attempt.verdicts):  # redelivered: the same verdict again
        attempt.verdicts.append(verdict)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["recommendation"], a["rationale"], a["created_at"]) == (b["recommendation"], b["rationale"],
                                                                        b["created_at"])


def _original(codec: Codec, letter: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return codec.decode(letter["original_bytes"]).record
    except CodecError:
        return None


def dead_letters(codec: Codec, seen: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every dead letter seen, each with its ``original`` record decoded (None when it does not decode)."""
    return [{**record, "original": _original(codec, record)} for topic, record in seen if topic == topics.DLQ.name]


def outcome_row(history: PromptHistory) -> dict[str, Any]:
    """One row of ``outcomes.csv`` (columns :data:`OUTCOME_COLUMNS`); blank where unknown."""
    prompt, last = history.prompt or {}, history.last
    insight = last.insight if last else None
    grade = (history.approved or {}).get("grade") or (last.grade if last else None)
    judged = (history.approved or {}).get("verdict") or (last.judged if last else None)
    domain = prompt.get("domain") or (insight or {}).get("domain") or ""
    tier = prompt.get("tier") or (insight or {}).get("tier") or ""
    return {
        "prompt_id": history.prompt_id, "domain": domain, "tier": tier,
        "attempts": history.attempts_made, "outcome": history.outcome,
        "insight_id": insight["insight_id"] if insight else "",
        "rubric_score": f"{grade['final_score']:.4f}" if grade else "",
        "rubric_letter": grade["letter"] if grade else "",
        "judge_overall": f"{judged['overall']:.2f}" if judged else "",
        "judge_recommendation": judged["recommendation"] if judged else "",
        "model_version": (insight.get("adapter_version") or insight["model"]) if insight else "",
        "reason": reason(history),
    }


def reason(history: PromptHistory) -> str:
    """Why a prompt was rejected or dead-lettered ("" otherwise)."""
    if history.outcome == "dead-lettered" and history.dead_letters:
        letter = history.dead_letters[0]
        return f"{letter['stage']}: {letter['error_type']}: {letter['reason']}"
    if history.outcome == "rejected":
        for attempt in sorted(history.attempts.values(), key=lambda a: a.number, reverse=True):
            for verdict in reversed(attempt.verdicts):
                if verdict["recommendation"] == "REJECT":
                    why = verdict["rationale"]
                    extra = verdict.get("decision_reason")
                    return f"{why} ({extra})" if extra and extra not in why else why
    return ""
