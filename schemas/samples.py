"""Realistic, valid sample records for every record type (tests, demos, benchmarks).

``sample_record(name)`` returns a fresh deep copy each call, so callers may
mutate it. Timestamps are timezone-aware UTC with millisecond precision, so a
record survives an encode/decode round trip unchanged.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from .codec import full_name

__all__ = ["sample_record"]

_T0 = datetime(2026, 11, 25, 10, 30, 0, 125000, tzinfo=timezone.utc)
_PROMPT_ID = "5b0e2f9c-8f0a-4e7b-9d61-2c3a4f5e6d70"
_INSIGHT_ID = "c7d1e3a2-41f6-4b8e-a0c9-7e5d3b2a1f04"
_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
_USER_HASH = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _at(seconds: float) -> datetime:
    return _T0 + timedelta(seconds=seconds)


_PROMPT = {
    "prompt_id": _PROMPT_ID,
    "source": "journal-api",
    "domain": "numerology",
    "tier": "standard",
    "context": {
        "life_path_number": "7",
        "sun_sign": "Pisces",
        "moon_sign": "Cancer",
        "rising_sign": "Virgo",
        "moon_phase": "waxing gibbous",
        "focus": "career change",
        "journal_snippet": "I keep doubting whether leaving the studio was the right call.",
    },
    "instructions": "Keep it under 120 words and end with one concrete step.",
    "attempt": 0,
    "revise_notes": None,
    "user_hash": _USER_HASH,
    "trace_id": _TRACE_ID,
    "created_at": _at(0),
}

_INSIGHT = {
    "insight_id": _INSIGHT_ID,
    "prompt_id": _PROMPT_ID,
    "attempt": 0,
    "domain": "numerology",
    "tier": "standard",
    "text": (
        "As a Life Path 7, you are built for inward seasons: the doubt you feel is the seeker in you "
        "asking for evidence, not a verdict on your choice. With the Moon waxing toward full, let "
        "what you started grow before you judge it. Tonight, write down three things the studio "
        "could never have taught you, and one small experiment you can run this week."
    ),
    "model": "SmolLM2-135M-Instruct",
    "adapter_version": "standard-0003",
    "template_version": "numerology-v2",
    "sampling": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 256, "seed": 1234,
                 "repetition_penalty": 1.1},
    "prompt_tokens": 212,
    "completion_tokens": 87,
    "latency_ms": 1843.5,
    "trace_id": _TRACE_ID,
    "created_at": _at(2.5),
    "exemplar_set": "numerology-3f9c2a1b7d40",
}

_GRADE = {
    "insight_id": _INSIGHT_ID,
    "prompt_id": _PROMPT_ID,
    "scores": {
        "spiritual_authenticity": 0.82,
        "practical_wisdom": 0.74,
        "emotional_resonance": 0.88,
        "clarity_coherence": 0.91,
        "actionability": 0.79,
        "originality": 0.63,
    },
    "final_score": 0.80,
    "letter": "B",
    "passed": True,
    "gate_failures": [],
    "recommendations": ["Name the moon phase's meaning for decisions more explicitly."],
    "grader_version": "rubric-1.4.0",
    "word_count": 71,
    "created_at": _at(2.6),
}

_VERDICT = {
    "insight_id": _INSIGHT_ID,
    "prompt_id": _PROMPT_ID,
    "judge_model": "gpt-5",
    "scores": {
        "authenticity": 8.0,
        "practical_wisdom": 7.5,
        "emotional_resonance": 8.5,
        "clarity": 9.0,
        "originality": 6.5,
    },
    "overall": 7.9,
    "recommendation": "APPROVE",
    "rationale": "Grounded in Life Path 7 symbolism, warm, and ends with a concrete, doable step.",
    "revise_notes": None,
    "score_mode": "logprobs",
    "rubric_version": "judge-2026-11",
    "usage": {"prompt_tokens": 640, "completion_tokens": 96},
    "cost_usd": 0.00214,
    "cached": False,
    "latency_ms": 912.25,
    "created_at": _at(4.0),
    "decision_reason": "mean 7.9 >= 7.0; model recommended APPROVE",
    "safety": "none",
}

# Each stage carries the record it worked on forward (event-carried state);
# the ApprovedInsight holds each part once, with the carried copies left out.
_CARRIED_INSIGHT = {**_INSIGHT, "prompt": _PROMPT}
_CARRIED_GRADE = {**_GRADE, "insight": _CARRIED_INSIGHT}

_SAMPLES: dict[str, dict[str, Any]] = {
    "PromptEvent": _PROMPT,
    "Insight": _CARRIED_INSIGHT,
    "Grade": _CARRIED_GRADE,
    "Verdict": {**_VERDICT, "grade": _CARRIED_GRADE},
    "ApprovedInsight": {
        "insight_id": _INSIGHT_ID,
        "prompt": _PROMPT,
        "insight": {**_INSIGHT, "prompt": None},
        "grade": {**_GRADE, "insight": None},
        "verdict": {**_VERDICT, "grade": None},
        "approved_at": _at(4.1),
    },
    "Feedback": {
        "feedback_id": "0d8f6b4e-2a7c-4c1e-b5f3-9e8d7c6b5a41",
        "insight_id": _INSIGHT_ID,
        "user_hash": _USER_HASH,
        "rating": "up",
        "stars": 5,
        "comment": "This was exactly what I needed today.",
        "created_at": _at(3600),
    },
    "TrainingWindow": {
        "window_id": "standard-20261125T120000Z",
        "tier": "standard",
        "opened_at": _at(0),
        "closed_at": _at(5400),
        "close_reason": "count",
        "source_offsets": [
            {"topic": "kasper.approved", "partition": 0, "start_offset": 1200, "end_offset": 1455},
            {"topic": "kasper.approved", "partition": 1, "start_offset": 1187, "end_offset": 1431},
            {"topic": "kasper.feedback", "partition": 0, "start_offset": 310, "end_offset": 377},
        ],
        "counts": {
            "approved": 500,
            "feedback": 68,
            "sft_train": 400,
            "sft_valid": 50,
            "sft_test": 42,
            "preference_pairs": 21,
            "thumbs_up": 40,
            "thumbs_down": 19,
            "excluded": 8,
            "feedback_over_user_cap": 3,
            "feedback_comments_redacted": 1,
        },
        "files": [
            {"name": "train.jsonl", "sha256": "a" * 64, "bytes": 812345, "records": 400},
            {"name": "valid.jsonl", "sha256": "b" * 64, "bytes": 101234, "records": 50},
            {"name": "test.jsonl", "sha256": "c" * 64, "bytes": 85012, "records": 42},
            {"name": "approved.avro", "sha256": "d" * 64, "bytes": 1544100, "records": 500},
        ],
        "directory": "runs/windows/standard-20261125T120000Z",
        "created_at": _at(5400.5),
    },
    "ModelVersion": {
        "tier": "standard",
        "version": "standard-0004",
        "base_model": "SmolLM2-135M-Instruct",
        "adapter_path": "runs/adapters/standard-0004",
        "adapter_sha256": "e" * 64,
        "window_id": "standard-20261125T120000Z",
        "metrics": {"val_loss": 1.842, "mean_grade": 0.81, "pass_rate": 0.87, "judge_overall": 7.6},
        "promoted": True,
        "reason": "mean_grade +0.03 and pass_rate +0.05 over standard-0003",
        "created_at": _at(7200),
        "objective": "sft+kto",
        # Not a canary (tests/test_canary.py round-trips one that is).
        "canary_share": None,
        "incumbent_version": None,
        "incumbent_adapter_path": None,
        "incumbent_adapter_sha256": None,
    },
    "TokenDelta": {
        "insight_id": _INSIGHT_ID,
        "prompt_id": _PROMPT_ID,
        "index": 3,
        "delta": " the seventh house",
        "done": False,
        "created_at": _at(1.5),
    },
    "DeadLetter": {
        "original_key": _PROMPT_ID.encode(),
        "stage": "grade",
        "reason": "Insight: body ends before the record does (at kasper.insights[2]@1234)",
        "error_type": "TruncatedRecordError",
        "original_topic": "kasper.insights",
        "original_partition": 2,
        "original_offset": 1234,
        "original_bytes": b"\xc3\x01\x8e\x11\x02\x7f\x00\x10\xa4\x9b\x48\x35\x62\x30",
        "attempt": 3,
        "created_at": _at(10),
    },
}


def sample_record(name: str) -> dict[str, Any]:
    """A valid, realistic record of type ``name`` (short or full name); a fresh copy."""
    return copy.deepcopy(_SAMPLES[full_name(name).rpartition(".")[2]])
