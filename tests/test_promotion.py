"""Promotion on the persistent evaluation set: bootstrap, decision rule, held-out store,
and real LoRA adapters on the shipped model (one worse on the golden set, one better)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from kasper.trainer.bootstrap import paired_bootstrap
from kasper.trainer.config import PromotionPolicy, TrainerConfig, WindowPolicy, with_tier
from kasper.trainer.dataset import Source, build_window
from kasper.trainer.eval_set import (GOLDEN_VERSION, add_to_store, evaluation_set, golden_examples,
                                     golden_prompts, store_path, stored, window_heldout, window_train_ids)
from kasper.trainer.evaluate import ModelScores, compare, decide, thumbs_level
from kasper.trainer.files import write_window
from kasper.trainer.synthetic_records import synthetic_approved
from kasper.agents.quality.prompts import template

POLICY = PromotionPolicy(min_improvement=0.05, min_eval_examples=30, probe_tolerance=0.02)


# --- bootstrap ------------------------------------------------------------------------

def test_the_interval_covers_a_known_improvement_about_as_often_as_it_claims():
    # Incumbent losses ~ Gamma; the candidate's are 10% lower in expectation, with noise.
    true, hits, rng = 0.10, 0, np.random.default_rng(1)
    for trial in range(200):
        inc = rng.gamma(4.0, 25.0, size=60)
        cand = inc * (1 - true) * rng.lognormal(0.0, 0.15, size=60) / math.exp(0.15 ** 2 / 2)
        ci = paired_bootstrap(cand, inc, lower_is_better=True, resamples=1000, seed=trial)
        hits += ci.low <= true <= ci.high
    assert 0.88 <= hits / 200 <= 0.99, hits


def test_a_clear_improvement_excludes_zero_and_no_effect_does_not():
    rng = np.random.default_rng(2)
    inc = rng.gamma(4.0, 25.0, size=50)
    better = paired_bootstrap(inc * 0.8 * rng.lognormal(0, 0.05, 50), inc, lower_is_better=True)
    assert better.low > 0.15 and better.high < 0.25 and better.n == 50
    noise = paired_bootstrap(inc * rng.lognormal(0, 0.2, 50), inc, lower_is_better=True)
    assert noise.low < 0 < noise.high and not noise.excludes_zero()
    # Rates: higher is better; the same seed gives the same interval.
    up = paired_bootstrap([0.6] * 20 + [0.7] * 20, [0.5] * 40, lower_is_better=False, seed=3)
    assert up == paired_bootstrap([0.6] * 20 + [0.7] * 20, [0.5] * 40, lower_is_better=False, seed=3)
    assert math.isclose(up.improvement, 0.3) and 0.2 < up.low < up.high < 0.4
    assert math.isnan(paired_bootstrap([1.0], [2.0], lower_is_better=True).low)
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 2.0], [1.0], lower_is_better=True)


# --- the decision rule -------------------------------------------------------------------

def _scores(losses, thumbs=(), rubric=()) -> ModelScores:
    return ModelScores(tuple(float(x) for x in losses), tuple(50 for _ in losses), tuple(thumbs),
                       tuple(rubric), tuple(r >= 0.6 for r in rubric))


def test_decide_needs_the_bar_the_interval_and_the_sample_size():
    rng = np.random.default_rng(4)
    inc = rng.gamma(4.0, 25.0, size=40)
    sources = ["golden"] * 40
    current = _scores(inc)
    clear = decide(compare(_scores(inc * 0.85), current, sources, POLICY), POLICY)
    assert clear.promoted, clear.reason
    assert "+15.0%" in clear.reason and "95% CI [+15.0%, +15.0%]" in clear.reason and "n=40" in clear.reason
    assert GOLDEN_VERSION in clear.reason
    small = decide(compare(_scores(inc * 0.97), current, sources, POLICY), POLICY)
    assert not small.promoted and "below the bar" in small.reason
    # 8% better on average, but half the examples got much worse: the interval reaches below 0.
    mixed = inc * np.where(np.arange(40) % 2, 0.3, 1.54)
    noisy = compare(_scores(mixed), current, sources, POLICY)
    assert noisy.loss.improvement >= 0.05 and noisy.loss.low <= 0
    assert "does not clear +0.0%" in decide(noisy, POLICY).reason
    few = decide(compare(_scores(inc[:10] * 0.8), _scores(inc[:10]), sources[:10], POLICY), POLICY)
    assert not few.promoted and "too few paired examples" in few.reason and "n=10" in few.reason
    worse = decide(compare(_scores(inc * 1.2), current, sources, POLICY), POLICY)
    assert not worse.promoted and "-20.0%" in worse.reason


def test_the_users_and_the_rubric_can_still_veto_a_lower_loss():
    inc = np.linspace(80, 120, 40)
    sources = ["store"] * 40
    liked, disliked = [0.7, 0.8, 0.75, 0.9] * 2, [0.3, 0.2, 0.25, 0.35] * 2
    good = compare(_scores(inc * 0.8, liked, [0.7] * 8), _scores(inc, liked, [0.7] * 8), sources, POLICY)
    assert decide(good, POLICY).promoted and good.metrics()["thumbs_n"] == 8
    users = compare(_scores(inc * 0.8, disliked, [0.7] * 8), _scores(inc, liked, [0.7] * 8), sources, POLICY)
    assert "fell significantly" in decide(users, POLICY).reason
    rubric = compare(_scores(inc * 0.8, liked, [0.5] * 8), _scores(inc, liked, [0.7] * 8), sources, POLICY)
    assert "fell by more than 0.02" in decide(rubric, POLICY).reason
    m = good.metrics()
    assert m["eval_n"] == 40 and m["eval_store"] == 40 and m["loss_ci_low"] <= m["loss_improvement"] <= m["loss_ci_high"]


def test_a_candidate_trained_on_thumbs_is_decided_on_the_users_rate_with_the_loss_as_a_guard():
    rng = np.random.default_rng(5)
    inc = np.linspace(80, 120, 40)
    sources = ["golden"] * 40
    base_rate = rng.uniform(0.4, 0.8, 40)
    current = _scores(inc, base_rate, [0.7] * 40)
    liked = np.clip(base_rate + rng.normal(0.08, 0.03, 40), 0, 1)  # about 12% more thumbs up
    # Same loss, clearly more thumbs: a KTO candidate is promoted on the thumbs ...
    kto = compare(_scores(inc * rng.normal(1.0, 0.01, 40), liked, [0.7] * 40), current, sources, POLICY)
    ok = decide(kto, POLICY, objective="kto")
    assert ok.promoted and ok.reason.startswith("promoted: users' predicted thumbs-up") and "n=40" in ok.reason, \
        ok.reason
    # ... an SFT candidate with the same numbers is not: its loss did not improve.
    assert "below the bar" in decide(kto, POLICY, objective="sft").reason
    # More thumbs, but the references' loss rose by about 20%: the guard holds it back.
    drifted = compare(_scores(inc * 1.2, liked, [0.7] * 40), current, sources, POLICY)
    held = decide(drifted, POLICY, objective="sft+kto")
    assert not held.promoted and "loss rose significantly beyond the tolerance" in held.reason, held.reason
    # A small but certain rise (+2%) stops it by default; a tolerance of 5% lets it through.
    small = compare(_scores(inc * 1.02, liked, [0.7] * 40), current, sources, POLICY)
    assert not decide(small, POLICY, objective="dpo").promoted
    tolerant = dataclasses.replace(POLICY, loss_tolerance=0.05)
    assert decide(small, tolerant, objective="dpo").promoted
    # Thumbs that moved by noise alone: not promoted, whatever the loss did.
    noise = np.clip(base_rate + rng.normal(0.0, 0.1, 40), 0, 1)
    flat = decide(compare(_scores(inc * 0.8, noise, [0.7] * 40), current, sources, POLICY), POLICY,
                  objective="kto")
    assert not flat.promoted and "users' predicted thumbs-up" in flat.reason
    # The rubric still vetoes: on the share of answers it passes ...
    worse_rubric = compare(_scores(inc, liked, [0.5] * 40), current, sources, POLICY)
    vetoed = decide(worse_rubric, POLICY, objective="kto").reason
    assert "rubric pass rate 0.000 vs 1.000 (mean 0.500 vs 0.700) fell by more than 0.02" in vetoed, vetoed
    # ... not on its mean: answers that still pass, with fewer of the lexicon words the
    # rubric counts and the users dislike, score lower and are not held back for it.
    plainer = compare(_scores(inc, liked, [0.62] * 40), current, sources, POLICY)
    kept = decide(plainer, POLICY, objective="kto")
    assert kept.promoted and "rubric pass rate 1.000 vs 1.000 (mean 0.620 vs 0.700)" in kept.reason, kept.reason
    # One pass lost in 40 (0.025) is beyond the default 0.02, within 0.03.
    one_less = compare(_scores(inc, liked, [0.7] * 39 + [0.5]), current, sources, POLICY)
    assert not decide(one_less, POLICY, objective="kto").promoted
    assert decide(one_less, dataclasses.replace(POLICY, probe_tolerance=0.03), objective="kto").promoted
    # Too few golden answers to decide on thumbs: the loss decides, as for SFT.
    few = compare(_scores(inc * 0.8, liked[:8], [0.7] * 8), _scores(inc, base_rate[:8], [0.7] * 8), sources,
                  POLICY)
    fallback = decide(few, POLICY, objective="kto")
    assert fallback.promoted and fallback.reason.startswith("promoted: persistent-set loss"), fallback.reason


def _thumbs_case(gain: float, noise: float, seed: int = 7, n: int = 44):
    """A KTO candidate whose per-prompt thumbs-up rate is the incumbent's plus ``gain`` plus noise;
    the losses are equal (the guard passes)."""
    rng = np.random.default_rng(seed)
    base_rate = rng.uniform(0.5, 0.8, n)
    liked = np.clip(base_rate + gain + rng.normal(0.0, noise, n), 0, 1)
    inc = np.linspace(80, 120, n)
    return _scores(inc, liked, [0.7] * n), _scores(inc, base_rate, [0.7] * n), ["golden"] * n


def test_a_first_look_the_answers_leave_open_asks_for_a_second_and_only_then():
    level = thumbs_level(POLICY, "kto")
    assert level == pytest.approx(0.9706, abs=1e-4)  # Pocock, two looks of two answers each
    assert thumbs_level(POLICY, "sft") == POLICY.confidence  # the loss decides: no second look
    assert thumbs_level(dataclasses.replace(POLICY, probe_extra_samples=0), "kto") == POLICY.confidence
    # A gain near the bar, noisy: not promoted, and open.
    new, current, sources = _thumbs_case(0.03, 0.15)
    c = compare(new, current, sources, POLICY, level)
    first = decide(c, POLICY, objective="kto")
    assert c.thumbs.improvement > 0 and c.thumbs.high >= 0.05 and not first.promoted, first.reason
    assert first.open and "97.1% CI" in first.reason, first.reason
    # The same numbers at the second look: decided, whatever the outcome.
    assert not decide(c, POLICY, objective="kto", second_look=True).open
    # Trained on approved texts alone: decided on the loss, never open.
    assert not decide(c, POLICY, objective="sft").open
    # An estimate at or below zero: more answers would not be worth their time.
    worse = compare(*_thumbs_case(-0.05, 0.15), POLICY, level)
    assert worse.thumbs.improvement <= 0 and not decide(worse, POLICY, objective="kto").open
    # An interval wholly below the bar: settled.
    flat = compare(*_thumbs_case(0.0, 0.005), POLICY, level)
    assert flat.thumbs.high < 0.05 and not decide(flat, POLICY, objective="kto").open
    # The loss guard failed: more answers cannot lift it.
    liked, base, sources = _thumbs_case(0.03, 0.15)
    drifted = compare(dataclasses.replace(liked, losses=tuple(x * 1.2 for x in liked.losses)), base, sources,
                      POLICY, level)
    held = decide(drifted, POLICY, objective="kto")
    assert not held.open and "also, the loss rose significantly beyond the tolerance" in held.reason, held.reason
    # Promoted at the first look: nothing left open.
    clear = compare(*_thumbs_case(0.12, 0.02), POLICY, level)
    done = decide(clear, POLICY, objective="kto")
    assert done.promoted and not done.open, done.reason


def test_the_pipeline_takes_a_second_look_only_when_the_first_is_open(tmp_path, monkeypatch):
    """The wiring of trainer.pipeline._evaluate. evaluate_model is scripted here (the model's
    part of a second look is tested on the shipped model in tests/test_eval_cache.py)."""
    from kasper.trainer import pipeline

    window = _window(tmp_path / "w", 12, seed=3)
    config = TrainerConfig(windows_dir=tmp_path / "windows", adapters_dir=tmp_path / "adapters", promotion=POLICY)
    looks = []

    def run(first: tuple, second: tuple) -> tuple[dict, object]:
        looks.clear()

        def scripted(model_dir, adapter_dir, examples, params, policy, tier, cache=None, generate=None,
                     second_look=False, other_layers=()):
            looks.append(("new" if adapter_dir == work else "current", second_look))
            new, current, _ = second if second_look else first
            scores = new if adapter_dir == work else current
            n = len(examples)
            return dataclasses.replace(scores, losses=(100.0,) * n, tokens=(50,) * n,
                                       answers=len(scores.thumbs) * (4 if second_look else 2))

        monkeypatch.setattr(pipeline, "evaluate_model", scripted)
        monkeypatch.setattr(pipeline, "model_key", lambda model_dir, adapter: str(adapter))
        return pipeline._evaluate(window, config, tmp_path / "model", "standard", work, None, "kto")

    work = tmp_path / "candidate"
    open_first, clear_second = _thumbs_case(0.03, 0.15), _thumbs_case(0.12, 0.02, seed=8)
    numbers, decision = run(open_first, clear_second)
    assert looks == [("new", False), ("current", False), ("new", True), ("current", True)]
    assert decision.promoted and "176 answers, second look" in decision.reason, decision.reason
    assert numbers["eval_looks"] == 2 and numbers["thumbs_answers"] == 176
    # A first look that settles it (clearly worse): one look, the second never asked for.
    numbers, decision = run(_thumbs_case(-0.10, 0.05), clear_second)
    assert looks == [("new", False), ("current", False)] and numbers["eval_looks"] == 1
    assert not decision.promoted and "88 answers" in decision.reason and "second look" not in decision.reason
    # Turned off: one look, even when it was open.
    config = dataclasses.replace(config, promotion=dataclasses.replace(POLICY, probe_extra_samples=0))
    numbers, decision = run(open_first, clear_second)
    assert len(looks) == 2 and not decision.promoted and "95% CI" in decision.reason, decision.reason


def test_a_negative_bar_lets_every_candidate_through_as_test_setups_ask():
    loose = dataclasses.replace(POLICY, min_improvement=-1000.0)
    inc = np.linspace(80, 120, 40)
    assert decide(compare(_scores(inc * 1.3), _scores(inc), ["golden"] * 40, loose), loose).promoted


# --- the evaluation set and the store -------------------------------------------------------

def test_the_golden_set_covers_every_domain_and_tier_with_written_references():
    examples = golden_prompts()
    assert len(examples) >= 40 and len({e["prompt_id"] for e in examples}) == len(examples)
    assert {e["domain"] for e in examples} == set(template()["domains"])
    raw = json.loads(Path(__file__).parents[1].joinpath("streams/data/golden.json").read_text())
    assert {e["tier"] for e in raw["examples"]} == {"lite", "standard", "pro"}
    assert raw["version"] == GOLDEN_VERSION
    for e in examples:
        words = e["reference"].lower().split()
        assert 25 <= len(words) <= 80 and ("you" in words or "your" in words), e["prompt_id"]
    # The first eight prompts (the default probe count) are eight different domains.
    assert len({e["domain"] for e in golden_prompts(8)}) == 8
    assert len({e.id for e in golden_examples()}) == len(examples)


def _window(directory: Path, count: int, seed: int, text: str | None = None) -> Path:
    records = synthetic_approved(count, seed=seed, score=0.9)
    for r in records:
        if text is not None:
            r["insight"]["text"] = text
    sources = [Source("kasper.approved", 0, i, "approved", r) for i, r in enumerate(records)]
    return write_window(build_window("standard", sources, WindowPolicy()), directory)


def test_the_store_accumulates_dedupes_caps_and_never_holds_training_lines(tmp_path):
    adapters = tmp_path / "adapters"
    w1, w2 = _window(tmp_path / "w1", 40, seed=11), _window(tmp_path / "w2", 40, seed=12)
    held1, held2 = window_heldout(w1), window_heldout(w2)
    assert held1 and held2 and not {e.id for e in held1} & window_train_ids(w1)

    assert add_to_store(adapters, "standard", w1, "w1", cap=100) == len(held1)
    assert add_to_store(adapters, "standard", w1, "w1", cap=100) == 0  # the same window again
    assert add_to_store(adapters, "standard", w2, "w2", cap=100) == len(held2)
    ids = [e.id for e in stored(adapters, "standard")]
    assert ids == [e.id for e in held1 + held2] and len(set(ids)) == len(ids)
    assert stored(adapters, "lite") == []

    # Window 2's evaluation set: golden + window 1's store lines (+ its own held-out), none
    # of its training lines; its own lines joined the store only when add_to_store ran.
    sources = [e.source for e in evaluation_set(adapters, "standard", w2)]
    assert sources.count("golden") == len(golden_examples()) and sources.count("store") == len(ids)

    # A split policy that changed: a line of window 3 is both in its train and its test file.
    w3 = tmp_path / "w3"
    w3.mkdir()
    (w3 / "train.jsonl").write_text((w2 / "test.jsonl").read_text().splitlines()[0] + "\n")
    (w3 / "test.jsonl").write_text((w1 / "train.jsonl").read_text().splitlines()[0] + "\n"
                                   + (w2 / "test.jsonl").read_text())
    leaked = window_train_ids(w3)
    assert leaked and not leaked & {e.id for e in evaluation_set(adapters, "standard", w3)}
    assert leaked < {e.id for e in stored(adapters, "standard")}  # stored by window 2
    add_to_store(adapters, "standard", w3, "w3", cap=100)
    # Window 1's training line, held out by window 3, joins; the line window 3 trained on leaves.
    after = {e.id for e in stored(adapters, "standard")}
    assert not leaked & after and len(after) == len(ids)

    # The cap keeps the newest lines; the file is whole JSON lines with their window ids.
    assert add_to_store(adapters, "standard", _window(tmp_path / "w4", 40, seed=13), "w4", cap=5) > 0
    rows = [json.loads(line) for line in store_path(adapters, "standard").read_text().splitlines()]
    assert len(rows) == 5 and rows[-1]["window_id"] == "w4"
    assert not list(store_path(adapters, "standard").parent.glob(".*.tmp"))


# --- real adapters on the shipped model -------------------------------------------------------

# One off-voice text for a whole window: first person, clichés, an advert. An adapter
# trained on it gets much better on its own window's held-out lines (the same text) and
# worse on the golden references.
OFF_VOICE = ("WE AT THE COSMIC COUNCIL DECLARE: the universe sends energy and vibrations to me and "
             "my soul. I manifest abundance, I radiate blessings, I align with the divine. BUY THE "
             "SACRED CRYSTAL PACK NOW, 50% OFF, LINK IN BIO!!!")
# Few steps on purpose (2 shared cores); the off-voice text is one string, learnt fast.
SHAPE = dict(iters=8, batch_size=1, max_seq_length=384, learning_rate=1e-3, steps_per_report=4,
             save_every=100, val_batches=1)
PROBE = PromotionPolicy(min_improvement=0.05, min_eval_examples=30, probe_count=2, probe_max_tokens=16)


def _config(root: Path, **shape) -> TrainerConfig:
    config = TrainerConfig(windows_dir=root / "windows", adapters_dir=root / "adapters", promotion=PROBE)
    return with_tier(config, "standard", **{**SHAPE, **shape})


@pytest.fixture(scope="module")
def off_voice(shipped_model, tmp_path_factory):
    """An adapter trained on the off-voice window, decided against the base model."""
    from kasper.trainer.pipeline import train_window
    root = tmp_path_factory.mktemp("promotion")
    window = _window(root / "off", 40, seed=21, text=OFF_VOICE)
    config = _config(root, rank=4, num_layers=2)
    return root, window, train_window(window, config, shipped_model)


@pytest.mark.model
@pytest.mark.timeout(3000)  # two full evaluations of the persistent set on a busy CPU
def test_a_candidate_worse_on_the_persistent_set_is_not_promoted_even_if_better_on_its_window(off_voice):
    root, window, entry = off_voice
    m = entry["metrics"]
    assert not entry["promoted"], entry["reason"]
    # Better on its own window's held-out lines by far: the old rule would have promoted it.
    assert m["window_test_loss"] < 0.8 * m["current_window_test_loss"], m
    # Worse on the golden set; on the whole persistent set (its own lines included) short of
    # the bar or of a significant gain.
    assert m["golden_test_loss"] > m["current_golden_test_loss"], m
    assert m["loss_improvement"] < 0.05 or m["loss_ci_low"] <= 0, m
    assert m["eval_golden"] == len(golden_examples()) and m["eval_window"] == len(window_heldout(window))
    assert m["eval_n"] == m["eval_golden"] + m["eval_window"] and m["golden_version"] > 0
    assert m["thumbs_n"] == 2 and 0 <= m["thumbs_up_rate"] <= 1
    assert entry["reason"].startswith("not promoted: ") and "persistent-set loss" in entry["reason"]
    assert f"n={int(m['eval_n'])}" in entry["reason"] and "95% CI [" in entry["reason"]
    # Decided: its held-out lines are now in the store, its training lines are not.
    ids = {e.id for e in stored(root / "adapters", "standard")}
    assert ids == {e.id for e in window_heldout(window)} and not ids & window_train_ids(window)


def test_a_golden_count_takes_the_first_examples_round_robin_over_domains():
    every = golden_examples()
    some = golden_examples(count=8)
    assert [e.id for e in some] == [e.id for e in every[:8]]
    assert len({p["domain"] for p in golden_prompts(8)}) == 8  # one per domain
    assert golden_examples(count=0) == [] and len(every) == 44
    from kasper.streams.settings import Settings, TrainerSettings

    config = TrainerConfig.from_settings(Settings(trainer=TrainerSettings(golden_count=8)))
    assert config.promotion.golden_count == 8
