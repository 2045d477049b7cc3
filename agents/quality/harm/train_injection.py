"""Train the injection head: ``python -m kasper.agents.quality.harm.train_injection``.

Texts (nothing else is read; never a ``*_holdout.jsonl`` file): every text of the
development files in :data:`DEV_FILES`, ``injection`` against all other labels, and the
package's own voice (the labeled insights of ``tests/data``, the seed exemplars) as
negatives.

Labels are per text, but an injection is usually one sentence in an ordinary insight. So
the fit is multiple-instance: first every sentence of an injection text counts as
positive; then, :data:`ROUNDS` times, only each injection text's highest-scoring sentence
does (its others are left out) and the head is fitted again. Every sentence of every
other text is negative.

The threshold comes from out-of-fold scores (each file, the package's texts as one, scored
by a head trained on the others): the lowest probability that flags at most
:data:`MAX_FP_GOOD` of the good texts so scored. The head is a gate, so a false positive
fails a good text outright: the margin is kept small. The shipped head is then trained
on everything.

``--check`` prints the out-of-fold figures without writing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kasper.agents.quality.harm import head_texts
from kasper.agents.quality.harm.injection_head import WEIGHTS, sentence_vectors
from kasper.agents.quality.harm.logistic import fit, fold_figures, logistic, save_head, threshold

DEV_FILES = ("attack_dev.jsonl", "attack3_dev.jsonl", "attack5_dev.jsonl", "content_dev.jsonl",
             "extra_dev.jsonl", "safety_dev.jsonl", "salad4_dev.jsonl", "salad5_dev.jsonl")
OUT = Path(__file__).resolve().parents[1] / "data" / WEIGHTS
MAX_FP_GOOD = 0.01
L2 = 0.1
ROUNDS = 2


def texts() -> list[dict]:
    """``{fold, text, injection, good}`` for every training text."""
    return head_texts.texts(DEV_FILES, "injection")


def fit_multi(vectors: list[np.ndarray], positive: np.ndarray, rounds: int = ROUNDS) -> tuple[np.ndarray, float]:
    """The multiple-instance fit (module docstring) on per-text sentence vectors."""
    owner = np.concatenate([np.full(len(v), i) for i, v in enumerate(vectors)])
    x = np.vstack([v for v in vectors if len(v)])
    y = positive[owner].astype(float)
    weight, bias = fit(x, y, L2)
    for _ in range(rounds):
        p = logistic(x, weight, bias)
        keep = ~positive[owner]
        for i in np.flatnonzero(positive):
            rows = np.flatnonzero(owner == i)
            if len(rows):
                keep[rows[np.argmax(p[rows])]] = True
        weight, bias = fit(x[keep], y[keep], L2)
    return weight, bias


def text_scores(vectors: list[np.ndarray], weight: np.ndarray, bias: float) -> np.ndarray:
    """Each text's highest sentence probability."""
    return np.array([float(logistic(v, weight, bias).max()) if len(v) else 0.0 for v in vectors])


def out_of_fold(vectors: list[np.ndarray], positive: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each text's score under the head trained on the other folds."""
    p = np.zeros(len(vectors))
    for fold in np.unique(folds):
        test = folds == fold
        weight, bias = fit_multi([v for v, t in zip(vectors, test) if not t], positive[~test])
        p[test] = text_scores([v for v, t in zip(vectors, test) if t], weight, bias)
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kasper.agents.quality.harm.train_injection",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="print the out-of-fold figures, write nothing")
    args = ap.parse_args(argv)
    rows = texts()
    vectors = sentence_vectors([r["text"] for r in rows])
    positive = np.array([r["injection"] for r in rows])
    good = np.array([r["good"] for r in rows])
    p = out_of_fold(vectors, positive, np.array([r["fold"] for r in rows]))
    thr = threshold(p, good, MAX_FP_GOOD)
    report = {"texts": len(rows), "injections": int(positive.sum()), "good": int(good.sum()),
              "threshold": round(thr, 4), "out_of_fold": fold_figures(p, rows, thr, "injection")}
    print(json.dumps(report, indent=1))
    if args.check:
        return 0
    weight, bias = fit_multi(vectors, positive)
    save_head(OUT, weight, bias, thr, report)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
