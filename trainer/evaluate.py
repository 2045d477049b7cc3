"""Paired evaluation on the persistent set and the promotion decision.

A candidate adapter and the incumbent (the tier's serving adapter, or the base
model when none serves yet) are measured on the same examples, one number per
example, so the two can be compared pair by pair:

- **held-out loss** on the persistent evaluation set (:mod:`kasper.trainer.eval_set`:
  golden references, the store of past windows' held-out lines, this window's
  own held-out lines): per example, the summed prompt-masked token loss, as
  training computes it;
- **answers to the golden prompts** (the first ``probe_count``, ``probe_samples``
  each, sampled as the generate stage serves), each
  scored by the simulated users' predicted thumbs-up rate
  (:func:`kasper.streams.simulated_users.thumbs_up_rate`, a taste that is not
  the rubric) and by the rubric (mean final score and pass rate).

No judge score is computed here; with a real judge configured, the caller has it
score the golden answers (``ModelScores.texts``) as a metric beside the decision
(:mod:`kasper.trainer.judge_probe`).

:func:`decide` promotes only when, on the held-out loss, the relative
improvement is at least ``min_improvement``, the lower bound of its paired
bootstrap interval (:mod:`kasper.trainer.bootstrap`) clears
``min(0, min_improvement)`` and there are at least ``min_eval_examples`` pairs;
and then only if the users' thumbs-up rate did not fall significantly (its
interval entirely below zero) and the share of golden answers the rubric passes did
not drop by more than ``probe_tolerance``. A candidate trained on thumbs is decided
on the users' rate instead, with the loss as the guard (:func:`decide`), in up to two
looks: when the first look's answers leave it open (``Decision.open``), the caller
answers each golden prompt ``probe_extra_samples`` more times and decides again on all
the answers, each look's interval widened so that two looks promote no more often by
chance than one (:mod:`kasper.trainer.sequential`). The reason names the numbers that
decided.

Error policy: too few examples is not an error, it is a rejection with that
reason. Model loading raises ``ModelError``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from kasper.agents.runtime.blas import mx  # first: OpenBLAS must load before mlx.core
from kasper.agents.runtime import model_store
from kasper.agents.runtime.cores import MACHINE, CoreWatch
from kasper.agents.runtime.priority import GATE
from kasper.agents.runtime.backend import GenRequest
from kasper.agents.runtime.mlx_backend import fuse_lora
from kasper.streams.logs import get_logger
from kasper.streams.settings import GenerateSettings

import mlx.nn as nn  # noqa: E402
from mlx_lm.tuner.datasets import ChatDataset  # noqa: E402

from .bootstrap import Interval, paired_bootstrap  # noqa: E402
from .config import PromotionPolicy, TierTraining  # noqa: E402
from .eval_cache import IncumbentCache, example_key, model_key, probes_key  # noqa: E402
from .eval_set import GOLDEN_VERSION, EvalExample  # noqa: E402
from .packed import default_mask, measuring, pack, packed_logps, pad  # noqa: E402
from .preference import parse_objective  # noqa: E402
from .probes import answer_probes, probe_prompts, probe_requests, score_probes  # noqa: E402
from .sequential import look_level  # noqa: E402
from .state_memo import SharedStates, shared_states  # noqa: E402

log = get_logger(__name__)


@dataclass(frozen=True)
class ModelScores:
    """One model's per-example numbers (same order for every model evaluated)."""

    losses: tuple[float, ...]  # summed token loss of each held-out example
    tokens: tuple[int, ...]  # scored (answer) tokens of each example
    thumbs: tuple[float, ...] = ()  # predicted thumbs-up rate of each golden answer
    rubric: tuple[float, ...] = ()  # rubric final score of each golden answer
    passed: tuple[float, ...] = ()  # share of each golden prompt's answers the rubric passed
    answers: int = 0  # golden answers behind ``thumbs`` (prompts x answers per prompt)
    texts: tuple[str, ...] = ()  # those answers, each prompt's together, in prompt order

    @property
    def loss(self) -> float:
        """Token-weighted mean loss over every example (NaN when none)."""
        return sum(self.losses) / sum(self.tokens) if sum(self.tokens) else math.nan


@dataclass(frozen=True)
class Comparison:
    """Candidate against incumbent on the same examples."""

    new: ModelScores
    current: ModelScores
    sources: tuple[str, ...]  # where each held-out example came from (golden, store, window)
    loss: Interval
    thumbs: Interval | None  # None: no golden prompts were answered

    def metrics(self) -> dict[str, float]:
        """Flat float metrics for ModelVersion.metrics (the loss keys keep their old names)."""
        out = {"test_loss": self.new.loss, "current_test_loss": self.current.loss,
               "test_ppl": _exp(self.new.loss), "test_examples": float(len(self.sources)),
               "eval_n": float(self.loss.n), "loss_improvement": self.loss.improvement,
               "loss_ci_low": self.loss.low, "loss_ci_high": self.loss.high,
               "golden_version": _version_number(GOLDEN_VERSION)}
        for source in ("golden", "store", "window"):
            out[f"eval_{source}"] = float(self.sources.count(source))
        for source in ("golden", "window"):  # each part alone, to see what moved the whole
            part = [i for i, s in enumerate(self.sources) if s == source]
            if part:
                out[f"{source}_test_loss"] = _subset_loss(self.new, part)
                out[f"current_{source}_test_loss"] = _subset_loss(self.current, part)
        if self.thumbs is not None:
            out.update(thumbs_up_rate=_mean(self.new.thumbs), current_thumbs_up_rate=_mean(self.current.thumbs),
                       thumbs_improvement=self.thumbs.improvement, thumbs_ci_low=self.thumbs.low,
                       thumbs_ci_high=self.thumbs.high, thumbs_n=float(self.thumbs.n),
                       thumbs_answers=float(self.new.answers),
                       probe_mean=_mean(self.new.rubric), current_probe_mean=_mean(self.current.rubric),
                       probe_pass_rate=_mean(self.new.passed), current_probe_pass_rate=_mean(self.current.passed))
        return {k: round(float(v), 6) for k, v in out.items() if math.isfinite(v)}


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    # Not promoted, but on the sampled answers' noise alone: more answers could settle it
    # (a thumbs-decided candidate whose estimate is above zero and whose interval reaches the bar).
    open: bool = False


def evaluate_model(model_dir: Path, adapter_dir: Path | None, examples: Sequence[EvalExample],
                   params: TierTraining, policy: PromotionPolicy, tier: str,
                   cache: IncumbentCache | None = None, generate: GenerateSettings | None = None,
                   second_look: bool = False, other_layers: Sequence[int] = ()) -> ModelScores:
    """Per-example held-out losses and golden-prompt answers of the base model plus ``adapter_dir``.

    ``second_look``: each golden prompt is answered ``probe_extra_samples`` more times, with
    seeds of their own, and scored over all its answers (:mod:`kasper.trainer.sequential`).
    With ``cache`` (the incumbent's, :mod:`kasper.trainer.eval_cache`), only the numbers it
    lacks are computed, and the model is not loaded when it lacks none: a second look
    computes only the new answers. ``other_layers``: the other tiers' LoRA depths, whose
    shared states the loss keeps on its way (:mod:`kasper.trainer.state_memo`).
    """
    keys = [example_key(e.messages, params.max_seq_length, params.mask_prompt) for e in examples]
    prompts = probe_prompts(policy.probe_count, tier) if policy.probe_count else []
    counts = [policy.probe_samples] + ([policy.probe_extra_samples] if second_look else [])
    batches = [probe_requests(prompts, generate or GenerateSettings(), policy.probe_max_tokens, count,
                              first=sum(counts[:i])) for i, count in enumerate(counts) if count]
    known = cache.losses if cache is not None else {}
    missing = [i for i, key in enumerate(keys) if key not in known]
    texts = [_cached(cache, batch) for batch in batches]
    if missing or (prompts and None in texts):
        started = time.perf_counter()
        model, tokenizer = model_store.load(model_dir, adapter_path=adapter_dir)
        tokenized = tokenize([examples[i] for i in missing], tokenizer, params)
        shared = shared_states(model, model_key(model_dir, None), params.num_layers, other_layers)
        losses, tokens = per_example_loss(model, tokenized, params.batch_size, params.max_seq_length, shared)
        known = {**known, **{keys[i]: [loss, n] for i, loss, n in zip(missing, losses, tokens)}}
        answering = time.perf_counter()
        fuse_lora(model)  # as the generate stage serves an adapter (fewer ops per decode step)
        asked = sum(len(batch) for batch, got in zip(batches, texts) if got is None)
        texts = [answer_probes(model, tokenizer, batch) if got is None else got
                 for batch, got in zip(batches, texts)]
        log.info("model measured", tier=tier, adapter=str(adapter_dir) if adapter_dir else None,
                 losses_computed=len(missing), loss_seconds=round(answering - started, 2),
                 answers_written=asked, answer_seconds=round(time.perf_counter() - answering, 2))
    if cache is not None:
        cache.hits, cache.misses = len(keys) - len(missing), len(missing)
        cache.losses = dict(known)
        cache.probes.update({probes_key(batch): list(got or []) for batch, got in zip(batches, texts)})
        cache.save(keys)
    # Each prompt's answers together, as score_probes reads them: the first look's, then the second's.
    grouped = [text for i in range(len(prompts))
               for batch, got, count in zip(batches, texts, counts) for text in (got or [])[i * count:(i + 1) * count]]
    per_prompt = sum(counts)
    thumbs, rubric, passed = score_probes(grouped, prompts, per_prompt)
    return ModelScores(tuple(float(known[k][0]) for k in keys), tuple(int(known[k][1]) for k in keys),
                       thumbs, rubric, passed, answers=len(prompts) * per_prompt, texts=tuple(grouped))


def _cached(cache: IncumbentCache | None, requests: Sequence[GenRequest]) -> list[str] | None:
    texts = cache.probes.get(probes_key(requests)) if cache is not None else None
    return texts if texts is not None and len(texts) == len(requests) else None


def tokenize(examples: Sequence[EvalExample], tokenizer: Any, params: TierTraining) -> list[tuple[list[int], int]]:
    """``(tokens, prompt_length)`` of each example, as mlx-lm builds training examples."""
    data = ChatDataset([{"messages": list(e.messages)} for e in examples], tokenizer,
                       mask_prompt=params.mask_prompt)
    return [data.process(data[i]) for i in range(len(data))]


def per_example_loss(model: Any, examples: Sequence[tuple[list[int], int]], batch_size: int,
                     max_seq_length: int, shared: SharedStates | None = None) -> tuple[list[float], list[int]]:
    """Summed masked token loss and token count of every example, in the given order; prompt-masked
    examples take the packed pass (:mod:`~kasper.trainer.packed`: logits at answer positions only).

    With ``shared``, each example's states below the adapted blocks come from (or join) its
    memo (:mod:`~kasper.trainer.state_memo`) and only the blocks above run; one example a
    pass then, which costs no more than batches here (measured: docs/trainer.md)."""
    model.eval()
    losses, counts = [0.0] * len(examples), [0] * len(examples)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))  # less padding
    step = 1 if shared is not None else batch_size
    # Large matmuls: every core the machine and the serving work leave free (lora.py).
    with CoreWatch.during(peers=lambda: GATE.active, history=MACHINE) as cores, measuring(model):
        for start in range(0, len(order), step):
            cores.tick()
            chunk = [examples[i] for i in order[start:start + step]]
            if all(1 <= offset < max_seq_length - 1 for _, offset in chunk):
                rows = pack(chunk, max_seq_length)
                if shared is not None:
                    rows = (*rows, *shared.of(model, chunk[0], max_seq_length, rows))
                logps, n = packed_logps(model, *rows, frozen=shared.split if shared is not None else None)
                summed = -logps
            else:  # the loss over the whole row (no prompt mask), mlx-lm's way
                summed, n = _row_losses(model, *pad(chunk, max_seq_length))
            mx.eval(summed, n)
            for j, i in enumerate(order[start:start + step]):
                losses[i], counts[i] = float(summed[j].item()), int(n[j].item())
    return losses, counts


def _row_losses(model: Any, batch: Any, lengths: Any) -> tuple[Any, Any]:
    # mlx_lm.tuner.trainer.default_loss, summed per row instead of over the batch.
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    mask = default_mask(lengths, targets.shape[1])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    return ce.astype(mx.float32).sum(axis=1), mask.sum(axis=1)


def compare(new: ModelScores, current: ModelScores, sources: Sequence[str],
            policy: PromotionPolicy, thumbs_level: float | None = None) -> Comparison:
    """Paired bootstrap intervals of the candidate's relative improvement; the thumbs-up
    rate's at ``thumbs_level`` (default: the policy's confidence; a candidate decided on
    it in up to two looks uses :func:`thumbs_level`)."""
    boot = {"resamples": policy.resamples, "level": policy.confidence, "seed": policy.seed}
    # An example whose prompt fills max_seq_length has no scored token: it is no pair.
    keep = [i for i, (a, b) in enumerate(zip(new.tokens, current.tokens)) if a and b]
    new, current = _only(new, keep), _only(current, keep)
    loss = paired_bootstrap(new.losses, current.losses, lower_is_better=True, **boot)
    thumbs = (paired_bootstrap(new.thumbs, current.thumbs, lower_is_better=False,
                               **{**boot, "level": thumbs_level or policy.confidence})
              if new.thumbs and current.thumbs else None)
    return Comparison(new, current, tuple(sources[i] for i in keep), loss, thumbs)


def on_thumbs(policy: PromotionPolicy, objective: str) -> bool:
    """Whether a candidate trained with ``objective`` is decided on the users' thumbs-up rate
    (when it has at least ``min_eval_examples`` golden prompts answered)."""
    trained = parse_objective(objective) or ()
    return policy.probe_count >= policy.min_eval_examples and ("dpo" in trained or "kto" in trained)


def thumbs_level(policy: PromotionPolicy, objective: str) -> float:
    """The thumbs-up interval's level at each look: wider than ``confidence`` when a second
    look may follow, so that two looks promote a candidate with no gain no more often than
    one look would (:mod:`kasper.trainer.sequential`)."""
    if not on_thumbs(policy, objective):
        return policy.confidence
    return look_level(policy.confidence, policy.probe_samples, policy.probe_extra_samples)


def _only(scores: ModelScores, keep: list[int]) -> ModelScores:
    return dataclasses.replace(scores, losses=tuple(scores.losses[i] for i in keep),
                               tokens=tuple(scores.tokens[i] for i in keep))


def decide(c: Comparison, policy: PromotionPolicy, current_label: str = "the base model",
           objective: str = "sft", second_look: bool = False) -> Decision:
    """Promote on a large enough, significant gain in the metric the candidate was trained for.

    A candidate trained on thumbs (``dpo`` or ``kto`` in ``objective``) is decided on the
    users' predicted thumbs-up rate of its golden answers, when there are enough of them;
    its persistent-set loss may not rise significantly by more than ``loss_tolerance``.
    Any other candidate is decided on the persistent-set loss, and the users' rate may
    not fall significantly. Either way the share of golden answers the rubric passes may
    not drop by more than ``probe_tolerance``.
    """
    loss, need = c.loss, policy.min_improvement
    # A negative bar tolerates a regression of that size: the interval's floor follows it.
    floor = min(0.0, need)
    parts = ", ".join(f"{c.sources.count(s)} {s}" for s in ("golden", "store", "window"))
    # Each metric reads "name X vs Y (change, CI, n[; what it needed])".
    def loss_text(tail: str = "") -> str:
        return (f"persistent-set loss {c.new.loss:.4f} vs {c.current.loss:.4f} of {current_label} "
                f"({_pct(loss.improvement)}, {loss.level:.0%} CI [{_pct(loss.low)}, {_pct(loss.high)}], "
                f"n={loss.n}: {parts}, {GOLDEN_VERSION}{tail})")

    def thumbs_text(tail: str = "") -> str:
        t = c.thumbs
        answers = (f", {c.new.answers} answers" + (", second look" if second_look else "")
                   if c.new.answers else "")
        return (f"users' predicted thumbs-up {_mean(c.new.thumbs):.3f} vs {_mean(c.current.thumbs):.3f} "
                f"({_pct(t.improvement)}, {_level(t.level)} CI [{_pct(t.low)}, {_pct(t.high)}], "
                f"n={t.n}{answers}{tail})")

    bar = f"; needs >= {need:+.1%}, CI low > {floor:+.1%}, n >= {policy.min_eval_examples}"
    thumbs_decide = (c.thumbs is not None and c.thumbs.n >= policy.min_eval_examples
                     and on_thumbs(policy, objective))
    if thumbs_decide:
        primary, text = c.thumbs, thumbs_text(bar)
        guard = (loss_text(f"; may rise by {policy.loss_tolerance:.1%}")
                 if loss.n and math.isfinite(loss.high) and loss.high < -policy.loss_tolerance else None)
        extra = [loss_text()]
    else:
        primary, text = loss, loss_text(bar)
        guard = (f"{thumbs_text()} fell significantly"
                 if c.thumbs is not None and math.isfinite(c.thumbs.high) and c.thumbs.high < 0 else None)
        extra = [thumbs_text()] if c.thumbs is not None else []
    if primary.n < policy.min_eval_examples:
        return Decision(False, f"not promoted: too few paired examples; {text}")
    if not math.isfinite(primary.improvement) or not math.isfinite(primary.low):
        return Decision(False, f"not promoted: no finite comparison; {text}")
    # Sampled answers could still settle it: the estimate is a gain and the bar is within the interval.
    open_ = (thumbs_decide and not second_look and guard is None and primary.improvement > 0
             and primary.high >= need)
    what = "the loss rose significantly beyond the tolerance" if thumbs_decide else "the users' rate fell"
    # A guard that failed too is named, so the reader knows more answers would not have helped.
    also = f"; also, {what}: {guard}" if guard is not None else ""
    if primary.improvement < need:
        return Decision(False, f"not promoted: improvement below the bar; {text}{also}", open_)
    if primary.low <= floor:
        return Decision(False, f"not promoted: the interval does not clear {floor:+.1%}; {text}{also}", open_)
    if guard is not None:
        return Decision(False, f"not promoted: {text}, but {what}: {guard}")
    if c.thumbs is not None:
        # The pass rate, not the mean score: the gate acts on pass or fail, and the mean
        # also counts the rubric's lexicon, which the users' taste penalizes (docs/trainer.md).
        probe_text = (f"rubric pass rate {_mean(c.new.passed):.3f} vs {_mean(c.current.passed):.3f} "
                      f"(mean {_mean(c.new.rubric):.3f} vs {_mean(c.current.rubric):.3f})")
        if _mean(c.new.passed) < _mean(c.current.passed) - policy.probe_tolerance:
            return Decision(False, f"not promoted: {text}, but the {probe_text} fell by more than "
                                   f"{policy.probe_tolerance}")
        extra.append(probe_text)
    # The first metric named is the one that decided.
    return Decision(True, "; ".join([f"promoted: {text}", *extra]))


def _level(level: float) -> str:
    """95% as "95%", a look's 97.06% as "97.1%"."""
    return f"{level:.0%}" if abs(level * 100 - round(level * 100)) < 1e-9 else f"{level:.1%}"


def _pct(value: float) -> str:
    return f"{value:+.1%}" if math.isfinite(value) else "n/a"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _exp(value: float) -> float:
    return math.exp(value) if math.isfinite(value) else math.nan


def _subset_loss(scores: ModelScores, indices: list[int]) -> float:
    tokens = sum(scores.tokens[i] for i in indices)
    return sum(scores.losses[i] for i in indices) / tokens if tokens else math.nan


def _version_number(version: str) -> float:
    tail = version.rsplit("-", 1)[-1]
    return float(tail) if tail.isdigit() else math.nan
