"""How far two raters agree: Cohen's kappa, weighted kappa, Spearman's rank correlation,
and the maps that put the rubric, the judge and people's thumbs on one decision scale.

The scale is ``DECISIONS``, ordered worst to best (REJECT < REVISE < APPROVE), so an
ordinal (weighted) kappa can tell a near miss from a reversal.

Conventions for degenerate input, chosen so that no function divides by zero:

- no pairs at all: ``nan`` (nothing was measured; the report prints "n/a");
- both raters put every item in the same one category: ``1.0``.  They never
  disagreed, but kappa has nothing to say beyond that (its chance agreement is 1
  too), so a reader should look at the category counts next to it;
- one rater constant, the other not: the formula applies and gives ``0.0`` however
  often they agree, because a rater who always says the same thing agrees only as
  much as chance predicts.  This is the rubric on LLM-judged insights: only grades
  that passed reach the judge, so the rubric's side is APPROVE on every such pair.

Every function here is pure: no I/O, no clock, no global state.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from kasper.schemas.errors import KasperError

DECISIONS = ("REJECT", "REVISE", "APPROVE")  # worst to best: the order weighted kappa uses
WEIGHTS = ("linear", "quadratic")


class AgreementError(KasperError):
    """Ratings that cannot be compared (different lengths, an unknown label or weighting)."""


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable],
                labels: Sequence[Hashable] | None = None) -> float:
    """Cohen's (unweighted) kappa of two raters' labels for the same items, in order.

    ``labels`` is the set of allowed categories (default: those that occur); a label
    outside it is an ``AgreementError``.  Degenerate cases follow the module's
    conventions: ``nan`` with no pairs, ``1.0`` when both raters used one same category.
    """
    _check(a, b, labels)
    n = len(a)
    if n == 0:
        return math.nan
    rows, cols = Counter(a), Counter(b)
    agree = sum(x == y for x, y in zip(a, b))
    # Integer arithmetic: kappa = (n*agree - sum r_k c_k) / (n^2 - sum r_k c_k), the usual
    # (p_o - p_e) / (1 - p_e) times n^2/n^2, so no rounding decides the degenerate test.
    chance = sum(rows[k] * cols[k] for k in rows)
    if chance == n * n:
        return 1.0
    return (n * agree - chance) / (n * n - chance)


def weighted_kappa(a: Sequence[Hashable], b: Sequence[Hashable],
                   labels: Sequence[Hashable] = DECISIONS, weights: str = "linear") -> float:
    """Weighted kappa for ordered categories: a disagreement costs its distance in ``labels``.

    ``weights`` is ``"linear"`` (cost |i-j|/(k-1)) or ``"quadratic"`` (its square).  Same
    degenerate conventions as :func:`cohen_kappa`; with a single label every pair agrees.
    """
    if weights not in WEIGHTS:
        raise AgreementError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    _check(a, b, labels)
    n, k = len(a), len(labels)
    if n == 0:
        return math.nan
    if k == 1:
        return 1.0
    index = {label: i for i, label in enumerate(labels)}
    power = 1 if weights == "linear" else 2
    cost = [[(abs(i - j) / (k - 1)) ** power for j in range(k)] for i in range(k)]
    rows, cols = Counter(index[x] for x in a), Counter(index[y] for y in b)
    observed = sum(cost[index[x]][index[y]] for x, y in zip(a, b))
    expected = sum(cost[i][j] * rows[i] * cols[j] for i in rows for j in cols) / n
    if expected == 0:  # only when both raters used one same category (see the module docstring)
        return 1.0
    return 1.0 - observed / expected


def confusion(a: Sequence[Hashable], b: Sequence[Hashable],
              labels: Sequence[Hashable] = DECISIONS) -> dict[str, dict[str, int]]:
    """Counts of (a's label, b's label) as nested dicts over ``labels`` (zeros included)."""
    _check(a, b, labels)
    pairs = Counter(zip(a, b))
    return {str(x): {str(y): pairs[(x, y)] for y in labels} for x in labels}


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's on ranks, ties getting their mean rank.

    ``nan`` below 3 pairs or when either side has no spread (all values tied).
    """
    if len(x) != len(y):
        raise AgreementError(f"spearman needs as many x as y, got {len(x)} and {len(y)}")
    if len(x) < 3:
        return math.nan
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((p - mx) * (q - my) for p, q in zip(rx, ry))
    sx = math.sqrt(sum((p - mx) ** 2 for p in rx))
    sy = math.sqrt(sum((q - my) ** 2 for q in ry))
    return cov / (sx * sy) if sx and sy else math.nan


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values``; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):
            out[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return out


def grade_decision(grade: Mapping[str, Any]) -> str:
    """The rubric's decision on a Grade: APPROVE when it passed, REJECT when a hard gate
    failed, REVISE otherwise (below the pass threshold with every gate passed)."""
    if grade["passed"]:
        return "APPROVE"
    return "REJECT" if grade.get("gate_failures") else "REVISE"


def verdict_decision(verdict: Mapping[str, Any]) -> str:
    """The judge's decision on a Verdict: its recommendation, checked against ``DECISIONS``."""
    decision = verdict["recommendation"]
    if decision not in DECISIONS:
        raise AgreementError(f"unknown recommendation {decision!r}; known: {', '.join(DECISIONS)}")
    return decision


def thumbs_decision(feedback: Mapping[str, Any]) -> str | None:
    """A Feedback's thumbs on the decision scale: up -> APPROVE, down -> REJECT, else None
    (stars or a comment only: no thumbs to compare)."""
    return {"up": "APPROVE", "down": "REJECT"}.get(feedback.get("rating"))


def _check(a: Sequence[Hashable], b: Sequence[Hashable], labels: Sequence[Hashable] | None) -> None:
    if len(a) != len(b):
        raise AgreementError(f"two raters must rate the same items, got {len(a)} and {len(b)} ratings")
    if labels is not None:
        unknown = (set(a) | set(b)) - set(labels)
        if unknown:
            raise AgreementError(f"labels {sorted(map(str, unknown))} not among {list(labels)}")
