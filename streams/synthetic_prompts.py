"""Realistic synthetic prompt events from the corpus shipped in the package.

Deterministic for a given seed, so a demo run or a benchmark can be repeated
exactly; ids are derived from the seed and the index, not random UUIDs.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def corpus() -> dict[str, Any]:
    """The shipped corpus (``streams/data/corpus.json``), loaded once."""
    text = resources.files("kasper.streams").joinpath("data/corpus.json").read_text()
    return json.loads(text)


def _weighted(rng: random.Random, weights: dict[str, Any]) -> str:
    names = list(weights)
    values = [w["weight"] if isinstance(w, dict) else w for w in weights.values()]
    return rng.choices(names, weights=values)[0]


def _context(rng: random.Random, domain: str) -> dict[str, str]:
    c = corpus()
    context = {
        "life_path_number": rng.choice(c["life_path_numbers"]),
        "sun_sign": rng.choice(c["signs"]),
        "moon_phase": rng.choice(c["moon_phases"]),
        "focus": rng.choice(c["domains"][domain]["focus"]),
        "mood": rng.choice(c["moods"]),
    }
    if domain in ("astrology", "sanctum", "relationship"):
        context["moon_sign"] = rng.choice(c["signs"])
        context["rising_sign"] = rng.choice(c["signs"])
    if domain == "daily_card":
        context["card"] = rng.choice(c["cards"])
    if domain == "numerology":
        context["personal_year"] = rng.choice(c["personal_years"])
    if domain in ("journal", "relationship", "career") or rng.random() < 0.3:
        context["journal_snippet"] = rng.choice(c["journal_snippets"])
    return context


def record_id(seed: int, index: int) -> str:
    """The prompt id of the ``index``-th synthetic prompt of the run with ``seed``."""
    return f"syn-{seed}-{index:07d}"


def synthetic_prompt(index: int, seed: int = 0, start: datetime | None = None) -> dict[str, Any]:
    """The ``index``-th synthetic PromptEvent of the run with ``seed``."""
    rng = random.Random(f"{seed}:{index}")
    c = corpus()
    domain = _weighted(rng, c["domains"])
    digest = hashlib.sha256(f"kasper-synthetic:{seed}:{index}".encode()).hexdigest()
    start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
    return {
        "prompt_id": record_id(seed, index),
        "source": rng.choice(c["sources"]),
        "domain": domain,
        "tier": _weighted(rng, c["tiers"]),
        "context": _context(rng, domain),
        "instructions": rng.choice(c["instructions"]),
        "attempt": 0,
        "revise_notes": None,
        "user_hash": digest[:16],
        "trace_id": digest[16:48],
        "created_at": start + timedelta(seconds=index),
    }


def synthetic_prompts(count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """``count`` synthetic prompt events."""
    start = datetime.now(timezone.utc).replace(microsecond=0)
    for index in range(count):
        yield synthetic_prompt(index, seed, start)
