"""Thumbs carried from a window whose candidate was not promoted into the next window.

The store's rules without a model; then the real trainer on the shipped model: a
rejected window's thumbs are trained on by the next window, a promotion empties the
store.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kasper.trainer import carry, preference
from kasper.trainer.config import PromotionPolicy, TierTraining, TrainerConfig, WindowPolicy, with_tier
from kasper.trainer.dataset import Source, build_window
from kasper.trainer.files import write_window
from kasper.trainer.synthetic_records import synthetic_approved
from kasper.trainer.windows import UnsafePathError


def thumbs_dir(directory: Path, rows: list[dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / preference.THUMBS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return directory


def row(insight_id: str, label: bool = True, split: str = "train", text: str = "Text.") -> dict:
    return {"prompt": [{"role": "user", "content": f"prompt {insight_id}"}],
            "completion": [{"role": "assistant", "content": text}], "label": label,
            "insight_id": insight_id, "split": split}


def test_a_rejected_window_leaves_its_training_thumbs_and_a_promotion_empties_the_store(tmp_path):
    adapters = tmp_path / "adapters"
    first = thumbs_dir(tmp_path / "w1", [row("a"), row("b", False), row("c", split="valid"),
                                          row("d", split="test"), {**row("x"), "insight_id": None}])
    assert carry.after_decision(adapters, "standard", first, promoted=False, cap=10) == 2
    assert [r["insight_id"] for r in carry.carried(adapters, "standard")] == ["a", "b"]  # held out stays out
    # The next window has b again (its net thumbs changed): its row wins and is the newest.
    second = thumbs_dir(tmp_path / "w2", [row("b", True, text="Newer."), row("e")])
    assert carry.after_decision(adapters, "standard", second, promoted=False, cap=10) == 3
    kept = carry.carried(adapters, "standard")
    assert [(r["insight_id"], r["label"]) for r in kept] == [("a", True), ("b", True), ("e", True)]
    assert kept[1]["completion"][0]["content"] == "Newer."
    assert carry.carried(adapters, "lite") == []  # per tier
    # The cap drops the oldest.
    third = thumbs_dir(tmp_path / "w3", [row("f"), row("g", False)])
    assert carry.after_decision(adapters, "standard", third, promoted=False, cap=3) == 3
    assert [r["insight_id"] for r in carry.carried(adapters, "standard")] == ["e", "f", "g"]
    assert carry.after_decision(adapters, "standard", third, promoted=True, cap=3) == 0
    assert carry.carried(adapters, "standard") == [] and not carry.carry_path(adapters, "standard").exists()
    assert carry.after_decision(adapters, "standard", third, promoted=False, cap=0) == 0  # 0: carry nothing


def test_a_damaged_store_line_is_skipped_and_a_bad_tier_name_refused(tmp_path):
    adapters = tmp_path / "adapters"
    path = carry.carry_path(adapters, "pro")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(row("a")) + "\n{not json\n" + json.dumps({"label": True}) + "\n[1]\n"
                    + json.dumps(row("b")) + "\n")
    assert [r["insight_id"] for r in carry.carried(adapters, "pro")] == ["a", "b"]
    thumbs_dir(tmp_path / "w", [row("c")])
    assert carry.after_decision(adapters, "pro", tmp_path / "w", promoted=False, cap=10) == 3
    assert "{not json" not in path.read_text()  # the rewrite dropped it
    with pytest.raises(UnsafePathError, match="tier '../etc' is not a plain name"):
        carry.carry_path(adapters, "../etc")


def test_the_window_s_row_wins_over_a_carried_one_for_the_same_insight():
    merged = preference.with_carried([row("b", False), row("c")], [row("a"), row("b", True)])
    assert [(r["insight_id"], r["label"]) for r in merged] == [("a", True), ("b", False), ("c", True)]


@pytest.mark.parametrize("objective, wanted", [("auto", True), ("kto", True), ("sft+kto", True),
                                               ("dpo+kto", True), ("sft", False), ("dpo", False),
                                               ("sft+dpo", False)])
def test_only_a_tier_that_can_train_on_thumbs_carries_them(objective, wanted):
    assert carry.wanted(objective) is wanted


# --- the shipped model -------------------------------------------------------------------


@pytest.mark.model
def test_a_window_too_small_to_train_leaves_its_thumb_for_the_next(shipped_model, tmp_path):
    from kasper.trainer.errors import EmptyWindowError
    from kasper.trainer.pipeline import train_window

    config = TrainerConfig(windows_dir=tmp_path / "windows", adapters_dir=tmp_path / "adapters")
    config = with_tier(config, "standard", objective="kto")
    lone = thumbs_dir(tmp_path / "lone", [row("a", False), row("b", split="test")])
    with pytest.raises(EmptyWindowError, match="kto has 1 training examples"):
        train_window(lone, config, shipped_model, tier="standard")
    assert [r["insight_id"] for r in carry.carried(config.adapters_dir, "standard")] == ["a"]


TINY = TierTraining(rank=4, num_layers=2, iters=4, batch_size=2, max_seq_length=352, learning_rate=1e-3,
                    steps_per_report=2, save_every=100, val_batches=1, objective="auto", max_epochs=0)


def thumbed_window(directory: Path, count: int, seed: int) -> Path:
    """A window of ``count`` approved records, each with a thumbs up or down."""
    records = synthetic_approved(count, seed=seed, tier="standard", score=0.9)
    # Offsets of their own: a window's id hashes where its records came from.
    sources = [Source("kasper.approved", 0, seed * 100 + i, "approved", r) for i, r in enumerate(records)]
    sources += [Source("kasper.feedback", 0, seed * 100 + i, "feedback",
                       {"feedback_id": f"f{seed}-{i}", "insight_id": r["insight_id"], "user_hash": f"u{i}",
                        "rating": "up" if i % 3 else "down", "stars": None, "comment": None,
                        "created_at": r["approved_at"]}) for i, r in enumerate(records)]
    return write_window(build_window("standard", sources, WindowPolicy()), directory)


def tiny_configs(tmp_path: Path, **tier: object) -> tuple[TrainerConfig, TrainerConfig]:
    """The standard tier at TINY settings (plus ``tier``), and the same never promoting."""
    config = TrainerConfig(windows_dir=tmp_path / "windows", adapters_dir=tmp_path / "adapters")
    config = with_tier(config, "standard", **(dataclasses.asdict(TINY) | tier))
    return config, dataclasses.replace(config, promotion=PromotionPolicy(min_improvement=0.99, probe_count=0,
                                                                         golden_count=2))


def train_thumbs(window: Path) -> set[str]:
    return {r["insight_id"] for r in preference.read_rows(window, preference.THUMBS_FILE, ("train",))}


@pytest.mark.model
def test_the_next_window_trains_on_what_a_rejected_one_carried(shipped_model, tmp_path):
    from kasper.trainer.pipeline import train_window

    config, never = tiny_configs(tmp_path)
    first = thumbed_window(tmp_path / "w1", 10, seed=31)
    entry = train_window(first, never, shipped_model)
    assert not entry["promoted"] and entry["objective"] == "kto"
    carried = {r["insight_id"] for r in carry.carried(config.adapters_dir, "standard")}
    assert carried == train_thumbs(first) and len(carried) >= 4

    second = thumbed_window(tmp_path / "w2", 4, seed=32)
    assert train_thumbs(second).isdisjoint(carried)
    entry = train_window(second, never, shipped_model)
    # Trained on its own thumbs and the first window's; both now wait for the next window.
    assert entry["metrics"]["train_examples"] == len(carried) + len(train_thumbs(second))
    # The carried thumbs' reference log-probs were kept from the first window's plan
    # (the same model, nothing promoted); only rows new to this plan were computed.
    assert entry["metrics"]["reference_rows_cached"] >= 2, entry["metrics"]
    assert entry["metrics"]["reference_rows_computed"] >= len(train_thumbs(second))
    assert {r["insight_id"] for r in carry.carried(config.adapters_dir, "standard")} == carried | train_thumbs(second)

    anyone = dataclasses.replace(config, promotion=PromotionPolicy(min_improvement=-100.0, min_eval_examples=1,
                                                                   probe_count=0, golden_count=2))
    entry = train_window(thumbed_window(tmp_path / "w3", 4, seed=33), anyone, shipped_model)
    assert entry["promoted"], entry["reason"]
    assert carry.carried(config.adapters_dir, "standard") == []  # the promoted adapter learned them


@pytest.mark.model
def test_a_tier_set_to_sft_keeps_no_carry_store(shipped_model, tmp_path):
    from kasper.trainer.pipeline import train_window

    config, never = tiny_configs(tmp_path, objective="sft")
    # A store left from when the tier trained on thumbs is emptied, not trained on.
    carry.after_decision(config.adapters_dir, "standard", thumbed_window(tmp_path / "w0", 6, seed=40), False, 500)
    assert carry.carried(config.adapters_dir, "standard")
    entry = train_window(thumbed_window(tmp_path / "w1", 8, seed=41), never, shipped_model)
    assert not entry["promoted"] and entry["objective"] == "sft"
    assert not carry.carry_path(config.adapters_dir, "standard").exists()


@pytest.mark.model
def test_a_window_redelivered_after_a_crash_before_the_stores_updated_fills_them(shipped_model, tmp_path):
    """The crash: the version is recorded, then the process dies before the evaluation store
    and the carry store take the window (both files removed here to stand for it)."""
    from kasper.trainer.eval_set import store_path
    from kasper.trainer.pipeline import train_window

    config, never = tiny_configs(tmp_path)
    first = thumbed_window(tmp_path / "w1", 10, seed=51)
    entry = train_window(first, never, shipped_model)
    kept = {r["insight_id"] for r in carry.carried(config.adapters_dir, "standard")}
    held_out = store_path(config.adapters_dir, "standard").read_text()
    assert kept == train_thumbs(first) and held_out
    carry.carry_path(config.adapters_dir, "standard").unlink()
    store_path(config.adapters_dir, "standard").unlink()
    again = train_window(first, never, shipped_model)
    assert again["version"] == entry["version"]  # not trained again
    assert {r["insight_id"] for r in carry.carried(config.adapters_dir, "standard")} == kept
    assert store_path(config.adapters_dir, "standard").read_text() == held_out
    # Once a later window is decided, a redelivery of the first changes nothing.
    second = thumbed_window(tmp_path / "w2", 4, seed=52)
    train_window(second, never, shipped_model)
    carry.carry_path(config.adapters_dir, "standard").unlink()
    assert train_window(first, never, shipped_model)["version"] == entry["version"]
    assert carry.carried(config.adapters_dir, "standard") == []
