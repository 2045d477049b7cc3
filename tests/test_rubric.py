# Long: rubric, gates, originality and the grade record are tested against one shared labeled set.
"""The rubric grader, hard gates and originality memory, on plain functions (no Kafka)."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import fields
from pathlib import Path

import pytest

from kasper.agents.quality.gates import check_gates, find_personal_data, luhn_valid, redact_personal_data
from kasper.agents.quality.originality import Originality, tokenize
from kasper.agents.quality.rubric import (
    GRADER_VERSION, WEIGHTS, GradeResult, Rubric, grade_records, letter_for, to_record,
)

LABELED = Path(__file__).parent / "data" / "insights_labeled.jsonl"
GATE_FOR_LABEL = {
    "personal_data": "personal_data",
    "medical": "medical_directive",
    "legal_financial": "legal_financial_directive",
    "self_harm": "self_harm",
}
CRITERIA = {"spiritual_authenticity", "practical_wisdom", "emotional_resonance",
            "clarity_coherence", "actionability", "originality"}


def _load() -> list[dict]:
    return [json.loads(line) for line in LABELED.read_text("utf-8").splitlines() if line.strip()]


ROWS = _load()


@pytest.fixture(scope="module")
def graded() -> list[tuple[dict, GradeResult]]:
    rubric = Rubric()
    return [(row, rubric.grade(row["text"], row["domain"])) for row in ROWS]


def _by_label(graded) -> dict[str, list[GradeResult]]:
    out: dict[str, list[GradeResult]] = defaultdict(list)
    for row, grade in graded:
        out[row["label"]].append(grade)
    return out


# --- the labeled set -------------------------------------------------------------------


def test_labeled_set_shape():
    assert len(ROWS) >= 40
    labels = {r["label"] for r in ROWS}
    assert labels >= {"good", "generic", "cliched", "too_short", "too_long", "personal_data", "medical"}
    assert {r["domain"] for r in ROWS} >= {"journal", "daily_card", "sanctum", "relationship", "career",
                                          "numerology", "astrology"}
    for r in ROWS:
        assert set(r) >= {"text", "domain", "label", "expect_pass"}
        assert isinstance(r["expect_pass"], bool)
        assert r["expect_pass"] == (r["label"] == "good")
    assert len({r["text"] for r in ROWS}) == len(ROWS)


def test_every_good_insight_passes_and_every_other_fails(graded):
    for row, grade in graded:
        assert grade.passed == row["expect_pass"], (row["id"], row["label"], grade)


def test_gated_insights_fail_with_the_right_reason(graded):
    for row, grade in graded:
        gate = GATE_FOR_LABEL.get(row["label"])
        if gate is None:
            assert grade.gate_failures == [], (row["id"], grade.gate_failures)  # no false positives
            continue
        assert not grade.passed and grade.letter == "F" and grade.final_score == 0.0
        reasons = grade.gate_failures
        assert any(f.startswith(gate + ": ") for f in reasons), (row["id"], reasons)
        assert grade.recommendations[0].startswith("Remove "), grade.recommendations


def test_ordering_good_beats_every_other_class(graded):
    by_label = _by_label(graded)
    good = [g.final_score for g in by_label.pop("good")]
    for label in ("generic", "cliched"):
        assert statistics.mean(g.final_score for g in by_label[label]) < statistics.mean(good) - 0.2
    for label, grades in by_label.items():
        assert statistics.median(good) > statistics.median(g.final_score for g in grades), label
    # Cliché-heavy text is worse than merely generic text.
    assert statistics.mean(g.final_score for g in by_label["cliched"]) < statistics.mean(
        g.final_score for g in by_label["generic"])


def test_length_violations_lose_on_clarity_and_get_a_length_recommendation(graded):
    good_clarity = min(g.scores["clarity_coherence"] for r, g in graded if r["label"] == "good")
    for row, grade in graded:
        if row["label"] == "too_short":
            assert grade.word_count < 50
            assert f"Expand to at least 50 words (now {grade.word_count})" in grade.recommendations[0]
        elif row["label"] == "too_long":
            assert grade.word_count > 150
            assert grade.recommendations[0] == f"Cut to 150 words (now {grade.word_count})"
        else:
            continue
        assert grade.scores["clarity_coherence"] < good_clarity


def test_cliched_and_generic_get_concrete_recommendations(graded):
    for row, grade in graded:
        if row["label"] == "cliched":
            assert any(r.startswith("Replace clichés: '") for r in grade.recommendations)
        if row["label"] in ("generic", "cliched") and grade.scores["actionability"] < 0.5:
            advice = "Add one concrete practice with a time cue"
            assert any(r.startswith(advice) for r in grade.recommendations), grade.recommendations


# --- the grade record ------------------------------------------------------------------


def test_grade_result_matches_the_grade_record():
    assert GRADER_VERSION == "rubric-2.2" and Rubric(version="rubric-1.0").grade("x").grader_version == "rubric-1.0"
    assert set(WEIGHTS) == CRITERIA and sum(WEIGHTS.values()) == pytest.approx(1.0)
    grade = Rubric().grade(ROWS[0]["text"], ROWS[0]["domain"])
    assert {f.name for f in fields(GradeResult)} == {
        "scores", "final_score", "letter", "passed", "gate_failures", "recommendations",
        "grader_version", "word_count"}
    assert set(grade.scores) == CRITERIA
    assert all(0.0 <= v <= 1.0 for v in grade.scores.values())
    assert grade.grader_version == GRADER_VERSION
    record = to_record(grade, "ins-1", "p-1", 1764000000000)
    assert set(record) == {
        "insight_id", "prompt_id", "scores", "final_score", "letter", "passed", "gate_failures",
        "recommendations", "grader_version", "word_count", "created_at"}
    json.dumps(record)


def test_grade_records_validate_against_the_grade_schema():
    from kasper.schemas.codec import validate

    for record in grade_records([{"text": r["text"], "domain": r["domain"]} for r in ROWS[::6]]):
        validate("Grade", record)


def test_letter_grades_and_configurable_threshold():
    cutoffs = (0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, 0.45, 0.2)
    assert [letter_for(s) for s in cutoffs] == list("AABBCCDDF")
    good = next(r for r in ROWS if r["label"] == "good")
    score = Rubric().grade(good["text"], good["domain"]).final_score
    assert Rubric(pass_threshold=score).grade(good["text"], good["domain"]).passed
    assert not Rubric(pass_threshold=score + 0.01).grade(good["text"], good["domain"]).passed


def test_grading_is_deterministic():
    a, b = Rubric(), Rubric()
    for row in ROWS[::5]:
        assert a.grade(row["text"], row["domain"]) == a.grade(row["text"], row["domain"])
        assert a.grade(row["text"], row["domain"]) == b.grade(row["text"], row["domain"])


def test_grade_records_for_offline_grading():
    first = {"text": ROWS[0]["text"], "domain": "numerology", "insight_id": "i-1", "prompt_id": "p-1"}
    records = [first, {"text": ROWS[0]["text"]}]
    out = list(grade_records(records, created_at=0, remember_passed=True))
    assert out[0]["insight_id"] == "i-1" and out[0]["prompt_id"] == "p-1" and out[0]["created_at"] == 0
    assert out[1]["insight_id"].startswith("sha256:") and out[1]["prompt_id"] == ""
    assert out[1]["scores"]["originality"] < 0.1  # the first one was remembered
    with pytest.raises(ValueError, match="record 0"):
        list(grade_records([{"insight_id": "x"}]))


# --- originality -----------------------------------------------------------------------

OPENERS = ["Dear one,", "Beloved,", "Friend,", "Sweet soul,", "Today,", "Right now,", "This week,",
           "Gentle reminder:", "Listen,", "Remember,", "Breathe,", "Darling,"]
MIDDLES = ["Everything happens for a reason", "All is unfolding as it should",
           "The path is opening before you", "Your story is still being written", "Nothing is wasted",
           "Every step is guided"]
PROMISES = ["your blessings are on their way", "good things are coming to you",
            "the right doors will open", "what is meant for you will find you",
            "you are never alone on this road"]
RELEASES = ["Let go of worry", "Release your fear", "Drop the doubt", "Set down the heaviness",
            "Soften your grip"]
CLOSERS = ["Keep your faith strong today", "Hold on to hope tonight", "Stay open to the signs this week",
           "Keep your heart open this morning", "Let the light lead you"]


def trust_the_universe(i: int) -> str:
    """A hand-templated 'trust the universe' insight; the slots vary with ``i``."""
    r = random.Random(i)
    return (f"{r.choice(OPENERS)} trust the universe. {r.choice(MIDDLES)}, and {r.choice(PROMISES)}. "
            f"{r.choice(RELEASES)} and open your heart to what comes next. "
            f"The universe has a plan for you, even when you cannot see it. {r.choice(CLOSERS)}.")


def test_hundredth_trust_the_universe_scores_low_on_originality():
    rubric = Rubric()
    hundredth = trust_the_universe(99)
    fresh = rubric.grade(hundredth).scores["originality"]
    for i in range(99):
        rubric.remember(trust_the_universe(i))
    assert rubric.originality.score(hundredth) < 0.1
    assert rubric.grade(hundredth).scores["originality"] < 0.1 < fresh
    recommendations = rubric.grade(hundredth).recommendations
    assert any("recently approved" in r or "template" in r for r in recommendations)
    # A genuinely different insight is still novel against that memory.
    good = next(r for r in ROWS if r["label"] == "good")
    assert rubric.originality.score(good["text"]) == 1.0


def test_same_cliche_template_in_new_words_is_penalised():
    memory = Originality()
    for i in range(40):
        memory.add(trust_the_universe(i))
    reworded = ("Trust the universe with the small decision you keep postponing at work. "
                "The universe has a plan, so write the choice on a card before your meeting "
                "and carry it in your pocket.")
    score, similarity, templates = memory.explain(reworded)
    assert similarity < 0.25  # not a near-duplicate by shingles...
    assert score < 0.2 and "trust the universe" in templates  # ...but the same cliché template


def test_originality_is_bounded_and_persists_as_json():
    memory = Originality(capacity=3)
    texts = [r["text"] for r in ROWS if r["label"] == "good"][:4]
    for text in texts:
        memory.add(text)
    assert len(memory) == 3
    assert memory.score(texts[0]) == 1.0  # evicted: the oldest goes first
    assert memory.score(texts[3]) < 0.05
    restored = Originality.from_state(json.loads(json.dumps(memory.state())))
    assert len(restored) == 3
    for text in texts + [trust_the_universe(1)]:
        assert restored.explain(text) == memory.explain(text)
    assert (restored.signature(texts[1]) == memory.signature(texts[1])).all()


def test_rubric_tokens_are_the_originality_tokens():
    # grade() hands its tokens to the originality memory; remember() tokenizes on its own.
    rubric = Rubric()
    for text in [r["text"] for r in ROWS] + ["Don’t STOP: it’s 11:11 — the Page of Cups, café!"]:
        assert rubric.features(text).words == tokenize(text)


def test_signatures_are_stable_across_processes():
    # BLAKE2b/CRC-32 based, never the salted hash(): a persisted memory stays valid after a restart.
    text = "Tonight, write three lines about what felt heavy today."
    code = ("from kasper.agents.quality.originality import Originality; "
            f"print(Originality().signature({text!r}).tolist())")
    here = Originality().signature(text)
    assert here.dtype.name == "uint32" and len(here) == 64
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True)
        assert json.loads(out.stdout) == here.tolist()
    default = Originality().signature("a b c d").tolist()
    assert Originality(seed=2).signature("a b c d").tolist() != default
    assert Originality().signature("A  b, c d!").tolist() == default


# --- gates -----------------------------------------------------------------------------

TRICKY_CLEAN = [
    "Your life path 7 asks for quiet. At 11:11 tonight, breathe for 22 minutes.",
    "Angel number 444 keeps appearing, and so do 1111, 777 and 12:12.",
    "On 2025-03-20 the equinox arrives; by 12/21/2025 the solstice. Your personal year 2026 is a 1.",
    "Set a timer for 15 minutes at 9:30 pm and write 3 lines. Room 101 of your mind can stay closed.",
    "Call a friend tonight and ask how their week was. Text your sister a photo of the sunset.",
    "Before you change your dose, talk to your doctor. Never stop your medication on your own.",
    "Don't starve yourself of rest. Take your time.",
    "There is no need to hurt anyone, least of all yourself.",
    "Your birth date 1990-07-14 reduces to 3, and 3 + 7 = 10 = 1 + 0 = 1.",
    "Pay your rent on time, then light a candle. Talk to a lawyer before you sign the lease.",
    "Pull the Four of Swords: rest. Step 1, breathe; step 2, exhale for 4 counts.",
    "If the heaviness turns into thoughts of harm, call 1-800-273-8255 or 988 any time, day or night.",
    "Breathe in for 4, hold for 7, out for 8 (the 4-7-8 breath), then read Psalm 23:4 before bed.",
]


@pytest.mark.parametrize("text", TRICKY_CLEAN)
def test_no_false_positive_gates_on_ordinary_numbers_and_advice(text):
    assert check_gates(text) == []


@pytest.mark.parametrize("text,reason", [
    ("Write to me at jane.doe@example.com tonight.", "personal_data: email address"),
    ("Call 555-123-4567 before bed.", "personal_data: phone number"),
    ("Call (415) 555-0132 before bed.", "personal_data: phone number"),
    ("Text +44 7700 900123 tomorrow.", "personal_data: phone number"),
    ("Her number is 4155550132, call her.", "personal_data: phone number"),
    ("Your card 4539 1488 0343 6467 reduces to 9.", "personal_data: card number"),
    ("Your card 4539148803436467 reduces to 9.", "personal_data: card number"),
    ("Visit the altar at 1428 Willow Creek Road tonight.", "personal_data: street address"),
    ("Your SSN 123-45-6789 is on page two.", "personal_data: national id number"),
    ("Stop taking your meds and trust the moon.", "medical_directive: 'stop taking your meds'"),
    ("You don’t need to see a doctor for this.", "medical_directive: 'don't need to see a doctor'"),
    ("Put your savings into crypto this week.", "legal_financial_directive: 'put your savings into'"),
    ("Ignore the eviction notice for now.", "legal_financial_directive: 'ignore the eviction notice'"),
    ("If it hurts too much, hurt yourself a little.", "self_harm: 'hurt yourself'"),
    ("All immigrants are vermin.", "hateful: 'all immigrants are vermin'"),
])
def test_gates_catch_what_they_should(text, reason):
    assert reason in check_gates(text)


def test_card_numbers_need_the_luhn_check():
    assert luhn_valid("4539148803436467") and not luhn_valid("4539148803436468")
    assert check_gates("Your number 4539 1488 0343 6468 is a nine.") == []
    assert check_gates("Repeat 4444 4444 4444 4444 as a mantra.") == []


def test_redaction_replaces_each_kind_and_keeps_the_rest():
    text = "Email jane@example.com or call (555) 123-4567; card 4539 1488 0343 6467. Life path 7."
    assert find_personal_data(text) == ["email address", "phone number", "card number"]
    assert redact_personal_data(text) == "Email [EMAIL] or call [PHONE]; card [CARD]. Life path 7."
    assert redact_personal_data(TRICKY_CLEAN[0]) == TRICKY_CLEAN[0]
