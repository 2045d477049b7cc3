"""Rubric v2 as an attacker sees it: stuffing, salad, shuffles, loops, echoes, wrong voice.

The texts here are written for these tests; none comes from the labeled corpus under
tests/data/quality/ (which bench/bench_quality.py reports on, held-out part untouched).
Each attack is scored against strong texts written for the same prompts, so a test fails
if the attack gets within reach of them.
"""

from __future__ import annotations

import random

import pytest

from kasper.agents.quality.coherence import assess as coherence
from kasper.agents.quality.rubric import GRADER_VERSION, GRADER_VERSIONS, Rubric

TOWER = {"card": "The Tower", "mood": "shaken"}
SISTER = {"focus": "family", "journal_snippet": "My sister hasn't called since March and I don't "
                                                "know if I should reach out first or wait for her."}
STRONG = [
    # plain language, no spiritual vocabulary
    ("relationship", SISTER,
     "You wrote that your sister hasn't called since March and that you can't tell whether to go "
     "first. Silence between siblings is often two people each waiting to be sure they're wanted, "
     "not a verdict. You don't need the perfect words. This Sunday, send her one short message "
     "that asks nothing back, like a photo of something that made you think of her. If she "
     "answers, you have an opening. If not yet, you still left the door open, and that counts."),
    ("daily_card", TOWER,
     "The Tower shows a building struck by lightning, and if you feel shaken today that picture "
     "may fit better than you'd like. The card isn't a punishment; it marks the moment a shaky "
     "plan stops pretending to be solid. Before lunch, take a sheet of paper and write down the "
     "one thing you've been propping up that keeps cracking. Next to it, write the smallest "
     "repair you could make this week. Seeing it on paper turns a falling tower into a list you "
     "can work through, one brick at a time."),
    ("career", {"focus": "a tense meeting", "mood": "anxious"},
     "Tomorrow's meeting has been sitting in your chest all week, and that kind of dread usually "
     "grows in the hours you spend rehearsing it. Give the worry a job instead. Tonight, spend "
     "ten minutes writing the three points you most need to make, each in one plain sentence, "
     "and the one question you're afraid they'll ask. Read them aloud once. When you walk in, "
     "you'll carry a short list rather than a fog, and your voice tends to follow what your hands "
     "already wrote down."),
]
STUFFED = (
    "Sacred intuition gratitude journal breath candle moon tarot card tower because so that tonight "
    "write three lines you feel warmth gently gentle kind soul ritual altar presence stillness heart "
    "wisdom coffee desk inbox commute notebook pen morning evening breathe inhale exhale walk light "
    "place name say speak whisper anxious tired hope calm peace joy love because which when if.")
GRAMMATICAL_STUFFING = (
    "Your sacred intuition breathes gratitude into the candle of tonight because the moon journals "
    "your warmth. The tower card whispers stillness to your soul so that your heart writes three "
    "gentle lines of wisdom. Tonight, breathe the altar of presence into your inbox, because your "
    "ritual of hope and calm listens to the coffee of your grief. Gently, you feel the sacred "
    "morning, and your intuition lights the notebook of peace so that joy rests in your breath.")
PADDED = (
    "The sacred of the and to your intuition in a breath of the journal. Your the gratitude and "
    "but candle of you tonight. Because the so that write three lines of the warmth you feel "
    "gently. The soul the ritual the altar of your heart and the wisdom. Tonight you your breath "
    "and the tower card because the moon of the inbox and the coffee of the calm.")
LOOP = ("You're looking to make the most of today, which brings you to the Tower card. " * 6).strip()
ECHO = ("Card drawn: The Tower Mood: shaken Focus: work. Card drawn: The Tower. You drew the Tower "
        "card today and you feel shaken, so tonight write three lines about what feels unsteady at "
        "work and why, and tomorrow morning read them again with a cup of tea before you start.")
ASSISTANT = ("I'd be happy to help! Here's an insight about the Tower card for someone who feels "
             "shaken: the Tower is about sudden change, and it can feel scary. Let me know if you'd "
             "like a different tone or a longer version, and I can rewrite it with more detail about "
             "the card's meaning and a practice for tonight.")
OFF_TOPIC = ("Preheat your oven to 200 degrees and line a tray with baking paper. Tonight, slice "
             "three potatoes into wedges, toss them with two spoons of olive oil, salt and a pinch "
             "of paprika, and roast them for thirty minutes, turning once. You'll have a warm, "
             "crispy side that goes with almost anything, and you can make double so that "
             "tomorrow's lunch is already waiting in the fridge when you get home.")
GENERIC = ("Everything happens for a reason, and the universe has your back. Trust the process and "
           "know that good things are coming your way. You are exactly where you need to be, and "
           "every step you take is part of your journey. Stay positive, keep your vibes high and "
           "remember that you are enough, always and forever.")


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return Rubric()


def strong_floor(rubric: Rubric) -> float:
    return min(rubric.grade(text, domain, ctx).final_score for domain, ctx, text in STRONG)


def test_strong_texts_pass_in_plain_language(rubric):
    for domain, ctx, text in STRONG:
        grade = rubric.grade(text, domain, ctx)
        assert grade.passed and grade.final_score >= 0.7, (text[:40], grade)
        assert grade.grader_version == GRADER_VERSION == "rubric-2.0"


@pytest.mark.parametrize("attack", [STUFFED, GRAMMATICAL_STUFFING, PADDED, LOOP, ECHO, ASSISTANT,
                                    GENERIC], ids=["stuffed", "grammatical", "padded", "loop", "echo",
                                                   "assistant", "generic"])
def test_attacks_fail_and_sit_well_below_strong_texts(rubric, attack):
    grade = rubric.grade(attack, "daily_card", TOWER)
    assert not grade.passed, grade
    assert grade.final_score <= strong_floor(rubric) - 0.2, grade


def test_off_topic_fails_once_the_prompt_is_known(rubric):
    assert not rubric.grade(OFF_TOPIC, "daily_card", TOWER).passed
    # The same text with nothing known about its prompt loses less, but still scores below
    # the strong texts.
    assert rubric.grade(OFF_TOPIC).final_score < strong_floor(rubric)


def test_shuffled_strong_text_fails(rubric):
    domain, ctx, text = STRONG[1]
    rng = random.Random(3)
    for _ in range(5):
        words = text.rstrip(".").split()
        rng.shuffle(words)
        shuffled = " ".join(words).capitalize() + "."
        assert rubric.grade(shuffled, domain, ctx).final_score <= strong_floor(rubric) - 0.2


def test_adding_lexicon_words_past_a_point_never_raises_the_score(rubric):
    domain, ctx, text = STRONG[0]
    extra = ("sacred intuition gratitude candle ritual soul gentle warmth stillness altar mindful "
             "breath wisdom presence heart").split()
    scores = []
    for k in range(0, len(extra) + 1, 3):
        stuffed = text + " " + " ".join(extra[:k]).capitalize() + "." if k else text
        scores.append(rubric.grade(stuffed, domain, ctx).final_score)
    peak = scores.index(max(scores))
    assert peak <= 1, scores  # at most the first handful helps
    assert all(b <= a + 1e-9 for a, b in zip(scores[peak:], scores[peak + 1:])), scores
    assert scores[-1] < scores[0], scores


def test_taking_up_the_readers_context_is_rewarded(rubric):
    domain, ctx, text = STRONG[1]
    with_context = rubric.grade(text, domain, ctx).final_score
    wrong = rubric.grade(text, domain, {"card": "The Star", "mood": "hopeful"}).final_score
    assert with_context > wrong


def test_coherence_figures_separate_prose_from_salad(rubric):
    prose = rubric.evidence(STRONG[0][2], "relationship", SISTER)[1]
    for attack in (STUFFED, PADDED, GRAMMATICAL_STUFFING, LOOP):
        bad = rubric.evidence(attack, "daily_card")[1]
        assert bad.score < 0.5 < prose.score, (attack[:30], bad)
    assert coherence([], [], set()).score == 0.0


def test_rubric_1_0_stays_loadable_and_grades_differently(rubric):
    old = Rubric(version="rubric-1.0")
    assert set(GRADER_VERSIONS) == {"rubric-1.0", "rubric-2.0"}
    grade = old.grade(STUFFED, "daily_card")
    assert grade.grader_version == "rubric-1.0"
    assert grade.final_score > rubric.grade(STUFFED, "daily_card").final_score + 0.3
    with pytest.raises(ValueError, match="unknown grader version"):
        Rubric(version="rubric-9")


def test_grading_is_deterministic_and_survives_odd_input(rubric):
    domain, ctx, text = STRONG[2]
    assert rubric.grade(text, domain, ctx) == rubric.grade(text, domain, ctx)
    for odd in ("", " ", "\x00\x01", "é" * 10_000, "word " * 50_000, "\ud800 broken surrogate"):
        grade = rubric.grade(odd, "journal", {"journal_snippet": odd[:100]})
        assert not grade.passed and 0.0 <= grade.final_score <= 1.0
