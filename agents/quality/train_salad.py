"""Train the salad head: ``python -m kasper.agents.quality.train_salad``.

Texts (nothing else is read; never a ``*_holdout.jsonl`` file):

- the development files in :data:`DEV_FILES`: ``salad`` is the positive class; good,
  generic, off-topic, harmful texts and safe counterparts are negatives (they are prose,
  whatever else is wrong with them); injections, loops and personal data are left out
  (other checks fail them, and half of an injection is often salad on purpose);
- the package's own good texts: the labeled insights of ``tests/data`` and the
  generator's seed exemplars, so the head sees the voice the pipeline writes in.

The threshold comes from out-of-fold scores: each file (the package's texts are one) is
scored by a model trained on the others, and the threshold is the lowest probability that
flags at most :data:`MAX_FP_GOOD` of the good texts so scored. Scored on files unseen,
texts in a style no other file has (lyrical astrology, say) get higher scores than the
shipped model gives them, so the threshold is conservative. The shipped model is then
trained on everything.

``--check`` prints the out-of-fold figures without writing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kasper.agents.quality.harm import head_texts
from kasper.agents.quality.harm.logistic import fit, fold_figures, logistic, save_head, threshold
from kasper.agents.quality.salad import WEIGHTS, features

DEV_FILES = ("attack_dev.jsonl", "attack3_dev.jsonl", "content_dev.jsonl", "extra_dev.jsonl",
             "salad4_dev.jsonl", "salad5_dev.jsonl")
OUT = Path(__file__).resolve().parent / "data" / WEIGHTS
NEGATIVE = frozenset({"good", "generic", "off_topic", "harmful", "safe_counterpart"})
MAX_FP_GOOD = 0.03
L2 = 0.01


def texts() -> list[dict]:
    """``{fold, text, salad, good}`` for every training text."""
    return head_texts.texts(DEV_FILES, "salad", NEGATIVE)


def out_of_fold(x: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each text's probability under the model trained on the other folds."""
    p = np.zeros(len(y))
    for fold in np.unique(folds):
        test = folds == fold
        weight, bias = fit(x[~test], y[~test], L2)
        p[test] = logistic(x[test], weight, bias)
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kasper.agents.quality.train_salad", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="print the out-of-fold figures, write nothing")
    args = ap.parse_args(argv)
    rows = texts()
    x = features([r["text"] for r in rows])
    y = np.array([r["salad"] for r in rows], float)
    good = np.array([r["good"] for r in rows])
    p = out_of_fold(x, y, np.array([r["fold"] for r in rows]))
    thr = threshold(p, good, MAX_FP_GOOD)
    report = {"texts": len(rows), "salads": int(y.sum()), "good": int(good.sum()), "threshold": round(thr, 4),
              "out_of_fold": fold_figures(p, rows, thr, "salad")}
    print(json.dumps(report, indent=1))
    if args.check:
        return 0
    weight, bias = fit(x, y, L2)
    save_head(OUT, weight, bias, thr, report)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
