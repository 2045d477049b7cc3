"""LoRA fine-tuning through mlx-lm's tuner API, in process: resumable, with divergence detection.

:func:`train_adapter` does what ``mlx_lm.lora --train`` does (same dataset
classes, batching and loss, ``linear_to_lora_layers``, Adam,
``mlx_lm.tuner.trainer.train`` with its compiled step); on top of it:

- the fast-CPU setup (OpenBLAS, float32 weights) through ``model_store.load``;
- the blocks below the LoRA layers run once per batch, not at every step: their
  hidden states are kept with the batch (:mod:`kasper.trainer.packed`);
- examples whose prompt alone fills ``max_seq_length`` are dropped: with the
  prompt masked they have no loss tokens, and a batch of them makes 0/0 = NaN;
- checkpoints (adapter weights, Adam state, step) every ``save_every`` steps in
  ``work_dir/checkpoint/``, written atomically; a run started again on the same
  data and settings resumes from the last one, with the same batch order
  (each epoch's shuffle is seeded by ``seed + epoch``);
- a NaN or infinite training/validation loss raises
  :class:`TrainingDivergedError` at the next report (every ``steps_per_report``);
- ``should_stop()`` is checked before every step (and between the reference
  batches of DPO/KTO, before the first): once true, the steps done are saved as a
  checkpoint and :class:`TrainingInterrupted` is raised, so a stopping worker
  waits one step at most, not for the next report;
- ``pause()`` runs once before the objective's plan (DPO/KTO reference passes)
  and before every step, ahead of ``should_stop()``; the training loop waits there
  while its worker serves (excluded from mlx-lm's tokens/s, not from the wall time);
- BLAS threads: the reference passes and the steps are large matmuls, which a second
  OpenBLAS thread speeds up while no other process is busy; a
  :class:`~kasper.agents.runtime.cores.CoreWatch`, as the engine's decode steps use,
  sets the count before each batch and puts it back when training ends;
- progress: mlx-lm's terminal lines, Prometheus gauges, an optional callback;
- the objective (``params.objective``): SFT alone is exactly the path above;
  DPO, KTO or a mix with SFT (:mod:`kasper.trainer.preference`) use the same
  ``train`` with their loss and batches, so everything above holds for them too.

Error policy: ``TrainingDivergedError`` for a diverged run, ``EmptyWindowError``
(from the preference plan) when the objective has no example left; model loading
raises ``ModelError``. Nothing here
touches the serving adapter: the result is a directory in ``work_dir``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kasper.agents.runtime.blas import mx  # first: OpenBLAS must load before mlx.core
from kasper.agents.runtime import model_store
from kasper.agents.runtime.cores import MACHINE, CoreWatch
from kasper.agents.runtime.priority import GATE
from kasper.streams.logs import get_logger

import mlx.optimizers as optim  # noqa: E402  (after runtime.blas on purpose)
from mlx.utils import tree_flatten, tree_map_with_path  # noqa: E402
from mlx_lm.tuner.callbacks import TrainingCallback  # noqa: E402
from mlx_lm.tuner.datasets import load_local_dataset  # noqa: E402
from mlx_lm.tuner.trainer import TrainingArgs, iterate_batches, train  # noqa: E402
from mlx_lm.tuner.utils import linear_to_lora_layers  # noqa: E402

from . import groups, metrics, packed, preference  # noqa: E402
from .anchor import anchor_texts  # noqa: E402
from .reference_cache import ReferenceCache  # noqa: E402
from .config import TierTraining  # noqa: E402
from .errors import TrainingDivergedError, TrainingInterrupted  # noqa: E402
from .adapters import ADAPTER_CONFIG, ADAPTER_FILE  # noqa: E402

log = get_logger(__name__)
Progress = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class TrainResult:
    """What a run did; ``adapter_dir`` holds ``adapters.safetensors`` + ``adapter_config.json``."""

    adapter_dir: Path
    iterations: int
    resumed_from: int
    first_loss: float | None
    last_loss: float | None
    val_loss: float | None
    tokens: int
    tokens_per_second: float  # mlx-lm's measure (step time only), token-weighted over reports
    wall_seconds: float  # the whole train() call: step time plus validation and checkpoints
    examples: int
    dropped: int
    objective: str = "sft"  # what was trained on: sft, dpo, kto or a "+" combination
    heldout: dict[str, float] = field(default_factory=dict)  # held-out pair margins (preference.py)
    plan_seconds: float = 0.0  # the plan: the objective's batches and their reference passes


def train_adapter(model_dir: Path, data_dir: Path, work_dir: Path, params: TierTraining, *,
                  init_adapter: Path | None = None, tier: str = "-",
                  carried: Sequence[dict[str, Any]] = (),
                  references: ReferenceCache | None = None,
                  progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  pause: Callable[[], object] | None = None) -> TrainResult:
    """Train a LoRA adapter on ``data_dir/{train,valid}.jsonl``; resume from ``work_dir`` if possible.

    ``carried``: thumbs rows of earlier windows (:mod:`kasper.trainer.carry`), trained on
    beside the window's own thumbs when the objective includes KTO. ``references``: the
    reference values earlier plans computed for the model training starts from
    (:mod:`kasper.trainer.reference_cache`).

    ``pause()`` is called before the plan and before each step and may block (the training
    loop waits there while its worker serves); ``should_stop()`` is asked after it.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    model, tokenizer = model_store.load(model_dir)
    train_set, valid_set, dropped = _datasets(data_dir, tokenizer, params)
    optimizer = _with_lora(model, params, init_adapter)
    with CoreWatch.during(peers=lambda: GATE.active, history=MACHINE) as cores:
        if pause is not None:  # a DPO/KTO plan runs the reference model over the whole window
            pause()
        # References are the model as it starts (before any step or checkpoint is loaded).
        planning = time.perf_counter()
        plan = preference.plan(model, tokenizer, data_dir, params.objective, batch_size=params.batch_size,
                               max_len=params.max_seq_length, sft=(train_set, valid_set),
                               kto_weights_set=(params.desirable_weight, params.undesirable_weight),
                               carried=carried,
                               anchor=anchor_texts(tokenizer, train_set) if params.anchor_weight else (),
                               anchor_weight=params.anchor_weight, should_stop=_ticking(cores, should_stop),
                               refs=references, steps=lambda per_epoch: params.capped(per_epoch).iters,
                               seed=params.seed)
        plan_seconds = time.perf_counter() - planning
        if plan.objective == ("sft",):
            batch = min(params.batch_size, len(train_set))
            train_data, valid_data = train_set, (valid_set if len(valid_set) >= batch else None)
            loss, examples = packed.sft_loss, len(train_set)
            batches = _sft_batches(model)
            per_epoch = _epoch_steps(len(train_set), batch)
        else:
            batch, train_data, valid_data = plan.train.batch_size, plan.train, plan.valid
            loss, batches = preference.mixed_loss(plan.train.objective, params.beta), groups.batches
            examples, dropped = sum(plan.train.counts.values()), dropped + plan.dropped
            per_epoch = groups.epoch_steps(plan.train.groups, plan.objective)
        params = params.capped(per_epoch)
        fingerprint = _fingerprint(data_dir, params, init_adapter, carried)
        start = _resume(work_dir, model, optimizer, fingerprint)
        if start >= params.iters:
            start = 0  # a finished checkpoint is never kept; start over rather than train 0 steps
        callback = _Callback(tier, start, params, model, optimizer, work_dir, fingerprint, progress,
                             should_stop, pause, cores)
        args = TrainingArgs(
            batch_size=batch, iters=params.iters - start, val_batches=params.val_batches,
            steps_per_report=params.steps_per_report, steps_per_eval=params.steps_per_eval,
            steps_per_save=params.iters + 1, adapter_file=str(work_dir / ADAPTER_FILE),
            max_seq_length=params.max_seq_length)  # checkpoints are ours (with optimizer state)
        objective = preference.objective_name(plan.objective)
        log.info("training", tier=tier, objective=objective, examples=examples, dropped=dropped,
                 iters=params.iters, resumed_from=start, batch_size=batch)
        started = time.perf_counter()
        train(model=model, optimizer=optimizer, train_dataset=train_data, val_dataset=valid_data or None,
              args=args, loss=loss, iterate_batches=_stoppable(batches(start, params.seed), callback),
              training_callback=callback)
        wall = time.perf_counter() - started
        heldout = preference.heldout_margins(model, plan.heldout_pairs)
        _write_json(work_dir / ADAPTER_CONFIG, adapter_config(model_dir, data_dir, params, objective))
        _clear_checkpoint(work_dir)
        c = callback
        return TrainResult(work_dir, params.iters, start, c.first_loss, c.last_loss, c.val_loss,
                           c.tokens, c.tokens_per_second(), wall, examples, dropped, objective, heldout,
                           plan_seconds)


def _with_lora(model: Any, params: TierTraining, init_adapter: Path | None) -> Any:
    """Freeze the model, add LoRA layers (from ``init_adapter`` if given); return the optimizer."""
    mx.random.seed(params.seed)
    model.freeze()
    linear_to_lora_layers(model, params.num_layers, params.lora_parameters())
    if init_adapter is not None:
        model.load_weights(str(Path(init_adapter) / ADAPTER_FILE), strict=False)
    return optim.Adam(learning_rate=params.learning_rate)


def adapter_config(model_dir: Path, data_dir: Path, params: TierTraining,
                   objective: str = "sft") -> dict[str, Any]:
    """What ``mlx_lm.load(..., adapter_path=)`` and ``mlx_lm.lora --resume`` read back."""
    return {
        "objective": objective, "beta": params.beta,
        "fine_tune_type": "lora", "model": str(model_dir), "data": str(data_dir),
        "num_layers": params.num_layers, "lora_parameters": params.lora_parameters(),
        "iters": params.iters, "batch_size": params.batch_size,
        "learning_rate": params.learning_rate, "max_seq_length": params.max_seq_length,
        "mask_prompt": params.mask_prompt, "seed": params.seed,
    }


def load_examples(data_dir: Path, tokenizer: Any, params: TierTraining, split: str) -> list:
    """Tokenized ``(tokens, prompt_length)`` examples of one split, as mlx-lm builds them."""
    config = types.SimpleNamespace(mask_prompt=params.mask_prompt)
    sets = dict(zip(("train", "valid", "test"), load_local_dataset(Path(data_dir), tokenizer, config)))
    data = sets[split]
    return [data.process(data[i]) for i in range(len(data))]


def _datasets(data_dir: Path, tokenizer: Any, params: TierTraining) -> tuple[list, list, int]:
    # An SFT set may be empty when the objective trains on preferences only: the plan decides.
    train_set, dropped = _fitting(load_examples(data_dir, tokenizer, params, "train"), params)
    valid_set, _ = _fitting(load_examples(data_dir, tokenizer, params, "valid"), params)
    return train_set, valid_set, dropped


def _fitting(examples: list, params: TierTraining) -> tuple[list, int]:
    # The last position predicts nothing: an example needs its first answer token
    # before max_seq_length, or its masked loss is empty.
    keep = [e for e in examples if e[1] < params.max_seq_length - 1]
    return keep, len(examples) - len(keep)


def _epoch_steps(examples: int, batch_size: int) -> int:
    """Steps in one pass over ``examples`` (mlx-lm's batching drops a last partial batch)."""
    return max(1, examples // batch_size)


def _resumable_batches(start: int, seed: int) -> Callable:
    """mlx-lm's batching with a per-epoch seed, skipping the ``start`` batches already trained."""
    def batches(dataset, batch_size, max_seq_length, loop=False, seed_=None, comm_group=None, **kw):
        if not loop:  # validation passes: mlx-lm's own behaviour
            yield from iterate_batches(dataset, batch_size, max_seq_length, comm_group=comm_group)
            return
        epoch, skip = divmod(start, _epoch_steps(len(dataset), batch_size))
        while True:
            for i, item in enumerate(iterate_batches(dataset, batch_size, max_seq_length,
                                                     seed=seed + epoch, comm_group=comm_group)):
                if i >= skip:
                    yield item
            epoch, skip = epoch + 1, 0
    return batches


def _sft_batches(model: Any) -> Callable:
    """``batches(start, seed)`` for an SFT run: mlx-lm's, each with its frozen blocks' states."""
    return lambda start, seed: packed.keeping_row_states(_resumable_batches(start, seed), model)


def _ticking(cores: CoreWatch, should_stop: Callable[[], bool] | None) -> Callable[[], bool]:
    """``should_stop`` for the reference passes, which also re-decide the BLAS threads."""
    def check() -> bool:
        cores.tick()
        return should_stop is not None and should_stop()
    return check


def _stoppable(batches: Callable, callback: "_Callback") -> Callable:
    """Training batches that end the run between two steps once ``should_stop()`` is true.

    mlx-lm asks for batch k (0-based) after k steps are done, so that is the step the
    checkpoint records; validation passes (``loop=False``) are left alone.
    """
    def iterate(dataset, batch_size, max_seq_length, loop=False, **kw):
        source = batches(dataset, batch_size, max_seq_length, loop=loop, **kw)
        if not loop:
            yield from source
            return
        for done, item in enumerate(source):
            if callback.pause is not None:
                callback.pause()
            if done and callback.should_stop is not None and callback.should_stop():
                callback.stop(callback.start + done)
            callback.cores.tick()
            yield item
    return iterate


class _Callback(TrainingCallback):
    """Checks every reported loss, checkpoints, and turns reports into metrics."""

    def __init__(self, tier: str, start: int, params: TierTraining, model: Any, optimizer: Any,
                 work_dir: Path, fingerprint: str, progress: Progress | None,
                 should_stop: Callable[[], bool] | None, pause: Callable[[], object] | None,
                 cores: CoreWatch) -> None:
        self.tier, self.start, self.params = tier, start, params
        self.model, self.optimizer, self.work_dir = model, optimizer, work_dir
        self.fingerprint, self.progress, self.should_stop = fingerprint, progress, should_stop
        self.pause, self.cores = pause, cores
        self.first_loss = self.last_loss = self.val_loss = None
        self.tokens, self.step_seconds = 0, 0.0

    def on_train_loss_report(self, info: dict[str, Any]) -> None:
        step = self.start + info["iteration"]
        loss = info["train_loss"]
        if not math.isfinite(loss):
            metrics.DIVERGED.labels(self.tier).inc()
            raise TrainingDivergedError(f"training loss is {loss} at step {step}", iteration=step)
        new_tokens = info["trained_tokens"] - self.tokens
        self.tokens = info["trained_tokens"]
        self.step_seconds += new_tokens / info["tokens_per_second"] if info["tokens_per_second"] else 0.0
        self.first_loss = loss if self.first_loss is None else self.first_loss
        self.last_loss = loss
        metrics.report_training(self.tier, step, loss, info["tokens_per_second"])
        log.info("train step", tier=self.tier, step=step, loss=round(loss, 4),
                 tokens_per_second=round(info["tokens_per_second"], 1))
        if self.progress is not None:
            self.progress(step, dict(info, iteration=step))
        # A stop is taken before the next step's batch (_stoppable), not here.
        if step % self.params.save_every == 0 and step < self.params.iters:
            _save_checkpoint(self.work_dir, self.model, self.optimizer, step, self.fingerprint)

    def stop(self, step: int) -> None:
        """Checkpoint the ``step`` steps done and end the run (the next start resumes there)."""
        if self.start < step < self.params.iters:
            _save_checkpoint(self.work_dir, self.model, self.optimizer, step, self.fingerprint)
        raise TrainingInterrupted(f"stopped at step {step}; the checkpoint resumes it")

    def on_val_loss_report(self, info: dict[str, Any]) -> None:
        loss = info["val_loss"]
        step = self.start + info["iteration"]
        if not math.isfinite(loss):
            metrics.DIVERGED.labels(self.tier).inc()
            raise TrainingDivergedError(f"validation loss is {loss} at step {step}", iteration=step)
        self.val_loss = loss
        metrics.VAL_LOSS.labels(self.tier).set(loss)

    def tokens_per_second(self) -> float:
        return self.tokens / self.step_seconds if self.step_seconds else 0.0


# --- checkpoints -----------------------------------------------------------------------


def _fingerprint(data_dir: Path, params: TierTraining, init_adapter: Path | None,
                 carried: Sequence[dict[str, Any]] = ()) -> str:
    """What a checkpoint must match to be resumed: the data (carried rows included), the
    settings, the starting adapter."""
    h = hashlib.sha256(json.dumps(asdict(params), sort_keys=True).encode())
    for name in ("train.jsonl", "valid.jsonl", preference.PAIRS_FILE, preference.THUMBS_FILE):
        path = Path(data_dir) / name
        h.update(hashlib.sha256(path.read_bytes()).digest() if path.exists() else b"-")
    if init_adapter is not None:
        h.update(hashlib.sha256((Path(init_adapter) / ADAPTER_FILE).read_bytes()).digest())
    if carried:
        h.update(json.dumps(list(carried), sort_keys=True).encode())
    return h.hexdigest()


def _save_checkpoint(work_dir: Path, model: Any, optimizer: Any, step: int, fingerprint: str) -> None:
    tmp, final = work_dir / "checkpoint.tmp", work_dir / "checkpoint"
    tmp.mkdir(exist_ok=True)
    mx.save_safetensors(str(tmp / ADAPTER_FILE), dict(tree_flatten(model.trainable_parameters())))
    mx.save_safetensors(str(tmp / "optimizer.safetensors"), dict(tree_flatten(optimizer.state)))
    _write_json(tmp / "state.json", {"step": step, "fingerprint": fingerprint})
    if final.exists():
        os.replace(final / "state.json", tmp / "state.old")  # the old one stops being valid first
        _rmtree(final)
    os.rename(tmp, final)
    log.info("checkpoint", step=step, path=str(final))


def _resume(work_dir: Path, model: Any, optimizer: Any, fingerprint: str) -> int:
    """Load the checkpoint in ``work_dir`` if it matches; the step it was taken at, else 0."""
    final = work_dir / "checkpoint"
    try:
        state = json.loads((final / "state.json").read_text())
    except (OSError, ValueError):
        return 0
    if state.get("fingerprint") != fingerprint:
        log.info("checkpoint ignored: other data or settings", path=str(final))
        return 0
    model.load_weights(str(final / ADAPTER_FILE), strict=False)
    saved = mx.load(str(final / "optimizer.safetensors"))
    optimizer.init(model.trainable_parameters())
    optimizer.state = tree_map_with_path(lambda path, x: saved.get(path, x), optimizer.state)
    log.info("resuming", step=state["step"], path=str(final))
    return int(state["step"])


def _clear_checkpoint(work_dir: Path) -> None:
    for name in ("checkpoint", "checkpoint.tmp"):
        _rmtree(work_dir / name)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
