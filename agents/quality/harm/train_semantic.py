"""Train the semantic gate: ``python -m kasper.agents.quality.harm.train_semantic``.

Training sentences (nothing else is read):

- the development corpus, ``tests/data/quality/*_dev.jsonl``: in a harmful text, the
  sentences the rules flag for the text's own gate are that class (its other sentences are
  left out: they are often kind words around the directive); every sentence of every other
  text (safe counterparts, good, generic, salad, injection, personal data) is ``safe``;
- ``agents/quality/data/semantic_train.jsonl``: hand-written harmful directives, their
  close safe counterparts and ordinary insight sentences.

The threshold is chosen by five-fold cross-validation over those units (a dev text or a
written sentence): the lowest threshold on the out-of-fold harm probability that keeps
false positives within :data:`MAX_FP_SAFE` on safe counterparts and :data:`MAX_FP_GOOD` on
good insights. Then the model is refit on everything and written, with the threshold, to
``agents/quality/data/semantic_gate.npz``. Every step is deterministic (fixed folds, zero
start, full-batch gradient descent for a fixed number of steps).

``--check`` prints the cross-validation figures without writing.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np

from kasper.agents.quality.harm.engine import find_harm
from kasper.agents.quality.harm.semantic import (CLASSES, GATE_OF, WEIGHTS, harm_scores, probabilities,
                                                 sentences)

ROOT = Path(__file__).resolve().parents[3]
DEV = ROOT / "tests" / "data" / "quality"
DEV_FILES = ("safety_dev.jsonl", "content_dev.jsonl", "extra_dev.jsonl")
DATA = Path(__file__).resolve().parents[1] / "data"
WRITTEN = DATA / "semantic_train.jsonl"
KIND_CLASS = {"medical": "medical", "financial": "financial", "legal": "financial",
              "eating_disorder": "eating", "self_harm": "self_harm"}
# Targets below the task's limits (0.05, 0.02): the held-out paraphrases are further from
# the training data than the folds are from each other, so the margin is spent there.
MAX_FP_SAFE = 0.04
MAX_FP_GOOD = 0.02
L2 = 1e-2
STEPS = 200
LR = 0.05
FOLDS = 5


def units() -> list[dict]:
    """Training units: ``{id, group, sentences, labels}``; ``group`` is what the
    false-positive / recall figures count (harmful, counterpart, good, other)."""
    out = []
    for name in DEV_FILES:
        for line in (DEV / name).read_text("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            ss = sentences(row["text"])
            if row["label"] == "harmful":
                cls = KIND_CLASS[row["kind"]]
                gate = GATE_OF[cls]
                keep = [s for s in ss if any(g == gate for g, _ in find_harm(s))]
                out.append({"id": row["id"], "group": "harmful", "cls": cls, "sentences": keep,
                            "all": ss, "labels": [cls] * len(keep)})
            else:
                group = {"safe_counterpart": "counterpart", "good": "good"}.get(row["label"], "other")
                if row.get("kind") == "numbers":
                    group = "other"
                out.append({"id": row["id"], "group": group, "cls": "safe", "sentences": ss,
                            "all": ss, "labels": ["safe"] * len(ss)})
    for i, line in enumerate(WRITTEN.read_text("utf-8").splitlines()):
        row = json.loads(line)
        group = {"harmful": "harmful", "counterpart": "counterpart", "ordinary": "good"}[row["kind"]]
        ss = [" ".join(sentences(row["text"]))]
        out.append({"id": f"w-{i:04d}", "group": group, "cls": row["label"], "sentences": ss,
                    "all": ss, "labels": [row["label"]]})
    return out


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression with class-balanced weights and L2, by Adam from zero on
    standardised features (full batch, fixed steps: the same data gives the same weights).
    The standardisation is folded into the returned ``W``, ``b`` (they take raw vectors)."""
    n, d = x.shape
    k = len(CLASSES)
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = ((x - mu) / sd).astype(np.float32)
    counts = np.bincount(y, minlength=k).astype(np.float32)
    sample_w = (n / (k * np.maximum(counts, 1)))[y]
    sample_w = (sample_w / sample_w.sum()).astype(np.float32)
    onehot = np.eye(k, dtype=np.float32)[y]
    W, b = np.zeros((k, d), np.float32), np.zeros(k, np.float32)
    m = [np.zeros_like(W), np.zeros_like(b)]
    v = [np.zeros_like(W), np.zeros_like(b)]
    for t in range(1, STEPS + 1):
        g = (probabilities(z, W, b) - onehot) * sample_w[:, None]
        grads = (g.T @ z + L2 * W, g.sum(axis=0))
        for i, gr in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * gr
            v[i] = 0.999 * v[i] + 0.001 * gr * gr
        step = LR * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        W = W - step * m[0] / (np.sqrt(v[0]) + 1e-8)
        b = b - step * m[1] / (np.sqrt(v[1]) + 1e-8)
    Wr = W / sd
    return Wr.astype(np.float32), (b - Wr @ mu).astype(np.float32)


def _xy(us: list[dict], vec: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(vec[s], CLASSES.index(c)) for u in us for s, c in zip(u["sentences"], u["labels"])]
    return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _score(u: dict, vec: dict[str, np.ndarray], W: np.ndarray, b: np.ndarray) -> float:
    # A unit's harm score: its most harmful sentence, over all of its sentences.
    if not u["all"]:
        return 0.0
    p = probabilities(np.stack([vec[s] for s in u["all"]]), W, b)
    return float(harm_scores(u["all"], p).max())


def rates(us: list[dict], scores: list[float], threshold: float) -> dict[str, float]:
    """Share of each group at or above ``threshold``."""
    out = {}
    for group in ("harmful", "counterpart", "good", "other"):
        s = [sc for u, sc in zip(us, scores) if u["group"] == group]
        out[group] = round(sum(x >= threshold for x in s) / len(s), 4) if s else float("nan")
    return out


def choose_threshold(us: list[dict], scores: list[float]) -> float:
    """The lowest threshold within the false-positive targets (0.01 steps, finer near 1)."""
    for t in [*np.arange(0.30, 0.99, 0.01), 0.99, 0.995, 0.998, 0.999]:
        r = rates(us, scores, float(t))
        if r["counterpart"] <= MAX_FP_SAFE and r["good"] <= MAX_FP_GOOD:
            return round(float(t), 3)
    return 0.999


def cross_validate(us: list[dict], vec: dict[str, np.ndarray]) -> list[float]:
    """Out-of-fold harm score of every unit (fold = position mod FOLDS within its group)."""
    seen: dict[str, int] = {}
    fold = []
    for u in us:
        fold.append(seen.get(u["group"], 0) % FOLDS)
        seen[u["group"]] = seen.get(u["group"], 0) + 1
    scores = [0.0] * len(us)
    for f in range(FOLDS):
        train = [u for u, k in zip(us, fold) if k != f]
        W, b = fit(*_xy(train, vec))
        for i, (u, k) in enumerate(zip(us, fold)):
            if k == f:
                scores[i] = _score(u, vec, W, b)
    return scores


def train(report: bool = False) -> dict:
    """Cross-validate, choose the threshold, refit on everything. Returns the arrays and
    the cross-validation figures."""
    from kasper.agents.quality.harm.minilm import embed  # deferred: loads MLX and the MiniLM weights

    us = units()
    texts = sorted({s for u in us for s in u["all"]})
    vec = dict(zip(texts, embed(texts)))
    scores = cross_validate(us, vec)
    threshold = choose_threshold(us, scores)
    W, b = fit(*_xy(us, vec))
    cv = {"threshold": threshold, "cv_rates": rates(us, scores, threshold),
          "units": {g: sum(u["group"] == g for u in us) for g in ("harmful", "counterpart", "good", "other")},
          "harmful_without_flagged_sentence": [u["id"] for u in us if u["group"] == "harmful" and not u["sentences"]],
          "cv_missed_harmful": [u["id"] for u, s in zip(us, scores) if u["group"] == "harmful" and s < threshold],
          "cv_flagged_safe": [u["id"] for u, s in zip(us, scores)
                              if u["group"] in ("counterpart", "good") and s >= threshold]}
    if report:
        for t in (0.5, 0.7, 0.9, 0.95, 0.98, 0.99, threshold):
            print(f"threshold {t:.3f}: {rates(us, scores, t)}")
    return {"W": W, "b": b, "threshold": threshold, "cv": cv}


def to_npz(model: dict) -> bytes:
    """The shipped file's bytes."""
    buf = io.BytesIO()
    np.savez(buf, W=model["W"], b=model["b"], threshold=np.float64(model["threshold"]),
             classes=np.array(CLASSES))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print the figures, write nothing")
    args = parser.parse_args(argv)
    model = train(report=True)
    print(json.dumps(model["cv"], indent=1))
    if not args.check:
        (DATA / WEIGHTS).write_bytes(to_npz(model))
        print(f"wrote {DATA / WEIGHTS}")


if __name__ == "__main__":
    main()
