"""Builders for the records the pipeline itself creates: fills ids and timestamps."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from kasper.schemas.errors import Where

# A letter must fit any producer's request limit (Faust's is 1 MB) and the codec's
# read limit, or the stage would crash on a record it meant to dead-letter.
MAX_DEAD_LETTER_BYTES = 256 * 1024


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_prompt(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A PromptEvent from caller fields; missing ids, trace id and timestamp are filled in."""
    record = {
        "prompt_id": str(uuid.uuid4()),
        "source": "api",
        "tier": "standard",
        "context": {},
        "instructions": None,
        "attempt": 0,
        "revise_notes": None,
        "user_hash": None,
        "trace_id": uuid.uuid4().hex,
        "created_at": now(),
    }
    record.update(fields)
    return record


def new_feedback(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A Feedback event from caller fields; ``feedback_id`` and ``created_at`` filled in."""
    record = {
        "feedback_id": str(uuid.uuid4()),
        "rating": "none",
        "stars": None,
        "comment": None,
        "created_at": now(),
    }
    record.update(fields)
    return record


def dead_letter(stage: str, error: BaseException | str, original: bytes, *,
                key: bytes | None = None, where: Where | None = None,
                attempt: int = 0) -> dict[str, Any]:
    """A DeadLetter for ``original`` bytes that ``stage`` could not decode or process.

    Bytes beyond :data:`MAX_DEAD_LETTER_BYTES` are cut off; the reason then says so and
    gives the original size and sha256 (the full record stays on its own topic, at
    ``original_topic``/``original_partition``/``original_offset``, for its retention).
    """
    where = where or Where()
    # An exception without a message still names what went wrong.
    reason = str(error) or (type(error).__name__ if isinstance(error, BaseException) else "rejected")
    if len(original) > MAX_DEAD_LETTER_BYTES:
        reason += (f" [original_bytes truncated to {MAX_DEAD_LETTER_BYTES} of {len(original)} bytes; "
                   f"sha256 of the original {hashlib.sha256(original).hexdigest()}]")
        original = original[:MAX_DEAD_LETTER_BYTES]
    return {
        "original_key": key,
        "stage": stage,
        "reason": reason,
        "error_type": type(error).__name__ if isinstance(error, BaseException) else "Rejected",
        "original_topic": where.topic,
        "original_partition": where.partition,
        "original_offset": where.offset,
        "original_bytes": original,
        "attempt": attempt,
        "created_at": now(),
    }
