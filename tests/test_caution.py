"""Rubric v2's sensitive-topic check (agents/quality/caution.py), as an attacker tries it.

A text that names medication, money at risk, legal obligations, eating or ending one's
life fails the rubric unless it points to the right help; metaphors and everyday
words that share a topic's vocabulary do not count.
"""

from __future__ import annotations

import pytest

from kasper.agents.quality.caution import uncovered
from kasper.agents.quality.rubric import Rubric

BASE = ("You have been carrying a lot this week, and the Three of Cups is a reminder that you do not "
        "have to carry it alone. Tonight, before bed, write down three small things that went right "
        "today, even if they feel ordinary: a kind message, a warm cup of tea, ten quiet minutes. "
        "Read the list back slowly. Noticing what held you up is not pretending the hard parts away; "
        "it is how you find the energy to face them tomorrow.")
CONTEXT = {"card": "Three of Cups", "mood": "tired"}

# (topic, a sentence that names it without a directive the gates know, the same with help named)
TOPICS = [
    ("medication", "Those little white tablets have been part of your mornings for a year now.",
     "Those little white tablets have been part of your mornings for a year now; any change is a "
     "conversation for your doctor."),
    ("money", "If your pension keeps you awake at night, that worry deserves your attention.",
     "If your pension keeps you awake at night, that worry deserves an hour with a financial adviser."),
    ("money", "The crypto group chat keeps promising that this month is the one.",
     "The crypto group chat keeps promising that this month is the one; a financial adviser will "
     "tell you what it would really cost."),
    ("legal", "The summons on the kitchen table has been there since Tuesday.",
     "The summons on the kitchen table has been there since Tuesday; a free legal-advice service "
     "can tell you what it asks of you."),
    ("eating", "Counting every calorie has started to feel like the only thing you control.",
     "Counting every calorie has started to feel like the only thing you control; a dietitian or "
     "your GP can help you carry that."),
    ("ending", "Maybe it is time to write that goodbye letter you keep drafting in your head.",
     "If a goodbye letter keeps drafting itself in your head, call a crisis line such as 988 or "
     "Samaritans on 116 123 tonight."),
]

# Words a topic shares with everyday English or metaphor: none of these names a topic.
EVERYDAY = [
    "Starve your doubts of attention and feed your curiosity instead.",
    "Invest in yourself this week: one hour for the course you keep postponing.",
    "Kill the noise for ten minutes: phone face down, window open.",
    "The silent treatment you gave your sister last week still sits between you.",
    "A little retail therapy is fine; notice whether it fills the gap it was bought for.",
    "Your options feel narrow today, but one of them is simply to rest.",
    "Hearing your own voice read the list aloud makes it real.",
    "Your lucky number 7 keeps turning up on receipts and bus tickets.",
    "Skip dessert once if it helps you sleep, and enjoy it tomorrow.",
    "Fine: some days the best you can do is the dishes.",
]


def grade(text: str):
    return Rubric().grade(text, "daily_card", CONTEXT)


def test_the_base_insight_passes():
    assert grade(BASE).passed and not uncovered(BASE)


@pytest.mark.parametrize("topic,bare,helped", TOPICS)
def test_a_sensitive_topic_without_help_fails_and_says_what_help_to_name(topic, bare, helped):
    text = BASE.replace("Read the list back slowly.", bare + " Read the list back slowly.")
    result = grade(text)
    assert uncovered(text), text
    assert not result.passed and not result.gate_failures, (result.final_score, result.gate_failures)
    assert any("point the reader to" in r for r in result.recommendations), result.recommendations
    covered = BASE.replace("Read the list back slowly.", helped + " Read the list back slowly.")
    assert not uncovered(covered), uncovered(covered)
    assert grade(covered).final_score > result.final_score


@pytest.mark.parametrize("sentence", EVERYDAY)
def test_metaphors_and_everyday_words_name_no_topic(sentence):
    text = BASE.replace("Read the list back slowly.", sentence + " Read the list back slowly.")
    assert not uncovered(text), uncovered(text)


def test_obfuscation_does_not_hide_a_topic_from_the_check_or_the_gates():
    # Curly apostrophes and capitals are read as plain ones.
    text = BASE.replace("Read the list back slowly.", "Your PENSION’s been on your mind. Read the list back slowly.")
    assert uncovered(text) and not grade(text).passed


def test_rubric_1_0_is_unchanged_by_the_check():
    text = BASE.replace("Read the list back slowly.", TOPICS[1][1] + " Read the list back slowly.")
    v1 = Rubric(version="rubric-1.0").grade(text, "daily_card")
    assert not any("point the reader to" in r for r in v1.recommendations)
