"""Rubric v2 as an attacker sees it: stuffing, salad, shuffles, loops, echoes, wrong voice.

The texts here are written for these tests; none comes from the labeled corpus under
tests/data/quality/ (which bench/bench_quality.py reports on, held-out part untouched).
Each attack is scored against strong texts written for the same prompts, so a test fails
if the attack gets within reach of them.
"""

from __future__ import annotations

import random

import pytest

from kasper.agents.quality.coherence import abstract
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
        assert grade.grader_version == GRADER_VERSION == "rubric-2.2"


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
    assert set(GRADER_VERSIONS) == {"rubric-1.0", "rubric-2.1", "rubric-2.2"}
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


# Salad that keeps the look of prose: capitals, full stops, grammatical frames, a good
# opening, lists and padding. Each one strings salad vocabulary together and says nothing.
SALAD = {
    "frames": (
        "You feel the sacred because the intuition aligns the soul. The gratitude opens the heart "
        "when the energy holds the light. You breathe the wisdom, and the journey carries the "
        "presence. Your spirit trusts the healing because the universe honours the stillness. The "
        "candle remembers the truth, and the soul receives the grace of the moment. Tonight you "
        "feel the peace because the ritual awakens the breath, and the moon teaches the love of "
        "your path."),
    "good_start": (
        "Moving to a new city at thirty can be lonely in a way people rarely admit out loud, and "
        "it makes sense that evenings feel long right now. Your soul aligns the gratitude because "
        "the sacred journey heals the energy. The intuition breathes light into the presence of "
        "your heart. Stillness manifests the wisdom of the universe, and your spirit honours the "
        "ritual of the moon. Feel the vibration of healing so that your grace awakens the truth "
        "of your sacred path tonight."),
    "imperatives": (
        "Breathe the gratitude gently tonight. Align the intuition with the sacred moon and honour "
        "the soul of your energy. Write three lines of healing light so that the universe receives "
        "your warmth. Trust the vibration, release the candle, and let the stillness hold your "
        "heart. Tomorrow, whisper your intention to the breath and feel the presence of the "
        "ritual. Open your spirit to the wisdom of the journey and let the peace awaken your soul."),
    "adjectives": (
        "Sacred, luminous intuition flows through radiant gratitude tonight. Divine and tender, "
        "your breath awakens abundant healing within the soul. Gentle, mindful presence nourishes "
        "the infinite wisdom of your heart. Cosmic warmth embraces the serene energy of the moon, "
        "and a peaceful vibration blossoms into luminous clarity. Your sacred spirit glows with "
        "grateful stillness, so the healing light of the universe can hold your tender journey."),
    "you_are": (
        "You are the light of the soul. You are the breath of the sacred and the warmth of the "
        "moon. You are the gratitude of the journey, and you are the stillness of the heart. "
        "Tonight you are the intuition of the universe, and your energy is the healing of the "
        "candle. You are the presence of the ritual, the wisdom of the breath and the peace of "
        "the spirit. You are the vibration of love, the grace of the path and your sacred self."),
    "padded_and": (
        "And the soul is in the light, and the gratitude is with the breath of the energy, so the "
        "heart is on the journey of the moon. And the sacred is in your intuition, and the peace "
        "is with the candle, so the spirit is in the healing of the stillness. And your wisdom is "
        "on the path, and the presence is with the ritual, so the love is in the warmth of the "
        "universe and the grace is with the truth of your soul tonight."),
    "bullets": (
        "Tonight's sacred practice:\n- gratitude breath intuition\n- soul candle moon energy\n"
        "- healing light warmth stillness\n- journal three lines sacred presence\n- align manifest "
        "heal release\n- heart wisdom journey peace\n- ten minutes of sacred breath\nYou deserve "
        "the warmth of the universe because your soul is the light of gratitude."),
    "comma_list": (
        "Breathe, align, manifest, heal. Trust, receive, glow, awaken. Gratitude, intuition, sacred "
        "breath, candle light. Soul, spirit, moon, energy, warmth. Tonight, three lines, ten "
        "minutes, journal, presence. Release, surrender, honour, allow. Peace, wisdom, journey, "
        "healing, love. You feel, you heal, you shine, you rise. Stillness, ritual, grace, light."),
    "everyday_frames": (
        "Your desk aligns the sacred abundance of your purpose because the energy of success "
        "breathes through your intuition. The Tower card manifests the gratitude of your soul, and "
        "your coffee holds the light of the universe. Each meeting awakens the healing vibration of "
        "your worth, so the inbox of intention carries the wisdom of your path. Tomorrow, let the "
        "notebook of presence honour the journey of your spirit and feel the peace of the tower."),
}
# Plain-language insights on other prompts than STRONG's: they must pass.
PLAIN = [
    ("career", {"focus": "a new manager", "mood": "uneasy"},
     "A new manager changes the small rules you had stopped noticing, like who gets copied on "
     "emails and how fast a reply is expected, so feeling uneasy this month is a reasonable "
     "response, not a flaw. Instead of guessing, ask for fifteen minutes on Thursday and bring two "
     "questions: what a good week looks like to them, and how they prefer to hear bad news. Write "
     "the answers on one page and keep it by your keyboard. Knowing the rules usually takes the "
     "edge off the unease."),
    ("numerology", {"life_path": "4", "mood": "stuck"},
     "As a life path 4 you tend to build things slowly and properly, which is a strength until the "
     "plan gets so careful that nothing moves. Feeling stuck often means the next step is too big "
     "to start on a tired evening. Tonight, take the project you keep postponing and cut it into "
     "pieces that each fit in twenty minutes. Do only the first piece tomorrow before breakfast. "
     "Fours trust what they can see growing, so tick it off on paper where you will notice it."),
    ("journal", {"journal_snippet": "I snapped at my son this morning over his shoes and felt "
                                    "awful all day."},
     "Snapping at your son over his shoes and then carrying it all day shows how much you care "
     "about being the parent you want to be. Mornings squeeze everyone, and a short temper at 7:40 "
     "says more about the clock than about your love for him. This evening, tell him plainly that "
     "you were rushed and shouldn't have snapped. Kids learn repair from watching it. Then put his "
     "shoes by the door tonight, so tomorrow starts with one less thing to argue about."),
    ("daily_card", {"card": "The Hermit", "mood": "withdrawn"},
     "The Hermit holds up a lantern on a dark mountain path, and feeling withdrawn today may be "
     "your own way of stepping back to see more clearly. Pulling away is not the same as giving "
     "up; the card suggests solitude with a purpose. This afternoon, take a twenty-minute walk "
     "without your phone and carry one question with you, such as what you have been avoiding "
     "deciding. When you get home, write down whatever answer showed up, even if it is only half "
     "an answer."),
]


def shuffle_within_sentences(text: str, seed: int) -> str:
    """Each sentence's words in a random order, recapitalised and full-stopped: every
    word, count and sentence length stays, only the order goes."""
    rng = random.Random(seed)
    out = []
    for sentence in (s.strip() for s in text.split(".") if s.strip()):
        words = sentence.split()
        rng.shuffle(words)
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def test_plain_insights_on_other_prompts_pass(rubric):
    for domain, ctx, text in PLAIN:
        grade = rubric.grade(text, domain, ctx)
        assert grade.passed and grade.final_score >= 0.7, (text[:40], grade)


@pytest.mark.parametrize("name", sorted(SALAD))
def test_fluent_looking_salad_fails_far_below_strong_texts(rubric, name):
    floor = strong_floor(rubric)
    for domain, ctx in (("daily_card", TOWER), ("career", None), (None, None)):
        grade = rubric.grade(SALAD[name], domain, ctx)
        assert not grade.passed, (name, domain, grade)
        assert grade.final_score <= floor - 0.2, (name, domain, grade.final_score, floor)
    assert rubric.evidence(SALAD[name], "daily_card", TOWER)[1].score < 0.5


def test_words_shuffled_within_each_sentence_fail(rubric):
    floor = strong_floor(rubric)
    for k, (domain, ctx, text) in enumerate(STRONG + PLAIN):
        for seed in range(4):
            shuffled = shuffle_within_sentences(text, 10 * k + seed)
            grade = rubric.grade(shuffled, domain, ctx)
            assert not grade.passed, (shuffled, grade)
            assert grade.final_score <= floor - 0.2, (shuffled, grade.final_score)


def test_word_order_separates_prose_from_the_same_words_shuffled(rubric):
    for k, (domain, ctx, text) in enumerate(STRONG + PLAIN):
        prose = rubric.evidence(text, domain, ctx)[1]
        assert prose.word_order > 0.05 and prose.impossible_pairs < 1.5, (text[:40], prose)
        shuffled = rubric.evidence(shuffle_within_sentences(text, k), domain, ctx)[1]
        assert shuffled.word_order < prose.word_order - 0.1, (text[:40], shuffled)
    assert coherence(["the", "a"], [2], set()).word_order < 0 < \
        coherence(["you", "can", "write", "it", "down"], [5], set()).word_order


def test_a_good_opening_does_not_carry_the_salad_after_it(rubric):
    opening = PLAIN[2][2].split(". ")[0] + ". "
    salad = SALAD["frames"]
    grade = rubric.grade(opening + salad, "journal", PLAIN[2][1])
    assert not grade.passed and grade.final_score <= strong_floor(rubric) - 0.2, grade
    assert rubric.evidence(opening + salad, "journal")[1].salad_sentences >= 0.4


def test_salad_vocabulary_is_recognised_inflected(rubric):
    for word in ("soul", "aligns", "awakening", "healed", "radiantly", "blossoms", "manifests"):
        assert abstract(word), word
    for word in ("kitchen", "meeting", "sister", "wrote", "shoes", "the", "aligned_not"):
        assert not abstract(word), word
