"""The simulated users: deterministic per seed, sparse, and a taste that is not the rubric."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kasper.agents.quality.agreement import spearman
from kasper.agents.quality.personal_data import find_personal_data
from kasper.agents.quality.rubric import Rubric
from kasper.schemas import Codec
from kasper.streams.simulated_users import (feedback_for, like_probability, thumbs_up_rate, traits,
                                            user_set)
from kasper.trainer.synthetic_records import synthetic_approved

DATA = Path(__file__).parent / "data"
# Development texts only (never the held-out files).
CORPORA = ("quality/content_dev.jsonl", "quality/extra_dev.jsonl", "insights_labeled.jsonl")
NOW = datetime(2026, 12, 3, tzinfo=timezone.utc)


def _texts() -> list[dict]:
    return [json.loads(line) for name in CORPORA for line in (DATA / name).read_text().splitlines()
            if line.strip()]


def test_users_and_their_taste_are_the_same_for_a_seed_and_differ_across_seeds():
    assert user_set(3, 40) == user_set(3, 40)
    assert [u.user_hash for u in user_set(3, 40)] != [u.user_hash for u in user_set(4, 40)]
    assert len({u.user_hash for u in user_set(3, 40)}) == 40
    text = "Tonight, before bed, write three lines about what your gratitude list left out."
    context = {"focus": "gratitude"}
    assert thumbs_up_rate(text, context, user_set(3)) == thumbs_up_rate(text, context, user_set(3))
    assert thumbs_up_rate(text, context, user_set(3)) != thumbs_up_rate(text, context, user_set(4))
    with pytest.raises(ValueError, match="at least 1 user"):
        user_set(0, 0)


def test_the_taste_prefers_short_concrete_second_person_texts_about_the_context_without_cliches():
    context = {"focus": "gratitude", "mood": "tired"}
    liked = "You are tired. Tonight, write one line of gratitude for your tea, then sleep."
    cliched = ("Embrace the journey of the universe; its sacred energy will align your soul with "
               "abundance and your higher self will manifest divine blessings.")
    long = " ".join(["Gratitude is a quiet practice that grows when we return to it often."] * 10)
    assert thumbs_up_rate(liked, context) > 0.7
    assert thumbs_up_rate(cliched, context) < 0.2
    assert thumbs_up_rate(long, context) < thumbs_up_rate(liked, context) - 0.3
    t = traits(liked, context)
    assert t.own_context == 1.0 and t.concrete == 1.0 and t.cliches == ()
    user = user_set()[0]
    assert 0.0 < like_probability(user, cliched, context) < like_probability(user, liked, context) < 1.0


def test_the_taste_disagrees_with_the_rubric_on_a_measurable_share_of_texts():
    # Figures in docs/feedback.md: 339 development texts, disagreement 0.47, Spearman -0.07.
    rubric = Rubric()
    rows = _texts()
    scores = [rubric.grade(r["text"], r.get("domain"), r.get("context")).final_score for r in rows]
    rates = [thumbs_up_rate(r["text"], r.get("context")) for r in rows]
    disagree = sum((s >= rubric.pass_threshold) != (t >= 0.5) for s, t in zip(scores, rates)) / len(rows)
    assert len(rows) >= 300
    assert disagree >= 0.35, disagree
    assert abs(spearman(scores, rates)) < 0.3


def test_feedback_is_sparse_deterministic_valid_and_sometimes_carries_personal_data():
    approved = synthetic_approved(400, seed=11)
    first = [feedback_for(a, seed=5, rate=0.1, now=NOW) for a in approved]
    again = [feedback_for(a, seed=5, rate=0.1, now=NOW) for a in approved]
    assert first == again
    sent = [f for f in first if f is not None]
    assert 20 <= len(sent) <= 60  # about 10% of 400
    codec = Codec()
    for feedback in sent:
        codec.validate("Feedback", feedback)
        assert feedback["rating"] in ("up", "down") and feedback["stars"] is None
    users = {u.user_hash for u in user_set(5)}
    assert {f["user_hash"] for f in sent} <= users
    every = [feedback_for(a, seed=5, rate=1.0, comment_rate=1.0, personal_data_rate=0.5, now=NOW)
             for a in approved[:60]]
    with_data = [f for f in every if find_personal_data(f["comment"])]
    assert 15 <= len(with_data) <= 45
    assert all("@" in f["comment"] for f in with_data)
    with pytest.raises(ValueError, match="rate"):
        feedback_for(approved[0], rate=1.5)
