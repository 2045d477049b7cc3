"""What the judge is asked and how its answer is read: prompt, parsing, logprob scores, decision, cost.

The request: a system prompt naming the five criteria, two worked examples (a weak and
a strong insight) and the insight with its short context (:class:`JudgeRequest`);
``RESPONSE_FORMAT`` is the JSON schema sent to servers that honour it.  Servers that
ignore ``response_format`` (mlx_lm.server, mlx-lm issue #1007) are covered by the
parser: fences, trailing text, key variants, numbers as strings, out-of-range values
clamped (0..11) or rejected.

Scores: with ``score_mode="logprobs"`` each criterion is the expectation over the
score tokens in the top logprobs at its position (G-Eval), renormalised over the
score tokens found there; a criterion without any falls back to its text value.
The decision is ours, not the model's: APPROVE at mean score >= ``approve_threshold``;
below it REJECT if the model said so, else REVISE.

Error policy: everything here is pure (no I/O, no retries).  ``parse_answer`` and
``interpret`` raise ``JudgeRefused`` (the model refused) or ``JudgeUnparseable`` (no
usable scores; ``reason`` says why); re-asking is the client's job
(:mod:`kasper.agents.judging.client`, which holds the whole error tree and adds
``JudgeUnavailable`` and ``JudgeRequestError``).  ``JudgeError`` and these two are
defined here, the lowest module that raises them, so that nothing imports in a cycle.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping

from prometheus_client import Counter

from kasper.schemas.errors import KasperError

if TYPE_CHECKING:
    from kasper.agents.judging.client import JudgeConfig

RUBRIC_VERSION = "judge-rubric-1.0"
CRITERIA = ("authenticity", "practical_wisdom", "emotional_resonance", "clarity", "originality")
DECISIONS = ("APPROVE", "REVISE", "REJECT")

FALLBACKS = Counter("kasper_judge_logprob_fallbacks_total",
                    "Criteria scored from text because no score tokens were found in the logprobs.")


class JudgeError(KasperError):
    """The judge gave no verdict; ``reason`` is a short metric-safe word."""

    def __init__(self, message: str, *, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class JudgeRefused(JudgeError):
    """The model refused to judge the text."""


class JudgeUnparseable(JudgeError):
    """The model's answer held no usable scores."""


# --- the request -------------------------------------------------------------

SYSTEM_PROMPT = """You are the quality judge for short personal guidance texts ("insights") \
written for numerology, astrology, tarot, spiritual and journaling apps.
Score the insight on five criteria, each an integer from 1 (poor) to 10 (excellent):
- authenticity: faithful to the tradition and details asked about (number, sign, card, moon phase), not generic.
- practical_wisdom: grounded, usable guidance; never medical, legal or financial directives.
- emotional_resonance: speaks warmly and personally to this reader's context.
- clarity: clear, coherent and well structured.
- originality: fresh and specific rather than cliched.
Then recommend APPROVE (ready to publish), REVISE (fixable: say what to change in revise_notes) \
or REJECT (harmful or unusable), with a one-sentence rationale.
Answer with one JSON object only, with exactly these keys: authenticity, practical_wisdom, \
emotional_resonance, clarity, originality, recommendation, rationale, revise_notes."""

# Two worked examples, a weak and a strong insight: they fix the answer format for
# small models (which otherwise ramble) and anchor both ends of the scale for all.
EXAMPLES = (
    ("Domain: astrology\nContext: sun_sign=Leo\nInsight:\n"
     "Trust the universe. Everything happens for a reason. Good things are coming your way.",
     '{"authenticity": 3, "practical_wisdom": 2, "emotional_resonance": 4, "clarity": 7, "originality": 2, '
     '"recommendation": "REVISE", "rationale": "Generic reassurance with nothing Leo-specific and nothing '
     'to do.", "revise_notes": "Use the Leo context and end with one concrete step."}'),
    ("Domain: tarot\nContext: card=The Hermit\nInsight:\nThe Hermit asks for a lantern, not a crowd. "
     "This week, take a twenty-minute walk alone each evening and write one sentence about what felt "
     "true. Clarity grows in the quiet you protect.",
     '{"authenticity": 8, "practical_wisdom": 8, "emotional_resonance": 7, "clarity": 9, "originality": 8, '
     '"recommendation": "APPROVE", "rationale": "Rooted in the Hermit card, warm, with a concrete evening '
     'practice.", "revise_notes": ""}'),
)
_SCORE = {"type": "integer", "minimum": 1, "maximum": 10}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "insight_verdict", "strict": True, "schema": {
    "type": "object", "additionalProperties": False,
    "required": [*CRITERIA, "recommendation", "rationale", "revise_notes"],
    "properties": {**{c: _SCORE for c in CRITERIA}, "recommendation": {"type": "string", "enum": list(DECISIONS)},
                   "rationale": {"type": "string"}, "revise_notes": {"type": "string"}}}}}
_CONTEXT_MAX_CHARS = 40


@dataclass(frozen=True)
class JudgeRequest:
    """What is judged: the text plus the short context it was written for."""

    text: str
    domain: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)

    def message(self) -> str:
        """The user message.  Only short context values (signs, numbers, focus) are sent:
        free text such as journal snippets never leaves for a third-party judge."""
        lines = [f"Domain: {self.domain or 'general'}"]
        short = [f"{k}={v}" for k, v in sorted(self.context.items()) if v and len(str(v)) <= _CONTEXT_MAX_CHARS]
        if short:
            lines.append("Context: " + "; ".join(short))
        return "\n".join([*lines, "Insight:", self.text.strip()])

    def cache_key(self, model: str, score_mode: str) -> str:
        """sha256 of (input, judge model, rubric version, score mode)."""
        raw = "\0".join((RUBRIC_VERSION, model, score_mode, self.message()))
        return hashlib.sha256(raw.encode()).hexdigest()


def build_messages(request: JudgeRequest) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for user, answer in EXAMPLES:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return [*messages, {"role": "user", "content": request.message()}]


# --- parsing the answer ------------------------------------------------------

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


@dataclass(frozen=True)
class JudgeAnswer:
    """What the model said, parsed: this is what the verdict cache stores."""

    scores: dict[str, float]
    recommendation: str | None
    rationale: str
    revise_notes: str | None
    score_mode: str = "text"


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


# --- logprob (G-Eval) scores -------------------------------------------------

_MIN_SCORE_MASS = 0.01  # below this the score tokens at a position are noise


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2 byte-level BPE shows each byte as a printable character: the inverse map."""
    shown_as = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars, extra = list(shown_as), 0
    for byte in range(256):
        if byte not in shown_as:
            shown_as.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(shown_as, chars)}


def _token_bytes(entry: Mapping[str, Any]) -> list[bytes]:
    """What a logprob entry may stand for: OpenAI's ``bytes``, its text, or byte-level BPE."""
    out = [bytes(entry["bytes"])] if isinstance(entry.get("bytes"), list) else []
    token = str(entry.get("token") or "")
    out.append(token.replace("\u2581", " ").encode())  # SentencePiece marks spaces with U+2581
    decoder = _byte_decoder()
    if token and all(ch in decoder for ch in token):
        out.append(bytes(decoder[ch] for ch in token))
    return [b for b in out if b]


def _logprob(entry: Mapping[str, Any]) -> float:
    value = entry.get("logprob")
    return float(value) if isinstance(value, (int, float)) else -1e9


def _tops(position: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(position.get("top_logprobs") or [position])


def _align(data: bytes, positions: list[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """Byte span of each generated token in ``data``, as far as they can be matched.

    The chosen token is the most likely candidate that continues the text: exact at
    temperature 0, and independent of the ``token`` field, which mlx_lm.server fills
    with the first entry of an unsorted top-k rather than the sampled token.
    """
    spans, cursor = [], 0
    for pos in positions:
        options = sorted([pos, *_tops(pos)], key=_logprob, reverse=True)
        size = next((len(b) for o in options for b in _token_bytes(o) if data.startswith(b, cursor)), 0)
        if not size:
            break
        spans.append((cursor, cursor + size))
        cursor += size
    return spans


def _score_of(entry: Mapping[str, Any]) -> int | None:
    for raw in _token_bytes(entry):
        text = raw.decode("utf-8", "ignore").strip().strip("\"'")
        if text.isdigit() and 1 <= int(text) <= 10:
            return int(text)
    return None


def _expected_score(positions: list, spans: list, data: bytes, offset: int) -> float | None:
    i = next((k for k, (a, b) in enumerate(spans) if a <= offset < b), None)
    if i is None:
        return None
    mass: dict[int, float] = {}
    for entry in _tops(positions[i]):
        value = _score_of(entry)
        if value is not None:
            mass[value] = mass.get(value, 0.0) + math.exp(_logprob(entry))
    chosen = data[spans[i][0]:spans[i][1]].decode("utf-8", "ignore").strip()
    if chosen == "1" and 1 in mass and i + 1 < len(positions):
        # Digit-by-digit tokenizers write 10 as "1", "0": split "1" by what followed it.
        zero = sum(math.exp(_logprob(e)) for e in _tops(positions[i + 1])
                   if any(b.decode("utf-8", "ignore").strip() == "0" for b in _token_bytes(e)))
        zero = min(zero, 1.0)
        mass[10] = mass.get(10, 0.0) + mass[1] * zero
        mass[1] *= 1.0 - zero
    total = sum(mass.values())
    return sum(v * p for v, p in mass.items()) / total if total >= _MIN_SCORE_MASS else None


def logprob_scores(content: str, positions: list[Mapping[str, Any]],
                   offsets: Mapping[str, int]) -> dict[str, float]:
    """Probability-weighted scores for the criteria whose value position has score tokens."""
    data = content.encode()
    spans = _align(data, positions)
    out = {}
    for name, offset in offsets.items():
        value = _expected_score(positions, spans, data, len(content[:offset].encode()))
        if value is not None:
            out[name] = value
    return out


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


# --- the decision ------------------------------------------------------------


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


def cost_usd(config: JudgeConfig, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * config.input_usd_per_mtok + completion_tokens * config.output_usd_per_mtok) / 1e6
