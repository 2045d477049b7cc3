"""How the judge's answer is read: the scores, recommendation and notes in its text.

Servers that ignore ``response_format`` (mlx_lm.server among them) are covered
by the parser: fences, trailing text, key variants, numbers as strings, out-of-range
values clamped (0..11) or rejected.  With logprobs asked for, :func:`interpret` weights
each criterion by the probabilities of its score tokens (:mod:`~kasper.agents.judging.logprobs`);
a criterion without any falls back to its text value.

Error policy: everything here is pure (no I/O, no retries).  ``parse_answer`` and
``interpret`` raise ``JudgeRefused`` (the model refused) or ``JudgeUnparseable`` (no
usable scores; ``reason`` says why); re-asking is the client's job
(:mod:`kasper.agents.judging.client`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from prometheus_client import Counter

from kasper.agents.judging.errors import JudgeRefused, JudgeUnparseable
from kasper.agents.judging.logprobs import logprob_scores
from kasper.agents.judging.request import CRITERIA

FALLBACKS = Counter("kasper_judge_logprob_fallbacks_total",
                    "Criteria scored from text because no score tokens were found in the logprobs.")


@dataclass(frozen=True)
class JudgeAnswer:
    """What the model said, parsed: this is what the verdict cache stores."""

    scores: dict[str, float]
    recommendation: str | None
    rationale: str
    revise_notes: str | None
    score_mode: str = "text"


_ALIASES = {
    "authenticity": ("authenticity", "authentic", "spiritual_authenticity", "tradition"),
    "practical_wisdom": ("practical_wisdom", "practicality", "practical", "wisdom", "usefulness"),
    "emotional_resonance": ("emotional_resonance", "resonance", "emotional", "emotion", "warmth"),
    "clarity": ("clarity", "clear", "clarity_coherence", "clarity_and_coherence", "coherence"),
    "originality": ("originality", "original", "novelty", "freshness", "creativity"),
    "recommendation": ("recommendation", "recommend", "decision", "verdict"),
    "rationale": ("rationale", "reason", "reasoning", "explanation", "justification"),
    "revise_notes": ("revise_notes", "revision_notes", "notes", "revise", "suggestions", "improvements"),
}
_CANONICAL = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}
_KEY_NUMBER = re.compile(r"""(?P<key>[A-Za-z][A-Za-z _-]{1,40}?)["'*]*\s*[:=]\s*["'*]*\s*"""
                         r"""(?P<value>-?\d+(?:\.\d+)?)(?:\s*(?:/|out\s+of)\s*10(?!\d))?""")
_KEY_STRING = r"""["']?{key}["']?\s*[:=]\s*"((?:[^"\\]|\\.)*)"""
_REFUSAL = re.compile(r"\b(I can(?:no|')t|I cannot|I'm sorry|I am sorry|I'm unable|I am unable|as an AI)\b", re.I)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)(?:```|$)", re.S | re.I)


def _canonical(key: str) -> str | None:
    key = re.sub(r"[^a-z]+", "_", key.lower()).strip("_")
    key = re.sub(r"(^|_)(score|rating)(_|$)", r"\1", key).strip("_")
    return _CANONICAL.get(key)


def _in_range(value: float) -> float | None:
    """1..10 as is; 0..1 and 10..11 clamped (a model's slip); anything else rejected."""
    if math.isnan(value) or not 0 <= value <= 11:
        return None
    return min(10.0, max(1.0, value))


def _number(value: Any) -> float | None:
    match = re.match(r"\s*(-?\d+(?:\.\d+)?)", str(value)) if not isinstance(value, bool) else None
    return float(match.group(1)) if match else None


def _json_object(content: str) -> dict[str, Any]:
    """The first JSON object in ``content`` (fences and trailing text allowed), flattened one level."""
    fenced = _FENCE.search(content)
    text = fenced.group(1) if fenced else content
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            flat = {k: v for k, v in obj.items() if not isinstance(v, dict)}
            for inner in (v for v in obj.values() if isinstance(v, dict)):
                flat.update(inner)
            return flat
        start = text.find("{", start + 1)
    return {}


def _string_field(content: str, found: dict[str, Any], name: str) -> str | None:
    for key, value in found.items():
        if _canonical(key) == name and isinstance(value, str):
            return value.strip() or None
    for alias in _ALIASES[name]:
        match = re.search(_KEY_STRING.format(key=alias), content, re.I)
        if match:
            try:
                return json.loads(f'"{match.group(1)}"').strip() or None
            except ValueError:
                return match.group(1).strip() or None
    return None


def _decision(content: str, found: dict[str, Any]) -> str | None:
    said = _string_field(content, found, "recommendation")
    if said is None:
        match = re.search(r"\b(APPROVE|APPROVED|REVISE|REJECT|REJECTED)\b", content)
        said = match.group(1) if match else ""
    said = said.upper()
    for prefix, decision in (("APPROV", "APPROVE"), ("ACCEPT", "APPROVE"), ("REVIS", "REVISE"), ("REJECT", "REJECT")):
        if said.startswith(prefix):
            return decision
    return None


def _raw_scores(content: str, found: dict[str, Any]) -> tuple[dict[str, float], dict[str, int]]:
    """Criterion values as written, and where each value starts in ``content``."""
    scores, offsets = {}, {}
    for match in _KEY_NUMBER.finditer(content):
        key = match.group("key")
        name = _canonical(key) or _canonical(key.split()[-1])  # "Overall clarity: 7"
        if name in CRITERIA and name not in offsets:
            offsets[name] = match.start("value")
            scores[name] = float(match.group("value"))
    for key, value in found.items():  # a decoded JSON value beats the regex scan
        name, number = _canonical(key), _number(value)
        if name in CRITERIA and number is not None:
            if scores.get(name) != number:
                offsets.pop(name, None)  # the scan found another number: no position to weight
            scores[name] = number
    return scores, offsets


def parse_answer(content: str | None) -> tuple[JudgeAnswer, dict[str, int]]:
    """The answer in ``content`` and, per criterion, the character offset of its value.

    Raises ``JudgeRefused`` for a refusal, ``JudgeUnparseable`` (reason ``empty``,
    ``no_scores``, ``missing`` or ``out_of_range``) when any criterion has no usable value.
    """
    if not content or not content.strip():
        raise JudgeUnparseable("the judge answered with empty content", reason="empty")
    found = _json_object(content)
    scores, offsets = _raw_scores(content, found)
    if not scores and _REFUSAL.search(content):
        raise JudgeRefused(f"the judge refused: {content.strip()[:200]}", reason="refused")
    bad = [name for name, value in scores.items() if _in_range(value) is None]
    if bad:
        raise JudgeUnparseable(f"scores out of range for {', '.join(bad)}", reason="out_of_range")
    for name, value in scores.items():
        if _in_range(value) != value:
            offsets.pop(name, None)  # a clamped 0 or 11: its tokens say nothing about 1..10
    missing = [c for c in CRITERIA if c not in scores]
    if missing:
        reason = "no_scores" if len(missing) == len(CRITERIA) else "missing"
        raise JudgeUnparseable(f"no score for {', '.join(missing)} in: {content.strip()[:200]!r}", reason=reason)
    answer = JudgeAnswer(scores={c: _in_range(scores[c]) for c in CRITERIA}, recommendation=_decision(content, found),
                         rationale=(_string_field(content, found, "rationale") or "")[:1000],
                         revise_notes=_string_field(content, found, "revise_notes"))
    return answer, offsets


def interpret(body: Mapping[str, Any], want_logprobs: bool) -> JudgeAnswer:
    """The answer in a chat-completions response body (see :func:`parse_answer`).

    ``score_mode`` is ``logprobs`` when at least one criterion was probability-weighted;
    each criterion that was not is counted in ``kasper_judge_logprob_fallbacks_total``.
    """
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    if message.get("refusal") or choice.get("finish_reason") == "content_filter":
        why = str(message.get("refusal") or "content filter")[:200]
        raise JudgeRefused(f"the judge refused: {why}", reason="refused")
    content = message.get("content") if isinstance(message.get("content"), str) else None
    answer, offsets = parse_answer(content)
    if not want_logprobs:
        return answer
    positions = (choice.get("logprobs") or {}).get("content") or []
    weighted = logprob_scores(content, positions, offsets) if positions else {}
    FALLBACKS.inc(len(CRITERIA) - len(weighted))
    if not weighted:
        return answer
    scores = {c: round(weighted.get(c, answer.scores[c]), 3) for c in CRITERIA}
    return replace(answer, scores=scores, score_mode="logprobs")
