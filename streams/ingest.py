"""Upstream input: JSONL files of prompt or feedback events, validated line by line.

A whole file is validated before anything is sent, so a bad line never leaves
half a file on the topic. Callers decide: refuse the file, or send the good
lines and dead-letter the bad ones (``--skip-invalid``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kasper.schemas import Codec, from_json
from kasper.schemas.codec import standalone_schema
from kasper.schemas.errors import KasperError, Where
from kasper.streams import records, topics
from kasper.streams.errors import InputError
from kasper.streams.producer import Producer

# Lines longer than this are rejected before JSON parsing: a runaway line must
# not take the producer's memory with it. Kafka's own default limit is 1 MiB.
MAX_LINE_BYTES = 1024 * 1024

BUILDERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    topics.PROMPTS.record: records.new_prompt,
    topics.FEEDBACK.record: records.new_feedback,
}


@dataclass(frozen=True)
class Line:
    """One input line: either a valid ``record`` or the ``error`` that rejected it."""

    number: int
    raw: bytes
    record: dict[str, Any] | None = None
    error: str | None = None


def parse_line(codec: Codec, spec: topics.TopicSpec, number: int, raw: bytes) -> Line:
    """Parse, fill and validate one JSONL line for ``spec``'s record type."""
    try:
        return Line(number, raw, record=_record(codec, spec, raw))
    except (KasperError, ValueError) as exc:
        return Line(number, raw, error=f"{Where(line=number)}: {exc}")


def _record(codec: Codec, spec: topics.TopicSpec, raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_LINE_BYTES:
        raise ValueError(f"line is {len(raw):,} bytes, the limit is {MAX_LINE_BYTES:,}")
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - _field_names(spec.record))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} for {spec.record}")
    record = BUILDERS[spec.record](from_json(spec.record, obj))
    codec.validate(spec.record, record)
    return record


@lru_cache(maxsize=None)
def _field_names(record: str) -> frozenset[str]:
    return frozenset(field["name"] for field in standalone_schema(record)["fields"])


def parse_lines(codec: Codec, spec: topics.TopicSpec, lines: Iterable[bytes]) -> list[Line]:
    """Every non-blank line, numbered from 1 as an editor shows them."""
    parsed = []
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if stripped:
            parsed.append(parse_line(codec, spec, number, stripped))
    return parsed


@dataclass(frozen=True)
class ProduceReport:
    sent: int
    dead_lettered: int
    errors: list[str]


async def produce_lines(producer: "Producer", spec: topics.TopicSpec, lines: Iterable[bytes],
                        *, source: str = "-", skip_invalid: bool = False) -> ProduceReport:
    """Validate every line, then send all of them, or refuse the whole input.

    With ``skip_invalid`` the good lines are sent and each bad one goes to the
    DLQ with its line number and reason, so nothing is silently dropped.
    """
    parsed = parse_lines(producer.codec, spec, lines)
    errors = [f"{source}:{line.error}" for line in parsed if line.error]
    if errors and not skip_invalid:
        raise InputError(
            f"{len(errors)} invalid line(s) in {source}, nothing was sent; first: {errors[0]}"
        )
    sent = dead = 0
    for line in parsed:
        if line.record is not None:
            await producer.send(spec, line.record)
            sent += 1
        else:
            error = InputError(f"{source}:{line.error}")
            await producer.send(topics.DLQ, records.dead_letter("produce", error, line.raw))
            dead += 1
    await producer.flush()
    return ProduceReport(sent, dead, errors)
