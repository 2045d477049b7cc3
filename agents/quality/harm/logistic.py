"""Logistic regression for the heads on sentence vectors (salad, injection): the
probability, the fit and the threshold, in numpy.

The heads are linear on purpose: a few hundred labeled texts per class, 384-768
features, and a threshold that must hold on writers the fit never saw; a deeper head
learns the writers.
"""

from __future__ import annotations

import numpy as np


def logistic(x: np.ndarray, weight: np.ndarray, bias: float) -> np.ndarray:
    """Probabilities of a logistic regression."""
    return 1.0 / (1.0 + np.exp(-(x @ weight + bias)))


def fit(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method, the two classes weighted equally, ``l2`` on
    the weights (not the bias)."""
    x1 = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    y = np.asarray(y, np.float64)
    w = np.zeros(x1.shape[1])
    sample = np.where(y > 0, 0.5 / y.mean(), 0.5 / (1.0 - y.mean()))
    ridge = l2 * np.diag(np.r_[np.ones(x.shape[1]), 0.0])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x1 @ w)))
        grad = x1.T @ (sample * (p - y)) + ridge @ w
        hess = (x1 * (sample * p * (1.0 - p))[:, None]).T @ x1 + ridge
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w[:-1].astype(np.float32), float(w[-1])


def threshold(p: np.ndarray, good: np.ndarray, max_fp: float) -> float:
    """The lowest probability that flags at most ``max_fp`` of the ``good`` texts."""
    scores = np.sort(p[good])[::-1]
    allowed = int(np.floor(max_fp * len(scores)))
    return float(np.nextafter(scores[allowed], 1.0))
