"""The fixed probe set: prompts every candidate adapter answers before promotion.

Fixed on purpose (not drawn from the window): scores stay comparable across
windows and versions. Changing this list changes every later probe score, so
bump ``PROBE_SET_VERSION`` with it (it is recorded with the metrics).
"""

from __future__ import annotations

from typing import Any

PROBE_SET_VERSION = "probes-1"

_PROBES: tuple[tuple[str, dict[str, str], str | None], ...] = (
    ("numerology", {"life_path_number": "7", "personal_year": "5", "focus": "career change",
                    "mood": "restless"}, "End with one concrete step."),
    ("astrology", {"sun_sign": "Pisces", "moon_sign": "Cancer", "moon_phase": "waxing gibbous",
                   "focus": "self-trust"}, None),
    ("journal", {"journal_snippet": "I said yes to everything again this week and I am exhausted.",
                 "focus": "boundaries", "mood": "tired"}, None),
    ("daily_card", {"card": "The Tower", "focus": "a relationship that is changing"}, None),
    ("sanctum", {"moon_phase": "new moon", "focus": "stillness", "mood": "scattered"}, None),
    ("career", {"journal_snippet": "My manager praised the project but I still feel like a fraud.",
                "focus": "confidence at work"}, "Keep it gentle."),
    ("relationship", {"sun_sign": "Leo", "focus": "a friendship that feels one-sided",
                      "mood": "hurt"}, None),
    ("spiritual", {"moon_phase": "full moon", "focus": "gratitude", "life_path_number": "3"}, None),
)


def probe_prompts(count: int | None = None, tier: str = "standard") -> list[dict[str, Any]]:
    """The first ``count`` probe prompts (all by default) as PromptEvent-like dicts."""
    out = []
    for i, (domain, context, instructions) in enumerate(_PROBES[:count]):
        out.append({"prompt_id": f"{PROBE_SET_VERSION}-{i}", "domain": domain, "tier": tier,
                    "context": dict(context), "instructions": instructions, "revise_notes": None})
    return out
