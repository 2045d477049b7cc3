"""Evaluation and the promotion decision.

A candidate adapter and the serving model (the current adapter of the tier, or
the base model when none serves yet) are measured the same way:

- loss and perplexity on the window's held-out examples (``test.jsonl``, else
  ``valid.jsonl``), prompt-masked like training, token-weighted over every
  example (no batch is dropped);
- the fixed probe set (:mod:`kasper.trainer.probes`), answered greedily and
  scored by the rubric grader: mean final score and pass rate.

:func:`decide` promotes only when the test loss improves by at least
``min_improvement`` (relative, 5% by default) and the probe mean does not drop
by more than ``probe_tolerance``; the reason says which numbers decided.

Error policy: no held-out examples is not an error here: the loss is NaN and
:func:`decide` rejects with that reason. Model loading raises ``ModelError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kasper.agents.runtime.blas import mx  # first: OpenBLAS must load before mlx.core
from kasper.agents.runtime import model_store
from kasper.agents.quality.prompts import build_messages
from kasper.agents.quality.rubric import Rubric

import numpy as np  # noqa: E402
from mlx_lm.generate import batch_generate  # noqa: E402
from mlx_lm.tuner.trainer import default_loss  # noqa: E402

from .config import PromotionPolicy, TierTraining  # noqa: E402
from .lora import load_examples  # noqa: E402
from .probes import PROBE_SET_VERSION, probe_prompts  # noqa: E402


@dataclass(frozen=True)
class EvalResult:
    """One model's numbers on one window."""

    test_loss: float
    test_examples: int
    test_tokens: int
    split: str  # which held-out split was used: "test", "valid" or "none"
    probe_mean: float | None = None
    probe_pass_rate: float | None = None
    probe_count: int = 0

    @property
    def test_ppl(self) -> float:
        return math.exp(self.test_loss) if math.isfinite(self.test_loss) else math.nan

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat float metrics (for ModelVersion.metrics); absent probes are left out."""
        out = {"test_loss": self.test_loss, "test_ppl": self.test_ppl,
               "test_examples": float(self.test_examples)}
        if self.probe_mean is not None:
            out.update(probe_mean=self.probe_mean, probe_pass_rate=self.probe_pass_rate or 0.0)
        return {f"{prefix}{k}": round(v, 6) for k, v in out.items() if math.isfinite(v)}


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str


def evaluate_model(model_dir: Path, adapter_dir: Path | None, data_dir: Path, params: TierTraining,
                   policy: PromotionPolicy, tier: str) -> EvalResult:
    """Held-out loss and probe scores of the base model plus ``adapter_dir`` (None: base alone)."""
    model, tokenizer = model_store.load(model_dir, adapter_path=adapter_dir)
    split, examples = "none", []
    for name in ("test", "valid"):
        if (Path(data_dir) / f"{name}.jsonl").exists():
            examples = [e for e in load_examples(data_dir, tokenizer, params, name)
                        if e[1] < params.max_seq_length - 1]
            if examples:
                split = name
                break
    loss, tokens = held_out_loss(model, examples, params.batch_size, params.max_seq_length)
    mean, rate, count = probe_scores(model, tokenizer, policy, tier)
    return EvalResult(loss, len(examples), tokens, split, mean, rate, count)


def held_out_loss(model: Any, examples: list, batch_size: int, max_seq_length: int) -> tuple[float, int]:
    """Token-weighted mean loss over all ``(tokens, prompt_length)`` examples; NaN when none."""
    model.eval()
    total, tokens = 0.0, 0
    ordered = sorted(examples, key=lambda e: len(e[0]))
    for i in range(0, len(ordered), batch_size):
        batch, lengths = _pad(ordered[i:i + batch_size], max_seq_length)
        loss, ntoks = default_loss(model, batch, lengths)
        mx.eval(loss, ntoks)
        total += loss.item() * ntoks.item()
        tokens += int(ntoks.item())
    return (total / tokens if tokens else math.nan), tokens


def _pad(chunk: list, max_seq_length: int) -> tuple[Any, Any]:
    # Same layout as mlx_lm.tuner.trainer.iterate_batches: pad to 1 + a multiple of 32.
    lengths = [min(len(t), max_seq_length) for t, _ in chunk]
    width = min(1 + 32 * ((max(lengths) + 31) // 32), max_seq_length)
    arr = np.zeros((len(chunk), width), np.int32)
    for j, (tokens, _) in enumerate(chunk):
        arr[j, :lengths[j]] = tokens[:lengths[j]]
    return mx.array(arr), mx.array([[offset, n] for (_, offset), n in zip(chunk, lengths)])


def probe_scores(model: Any, tokenizer: Any, policy: PromotionPolicy,
                 tier: str) -> tuple[float | None, float | None, int]:
    """Greedy answers to the probe set, graded by the rubric: (mean score, pass rate, count)."""
    prompts = probe_prompts(policy.probe_count, tier) if policy.probe_count else []
    if not prompts:
        return None, None, 0
    encoded = [tokenizer.apply_chat_template(build_messages(p), add_generation_prompt=True)
               for p in prompts]
    texts = batch_generate(model, tokenizer, encoded, max_tokens=policy.probe_max_tokens).texts
    rubric = Rubric()
    grades = [rubric.grade(text, p["domain"], p.get("context")) for text, p in zip(texts, prompts)]
    mean = sum(g.final_score for g in grades) / len(grades)
    return mean, sum(g.passed for g in grades) / len(grades), len(grades)


def decide(new: EvalResult, current: EvalResult, policy: PromotionPolicy,
           current_label: str = "the base model") -> Decision:
    """Promote when the held-out loss improves enough and the probe scores do not fall."""
    if new.split == "none" or not math.isfinite(current.test_loss):
        return Decision(False, "not promoted: the window has no held-out examples to compare on")
    if not math.isfinite(new.test_loss):
        return Decision(False, f"not promoted: the new adapter's test loss is {new.test_loss}")
    gain = (current.test_loss - new.test_loss) / current.test_loss
    loss_text = (f"{new.split} loss {new.test_loss:.4f} vs {current.test_loss:.4f} of "
                 f"{current_label} ({gain:+.1%}, needs >= {policy.min_improvement:+.1%})")
    if gain < policy.min_improvement:
        return Decision(False, f"not promoted: {loss_text}")
    if new.probe_mean is not None and current.probe_mean is not None:
        probe_text = (f"probe rubric mean {new.probe_mean:.3f} vs {current.probe_mean:.3f} "
                      f"({PROBE_SET_VERSION}, {new.probe_count} prompts)")
        if new.probe_mean < current.probe_mean - policy.probe_tolerance:
            return Decision(False, f"not promoted: {loss_text}, but {probe_text} fell by more "
                                   f"than {policy.probe_tolerance}")
        return Decision(True, f"promoted: {loss_text}; {probe_text}")
    return Decision(True, f"promoted: {loss_text}")
