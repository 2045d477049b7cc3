"""Reference values kept between windows (``trainer/reference_cache.py``).

Without a model: the file's keys, what it keeps and how it survives damage. With the
shipped model: a second plan over the same rows computes nothing and gets the values
the first computed; a plan over some new rows computes only those, and its cached
values match a fresh computation up to float rounding.
"""

from __future__ import annotations

import json
import math

import pytest

from kasper.trainer import preference
from kasper.trainer.reference_cache import ReferenceCache, row_key
from kasper.trainer.windows import UnsafePathError

from tests.test_preference import write_preference_data


def test_a_row_key_names_the_measure_the_tokens_the_answer_start_and_the_cut():
    row = ([1, 2, 3, 4, 5], 2)
    key = row_key("logp", row, 128)
    assert key == row_key("logp", ([1, 2, 3, 4, 5], 2), 128)
    others = {row_key("nll", row, 128), row_key("logp", ([1, 2, 3, 4, 5], 3), 128),
              row_key("logp", ([1, 2, 3, 4, 6], 2), 128), row_key("logp", row, 64)}
    assert key not in others and len(others) == 4


def test_values_come_back_for_the_same_model_only_and_unused_rows_are_dropped(tmp_path):
    cache = ReferenceCache(tmp_path, "standard", "model-a")
    assert cache.lookup(["k1", "k2"]) == [None, None] and (cache.hits, cache.misses) == (0, 2)
    cache.store(["k1", "k2", "k3"], [-12.5, float("nan"), -3.0])  # a NaN is never kept
    cache.save()
    again = ReferenceCache(tmp_path, "standard", "model-a")
    assert again.lookup(["k1", "k2", "k3"]) == [-12.5, None, -3.0] and again.hits == 2
    # Saved again after using k1 only: k3 is dropped.
    again.used = {"k1"}
    again.save()
    assert json.loads(again.path.read_text())["values"] == {"k1": -12.5}
    # A plan that asked for no row (SFT) keeps the file for the next preference window.
    ReferenceCache(tmp_path, "standard", "model-a").save()
    assert ReferenceCache(tmp_path, "standard", "model-a").values == {"k1": -12.5}
    assert ReferenceCache(tmp_path, "standard", "model-b").values == {}  # another model


def test_a_tiers_first_plan_takes_the_rows_another_tier_measured_on_the_same_model(tmp_path):
    standard = ReferenceCache(tmp_path, "standard", "base")
    standard.store(["seed-1", "seed-2"], [-10.0, -20.0])
    standard.save()
    other = ReferenceCache(tmp_path, "other", "adapter-x")  # another model: not taken
    other.store(["seed-1"], [-99.0])
    other.save()
    lite = ReferenceCache(tmp_path, "lite", "base")
    assert lite.lookup(["seed-1", "seed-2", "lite-only"]) == [-10.0, -20.0, None]
    lite.store(["lite-only"], [-5.0])
    lite.save()
    # Its own file now holds what it used; the other tier's file is untouched.
    assert json.loads(lite.path.read_text())["values"] == {"seed-1": -10.0, "seed-2": -20.0, "lite-only": -5.0}
    assert json.loads(standard.path.read_text())["values"] == {"seed-1": -10.0, "seed-2": -20.0}
    # Its own values win over another tier's for the same key.
    standard.store(["lite-only"], [-6.0])
    standard.save()
    assert ReferenceCache(tmp_path, "lite", "base").lookup(["lite-only"]) == [-5.0]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"model": "model-a", "values": [1]}',
                                     '{"model": "model-a", "values": {"k": "x", "j": NaN}}'])
def test_a_damaged_file_is_read_as_empty_and_replaced(tmp_path, content):
    path = tmp_path / ".eval" / "standard-reference.json"
    path.parent.mkdir()
    path.write_text(content)
    cache = ReferenceCache(tmp_path, "standard", "model-a")
    assert cache.values == {}
    cache.store(["k"], [-1.0])
    cache.save()
    assert json.loads(path.read_text()) == {"model": "model-a", "values": {"k": -1.0}}


def test_a_bad_tier_name_is_refused(tmp_path):
    with pytest.raises(UnsafePathError, match="tier"):
        ReferenceCache(tmp_path, "../x", "model-a")


# --- the shipped model ----------------------------------------------------------------


def _references(plan: preference.Plan) -> list[float]:
    """Every group's reference values in plan order (the array after a group's pack)."""
    return [v for name in plan.train.objective for group in plan.train.groups[name]
            for v in group[5].tolist()]


@pytest.mark.model
def test_a_second_plan_on_the_same_rows_computes_no_reference(shipped_model, tmp_path):
    from kasper.agents.runtime import model_store

    data = write_preference_data(tmp_path / "data", train=6, held_out=1)
    model, tokenizer = model_store.load(shipped_model)
    kwargs = dict(batch_size=2, max_len=128, sft=([], []))
    uncached = preference.plan(model, tokenizer, data, "dpo+kto", **kwargs)
    first = ReferenceCache(tmp_path / "adapters", "standard", "shipped")
    cold = preference.plan(model, tokenizer, data, "dpo+kto", refs=first, **kwargs)
    # A liked thumb is also a pair's chosen row: the plan computes it once.
    assert first.misses > 0 and first.hits > 0
    assert _references(cold) == pytest.approx(_references(uncached), rel=1e-5)

    second = ReferenceCache(tmp_path / "adapters", "standard", "shipped")
    warm = preference.plan(model, tokenizer, data, "dpo+kto", refs=second, **kwargs)
    assert second.misses == 0 and second.hits == first.hits + first.misses
    assert _references(warm) == pytest.approx(_references(uncached), rel=1e-5)
    # At step 0 the policy is still its reference: KTO's loss is 1 - sigmoid(0) per example.
    group = warm.train.groups["kto"][0]
    kto_value, _ = preference.kto_loss(model, *group, beta=0.1)
    assert kto_value.item() == pytest.approx(0.5 * float(group[-1].mean().item()), abs=1e-4)


@pytest.mark.model
def test_only_rows_new_to_a_plan_are_computed_and_they_match_a_fresh_pass(shipped_model, tmp_path):
    from kasper.agents.runtime import model_store

    model, tokenizer = model_store.load(shipped_model)
    kwargs = dict(batch_size=2, max_len=128, sft=([], []))
    small = write_preference_data(tmp_path / "small", train=4, held_out=0)
    refs = ReferenceCache(tmp_path / "adapters", "standard", "shipped")
    preference.plan(model, tokenizer, small, "kto", refs=refs, **kwargs)
    known = set(refs.values)

    # Six thumbs: the first four are the small window's (same seed), two are new. The KTO
    # rotation pairs answers within each length-sorted batch, so some KL rows are new too.
    larger = write_preference_data(tmp_path / "larger", train=6, held_out=0)
    refs = ReferenceCache(tmp_path / "adapters", "standard", "shipped")
    warm = preference.plan(model, tokenizer, larger, "kto", refs=refs, **kwargs)
    new = set(refs.values) - known
    assert refs.hits >= 4 and refs.misses == len(new) >= 2
    fresh = preference.plan(model, tokenizer, larger, "kto", **kwargs)
    assert all(math.isfinite(v) for v in _references(warm))
    assert _references(warm) == pytest.approx(_references(fresh), rel=1e-5)
