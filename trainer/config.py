"""Trainer configuration: frozen dataclasses with per-tier training settings.

The operator knobs (``KASPER_TRAINER_*``) and their defaults are the ``trainer``
section of :mod:`kasper.streams.settings`; the policies below take their defaults
from there. :meth:`TrainerConfig.from_settings` builds the config the trainer runs
with: paths under ``ModelSettings.cache_dir``, the knobs, and the per-tier training
shapes that live here (they are not settings); tests and benchmarks use
``dataclasses.replace`` for everything else.

Training defaults are sized for CPU (2 cores, float32 + OpenBLAS, ~150 training
tok/s for SmolLM2-135M): a 200-record window trains in minutes, not hours.
On Apple silicon raise ``iters`` and ``num_layers``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from kasper.streams.settings import (DEFAULT_TEMPLATE, GenerateSettings, JudgeSettings, Settings, TrainerSettings,
                                    get_settings)

TIERS = ("lite", "standard", "pro")


def _knob(name: str) -> Any:
    """The default of a ``KASPER_TRAINER_*`` knob, kept once, in ``TrainerSettings``."""
    return TrainerSettings.model_fields[name].default


@dataclass(frozen=True)
class TierTraining:
    """One tier's LoRA run: what ``mlx_lm.lora`` calls its config."""

    rank: int = 8
    num_layers: int = 8  # the last N transformer blocks get LoRA layers
    learning_rate: float = 1e-4
    iters: int = 60
    # ... or fewer: at most this many passes over the window's examples (0: no cap).
    max_epochs: float = _knob("max_epochs")
    batch_size: int = 4
    max_seq_length: int = 512
    mask_prompt: bool = True  # loss on the insight only, not on the system/user prompt
    scale: float = 20.0
    dropout: float = 0.0
    steps_per_report: int = 5  # also how often a NaN loss can be noticed
    steps_per_eval: int = 1_000_000  # validation at the first and last step only
    val_batches: int = 4
    save_every: int = 20  # checkpoint (adapter + optimizer state) every N steps
    seed: int = 0
    # What the run trains on (kasper.trainer.preference): sft, dpo, kto, a "+" mix, or auto.
    objective: str = _knob("objective")
    beta: float = 0.1  # DPO/KTO: how far from the reference the policy may move (TRL's default)
    # DPO/KTO: weight of the anchor that holds the reference's loss on known-good texts (0: off).
    anchor_weight: float = _knob("anchor_weight")
    # KTO per-side weights; None: the rarer of liked/disliked is weighted up to balance them.
    desirable_weight: float | None = None
    undesirable_weight: float | None = None

    def capped(self, steps_per_epoch: int) -> TierTraining:
        """These settings with ``iters`` cut to ``max_epochs`` passes of ``steps_per_epoch``."""
        if not self.max_epochs:
            return self
        cap = max(1, math.ceil(self.max_epochs * max(1, steps_per_epoch)))
        return dataclasses.replace(self, iters=min(self.iters, cap))

    def lora_parameters(self) -> dict[str, float]:
        return {"rank": self.rank, "scale": self.scale, "dropout": self.dropout}

    def lora_shape(self) -> dict[str, Any]:
        """What must match for one adapter's weights to load into another's layers."""
        return {"num_layers": self.num_layers, "rank": self.rank}


_TIER_DEFAULTS = MappingProxyType({
    "lite": TierTraining(rank=4, num_layers=4, iters=40),
    "standard": TierTraining(),
    "pro": TierTraining(rank=16, num_layers=16, iters=100, learning_rate=5e-5),
})


@dataclass(frozen=True)
class WindowPolicy:
    """When a window closes and what goes into its dataset."""

    approved_count: int = _knob("approved_count")  # N approved records close a window ...
    feedback_count: int = _knob("feedback_count")  # ... or M feedback points
    max_age_s: float = _knob("max_age_s")  # ... or this much time after its first record
    feedback_wait_s: float = _knob("feedback_wait_s")  # feedback before its insight waits this long, then DLQ
    min_score: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"lite": 0.7, "standard": 0.8, "pro": 0.9}))
    split: tuple[float, float] = (0.8, 0.9)  # train below 0.8, valid below 0.9, test above
    template_version: str = DEFAULT_TEMPLATE
    join_retention_s: float = 30 * 24 * 3600.0  # how long approved texts are kept for joins
    # Thumbs of windows whose candidate was not promoted, trained on again by the next
    # window of the tier (kasper.trainer.carry); at most this many (0: none carried).
    carry_cap: int = _knob("carry_cap")


@dataclass(frozen=True)
class PromotionPolicy:
    """When a new adapter replaces the serving one."""

    # Relative held-out loss improvement on the persistent evaluation set; the bootstrap
    # interval's lower bound must clear min(0, min_improvement) too (docs/trainer.md).
    min_improvement: float = _knob("min_improvement")
    min_eval_examples: int = _knob("min_eval_examples")  # paired examples a decision needs
    eval_store_cap: int = _knob("eval_store_cap")  # held-out lines of past windows kept per tier
    golden_count: int | None = _knob("golden_count")  # golden examples per evaluation (None: all)
    probe_tolerance: float = 0.02  # how far the share of probe answers the rubric passes may drop
    # Golden prompts answered as the generate stage serves them (0 turns probes off); a
    # candidate trained on thumbs is decided on their predicted thumbs-up rate.
    probe_count: int = _knob("probe_count")
    # Answers per golden prompt (seeds of their own), averaged: less sampling noise per pair.
    probe_samples: int = _knob("probe_samples")
    # A second look's answers per golden prompt, when the first look leaves the decision open.
    probe_extra_samples: int = _knob("probe_extra_samples")
    probe_max_tokens: int | None = None  # None: the tier's served limit
    # A candidate decided on the users' thumbs may not raise the persistent-set loss
    # significantly by more than this (relative): the interval's upper end must clear it.
    loss_tolerance: float = _knob("loss_tolerance")
    # A promoted version first serves this share of its tier beside the incumbent (0: all of it).
    canary_share: float = _knob("canary_share")
    confidence: float = 0.95  # the bootstrap interval's level
    resamples: int = 2000  # bootstrap resamples
    seed: int = 0  # the bootstrap's seed: the same numbers give the same interval


@dataclass(frozen=True)
class TrainerConfig:
    """Everything the trainer role needs besides the Kafka and model settings."""

    windows_dir: Path
    adapters_dir: Path
    tiers: Mapping[str, TierTraining] = field(default_factory=lambda: _TIER_DEFAULTS)
    window: WindowPolicy = field(default_factory=WindowPolicy)
    promotion: PromotionPolicy = field(default_factory=PromotionPolicy)
    # How the generate stage serves: the promotion probes are written the same way.
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    # A real LLM judge (KASPER_JUDGE_BASE_URL set) also scores the golden answers of each
    # evaluation, as a metric beside the decision (trainer/judge_probe.py); None: not asked.
    judge: JudgeSettings | None = None
    windows_group: str = "kasper-trainer-windows"
    training_group: str = "kasper-trainer-train"
    tick_s: float = 1.0  # poll timeout: how often time-based closes and expiries are checked
    # Failpoint for crash tests: "files", "state" or "event" makes the window loop
    # exit the process right after that step. Never set in production.
    crash_after: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> "TrainerConfig":
        """The config for ``settings`` (None: the process's): paths under
        ``ModelSettings.cache_dir`` (``windows/``, ``adapters/``), the ``trainer`` knobs,
        then ``overrides``."""
        settings = settings if settings is not None else get_settings()
        root = Path(settings.model.cache_dir).expanduser()
        judge = settings.judge if settings.judge.base_url is not None else None
        base = cls(windows_dir=root / "windows", adapters_dir=root / "adapters", generate=settings.generate,
                   judge=judge)
        return dataclasses.replace(_with_operator_settings(base, settings.trainer), **overrides)

    def tier(self, tier: str) -> TierTraining:
        """The training settings of ``tier``; ``KeyError`` names the known tiers."""
        try:
            return self.tiers[tier]
        except KeyError:
            raise KeyError(f"no training settings for tier {tier!r}; known: {sorted(self.tiers)}") from None

    @property
    def state_path(self) -> Path:
        return self.windows_dir / "state.sqlite"


def _with_operator_settings(config: TrainerConfig, trainer: TrainerSettings) -> TrainerConfig:
    """``config`` with the ``KASPER_TRAINER_*`` knobs; the per-tier ones only where set."""
    window = dataclasses.replace(
        config.window, approved_count=trainer.approved_count, feedback_count=trainer.feedback_count,
        max_age_s=trainer.max_age_s, feedback_wait_s=trainer.feedback_wait_s, carry_cap=trainer.carry_cap)
    if trainer.min_score is not None:
        window = dataclasses.replace(window, min_score=MappingProxyType(
            {tier: trainer.min_score for tier in window.min_score}))
    promotion = dataclasses.replace(config.promotion, min_improvement=trainer.min_improvement,
                                    min_eval_examples=trainer.min_eval_examples,
                                    eval_store_cap=trainer.eval_store_cap,
                                    golden_count=trainer.golden_count,
                                    probe_count=trainer.probe_count, probe_samples=trainer.probe_samples,
                                    probe_extra_samples=trainer.probe_extra_samples,
                                    probe_tolerance=trainer.probe_tolerance,
                                    loss_tolerance=trainer.loss_tolerance,
                                    canary_share=trainer.canary_share)
    config = dataclasses.replace(config, window=window, promotion=promotion)
    per_tier = {name: value for name, value in (("iters", trainer.iters),
                                                ("steps_per_report", trainer.steps_per_report),
                                                ("objective", trainer.objective),
                                                ("max_epochs", trainer.max_epochs),
                                                ("anchor_weight", trainer.anchor_weight))
                if value is not None}
    for tier in TIERS if per_tier else ():
        config = with_tier(config, tier, **per_tier)
    return config


def with_tier(config: TrainerConfig, tier: str, **changes: Any) -> TrainerConfig:
    """``config`` with some training settings of one tier changed."""
    tiers = dict(config.tiers)
    tiers[tier] = dataclasses.replace(config.tier(tier), **changes)
    return dataclasses.replace(config, tiers=MappingProxyType(tiers))
