"""One window to one model version: verify, train, evaluate, decide, record.

:func:`train_window` is shared by the training loop (a TrainingWindow event)
and ``kasper train DATASET_DIR`` (window files, or any mlx-lm data directory).

Error policy:

- a corrupt window (sha256 mismatch, missing file) raises
  :class:`CorruptDatasetError` and an empty one :class:`EmptyWindowError`;
  nothing is recorded, the serving model is untouched;
- a diverged run (NaN/inf loss) is recorded as a non-promoted version without
  weights, with the step in the reason, and returned like any other outcome;
- the same window trained twice returns the recorded version (idempotent: a
  redelivered TrainingWindow event never trains again);
- an interrupted run resumes from its last checkpoint the next time.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import carry, metrics
from .config import TrainerConfig, TierTraining
from .errors import EmptyWindowError, TrainingDivergedError
from .eval_cache import IncumbentCache, model_key
from .eval_set import add_to_store, evaluation_set
from .evaluate import Comparison, Decision, ModelScores, compare, decide, evaluate_model, thumbs_level
from .files import verify_window
from .judge_probe import judge_metrics
from .probes import probe_prompts
from .lora import Progress, train_adapter
from .preference import has_training_data
from .reference_cache import ReferenceCache
from .adapters import ADAPTER_CONFIG, Registry
from kasper.streams.logs import get_logger

log = get_logger(__name__)


def train_window(window_dir: Path, config: TrainerConfig, model_dir: Path, *,
                 tier: str | None = None, manifest_sha256: str | None = None,
                 progress: Progress | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 pause: Callable[[], object] | None = None) -> dict[str, Any]:
    """Train, evaluate and record the version for ``window_dir``; returns its registry entry.

    ``pause()`` runs before training (see :func:`train_adapter`) and before the evaluation;
    it may block.
    """
    window_dir = Path(window_dir)
    window_id, tier = _identify(window_dir, tier, manifest_sha256)
    registry = Registry(config.adapters_dir)
    params = config.tier(tier)
    # A tier that never trains on thumbs keeps no carry store (cap 0 empties it).
    carry_cap = config.window.carry_cap if carry.wanted(params.objective) else 0
    done = registry.find_window(tier, window_id)
    if done is not None:
        log.info("window already trained", window_id=window_id, version=done["version"])
        if _decided_last(registry, tier, done):
            # Redelivered after a crash between the version's record and the stores'
            # updates, which would be lost: redo them (both are idempotent).
            _after_decision(config, tier, window_dir, window_id, done["promoted"], carry_cap)
        return done
    if not has_training_data(window_dir):
        metrics.RUNS.labels(tier, "empty").inc()
        raise EmptyWindowError(f"window {window_id} has no training examples "
                               "(no train.jsonl, preference.jsonl or thumbs.jsonl)")
    serving = registry.serving_entry(tier)
    base = {"base_model": str(model_dir), "window_id": window_id}
    work = registry.work_dir(tier, window_id)
    carried = carry.carried(config.adapters_dir, tier) if carry_cap else []
    init_adapter = _compatible(serving, params)
    # The model training starts from (a fresh LoRA layer adds exactly zero: its shape
    # changes no reference value; an adapter's own config is in its key).
    references = ReferenceCache(config.adapters_dir, tier, model_key(model_dir, init_adapter))
    try:
        result = train_adapter(model_dir, window_dir, work, params, tier=tier, progress=progress,
                               init_adapter=init_adapter, carried=carried, references=references,
                               should_stop=should_stop, pause=pause)
    except EmptyWindowError:  # files present, but nothing the objective can use
        metrics.RUNS.labels(tier, "empty").inc()
        shutil.rmtree(work, ignore_errors=True)
        # A lone thumb (KTO needs two) waits for the next window instead of being lost.
        carry.after_decision(config.adapters_dir, tier, window_dir, False, carry_cap)
        raise
    except TrainingDivergedError as exc:
        metrics.RUNS.labels(tier, "diverged").inc()
        shutil.rmtree(work, ignore_errors=True)
        reason = f"not promoted: training diverged ({exc}); the serving model is unchanged"
        return registry.add(tier, {**base, "metrics": {"diverged_at_step": float(exc.iteration)},
                                   "promoted": False, "reason": reason, "created_at": _now_ms()}, None)
    metrics.SECONDS.labels(tier, "train").set(result.wall_seconds)
    if pause is not None:
        pause()
    numbers, decision = _evaluate(window_dir, config, model_dir, tier, work, serving, result.objective)
    entry = registry.add(tier, {**base, "metrics": {**numbers, **_train_metrics(result, references)},
                                "promoted": decision.promoted, "reason": decision.reason,
                                "objective": result.objective, "created_at": _now_ms()}, work,
                         canary_share=config.promotion.canary_share)
    shutil.rmtree(work, ignore_errors=True)
    _after_decision(config, tier, window_dir, window_id, decision.promoted, carry_cap)
    metrics.RUNS.labels(tier, "promoted" if decision.promoted else "rejected").inc()
    metrics.report_serving(registry)
    log.info("model version", tier=tier, version=entry["version"], promoted=decision.promoted,
             reason=decision.reason)
    return entry


def _after_decision(config: TrainerConfig, tier: str, window_dir: Path, window_id: str, promoted: bool,
                    carry_cap: int) -> None:
    # Only after its decision do this window's held-out lines join the persistent set.
    add_to_store(config.adapters_dir, tier, window_dir, window_id, config.promotion.eval_store_cap)
    # Thumbs a rejected candidate trained on wait for the next window; a promotion learned them.
    carry.after_decision(config.adapters_dir, tier, window_dir, promoted, carry_cap)


def _decided_last(registry: Registry, tier: str, entry: dict[str, Any]) -> bool:
    """Whether ``entry`` is the tier's latest version and a decided one (not a diverged run):
    only then can the stores still lack its window (a later decision would have followed it)."""
    versions = registry.versions(tier)
    return (bool(versions) and versions[-1]["version"] == entry["version"]
            and "diverged_at_step" not in entry.get("metrics", {}))


def _evaluate(window_dir: Path, config: TrainerConfig, model_dir: Path, tier: str, work: Path,
              serving: dict[str, Any] | None, objective: str) -> tuple[dict[str, float], Decision]:
    """New adapter vs. the serving model on the persistent evaluation set: metrics and the decision."""
    started = time.perf_counter()
    params, policy = config.tier(tier), config.promotion
    examples = evaluation_set(config.adapters_dir, tier, window_dir, config.window.template_version,
                              config.promotion.golden_count)
    candidate_cache = IncumbentCache(config.adapters_dir, tier, model_key(model_dir, work), role="candidate")
    incumbent = _adapter_dir(serving)
    cache = IncumbentCache(config.adapters_dir, tier, model_key(model_dir, incumbent))
    label = f"serving {serving['version']}" if serving else "the base model"
    level = thumbs_level(policy, objective)
    others = [config.tier(t).num_layers for t in config.tiers if t != tier]

    def look(second: bool) -> tuple[ModelScores, ModelScores, Comparison, Decision]:
        new = evaluate_model(model_dir, work, examples, params, policy, tier, cache=candidate_cache,
                             generate=config.generate, second_look=second, other_layers=others)
        current = evaluate_model(model_dir, incumbent, examples, params, policy, tier, cache=cache,
                                 generate=config.generate, second_look=second, other_layers=others)
        comparison = compare(new, current, [e.source for e in examples], policy, level)
        return new, current, comparison, decide(comparison, policy, label, objective, second_look=second)

    new, current, comparison, decision = look(False)
    looks, cached = 1, cache.hits
    if decision.open and policy.probe_extra_samples:
        # Only the new answers are computed: the losses and first answers come from the caches.
        log.info("second look", tier=tier, first=decision.reason)
        new, current, comparison, decision = look(True)
        looks = 2
    seconds = time.perf_counter() - started
    metrics.SECONDS.labels(tier, "evaluate").set(seconds)
    for name, result in (("new", new), ("current", current)):
        metrics.EVAL_TEST_LOSS.labels(tier, name).set(result.loss)
        if result.rubric:
            metrics.EVAL_PROBE_SCORE.labels(tier, name).set(sum(result.rubric) / len(result.rubric))
    numbers = {**comparison.metrics(), "eval_seconds": round(seconds, 3),
               "eval_incumbent_cached": float(cached), "eval_looks": float(looks)}
    prompts = probe_prompts(policy.probe_count, tier) if policy.probe_count else []
    if config.judge is not None and prompts and new.answers:
        numbers |= judge_metrics(config.judge, new.texts, current.texts, prompts,
                                 new.answers // len(prompts), tier)
    if decision.promoted:
        candidate_cache.promote()
    return numbers, decision


def model_version_record(entry: dict[str, Any]) -> dict[str, Any]:
    """The ModelVersion record (Avro field names) of a registry entry; a canary's names its
    share and its incumbent (generators rebuild the split from this one event)."""
    canary = bool(entry.get("canary_share")) and bool(entry["promoted"])
    return {
        "tier": entry["tier"], "version": entry["version"], "base_model": entry["base_model"],
        "adapter_path": entry.get("adapter_path"), "adapter_sha256": entry.get("adapter_sha256"),
        "window_id": entry.get("window_id"),
        "metrics": {k: float(v) for k, v in entry.get("metrics", {}).items()},
        "promoted": bool(entry["promoted"]), "reason": entry["reason"],
        "created_at": int(entry["created_at"]), "objective": entry.get("objective"),
        "canary_share": float(entry["canary_share"]) if canary else None,
        "incumbent_version": entry.get("incumbent") if canary else None,
        "incumbent_adapter_path": entry.get("incumbent_adapter_path") if canary else None,
        "incumbent_adapter_sha256": entry.get("incumbent_adapter_sha256") if canary else None,
    }


def _identify(window_dir: Path, tier: str | None, manifest_sha256: str | None) -> tuple[str, str]:
    """(window id, tier): from a verified manifest, or derived for a plain mlx-lm data directory."""
    if (window_dir / "manifest.json").exists() or manifest_sha256 is not None:
        manifest = verify_window(window_dir, manifest_sha256)
        return manifest["window_id"], tier or manifest["tier"]
    h = hashlib.sha256()
    for name in ("train.jsonl", "valid.jsonl", "test.jsonl"):
        path = window_dir / name
        h.update(hashlib.sha256(path.read_bytes()).digest() if path.exists() else b"-")
    return f"offline-{h.hexdigest()[:16]}", tier or "standard"


def _compatible(serving: dict[str, Any] | None, params: TierTraining) -> Path | None:
    """The serving adapter to continue from, when its LoRA layers have the same shape."""
    path = _adapter_dir(serving)
    if path is None:
        return None
    config = json.loads((path / ADAPTER_CONFIG).read_text())
    shape = {"num_layers": config.get("num_layers"), "rank": config.get("lora_parameters", {}).get("rank")}
    return path if shape == params.lora_shape() else None


def _adapter_dir(entry: dict[str, Any] | None) -> Path | None:
    return Path(entry["adapter_path"]) if entry and entry.get("adapter_path") else None


def _train_metrics(result: Any, references: ReferenceCache) -> dict[str, float]:
    out = {"iterations": result.iterations, "resumed_from": result.resumed_from,
           "train_loss_first": result.first_loss, "train_loss_last": result.last_loss,
           "val_loss": result.val_loss, "trained_tokens": result.tokens,
           "tokens_per_second": result.tokens_per_second, "train_seconds": result.wall_seconds,
           "plan_seconds": result.plan_seconds, "train_examples": result.examples, **result.heldout}
    if references.hits or references.misses:  # rows whose reference value was taken or computed
        out |= {"reference_rows_cached": references.hits, "reference_rows_computed": references.misses}
    return {k: round(float(v), 6) for k, v in out.items() if v is not None and math.isfinite(float(v))}


def _now_ms() -> int:
    return int(time.time() * 1000)

