"""The LLM judge client: one insight in, five scores and a decision out, over the OpenAI API.

Any OpenAI-compatible chat-completions server works: OpenAI (GPT-5), vLLM/Ollama/
llama.cpp serving a GPT-OSS model, or the embedded ``mlx_lm.server``
(:mod:`kasper.agents.judge_server`).  What a server does not support is detected,
not configured per vendor: a 400 naming an optional parameter (``response_format``,
``logprobs``, ``temperature``, ``max_tokens``) drops or renames it for the
rest of the client's life.  Servers that ignore ``response_format`` (mlx_lm.server,
mlx-lm issue #1007) are covered by the parser: fences, trailing text, key variants,
numbers as strings, out-of-range values clamped (0..11) or rejected.

Scores: with ``score_mode="logprobs"`` each criterion is the expectation over the
score tokens in the top logprobs at its position (G-Eval), renormalised over the
score tokens found there; a criterion without any falls back to its text value.
The decision is ours, not the model's: APPROVE at mean score >= ``approve_threshold``;
below it REJECT if the model said so, else REVISE.

Error policy (every error is a ``KasperError``; messages never contain the API key:
server text is scrubbed, and HTTP errors are raised ``from None`` because the openai
exception's body may echo request headers)::

    KasperError
    └── JudgeError                 no verdict for this request
        ├── JudgeUnavailable           the judge cannot be used now: retries on 408/409/429/5xx,
        │                              timeouts, closed connections, non-JSON bodies exhausted,
        │                              or 401/403/404 (key, model). Not the record's fault.
        ├── JudgeRequestError          any other 4xx: the server refused this request
        ├── JudgeRefused               the model refused (refusal field, content filter, "I can't")
        └── JudgeUnparseable           no usable scores after re-asking (empty, prose, out of range)

Retried here with jittered exponential backoff: the transient failures above;
``Retry-After``/``retry-after-ms`` is honoured and pauses every request of the client.
Re-asked ``parse_retries`` times, a little warmer: unparseable or empty answers.
Not retried: refusals and other 4xx.  What the caller does with each error is the
role's policy (:mod:`kasper.agents.judge`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import random
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields, replace
from email.utils import parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import openai
from prometheus_client import Counter, Gauge, Histogram
from pydantic import SecretStr

from kasper.schemas.errors import KasperError
from kasper.streams.logs import get_logger

RUBRIC_VERSION = "judge-rubric-1.0"
CRITERIA = ("authenticity", "practical_wisdom", "emotional_resonance", "clarity", "originality")
DECISIONS = ("APPROVE", "REVISE", "REJECT")
log = get_logger(__name__)

REQUESTS = Counter("kasper_judge_requests_total", "HTTP calls to the judge, by outcome.", ["outcome"])
RETRIES = Counter("kasper_judge_retries_total", "Judge calls retried or re-asked, by reason.", ["reason"])
ERRORS = Counter("kasper_judge_errors_total", "Judge failures, by reason.", ["reason"])
LATENCY = Histogram("kasper_judge_request_seconds", "Duration of one judge HTTP call.",
                    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
TOKENS = Counter("kasper_judge_tokens_total", "Tokens billed by the judge.", ["kind"])
COST = Counter("kasper_judge_cost_usd_total", "Estimated judge spend in US dollars.")
CACHE = Counter("kasper_judge_cache_total", "Verdict cache lookups, by result.", ["result"])
FALLBACKS = Counter("kasper_judge_logprob_fallbacks_total",
                    "Criteria scored from text because no score tokens were found in the logprobs.")
IN_FLIGHT = Gauge("kasper_judge_in_flight", "Judge HTTP calls in flight.")
THROTTLED = Counter("kasper_judge_throttled_seconds_total", "Time spent waiting on the rate limiter.")


class JudgeError(KasperError):
    """The judge gave no verdict; ``reason`` is a short metric-safe word."""

    def __init__(self, message: str, *, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class JudgeUnavailable(JudgeError):
    """The judge server cannot be used now (outage, rate limit, auth, unknown model)."""


class JudgeRequestError(JudgeError):
    """The server rejected this request (4xx other than 408/409/429/401/403/404)."""


class JudgeRefused(JudgeError):
    """The model refused to judge the text."""


class JudgeUnparseable(JudgeError):
    """The model's answer held no usable scores."""


# --- configuration -----------------------------------------------------------


@dataclass(frozen=True)
class JudgeConfig:
    """Everything the judge needs; ``from_settings`` reads ``KASPER_JUDGE_*`` settings."""

    base_url: str | None = None  # None: the embedded mlx_lm.server
    model: str = "gpt-5"
    api_key: SecretStr | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0
    requests_per_minute: float = 0.0  # 0: no limit
    tokens_per_minute: float = 0.0
    concurrency: int = 4
    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    parse_retries: int = 2
    approve_threshold: float = 7.0
    score_mode: str = "logprobs"  # or "text"
    structured_output: bool = True
    max_tokens: int = 1024  # reasoning models spend completion tokens before answering
    top_logprobs: int = 10  # mlx_lm.server allows up to 11, OpenAI 20
    temperature: float = 0.0
    cache_size: int = 10_000
    cache_path: Path | None = None  # sqlite file; None: in-process cache only
    outage_backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.api_key, str):  # keep the key out of reprs and logs from the start
            object.__setattr__(self, "api_key", SecretStr(self.api_key))
        if self.score_mode not in ("logprobs", "text"):
            raise ValueError(f"judge score_mode must be 'logprobs' or 'text', not {self.score_mode!r}")

    @classmethod
    def from_settings(cls, settings: Any, *, cache_dir: Path | None = None,
                      **overrides: Any) -> JudgeConfig:
        """Read every field from ``settings`` by name, defaulting what it does not define."""
        values = {f.name: getattr(settings, f.name, f.default) for f in fields(cls)}
        if values["cache_path"] is None and cache_dir is not None and getattr(settings, "persist_cache", True):
            values["cache_path"] = Path(cache_dir).expanduser() / "judge" / "verdicts.sqlite"
        values.update(overrides)
        return cls(**values)

    def secret(self) -> str:
        """The API key for the client: the setting, else ``OPENAI_API_KEY``, else a placeholder."""
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        return os.environ.get("OPENAI_API_KEY") or "no-key"  # local servers ignore it


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


# --- verdict cache -----------------------------------------------------------


class VerdictCache:
    """Parsed answers by key: an in-process LRU in front of an optional sqlite file.

    The file makes replays and restarts free; if it cannot be used the cache logs
    once and stays in memory: it saves money, it never fails a verdict.
    """

    def __init__(self, size: int = 10_000, path: Path | None = None) -> None:
        self._lru: OrderedDict[str, JudgeAnswer] = OrderedDict()
        self._size = max(1, size)
        self._lock = threading.Lock()
        self._db = self._open(Path(path)) if path else None

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), timeout=5, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")  # several workers may share the file
            db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, answer TEXT NOT NULL, at REAL)")
            return db
        except (OSError, sqlite3.Error) as exc:
            log.warning("judge cache file unusable: memory only", path=str(path), error=str(exc))
            return None

    def get(self, key: str) -> JudgeAnswer | None:
        with self._lock:
            if key in self._lru:
                self._lru.move_to_end(key)
                CACHE.labels("memory").inc()
                return self._lru[key]
        answer = self._load(key)
        CACHE.labels("disk" if answer else "miss").inc()
        if answer is not None:
            self._remember(key, answer)
        return answer

    def put(self, key: str, answer: JudgeAnswer) -> None:
        self._remember(key, answer)
        if self._db is not None:
            self._sql("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?)", key, json.dumps(asdict(answer)), time.time())

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _remember(self, key: str, answer: JudgeAnswer) -> None:
        with self._lock:
            self._lru[key] = answer
            self._lru.move_to_end(key)
            while len(self._lru) > self._size:
                self._lru.popitem(last=False)

    def _load(self, key: str) -> JudgeAnswer | None:
        rows = self._sql("SELECT answer FROM verdicts WHERE key = ?", key) if self._db else None
        try:
            return JudgeAnswer(**json.loads(rows[0][0])) if rows else None
        except (TypeError, ValueError):  # a row from an older layout: a miss
            return None

    def _sql(self, query: str, *args: Any) -> list | None:
        try:
            with self._lock:
                return self._db.execute(query, args).fetchall()
        except sqlite3.Error as exc:
            log.warning("judge cache file error", error=str(exc))
            return None


# --- rate limiting and backoff -----------------------------------------------


class RateLimiter:
    """Token buckets for requests/min and tokens/min (0: unlimited), refilled continuously.

    A bucket holds one second's worth (at least one request): smooth pacing rather
    than minute-long bursts that trip a server's shorter windows.  A call larger than
    the bucket is let through when the bucket is full and leaves a debt.
    ``pause`` (from a 429's Retry-After) holds every caller.
    """

    def __init__(self, requests_per_minute: float = 0.0, tokens_per_minute: float = 0.0,
                 clock: Any = time.monotonic) -> None:
        self._rates = (requests_per_minute / 60.0, tokens_per_minute / 60.0)
        self._caps = tuple(max(1.0, r) for r in self._rates)
        self._levels = list(self._caps)
        self._clock = clock
        self._stamp = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: float) -> float:
        """Wait for room for one request of ``tokens``; returns the seconds waited."""
        needs, waited = (1.0, float(tokens)), 0.0
        async with self._lock:  # first come, first served
            while (delay := self._delay(needs)) > 0:
                await asyncio.sleep(delay)
                waited += delay
            for i, need in enumerate(needs):
                if self._rates[i]:
                    self._levels[i] -= need
        return waited

    def settle(self, estimated: float, actual: float) -> None:
        """Correct the token bucket once the real usage is known."""
        if self._rates[1]:
            self._levels[1] = min(self._caps[1], self._levels[1] + estimated - actual)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _delay(self, needs: tuple[float, float]) -> float:
        now = self._clock()
        for i, rate in enumerate(self._rates):
            if rate:
                self._levels[i] = min(self._caps[i], self._levels[i] + (now - self._stamp) * rate)
        self._stamp = now
        delay = self._paused_until - now
        for i, rate in enumerate(self._rates):
            if rate and self._levels[i] < min(needs[i], self._caps[i]):
                delay = max(delay, (min(needs[i], self._caps[i]) - self._levels[i]) / rate)
        return delay


def backoff_delay(failures: int, base_s: float, max_s: float, retry_after: float | None = None) -> float:
    """Seconds before the next try: at least ``Retry-After`` when the server sent one,
    else exponential with equal jitter (half fixed, half random) so clients spread out."""
    step = min(max_s, base_s * 2 ** failures)
    jittered = step / 2 + random.uniform(0, step / 2)
    if retry_after is not None:
        return max(0.0, retry_after) + random.uniform(0, min(base_s, step) / 2)
    return jittered


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` (OpenAI), else ``retry-after`` in seconds or as an HTTP date."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return float(raw) / scale
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            continue
    return None


# --- the client --------------------------------------------------------------

_OPTIONAL = ("response_format", "logprobs", "temperature", "max_tokens", "max_completion_tokens")
_ALSO_MEANS = {"json_schema": "response_format", "top_logprobs": "logprobs"}
_UNSUPPORTED = re.compile(r"unsupported|not supported|does not support|unrecognized|unknown|not allowed|extra", re.I)


class _Transient(Exception):
    """A failure worth retrying (internal: never leaves this module)."""

    def __init__(self, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason, self.retry_after = reason, retry_after


class _Unsupported(Exception):
    def __init__(self, param: str) -> None:
        super().__init__(param)
        self.param = param


class JudgeClient:
    """Judges insights over an OpenAI-compatible API: rate-limited, bounded, retried, cached.

    ``async with JudgeClient(config) as judge: result = await judge.judge(request)``.
    """

    def __init__(self, config: JudgeConfig, *, cache: VerdictCache | None = None) -> None:
        self.config = config
        self.cache = cache if cache is not None else VerdictCache(config.cache_size, config.cache_path)
        self._secret = config.secret()
        self._api = openai.AsyncOpenAI(base_url=config.base_url, api_key=self._secret,
                                       timeout=config.timeout_s, max_retries=0)
        self._host = self._api.base_url.host + (f":{self._api.base_url.port}" if self._api.base_url.port else "")
        self._limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
        self._slots = asyncio.Semaphore(max(1, config.concurrency))
        self._dropped: set[str] = set()
        self._inflight: dict[str, asyncio.Future] = {}

    async def __aenter__(self) -> JudgeClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._api.close()
        self.cache.close()

    @property
    def dropped(self) -> frozenset[str]:
        """Optional parameters this server turned out not to support."""
        return frozenset(self._dropped)

    async def judge(self, request: JudgeRequest) -> JudgeResult:
        """The verdict for ``request``: from the cache, else from the model (see module docstring)."""
        started = time.perf_counter()
        key = request.cache_key(self.config.model, "logprobs" if self._wants_logprobs() else "text")
        while (answer := self.cache.get(key)) is None and key in self._inflight:
            await asyncio.wait([self._inflight[key]])  # the same input is being judged: share it
        if answer is not None:
            return self._result(answer, started, (0, 0), cached=True)
        self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            answer, usage = await self._ask(request)
            self.cache.put(key, answer)
        finally:
            self._inflight.pop(key).set_result(None)
        return self._result(answer, started, usage)

    def _result(self, answer: JudgeAnswer, started: float, usage: tuple[int, int],
                cached: bool = False) -> JudgeResult:
        overall, decision, notes = decide(answer, self.config.approve_threshold)
        return JudgeResult(answer, overall, decision, notes, self.config.model, usage[0], usage[1],
                           cost_usd(self.config, *usage), (time.perf_counter() - started) * 1000, cached)

    async def _ask(self, request: JudgeRequest) -> tuple[JudgeAnswer, tuple[int, int]]:
        used = (0, 0)
        for attempt in range(self.config.parse_retries + 1):
            want_logprobs = self._wants_logprobs()
            body, usage = await self._complete(request, warmer=attempt > 0)
            used = (used[0] + usage[0], used[1] + usage[1])
            try:
                return interpret(body, want_logprobs), used
            except JudgeError as exc:
                ERRORS.labels(exc.reason).inc()
                if isinstance(exc, JudgeRefused) or attempt == self.config.parse_retries:
                    raise
                RETRIES.labels(exc.reason).inc()
                log.info("judge answer unusable, asking again", reason=exc.reason, attempt=attempt + 1)
        raise AssertionError("unreachable")

    async def _complete(self, request: JudgeRequest, warmer: bool) -> tuple[dict, tuple[int, int]]:
        failures = 0
        while True:
            try:
                return await self._call(self._params(request, warmer))
            except _Unsupported as exc:
                self._drop(exc.param)
            except _Transient as exc:
                ERRORS.labels(exc.reason).inc()
                if failures >= self.config.max_retries:
                    ERRORS.labels("unavailable").inc()
                    raise JudgeUnavailable(f"judge unavailable after {failures + 1} attempts; last: {exc}",
                                           reason=exc.reason) from None
                delay = backoff_delay(failures, self.config.backoff_base_s, self.config.backoff_max_s,
                                      exc.retry_after)
                if exc.retry_after is not None:
                    self._limiter.pause(delay)
                RETRIES.labels(exc.reason).inc()
                log.warning("judge call failed, retrying", reason=exc.reason, attempt=failures + 1,
                            retry_in_s=round(delay, 3), error=str(exc)[:300])
                failures += 1
                await asyncio.sleep(delay)

    async def _call(self, params: dict[str, Any]) -> tuple[dict, tuple[int, int]]:
        estimate = sum(len(m["content"]) for m in params["messages"]) / 4 + self.config.max_tokens
        THROTTLED.inc(await self._limiter.acquire(estimate))
        async with self._slots:
            IN_FLIGHT.inc()
            started = time.perf_counter()
            try:
                raw = await self._api.chat.completions.with_raw_response.create(**params)
                text = raw.http_response.text
            except openai.APIError as exc:
                REQUESTS.labels("error").inc()
                raise self._translate(exc) from None
            finally:
                IN_FLIGHT.dec()
                LATENCY.observe(time.perf_counter() - started)
        try:
            body = json.loads(text)
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            REQUESTS.labels("error").inc()
            raise _Transient("bad_response", f"the judge ({self._host}) sent a body that is not a JSON "
                             f"object: {self._scrub(text[:120])!r}") from None
        REQUESTS.labels("ok").inc()
        return body, self._account(body, params, estimate)

    def _account(self, body: dict, params: dict, estimate: float) -> tuple[int, int]:
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        if not isinstance(prompt, int) or not isinstance(completion, int):  # ~4 chars a token: never bill 0
            choice = (body.get("choices") or [{}])[0]
            content = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
            prompt = int(sum(len(m["content"]) for m in params["messages"]) / 4)
            completion = int(len(content or "") / 4)
        TOKENS.labels("prompt").inc(prompt)
        TOKENS.labels("completion").inc(completion)
        COST.inc(cost_usd(self.config, prompt, completion))
        self._limiter.settle(estimate, prompt + completion)
        return prompt, completion

    def _wants_logprobs(self) -> bool:
        return self.config.score_mode == "logprobs" and "logprobs" not in self._dropped

    def _params(self, request: JudgeRequest, warmer: bool) -> dict[str, Any]:
        c, dropped = self.config, self._dropped
        params: dict[str, Any] = {"model": c.model, "messages": build_messages(request)}
        limit = "max_completion_tokens" if "max_tokens" in dropped else "max_tokens"
        if limit not in dropped:
            params[limit] = c.max_tokens
        if "temperature" not in dropped:  # a re-ask must not repeat a greedy answer word for word
            params["temperature"] = max(c.temperature, 0.7) if warmer else c.temperature
        if c.structured_output and "response_format" not in dropped:
            params["response_format"] = RESPONSE_FORMAT
        if self._wants_logprobs():
            params.update(logprobs=True, top_logprobs=c.top_logprobs)
        return params

    def _drop(self, param: str) -> None:
        if param in self._dropped:  # dropped already and still refused: not a capability issue
            raise JudgeRequestError(f"the judge ({self._host}) keeps refusing parameter {param!r}",
                                    reason="bad_request")
        self._dropped.add(param)
        RETRIES.labels("unsupported_parameter").inc()
        log.warning("judge server does not support a parameter: dropped", param=param, host=self._host)

    def _translate(self, exc: openai.APIError) -> Exception:
        if isinstance(exc, openai.APITimeoutError):
            return _Transient("timeout", f"the judge ({self._host}) did not answer within {self.config.timeout_s}s")
        if not isinstance(exc, openai.APIStatusError):
            return _Transient("connection", f"cannot reach the judge ({self._host}): {type(exc).__name__}")
        status, headers = exc.status_code, exc.response.headers
        said = exc.body.get("message") if isinstance(exc.body, dict) else None
        where = f"the judge ({self._host}) answered HTTP {status}: {self._scrub(str(said or exc.message))[:300]}"
        if status == 429:
            return _Transient("rate_limited", where, retry_after_s(headers))
        if status in (408, 409) or status >= 500:
            return _Transient("server_error", where, retry_after_s(headers))
        if status in (401, 403, 404):
            ERRORS.labels("auth" if status != 404 else "not_found").inc()
            return JudgeUnavailable(where, reason="auth" if status != 404 else "not_found")
        param = self._unsupported_param(exc) if status in (400, 422) else None
        if param:
            return _Unsupported(param)
        ERRORS.labels("bad_request").inc()
        return JudgeRequestError(where, reason="bad_request")

    @staticmethod
    def _unsupported_param(exc: openai.APIStatusError) -> str | None:
        body = exc.body if isinstance(exc.body, dict) else {}
        named = body.get("param") if isinstance(body.get("param"), str) else ""
        message = str(exc.message)
        for word in (*_OPTIONAL, *_ALSO_MEANS):
            if word == named or (word in message and _UNSUPPORTED.search(message)):
                return _ALSO_MEANS.get(word, word)
        return None

    def _scrub(self, text: str) -> str:
        """Server text without the key, even when a proxy echoes request headers back."""
        if len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return re.sub(r"(?i)(bearer\s+)[^\s\"',}]+", r"\1***", text)
