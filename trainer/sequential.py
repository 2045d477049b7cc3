"""Two looks at the golden answers: the interval level each look uses.

A thumbs-trained candidate is decided on sampled answers, and their noise, not the
prompts, sets the interval's width (docs/trainer.md, "A second look"). When the
first look leaves the decision open, the trainer answers the golden prompts again
with fresh seeds and decides once more on all the answers. Looking twice gives a
candidate with no real gain two chances to clear the bar, so each look uses a
wider interval than one look would: Pocock's boundary, the same critical value at
both looks, chosen so that the chance that either look's interval clears zero for
a candidate with no gain equals the one-look interval's (1 - ``confidence``).

The two looks' statistics are correlated: the second's answers include the
first's, so with ``first`` answers per prompt at look one and ``first + extra`` at
look two, corr(Z1, Z2) = sqrt(first / (first + extra)). The critical value solves
P(|Z1| < c and |Z2| < c) = confidence for that bivariate normal (two looks of two
answers each at 95%: c = 2.178, Pocock's table value, a 97.06% interval per look).
"""

from __future__ import annotations

import math


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _both_inside(c: float, rho: float, steps: int = 800) -> float:
    """P(|Z1| < c and |Z2| < c) for standard normals with correlation ``rho`` (Simpson's rule
    over Z1; Z2 given Z1 is normal with mean rho * Z1 and sd sqrt(1 - rho^2))."""
    s = math.sqrt(1.0 - rho * rho)
    h = 2.0 * c / steps
    total = 0.0
    for i in range(steps + 1):
        z = -c + i * h
        inner = _phi((c - rho * z) / s) - _phi((-c - rho * z) / s)
        weight = 1 if i in (0, steps) else (4 if i % 2 else 2)
        total += weight * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) * inner
    return total * h / 3.0


def look_level(confidence: float, first: int, extra: int) -> float:
    """The interval level of each of two looks (``first``, then ``first + extra`` answers per
    prompt) that keeps the overall level at ``confidence``; ``confidence`` when ``extra`` is 0."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if first < 1 or extra < 0:
        raise ValueError(f"answers per prompt must be first >= 1 and extra >= 0, got {first}, {extra}")
    if extra == 0:
        return confidence
    rho = math.sqrt(first / (first + extra))
    low, high = 0.0, 8.0  # both_inside rises with c
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if _both_inside(mid, rho) < confidence else (low, mid)
    return 2.0 * _phi(high) - 1.0
