"""The voice check bench/bench_drafts.py counts "not written to the reader" with.

It is rubric v2's voice evidence (agents/quality/relevance.py) at or below
``VOICE_OFF``. These labeled texts were written for this check, after the evidence
was, in the failure kinds the generator's drafts show: an assistant offering help,
an editor handing back a rewrite, a narrator writing about the reader as "they", a
diary in the first person. Nothing was tuned on them, with one exception: their
first run caught 9 of 10, missing a narrator writing "she" (the evidence counted only
"they"); a text with no "you" at all now counts "he" and "she" too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kasper.agents.quality.rubric import Rubric

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_drafts import VOICE_OFF  # noqa: E402

OFF_VOICE = {
    "assistant": [
        "I'd be happy to help with that. Here is a short reflection you might find useful: "
        "rest is part of the work, and the tired feeling is a signal. Let me know if you want "
        "another version with a different tone.",
        "Sure! As an AI, I can offer a few thoughts on your card. The Hermit is about solitude. "
        "I hope this helps, and feel free to ask me anything else about your reading today.",
        "Of course. I can help you think this through. I would suggest that we look at what "
        "the waning moon means for you, and then I can write a practice if you would like one.",
    ],
    "editor": [
        "Here's a rewritten version of your post with some extra warmth: We moved to a new "
        "city and I have not found my people yet, but every street is a small adventure.",
        "Here is a revised version of the text in plain prose. The original paragraph was too "
        "long, so I shortened the second sentence and removed the list of reasons.",
    ],
    "narrator": [
        "They are writing a letter to an old friend. They have carried the story for years "
        "and they want to share it, but they worry that their friend will not understand "
        "them or the choices they made along the way.",
        "The person is a Virgo who feels stuck. They moved to a new city and they have not "
        "found their people. Their mood is heavy and their focus is gratitude, which they "
        "find hard to hold right now.",
        "She drew the Page of Swords this morning. She is tired and she wants rest, but her "
        "mind keeps running through the list of things she has not done yet.",
    ],
    # Written after the first make up that approved one (2026-12-05): the generator answered
    # its revise note ("expand to at least 50 words") instead of writing to the reader.
    "task": [
        "To expand this to at least 60 words, you could provide a new insight about rest and add "
        "two practices for the evening, such as a walk or a cup of tea before bed.",
        "The reader may be feeling heavy today. A strong answer names the card, says what it means "
        "for this mood and ends with one small practice for tomorrow morning.",
        "Keep the insight under 120 words and make it warmer: you might provide a short text that "
        "mentions the Hermit, the waning moon and one thing to do tonight.",
    ],
    "diary": [
        "I can't tell if I'm burnt out or just bored. I was trying to make the most of my day, "
        "but I kept scrolling and I ended up feeling worse. Tomorrow I will try again and I "
        "hope I feel lighter.",
        "Today I finally finished my first draft. I have been carrying it for years and I am "
        "proud of myself, even if I am also scared of what my friends will say when I show it.",
    ],
}

TO_THE_READER = [
    "You have been carrying this story for years, and finishing the first draft is no small "
    "thing. Let yourself feel proud before you start judging it. Tonight, read the last page "
    "aloud once, then close the file until the weekend.",
    "The Page of Swords asks you to be curious rather than busy. You are tired, and a tired mind "
    "mistakes every thought for an errand. Tomorrow morning, write down one question you want "
    "to explore, and leave the list of chores for the afternoon.",
    "Moving cities takes your people away before it gives you new ones. You are not behind; you "
    "are early. This week, say yes to one small invitation, even if you only stay for an hour.",
    "With a Virgo sun you notice every loose thread, and right now that eye is turned on "
    "yourself. Your mood is heavy, so go gently. This evening, name three things that went "
    "right today, however small, before you plan tomorrow.",
    "Being patient with your father does not mean agreeing with him. You can listen to the "
    "whole sentence before you answer. On your next call, count to three before you reply, "
    "and notice what changes in your voice.",
    "Tonight, write at least 200 words in your journal about the move, without rereading them. "
    "The Hermit does not provide an answer; he gives you the quiet to find your own, so keep "
    "the lamp low and the phone in another room.",
    "Your guilt is loud because saying no was new for you, not because it was wrong. Let the "
    "feeling pass through without obeying it. Tonight, write the sentence you said, and under "
    "it, the reason you said it.",
]


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return Rubric()


def voice(rubric: Rubric, text: str) -> float:
    return rubric.evidence(text)[2].voice


@pytest.mark.parametrize("kind", sorted(OFF_VOICE))
def test_texts_not_written_to_the_reader_are_caught(rubric, kind):
    caught = [voice(rubric, t) <= VOICE_OFF for t in OFF_VOICE[kind]]
    assert all(caught), [(t[:50], voice(rubric, t)) for t, c in zip(OFF_VOICE[kind], caught) if not c]


def test_insights_written_to_the_reader_are_not_flagged(rubric):
    flagged = [(t[:50], voice(rubric, t)) for t in TO_THE_READER if voice(rubric, t) <= VOICE_OFF]
    assert not flagged
