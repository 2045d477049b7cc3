"""Deterministic synthetic ApprovedInsight and Feedback records (tests, benchmarks, demos).

Prompts come from :func:`kasper.streams.synthetic_prompts.synthetic_prompt`; the insight
texts are assembled from a few sentence patterns filled with the prompt's
context, so they read like the product's insights (50-110 words, second
person, one concrete step with a time cue) and vary enough to train on.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from kasper.schemas.samples import sample_record
from kasper.streams.synthetic_prompts import synthetic_prompt

_OPENINGS = (
    "With the {moon_phase} overhead, your attention is asked to rest on {focus}.",
    "As a Life Path {life_path_number}, you meet {focus} with more depth than you admit.",
    "Your {sun_sign} nature wants {focus} settled quickly, and that is worth noticing.",
    "Feeling {mood} around {focus} is not a flaw; it is information.",
)
_MIDDLES = (
    "The restlessness you describe is not a sign that you chose wrong; it is the part of you "
    "that wants evidence before it trusts.",
    "Notice where your body tightens when you think about it, because that is where the real "
    "question lives.",
    "Small, steady choices will teach you more than one dramatic decision made in a hurry.",
    "You do not need to solve all of it today; you only need to see the next honest step.",
    "Let what you started grow a little before you judge it, the way a seed is not judged in "
    "its first week.",
)
_STEPS = (
    "Tonight, write down three things you already know about {focus} and one you are afraid to admit.",
    "Tomorrow morning, before you check your phone, take five slow breaths and name one intention.",
    "This week, set a ten-minute timer once a day and give {focus} your full, quiet attention.",
    "Before bed, place your hand on your chest and say aloud one thing you are proud of today.",
)


def insight_text(prompt: dict[str, Any], rng: random.Random) -> str:
    """An insight-like text for ``prompt`` (deterministic for a given ``rng`` state)."""
    context = {"moon_phase": "moon", "focus": "this", "life_path_number": "7",
               "sun_sign": "Pisces", "mood": "uncertain", **prompt["context"]}
    parts = [rng.choice(_OPENINGS), *rng.sample(_MIDDLES, 2), rng.choice(_STEPS)]
    return " ".join(p.format(**context) for p in parts)


def synthetic_approved(count: int, seed: int = 0, *, tier: str | None = None,
                       score: float | None = None, start: datetime | None = None) -> list[dict[str, Any]]:
    """``count`` valid ApprovedInsight records; ``tier``/``score`` force those fields."""
    start = start or datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    out = []
    for i in range(count):
        rng = random.Random(f"approved:{seed}:{i}")
        prompt = synthetic_prompt(i, seed, start)
        prompt["tier"] = tier or prompt["tier"]
        out.append(_approved(prompt, insight_text(prompt, rng), f"ins-{seed}-{i:06d}",
                             score if score is not None else round(rng.uniform(0.75, 0.97), 3),
                             start + timedelta(seconds=i + 5)))
    return out


def _approved(prompt: dict, text: str, insight_id: str, score: float, at: datetime) -> dict[str, Any]:
    record = copy.deepcopy(sample_record("ApprovedInsight"))
    record["insight_id"] = insight_id
    record["prompt"] = prompt
    record["insight"].update(insight_id=insight_id, prompt_id=prompt["prompt_id"], text=text,
                             domain=prompt["domain"], tier=prompt["tier"],
                             completion_tokens=len(text.split()))
    record["grade"].update(insight_id=insight_id, prompt_id=prompt["prompt_id"], final_score=score,
                           word_count=len(text.split()))
    record["verdict"].update(insight_id=insight_id, prompt_id=prompt["prompt_id"])
    record["approved_at"] = at
    return record


def synthetic_feedback(approved: list[dict[str, Any]], seed: int = 0,
                       per_insight: int = 1) -> Iterator[dict[str, Any]]:
    """Feedback on each approved record: thumbs up or down (and stars) chosen by ``seed``."""
    for record in approved:
        rng = random.Random(f"feedback:{seed}:{record['insight_id']}")
        for j in range(per_insight):
            up = rng.random() < 0.6
            yield {
                "feedback_id": f"fb-{seed}-{record['insight_id']}-{j}",
                "insight_id": record["insight_id"],
                "user_hash": f"user-{rng.randrange(10_000):04d}",
                "rating": "up" if up else "down",
                "stars": rng.choice((4, 5)) if up else rng.choice((1, 2)),
                "comment": None,
                "created_at": record["approved_at"] + timedelta(minutes=5 + j),
            }
