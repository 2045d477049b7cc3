"""Preference training (DPO, KTO): the window's pairs and thumbs, the objective, the losses
at step 0, and that a trained adapter raises the held-out chosen-over-rejected margin.

The model tests use the real shipped model with tiny settings (rank 4, 2 layers, a few
steps on a dozen pairs). The data has a taste a small model can learn from a few
examples: the same text is liked plain and disliked with a cliché added. Held-out pairs
(other prompts, ``split: test``) are never trained on.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from kasper.agents.quality.prompts import build_messages
from kasper.streams.settings import Settings, TrainerSettings
from kasper.trainer import groups, preference
from kasper.trainer.config import TierTraining, TrainerConfig, WindowPolicy
from kasper.trainer.dataset import Source, build_window
from kasper.trainer.errors import EmptyWindowError
from kasper.trainer.synthetic_records import synthetic_approved

CLICHES = (" Remember, everything happens for a reason.",
           " Trust the universe, because it always has a plan for you.",
           " Just stay positive and good vibes will follow.")
TINY = TierTraining(rank=4, num_layers=2, iters=6, batch_size=2, max_seq_length=128,
                    learning_rate=5e-4, steps_per_report=2, save_every=100, val_batches=1)


def lines(content, name):
    return [json.loads(line) for line in content.files[name].decode().splitlines()]


def feedback(record, rating, n):
    return {"feedback_id": f"f{n}", "insight_id": record["insight_id"], "user_hash": f"u{n}",
            "rating": rating, "stars": None, "comment": None, "created_at": record["approved_at"]}


# --- no model -------------------------------------------------------------------------


def test_objective_names_parse_to_a_canonical_order_and_bad_ones_are_refused():
    assert preference.parse_objective("auto") is None
    assert preference.parse_objective("kto+sft") == ("sft", "kto")
    assert preference.parse_objective(" DPO ") == ("dpo",)
    with pytest.raises(ValueError, match="unknown training objective 'ppo'"):
        preference.parse_objective("ppo")
    config = TrainerConfig.from_settings(Settings(trainer=TrainerSettings(objective="sft+dpo")))
    assert {config.tier(t).objective for t in ("lite", "standard", "pro")} == {"sft+dpo"}
    with pytest.raises(ValueError):
        TrainerSettings(objective="sft+rlhf")


def test_kto_weights_balance_imbalanced_thumbs_unless_given():
    assert preference.kto_weights([True] * 9 + [False] * 3) == (1.0, 3.0)
    assert preference.kto_weights([True] * 2 + [False] * 8) == (4.0, 1.0)
    assert preference.kto_weights([True] * 5) == (1.0, 1.0)  # one side only: nothing to balance
    assert preference.kto_weights([True, False, False], desirable=1.5) == (1.5, 1.0)


def test_window_pairs_same_prompt_first_then_equivalent_and_lists_every_thumb():
    records = synthetic_approved(4, seed=11, tier="lite", score=0.9)
    records[1]["prompt"] = copy.deepcopy(records[0]["prompt"])  # the same request answered twice
    for r in records:  # all four equivalent: same domain and focus
        r["prompt"]["domain"], r["prompt"]["context"]["focus"] = "career", "a new job"
    ratings = ["up", "down", "down", "up"]
    fb = [feedback(r, rating, i) for i, (r, rating) in enumerate(zip(records, ratings))]
    sources = [Source("kasper.approved", 0, i, "approved", r) for i, r in enumerate(records)]
    sources += [Source("kasper.feedback", 0, i, "feedback", f) for i, f in enumerate(fb)]
    content = build_window("lite", sources, WindowPolicy())
    pairs = lines(content, "preference.jsonl")
    ids = [r["insight_id"] for r in records]
    assert [(p["chosen_insight_id"], p["rejected_insight_id"], p["pairing"]) for p in pairs] == [
        (ids[0], ids[1], "same_prompt"), (ids[3], ids[2], "equivalent_prompt")]
    thumbs = lines(content, "thumbs.jsonl")
    assert [(t["insight_id"], t["label"]) for t in thumbs] == list(zip(ids, [True, False, False, True]))
    assert thumbs[1]["completion"][0]["content"] == records[1]["insight"]["text"]
    assert thumbs[0]["prompt"] == build_messages(records[0]["prompt"])
    assert {t["split"] for t in thumbs} <= {"train", "valid", "test"}
    assert (content.counts["thumbs_up"], content.counts["thumbs_down"]) == (2, 2)


def test_a_resumed_mixture_sees_the_batches_the_first_run_would_have():
    mixture = groups.Mixture(("sft", "kto"), {"sft": [(np.int32(i),) for i in range(5)],
                                                  "kto": [(np.int32(10 + i),) for i in range(3)]})
    whole = groups.batches(0, seed=4)(mixture, 2, 64, loop=True)
    seen = [next(whole) for _ in range(12)]
    resumed = groups.batches(7, seed=4)(mixture, 2, 64, loop=True)
    assert [next(resumed) for _ in range(5)] == seen[7:]
    assert {int(s[0]) for s in seen[:5]} == set(range(5))  # an epoch visits every sft batch once


# --- the shipped model -------------------------------------------------------------------


def write_preference_data(directory: Path, train: int, held_out: int, seed: int = 3) -> Path:
    """Pairs and thumbs for ``train + held_out`` prompts; the held-out ones are ``split: test``.

    Short prompts and one-sentence answers (about 70 tokens a row rather than the
    template's 300): the test is about the losses, and must stay quick on 2 shared cores.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pairs, thumbs = [], []
    for i, record in enumerate(synthetic_approved(train + held_out, seed=seed, tier="standard")):
        prompt = record["prompt"]
        messages = [{"role": "system", "content": "You write short personal insights."},
                    {"role": "user", "content": f"{prompt['domain']}: {prompt['context'].get('focus', 'today')}"}]
        text = record["insight"]["text"].split(". ")[0].rstrip(".") + "."
        worse = text + CLICHES[i % len(CLICHES)]
        split = "train" if i < train else "test"
        answer = lambda t: [{"role": "assistant", "content": t}]  # noqa: E731
        pairs.append({"prompt": messages, "chosen": answer(text), "rejected": answer(worse), "split": split})
        liked = i % 3 != 0  # imbalanced thumbs: two liked to one disliked
        thumbs.append({"prompt": messages, "completion": answer(text if liked else worse),
                       "label": liked, "split": split})
    for name, rows in ((preference.PAIRS_FILE, pairs), (preference.THUMBS_FILE, thumbs)):
        (directory / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return directory


def margins(model, directory: Path) -> list[float]:
    """Chosen minus rejected log-prob of each held-out pair, computed here from scratch."""
    from kasper.trainer.packed import pad, sequence_logps
    from kasper.trainer.preference import encode, read_rows

    out = []
    for row in read_rows(directory, preference.PAIRS_FILE, ("test",)):
        seqs = [encode(model[1], row["prompt"], row[k]) for k in ("chosen", "rejected")]
        logps, _ = sequence_logps(model[0], *pad(seqs, TINY.max_seq_length))
        out.append(logps[0].item() - logps[1].item())
    return out


@pytest.mark.model
def test_at_step_zero_the_policy_is_its_reference(shipped_model, tmp_path):
    from kasper.agents.runtime import model_store

    data = write_preference_data(tmp_path / "data", train=4, held_out=0)
    model, tokenizer = model_store.load(shipped_model)
    plan = preference.plan(model, tokenizer, data, "dpo+kto", batch_size=2, max_len=128, sft=([], []))
    assert plan.objective == ("dpo", "kto")
    dpo_value, dpo_tokens = preference.dpo_loss(model, *plan.train.groups["dpo"][0], beta=0.1)
    assert dpo_value.item() == pytest.approx(math.log(2), abs=1e-4) and dpo_tokens.item() > 0
    group = plan.train.groups["kto"][0]
    kto_value, _ = preference.kto_loss(model, *group, beta=0.1)  # ratio 0, z0 0: 1 - sigmoid(0)
    assert kto_value.item() == pytest.approx(0.5 * float(group[-1].mean().item()), abs=1e-4)
    with pytest.raises(EmptyWindowError, match="dpo has 0 training examples"):
        preference.plan(model, tokenizer, tmp_path / "nothing", "dpo", batch_size=2, max_len=128,
                        sft=([], []))
    # auto: the thumbs when the window has them, else the approved texts.
    sft = ([([1, 2, 3, 4, 5, 6], 2)] * 2, [])
    assert preference.plan(model, tokenizer, data, "auto", batch_size=2, max_len=128, sft=sft).objective == ("kto",)
    assert preference.plan(model, tokenizer, tmp_path / "nothing", "auto", batch_size=2, max_len=128,
                           sft=sft).objective == ("sft",)


@pytest.mark.model
@pytest.mark.parametrize("objective", ["dpo", "kto"])
def test_training_raises_the_held_out_chosen_over_rejected_margin(shipped_model, tmp_path, objective):
    from kasper.agents.runtime import model_store
    from kasper.trainer.lora import train_adapter

    data = write_preference_data(tmp_path / "data", train=8, held_out=3)
    result = train_adapter(shipped_model, data, tmp_path / "work",
                           dataclasses.replace(TINY, objective=objective))
    assert result.objective == objective and result.iterations == TINY.iters
    assert math.isfinite(result.last_loss) and result.tokens > 0
    before = margins(model_store.load(shipped_model), data)
    after = margins(model_store.load(shipped_model, adapter_path=tmp_path / "work"), data)
    assert len(before) == 3
    assert all(a > b for a, b in zip(after, before)), (before, after)  # every held-out pair
    assert result.heldout["heldout_margin"] == pytest.approx(sum(after) / 3, rel=1e-3, abs=1e-2)
    assert result.heldout["heldout_margin_reference"] == pytest.approx(sum(before) / 3, rel=1e-3, abs=1e-2)
    config = json.loads((tmp_path / "work" / "adapter_config.json").read_text())
    assert config["objective"] == objective


@pytest.mark.model
def test_a_stop_during_the_reference_pass_or_between_reports_ends_the_run_at_once(shipped_model, tmp_path):
    from kasper.trainer.errors import TrainingInterrupted
    from kasper.trainer.lora import train_adapter

    data = write_preference_data(tmp_path / "data", train=8, held_out=3)
    params = dataclasses.replace(TINY, objective="kto", steps_per_report=100, save_every=100)
    # Asked on the second reference batch: nothing trained, nothing checkpointed.
    calls = []
    with pytest.raises(TrainingInterrupted, match="before the first step"):
        train_adapter(shipped_model, data, tmp_path / "work", params,
                      should_stop=lambda: calls.append(1) or len(calls) >= 2)
    assert not (tmp_path / "work" / "checkpoint").exists()
    # Asked before step 4 (no report until step 100): steps 1-3 are checkpointed, and a
    # second start trains the other three.
    steps = []
    with pytest.raises(TrainingInterrupted, match="stopped at step 3"):
        train_adapter(shipped_model, data, tmp_path / "work", params,
                      should_stop=lambda: steps.append(1) or len(steps) >= 3 + _reference_calls(data))
    state = json.loads((tmp_path / "work" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 3
    result = train_adapter(shipped_model, data, tmp_path / "work", params)
    assert result.resumed_from == 3 and result.iterations == TINY.iters


def _reference_calls(data: Path) -> int:
    """How often the plan asks before the first step: once per KTO batch (train, valid)
    and once per held-out pair."""
    rows = [json.loads(line) for line in (data / "thumbs.jsonl").read_text().splitlines()]
    pairs = [json.loads(line) for line in (data / "preference.jsonl").read_text().splitlines()]
    batches = sum(len([r for r in rows if r["split"] == s]) // TINY.batch_size for s in ("train", "valid"))
    return batches + len([p for p in pairs if p["split"] in ("valid", "test")])
