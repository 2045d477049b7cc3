"""How the judge's answer is read: the scores, safety flag, recommendation and notes in its text.

Servers that ignore ``response_format`` (mlx_lm.server among them) are covered
by the parser: fences, trailing text, key variants, numbers as strings, out-of-range
values clamped (0..11) or rejected.  With logprobs asked for, :func:`interpret` weights
each criterion by the probabilities of its score tokens (:mod:`~kasper.agents.judging.logprobs`);
a criterion without any falls back to its text value.

The safety flag and the recommendation are read tolerantly (key and value aliases,
lists, booleans, prose) and every doubt goes the strict way: a missing flag is
``none`` but an unrecognised one is ``other``; a recommendation naming several
decisions reads as the strictest, a negated approval as REJECT.

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
from kasper.agents.judging.request import CRITERIA, DECISIONS

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
    # A default keeps cache rows written before the flag readable (as "none").
    safety: str = "none"


_ALIASES = {
    "authenticity": ("authenticity", "authentic", "spiritual_authenticity", "tradition"),
    "practical_wisdom": ("practical_wisdom", "practicality", "practical", "wisdom", "usefulness"),
    "emotional_resonance": ("emotional_resonance", "resonance", "emotional", "emotion", "warmth"),
    "clarity": ("clarity", "clear", "clarity_coherence", "clarity_and_coherence", "coherence"),
    "originality": ("originality", "original", "novelty", "freshness", "creativity"),
    "recommendation": ("recommendation", "recommend", "decision", "verdict"),
    "rationale": ("rationale", "reason", "reasoning", "explanation", "justification"),
    "revise_notes": ("revise_notes", "revision_notes", "notes", "revise", "suggestions", "improvements"),
    # Only safety-specific keys: a generic "risk": "low" would read as the flag "other".
    "safety": ("safety", "safety_flag", "safety_flags", "safety_issue", "safety_issues", "safety_category",
               "safety_concern", "safety_concerns", "harm_category", "content_flag"),
}
_CANONICAL = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}
_KEY_NUMBER = re.compile(r"""(?P<key>[A-Za-z][A-Za-z _-]{1,40}?)["'*]*\s*[:=]\s*["'*]*\s*"""
                         r"""(?P<value>-?\d+(?:\.\d+)?)(?:\s*(?:/|out\s+of)\s*10(?!\d))?""")
_KEY_STRING = r"""["']?{key}["']?\s*[:=]\s*"((?:[^"\\]|\\.)*)"""
_DECISION_PREFIXES = (("DISAPPROV", "REJECT"), ("APPROV", "APPROVE"), ("ACCEPT", "APPROVE"),
                      ("REVIS", "REVISE"), ("REJECT", "REJECT"))
_NEGATIONS = frozenset({"NOT", "NO", "NEVER", "DON'T", "DONT", "CANNOT", "CAN'T", "WOULDN'T", "SHOULDN'T"})
_DECISION_PLAIN = re.compile(r"""\b(?:recommendation|recommend|decision|verdict)\b["'*]*\s*[:=]\s*["'*]*\s*"""
                             r"""(?P<value>[A-Za-z][A-Za-z' ]{1,40})""", re.I)
# Upper case only: "revise" and "approve" are ordinary words in a rationale.
_DECISION_WORD = re.compile(r"\b(?:(?:NOT|DON'T) )?(?:APPROVED?|REVISED?|REJECTED|REJECT)\b")
_SAFETY_WORDS = {
    "none": ("none", "no", "safe", "ok", "okay", "null", "nil", "n_a", "na", "false", "nothing", "clean",
             "clear", "no_issue", "no_issues", "no_concerns", "not_applicable"),
    "medical": ("medical", "medicine", "health", "medication", "diagnosis", "treatment"),
    "financial": ("financial", "finance", "money", "investment", "investing"),
    "legal": ("legal", "law", "lawsuit"),
    "self_harm": ("self_harm", "selfharm", "suicide", "suicidal", "self_injury"),
    "eating_disorder": ("eating_disorder", "eating_disorders", "eating", "anorexia", "bulimia", "fasting",
                        "purging"),
    "hateful": ("hateful", "hate", "hate_speech", "harassment", "discrimination", "slur", "slurs"),
    "personal_data": ("personal_data", "pii", "privacy", "personal_information", "personal", "doxxing"),
    "injection": ("injection", "prompt_injection", "jailbreak", "manipulation"),
    "other": ("other", "unsafe", "harmful", "harm", "true", "yes"),
}
_SAFETY = {word: flag for flag, words in _SAFETY_WORDS.items() for word in words}
_SAFETY_PLAIN = re.compile(r"""["'*]*\b(?P<key>safety[ _-]?(?:flags?|issues?|category|concerns?)?)\b["'*]*"""
                           r"""\s*[:=]\s*(?P<value>[A-Za-z][A-Za-z _-]{0,40})""", re.I)
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


def read_decision(said: str) -> str | None:
    """APPROVE, REVISE or REJECT for a recommendation as written, None when it names none.

    Spellings map ("approved", "Accept", "revision"); a value naming several reads as the
    strictest ("REVISE or REJECT" is REJECT) and a negated approval ("not approved",
    "disapprove") as REJECT: a misread may make a verdict stricter, never laxer.
    """
    words = re.findall(r"[A-Z']+", said.upper())
    found = []
    for i, word in enumerate(words):
        negated = i > 0 and words[i - 1] in _NEGATIONS
        decision = next((d for prefix, d in _DECISION_PREFIXES if word.startswith(prefix)), None)
        if decision is not None:
            found.append("REJECT" if negated and decision == "APPROVE" else decision)
    return max(found, key=DECISIONS.index) if found else None


def _decision(content: str, found: dict[str, Any]) -> str | None:
    said = _string_field(content, found, "recommendation")
    if said is None:  # no quoted field: "Recommendation: APPROVE" in prose, else any bare decision word
        keyed = _DECISION_PLAIN.search(content)
        said = keyed.group("value") if keyed else " ".join(_DECISION_WORD.findall(content))
    return read_decision(said)


def safety_flag(value: Any) -> str:
    """One of ``SAFETY_FLAGS`` for a value the model wrote.

    Aliases and spellings map to their flag ("self-harm", "PII", ["medical"]); missing,
    null, false or empty is ``none``; anything unrecognised (a number, "low") is
    ``other``.  A value naming both ``none`` and a flag ("no medical advice") reads as
    the flag: the reader errs on the side of REJECT.
    """
    if value is None or value is False or (isinstance(value, str) and not value.strip()):
        return "none"
    if value is True:
        return "other"
    if isinstance(value, (list, tuple)):
        return next((f for f in map(safety_flag, value) if f != "none"), "none")
    text = re.sub(r"[^a-z]+", "_", str(value).lower()).strip("_")
    if text in _SAFETY:
        return _SAFETY[text]
    words = text.split("_") if text else []
    # Two-word aliases first: "self harm" is self_harm, not the generic "harm".
    found = [_SAFETY[w] for w in (*(f"{a}_{b}" for a, b in zip(words, words[1:])), *words) if w in _SAFETY]
    return next((f for f in found if f != "none"), "none" if found else "other")


def _safety(content: str, found: dict[str, Any]) -> str:
    for key, value in found.items():
        if _canonical(key) == "safety":
            if isinstance(value, bool) and re.sub(r"[^a-z]+", "_", key.lower()).strip("_") == "safety":
                return "other"  # a bare "safety": true/false can mean "safe" or "a safety issue"
            return safety_flag(value)
    said = _string_field(content, {}, "safety")
    if said is not None:
        return safety_flag(said)
    plain = _SAFETY_PLAIN.search(content)  # "Safety: medical" in a markdown answer
    return safety_flag(plain.group("value").strip()) if plain else "none"


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
                         revise_notes=_string_field(content, found, "revise_notes"),
                         safety=_safety(content, found))
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
