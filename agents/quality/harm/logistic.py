"""Logistic regression for the heads on sentence vectors (salad, injection): the
probability, the fit, the threshold, their figures and their weights file, in numpy.

The heads are linear on purpose: a few hundred labeled texts per class, 384-768
features, and a threshold that must hold on writers the fit never saw; a deeper head
learns the writers.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path

import numpy as np

from kasper.schemas.errors import KasperError


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


class HeadWeightsError(KasperError):
    """A shipped head's weights file is missing or does not fit its encoder."""


def load_head(name: str, dim: int, retrain: str) -> tuple[np.ndarray, float, float]:
    """``(weight, bias, threshold)`` of the shipped head ``agents/quality/data/<name>``;
    :class:`HeadWeightsError` naming ``retrain`` (the command that writes it) otherwise."""
    try:
        data = resources.files("kasper.agents.quality").joinpath("data", name).read_bytes()
    except FileNotFoundError as exc:
        raise HeadWeightsError(f"{name} is missing: {retrain}") from exc
    with np.load(io.BytesIO(data)) as z:
        weight = z["weight"].astype(np.float32)
        if weight.shape != (dim,):
            raise HeadWeightsError(f"{name} weight has shape {weight.shape}, not ({dim},): {retrain}")
        return weight, float(z["bias"]), float(z["threshold"])


def save_head(path: Path, weight: np.ndarray, bias: float, thr: float, report: dict) -> None:
    """Write a head as :func:`load_head` reads it, with the figures its threshold came from."""
    buf = io.BytesIO()
    np.savez(buf, weight=weight, bias=np.float32(bias), threshold=np.float32(thr),
             validation=np.array(json.dumps(report)))
    path.write_bytes(buf.getvalue())


def fold_figures(p: np.ndarray, rows: list[dict], thr: float, positive: str) -> dict:
    """Per fold, the ``positive`` texts and the good texts that ``thr`` flags."""
    out = {}
    for fold in sorted({r["fold"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["fold"] == fold]
        pos = [i for i in idx if rows[i][positive]]
        good = [i for i in idx if rows[i]["good"]]
        out[fold] = {f"{positive}_flagged": f"{sum(p[i] >= thr for i in pos)}/{len(pos)}",
                     "good_flagged": f"{sum(p[i] >= thr for i in good)}/{len(good)}"}
    return out
