"""The base model's lower-block states shared by the models an evaluation measures
(trainer/state_memo.py): the same losses as each model's whole pass, states kept on the
way for the other tiers, never shared with an adapter that reaches below them, and a
memo that stays within its bytes. The model tests use the shipped model."""

from __future__ import annotations

import mlx.core as mx
import pytest

from kasper.trainer import packed, state_memo
from kasper.trainer.evaluate import per_example_loss

from tests.test_packed import MAX_LEN, _lora_model, _rows


def test_the_memo_drops_the_oldest_states_past_its_bytes():
    memo = state_memo.StateMemo(max_bytes=3 * 400)
    states = [(mx.zeros((10, 10)), mx.zeros((0,))) for _ in range(4)]  # 400 bytes each
    for i, s in enumerate(states):
        memo.put(f"k{i}", s)
    assert memo.get("k0") is None and memo.bytes == 3 * 400
    assert all(memo.get(f"k{i}") is states[i] for i in (1, 2, 3))
    memo.get("k1")  # used: the oldest is now k2
    memo.put("k4", states[0])
    assert memo.get("k2") is None and memo.get("k1") is states[1]


@pytest.mark.model
def test_shared_states_give_each_model_its_own_loss_and_serve_the_other_tiers(shipped_model, monkeypatch):
    from kasper.agents.runtime import model_store

    base, tokenizer = model_store.load(shipped_model)
    blocks = len(base.model.layers)
    candidate, _, _ = _lora_model(shipped_model, 4)  # a lite adapter with non-zero weights
    rows = _rows(tokenizer)
    whole_base = per_example_loss(base, rows, 2, MAX_LEN)
    whole_candidate = per_example_loss(candidate, rows, 2, MAX_LEN)
    assert whole_base[0] != pytest.approx(whole_candidate[0], rel=1e-3)  # the adapter changes them

    memo = state_memo.StateMemo()
    calls = []
    real = state_memo.lower_states

    def counting(model, rows_, frozen, start=0, states=None):
        calls.append((start, frozen))
        return real(model, rows_, frozen, start, states)

    monkeypatch.setattr(state_memo, "lower_states", counting)
    shared = state_memo.shared_states(base, "base", 4, others=(8, 16), memo=memo)
    assert (shared.split, shared.also) == (blocks - 4, (blocks - 16, blocks - 8))
    from_base = per_example_loss(base, rows, 2, MAX_LEN, shared)
    # The states climb once per example, kept where each tier's adapted blocks start.
    assert calls == [(0, blocks - 16), (blocks - 16, blocks - 8), (blocks - 8, blocks - 4)] * len(rows)
    calls.clear()
    lite = state_memo.shared_states(candidate, "base", 4, memo=memo)
    from_memo = per_example_loss(candidate, rows, 2, MAX_LEN, lite)
    standard = state_memo.shared_states(base, "base", 8, memo=memo)
    standard_loss = per_example_loss(base, rows, 2, MAX_LEN, standard)
    assert calls == []  # every state came from the memo
    # Another base model's states are not taken: its key differs, so they are made again.
    state_memo.shared_states(base, "another", 4, memo=memo).of(base, rows[0], MAX_LEN,
                                                               packed.pack(rows[:1], MAX_LEN))
    assert calls == [(0, blocks - 4)]
    assert from_base[1] == from_memo[1] == standard_loss[1] == whole_base[1]
    assert from_base[0] == pytest.approx(whole_base[0], rel=1e-4)
    assert standard_loss[0] == pytest.approx(whole_base[0], rel=1e-4)
    assert from_memo[0] == pytest.approx(whole_candidate[0], rel=1e-4)


@pytest.mark.model
def test_an_adapter_reaching_below_the_tier_shares_only_what_is_the_base_models(shipped_model):
    deep, _, _ = _lora_model(shipped_model, 8)
    blocks = len(deep.model.layers)
    shared = state_memo.shared_states(deep, "base", 4)  # a lite tier's evaluation of a deeper adapter
    assert shared.split == blocks - 8
    every, _, _ = _lora_model(shipped_model, blocks)
    assert state_memo.shared_states(every, "base", 4) is None
