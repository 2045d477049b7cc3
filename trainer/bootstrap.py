"""Paired bootstrap of a relative improvement: how sure is "the candidate is better"?

Candidate and incumbent are measured on the same examples, so the examples are
resampled together (a pair stays a pair): the spread then reflects how the
*difference* varies across examples, not how hard the examples are, which is
what makes a small evaluation set informative at all.

The statistic is a ratio of sums, ``1 - sum(candidate) / sum(incumbent)`` for a
loss (lower is better) and ``sum(candidate) / sum(incumbent) - 1`` for a rate
(higher is better): for summed token losses that is exactly the relative change
of the token-weighted mean loss, so the point estimate matches the loss a
single pass reports. The interval is the percentile interval of the resampled
statistic; the resampling is seeded, so the same numbers give the same interval.

Error policy: mismatched lengths are a ``ValueError`` (a pairing bug, not data);
fewer than two pairs, or an incumbent summing to zero, give NaN bounds, which no
promotion rule accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A relative improvement (positive: the candidate is better) and its interval."""

    improvement: float
    low: float
    high: float
    n: int
    level: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def relative_improvement(candidate: np.ndarray, incumbent: np.ndarray, lower_is_better: bool) -> np.ndarray:
    """The statistic over the last axis (one value per row of resampled pairs)."""
    cand, inc = candidate.sum(axis=-1), incumbent.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = cand / inc
    return 1.0 - ratio if lower_is_better else ratio - 1.0


def paired_bootstrap(candidate: Sequence[float], incumbent: Sequence[float], *, lower_is_better: bool,
                     resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """Point estimate and percentile interval of the relative improvement over paired values."""
    cand = np.asarray(candidate, dtype=np.float64)
    inc = np.asarray(incumbent, dtype=np.float64)
    if cand.shape != inc.shape or cand.ndim != 1:
        raise ValueError(f"paired values need one equal-length sequence each, got {cand.shape} and {inc.shape}")
    n = len(cand)
    point = float(relative_improvement(cand, inc, lower_is_better)) if n else math.nan
    if n < 2 or not math.isfinite(point):
        return Interval(point, math.nan, math.nan, n, level)
    rng = np.random.default_rng(seed)
    # Chunks bound the index matrix's memory on a large evaluation set.
    stats = []
    for start in range(0, resamples, 500):
        idx = rng.integers(0, n, size=(min(500, resamples - start), n))
        stats.append(relative_improvement(cand[idx], inc[idx], lower_is_better))
    values = np.concatenate(stats)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return Interval(point, math.nan, math.nan, n, level)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(point, float(low), float(high), n, level)
