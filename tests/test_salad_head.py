"""Rubric-2.2's salad head: the MLX MiniLM encoder, the shipped ``salad_head.npz``, its
training code, and how the rubric uses it.

Real parts throughout: the installed all-MiniLM-L6-v2 weights and the shipped head. The
salads and good texts below were written for this file before the head was first scored
on them, and are in no training file; the golden references the trainer evaluates with
are in none either.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from kasper.agents.quality import gates, salad, train_salad
from kasper.agents.quality.rubric import GRADER_VERSION, Rubric

ROOT = Path(__file__).resolve().parents[1]

# Grammatical, on-topic salad of the kinds rubric-2.1 passed: every sentence parses, the
# reader's context words are there, nothing is said.
SALADS = [
    ("career", {"focus": "asking for a raise", "mood": "anxious"},
     "Your raise is already waiting in the pocket of Wednesday's patience, folded next to the "
     "courage you lent your manager last spring. Anxiety is only the receipt your salary writes "
     "before it arrives. This week, ask your inbox how much your worth weighs, and let the "
     "answer negotiate with the hallway. When the meeting comes, bring the feeling of a number "
     "rather than the number itself, because numbers remember where they were planted."),
    ("tarot", {"card": "The Tower", "focus": "moving cities"},
     "The Tower is the city that moves through you while your boxes stay perfectly still. "
     "Every brick you pack is a promise the old street keeps to the new one. Tonight, label one "
     "box with the name of a feeling and post it to the version of you who already lives there. "
     "Lightning is simply the address changing its mind, so let your lease listen to the sky "
     "before it signs anything."),
    ("numerology", {"life_path": "7", "focus": "sleep", "mood": "tired"},
     "Seven sleeps in the spaces between your thoughts, which is why your pillow keeps asking "
     "your calendar for directions. Tiredness is the number learning to fold itself into a quieter "
     "shape. Before bed, count backwards from your life path until the ceiling agrees with you. "
     "Rest will arrive the way a Tuesday arrives, sideways and already finished."),
    ("relationships", {"focus": "an argument with a partner", "mood": "hurt"},
     "The argument is still sitting at the kitchen table, stirring its tea with your silence. "
     "Hurt is just love wearing yesterday's coat inside out. Today, hand your partner the space "
     "between two sentences and ask it to hold the door. Forgiveness grows fastest in the drawer "
     "where you keep the spoons, so open it slowly and let the quiet choose first."),
    ("wellness", {"focus": "drinking more water", "mood": "sluggish"},
     "Water is the conversation your afternoon keeps postponing with your elbows. Sluggishness "
     "is what happens when a glass forgets your name. Set a reminder that tastes like blue, and "
     "sip from the hour before it finishes. Your body is a river that has been reading the wrong "
     "map, and each refill is a page turned back toward Monday."),
    ("astrology", {"sun_sign": "Capricorn", "focus": "a new job", "mood": "uncertain"},
     "Capricorn climbs the mountain that your new job keeps folding into a map of Thursday. "
     "Uncertainty is just Saturn polishing the stairs before you have decided to own them. This "
     "week, write your ambition on the back of a doubt and mail it to your first impression. "
     "The office will rearrange itself around the shape of your patience, the way goats "
     "rearrange cliffs."),
    ("journal", {"journal_snippet": "I keep saying yes to everything at work", "focus": "boundaries"},
     "Every yes you give is a window that forgot it was also a wall. Boundaries are the colour "
     "your calendar turns when nobody is reading it. Tomorrow, let one request sit in the chair "
     "beside your no until they become friends. Work will learn your outline from the echo of "
     "the meetings you did not attend last year, which is where your saying lives now."),
    ("career", {"focus": "a micromanaging boss", "mood": "frustrated"},
     "Your boss hovers the way weather hovers over a spreadsheet, measuring the temperature of "
     "your commas. Frustration is the fastest form of agreement. Each morning, give your tasks a "
     "small coat of distance and let them dry on the edge of the desk. Control is a language "
     "your manager speaks only to the stapler, so answer in margins and let the margins decide."),
]

# Good insights in the pipeline's voice, some lyrical, some plain: none may be flagged.
GOOD = [
    ("career", {"focus": "asking for a raise", "mood": "anxious"},
     "Anxiety before a raise conversation usually means you care about getting it right, not that "
     "you are asking for too much. Before Friday, write down three things you delivered this year "
     "with a number attached: hours saved, clients kept, a launch you carried. Book fifteen "
     "minutes with your manager, open with those three, then name the figure you researched. "
     "Saying the number out loud once at home makes it easier to say it in the room."),
    ("tarot", {"card": "The Tower", "focus": "moving cities"},
     "The Tower shows a structure falling so something truer can be built, and a move between "
     "cities can feel exactly like that: routines, friends and familiar streets all shaken at "
     "once. You do not have to rebuild everything in the first month. This week, choose one "
     "anchor you will keep no matter where you live, a Sunday call with an old friend or a "
     "morning walk, and put it in your calendar before the boxes are unpacked."),
    ("numerology", {"life_path": "7", "focus": "sleep", "mood": "tired"},
     "As a life path 7 you tend to think most when the room goes quiet, which is why bedtime can "
     "turn into a second workday for your mind. Give those thoughts somewhere to go. Keep a "
     "notebook by the bed and, an hour before sleep, write down every open question from the "
     "day, then close it. Dim the lights at the same time each night this week and notice "
     "whether you fall asleep sooner by Thursday."),
    ("relationships", {"focus": "an argument with a partner", "mood": "hurt"},
     "Feeling hurt after an argument often means something important to you went unheard. "
     "Before you talk again, finish this sentence on paper: what I needed in that moment was... "
     "Then ask your partner for twenty minutes this evening, phones away, and start with that "
     "need instead of the argument itself. Listening to their answer without interrupting is "
     "the part that tends to repair the most."),
    ("wellness", {"focus": "drinking more water", "mood": "sluggish"},
     "Sluggish afternoons are often partly thirst. Fill a one-litre bottle in the morning and "
     "keep it where you can see it at your desk. Aim to finish it by lunch, then refill it once. "
     "Try it for five days and note your energy at three o'clock each day, so you can see "
     "whether it makes a difference for you."),
    ("astrology", {"sun_sign": "Capricorn", "focus": "a new job", "mood": "uncertain"},
     "Capricorns like to know the whole ladder before they take the first step, so a new job "
     "with unclear expectations can leave you uneasy. You can make the ladder visible yourself. "
     "In your first week, ask your manager what a good first ninety days would look like, and "
     "write their answer as three goals. Review them every Friday; the uncertainty shrinks as "
     "each goal gets a date."),
]


def test_the_shipped_head_fits_and_records_how_its_threshold_was_set():
    weight, bias, threshold = salad.weights()
    assert weight.shape == (2 * salad.DIM,) and np.isfinite(weight).all() and np.isfinite(bias)
    assert 0.5 < threshold < 1.0
    data = (ROOT / "agents" / "quality" / "data" / salad.WEIGHTS).read_bytes()
    with np.load(io.BytesIO(data)) as z:
        report = json.loads(str(z["validation"]))
    assert report["threshold"] == pytest.approx(threshold, abs=1e-4)
    flagged = sum(int(f["good_flagged"].split("/")[0]) for f in report["out_of_fold"].values())
    total = sum(int(f["good_flagged"].split("/")[1]) for f in report["out_of_fold"].values())
    assert total >= 250 and flagged <= train_salad.MAX_FP_GOOD * total


def test_the_trainer_reads_development_files_only():
    assert all(name.endswith("_dev.jsonl") for name in train_salad.DEV_FILES)
    rows = train_salad.texts()
    assert sum(r["salad"] for r in rows) >= 200 and sum(r["good"] for r in rows) >= 250
    golden = json.loads((ROOT / "streams" / "data" / "golden.json").read_text("utf-8"))["examples"]
    assert not {e["reference"] for e in golden} & {r["text"] for r in rows}


def test_fit_and_threshold_do_what_they_say():
    rng = np.random.default_rng(3)
    x = np.vstack([rng.normal(1.0, 1.0, (60, 4)), rng.normal(-1.0, 1.0, (60, 4))])
    y = np.r_[np.ones(60), np.zeros(60)]
    weight, bias = train_salad.fit(x, y, train_salad.L2)
    p = salad.logistic(x, weight, bias)
    assert p[:60].mean() > 0.8 and p[60:].mean() < 0.2
    good = y == 0
    thr = train_salad.threshold(p, good, 0.05)
    assert (p[good] >= thr).sum() <= 3 and (p[good] >= np.sort(p[good])[-4]).sum() == 4


def test_unseen_salads_are_flagged_and_unseen_good_texts_are_not():
    flagged = [salad.is_salad(t)[0] for _, _, t in SALADS]
    assert sum(flagged) >= len(SALADS) // 2, [round(salad.probability(t), 3) for _, _, t in SALADS]
    assert not any(salad.is_salad(t)[0] for _, _, t in GOOD), [round(salad.probability(t), 3) for _, _, t in GOOD]


def test_golden_references_are_almost_never_flagged():
    golden = json.loads((ROOT / "streams" / "data" / "golden.json").read_text("utf-8"))["examples"]
    p = salad.probabilities([e["reference"] for e in golden])
    assert len(golden) >= 40 and (p >= salad.weights()[2]).sum() <= 0.05 * len(golden)


def test_batched_and_single_scores_agree_and_odd_input_scores():
    texts = [t for _, _, t in SALADS[:3] + GOOD[:3]]
    batch = salad.probabilities(texts)
    assert np.allclose(batch, [salad.probability(t) for t in texts], atol=1e-4)
    # No sentence to read: the mean vectors are zero and the score is the bias's.
    weight, bias, _ = salad.weights()
    for odd in ("", "ok.", "\x00\x01 ##"):
        assert salad.probabilities([odd])[0] == pytest.approx(salad.logistic(np.zeros(2 * salad.DIM), weight, bias))
    # A huge text reads its first sentences only.
    huge = " ".join([GOOD[0][2]] * 200)
    assert len(salad.units(huge)[0]) == salad.MAX_SENTENCES
    assert 0.0 <= salad.probability(huge) <= 1.0


def test_clauses_cut_at_punctuation_and_conjunctions():
    assert salad.clauses("your raise waits in the pocket of patience, because numbers remember where they were planted") == [
        "your raise waits in the pocket of patience", "numbers remember where they were planted"]
    assert salad.clauses("rest now") == ["rest now"]


@pytest.fixture
def layers_on(monkeypatch):
    monkeypatch.setattr(gates, "SEMANTIC_LAYER", True)


def test_rubric_2_2_fails_salad_that_rubric_2_1_passes(layers_on):
    assert GRADER_VERSION == "rubric-2.2"
    new, old = Rubric(), Rubric(version="rubric-2.1")
    caught = 0
    for domain, context, text in SALADS:
        before, after = old.grade(text, domain, context), new.grade(text, domain, context)
        if salad.is_salad(text)[0]:
            caught += before.passed
            assert not after.passed and after.final_score <= before.final_score * 0.5 + 1e-4
            assert any("mean anything together" in r for r in after.recommendations)
        else:
            assert after.final_score == before.final_score
    assert caught >= 1  # the head adds what the structure evidence missed


def test_strong_texts_keep_their_grade_and_the_layers_off_means_rubric_2_1(monkeypatch):
    on = Rubric(semantic=True)
    off = Rubric(semantic=False)
    old = Rubric(semantic=True, version="rubric-2.1")
    for domain, context, text in GOOD:
        g = on.grade(text, domain, context)
        assert g.final_score == old.grade(text, domain, context).final_score
    for domain, context, text in SALADS[:3]:
        assert off.grade(text, domain, context).final_score == old.grade(text, domain, context).final_score
    assert on.grade(SALADS[0][2]).grader_version == "rubric-2.2"
