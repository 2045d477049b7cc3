"""The anchor beside a preference objective (``trainer/anchor.py``,
``preference.anchor_loss``): what it holds, that it costs nothing at step zero, and
that it keeps the reference's loss on its texts while the preference is still learned.

The model tests use the real shipped model with tiny settings (the data of
``test_preference``: a plain text liked, the same text with a cliché disliked).
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from kasper.agents.quality.exemplars import seed_exemplars
from kasper.agents.quality.prompts import build_messages
from kasper.streams.settings import Settings, TrainerSettings
from kasper.trainer import anchor, groups, preference
from kasper.trainer.config import TrainerConfig
from kasper.trainer.eval_set import golden_prompts

from tests.test_preference import TINY, margins, write_preference_data

# Room for the seed exemplars' template prompts (about 300 tokens) and their answers.
ANCHORED = dataclasses.replace(TINY, max_seq_length=512, objective="kto")


# --- no model -------------------------------------------------------------------------


def test_the_anchor_holds_every_seed_exemplar_as_the_generator_would_prompt_it():
    chats = anchor.seed_messages()
    seeds = [e for domain in sorted(seed_exemplars()) for e in seed_exemplars()[domain]]
    assert len(chats) == len(seeds) > 0
    for chat, seed in zip(chats, seeds):
        assert chat[:-1] == build_messages({"domain": seed.domain, "context": dict(seed.context)})
        assert chat[-1] == {"role": "assistant", "content": seed.text}


def test_nothing_the_decision_is_measured_on_is_anchored():
    golden = golden_prompts()
    references = {p["reference"].strip() for p in golden}
    contexts = {tuple(sorted(p["context"].items())) for p in golden}
    for chat in anchor.seed_messages():
        assert chat[-1]["content"].strip() not in references
    for domain, seeds in seed_exemplars().items():
        assert all(tuple(sorted(s.context.items())) not in contexts for s in seeds), domain


def test_the_weight_is_a_setting_every_tier_follows_and_it_cannot_be_negative():
    config = TrainerConfig.from_settings(Settings(trainer=TrainerSettings(anchor_weight=2.5)))
    assert {config.tier(t).anchor_weight for t in ("lite", "standard", "pro")} == {2.5}
    with pytest.raises(ValueError):
        TrainerSettings(anchor_weight=-1.0)


# --- the shipped model ----------------------------------------------------------------


def mean_loss(model, texts) -> float:
    """The mean over ``texts`` of their mean token loss under ``model``."""
    from kasper.trainer.packed import pack, packed_logps

    rows = pack(texts, ANCHORED.max_seq_length)
    logps, ntoks = packed_logps(model, *rows)
    return -float((logps / ntoks).mean().item())


@pytest.mark.model
def test_the_anchor_costs_nothing_at_step_zero_and_rides_only_beside_a_preference(shipped_model, tmp_path):
    from kasper.agents.runtime import model_store

    data = write_preference_data(tmp_path / "data", train=4, held_out=0)
    model, tokenizer = model_store.load(shipped_model)
    texts = anchor.anchor_texts(tokenizer, [])
    plan = preference.plan(model, tokenizer, data, "kto", batch_size=2, max_len=512, sft=([], []),
                           anchor=texts, anchor_weight=3.0)
    assert plan.objective == ("kto",) and plan.train.objective == ("kto", "anchor")
    assert plan.anchor_texts == len(texts) and plan.valid.objective == ("kto",)
    value, tokens = preference.anchor_loss(model, *plan.train.groups["anchor"][0], beta=0.1)
    assert value.item() == pytest.approx(0.0, abs=1e-5) and tokens.item() == 0
    # The mixed loss is the objective's alone at step zero.
    kto_group, anchor_group = plan.train.groups["kto"][0], plan.train.groups["anchor"][0]
    mixed, _ = preference.mixed_loss(plan.train.objective, 0.1)(model, *kto_group, *anchor_group)
    alone, _ = preference.kto_loss(model, *kto_group, beta=0.1)
    assert mixed.item() == pytest.approx(alone.item(), abs=1e-5)
    # Validation batches (the objective's only) go through the same loss.
    validation, _ = preference.mixed_loss(plan.train.objective, 0.1)(model, *kto_group)
    assert validation.item() == pytest.approx(alone.item(), abs=1e-5)
    # No anchor for SFT (it imitates texts already), nor with weight 0.
    sft = ([([1, 2, 3, 4, 5, 6], 2)] * 2, [])
    for setting, weight in (("sft", 3.0), ("kto", 0.0)):
        other = preference.plan(model, tokenizer, data, setting, batch_size=2, max_len=512, sft=sft,
                                anchor=texts, anchor_weight=weight)
        assert "anchor" not in other.train.objective and other.anchor_texts == 0


@pytest.mark.model
def test_a_short_run_references_only_the_anchor_batches_its_steps_take(shipped_model, tmp_path):
    from kasper.agents.runtime import model_store

    data = write_preference_data(tmp_path / "data", train=4, held_out=0)
    model, tokenizer = model_store.load(shipped_model)
    texts = anchor.anchor_texts(tokenizer, [])
    kwargs = dict(batch_size=2, max_len=512, sft=([], []), anchor=texts, anchor_weight=3.0)
    every = preference.plan(model, tokenizer, data, "kto", **kwargs)
    seen_epochs = []

    def steps(per_epoch: int) -> int:
        seen_epochs.append(per_epoch)
        return 3

    short = preference.plan(model, tokenizer, data, "kto", steps=steps, seed=5, **kwargs)
    anchors = short.train.groups["anchor"]
    assert seen_epochs == [len(short.train.groups["kto"])]  # the objective's batches, not the anchor's
    expected = groups.taken(len(anchors), 3, seed=5)
    assert len(anchors) > len(expected) == 3  # a short run over many texts takes a few batches
    assert {i for i, g in enumerate(anchors) if not isinstance(g, groups.Pending)} == expected
    for i in expected:  # the same values as a plan that referenced every batch
        assert anchors[i][7].tolist() == pytest.approx(every.train.groups["anchor"][i][7].tolist(), abs=1e-4)
    # Three steps take exactly those batches; a fourth would take one without references.
    stream = groups.batches(0, seed=5)(short.train, 2, 512, loop=True)
    taken_steps = [next(stream) for _ in range(3)]
    assert len(taken_steps) == 3
    untaken = next(i for i, g in enumerate(anchors) if isinstance(g, groups.Pending))
    with pytest.raises(RuntimeError, match=f"anchor batch {untaken} was taken without reference values"):
        short.train._group("anchor", untaken)


@pytest.mark.model
def test_the_anchor_keeps_the_reference_loss_on_its_texts_while_the_preference_is_learned(
        shipped_model, tmp_path, monkeypatch):
    from kasper.agents.runtime import model_store
    from kasper.trainer.lora import train_adapter

    # Eight of the seed exemplars (one per domain) keep the run quick on two shared cores.
    chats = anchor.seed_messages()
    monkeypatch.setattr(anchor, "seed_messages", lambda *a: chats[::3])
    data = write_preference_data(tmp_path / "data", train=8, held_out=3)
    base, tokenizer = model_store.load(shipped_model)
    texts = anchor.anchor_texts(tokenizer, [])
    before = mean_loss(base, texts)
    drift, gained = {}, {}
    reference_margins = margins((base, tokenizer), data)
    for weight in (0.0, 3.0):
        work = tmp_path / f"work-{weight}"
        result = train_adapter(shipped_model, data, work, dataclasses.replace(ANCHORED, anchor_weight=weight))
        assert result.objective == "kto" and math.isfinite(result.last_loss)
        trained = model_store.load(shipped_model, adapter_path=work)
        drift[weight] = mean_loss(trained[0], texts) - before
        gained[weight] = [a - b for a, b in zip(margins(trained, data), reference_margins)]
    assert drift[0.0] > 0.01, drift  # unanchored, the preference moves the seeds' loss up
    assert drift[3.0] < drift[0.0] / 2, drift
    # ... and the anchored run still learns the taste: the held-out pairs' margin rises.
    # (Not every pair: at this step size the most confident pair can give a little back.)
    assert sum(gained[3.0]) / len(gained[3.0]) > 0.5, gained
