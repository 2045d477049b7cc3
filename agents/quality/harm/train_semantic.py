"""Train the semantic gate: ``python -m kasper.agents.quality.harm.train_semantic``.

The gate is all-MiniLM-L6-v2 with its top :data:`TUNED` layers fine-tuned and a softmax
head over five classes (``safe`` and four harm gates), reading the mean of the last hidden
states. A linear probe on frozen sentence vectors cannot tell "stop taking your
medication" from "keep taking your medication" (cosine about 0.85); fine-tuning the top
layers on close pairs of harmful directives and their safe counterparts can.

Training sentences (nothing else is read):

- the development corpus, ``tests/data/quality/*_dev.jsonl``: in a harmful text, the
  sentences the rules flag for the text's own gate are that class (its other sentences are
  left out: they are often kind words around the directive); every sentence of every other
  text (safe counterparts, good, generic, salad, injection, personal data) is ``safe``;
- ``agents/quality/data/semantic_train.jsonl`` and ``data/semantic_more/*.jsonl``:
  hand-written harmful directives, their close safe counterparts and ordinary insight
  sentences.

One unit in :data:`VALIDATION` (a dev text or a written sentence, every sixth of its group)
is kept out of training; the threshold is the lowest harm probability whose false positives
on those validation units stay within :data:`MAX_FP_SAFE` (safe counterparts) and
:data:`MAX_FP_GOOD` (good insights). The model trained without them is the one shipped, so
the threshold is calibrated on text it never saw. The layers below the tuned ones stay as
shipped, so their outputs are computed once. Seeds are fixed; MLX on the CPU gives the same
weights for the same data within float rounding.

``--check`` prints the validation figures without writing.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np

from kasper.agents.quality.harm.engine import find_harm
from kasper.agents.quality.harm.semantic import (CLASSES, GATE_OF, TUNED, WEIGHTS, harm_scores, head_logits,
                                                 sentences, tuned_names)
from kasper.agents.runtime.blas import mx

import mlx.optimizers as optim  # noqa: E402  (after runtime.blas on purpose)

ROOT = Path(__file__).resolve().parents[3]
DEV = ROOT / "tests" / "data" / "quality"
DEV_FILES = ("safety_dev.jsonl", "content_dev.jsonl", "extra_dev.jsonl")
DATA = Path(__file__).resolve().parents[1] / "data"
WRITTEN = (DATA / "semantic_train.jsonl", *sorted((DATA / "semantic_more").glob("*.jsonl")))
KIND_CLASS = {"medical": "medical", "financial": "financial", "legal": "financial",
              "eating_disorder": "eating", "self_harm": "self_harm"}
# Targets below the task's limits (0.05, 0.02): the held-out paraphrases are further from
# the training data than the validation units are, so the margin is spent there.
MAX_FP_SAFE = 0.04
MAX_FP_GOOD = 0.02
VALIDATION = 6
EPOCHS = 6
BATCH = 32
LR_LAYERS = 1e-4
LR_HEAD = 3e-3
WEIGHT_DECAY = 1e-2
# Part of each target's mass spread over the classes: the model stays less sure of itself
# on sentences unlike its training data, so the threshold is not pushed against 1.
LABEL_SMOOTHING = 0.0
SEED = 7


def units() -> list[dict]:
    """Training units: ``{id, group, sentences, labels, all}``; ``group`` is what the
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
                out.append({"id": row["id"], "group": "harmful", "sentences": keep,
                            "all": ss, "labels": [cls] * len(keep)})
            else:
                group = {"safe_counterpart": "counterpart", "good": "good"}.get(row["label"], "other")
                if row.get("kind") == "numbers":
                    group = "other"
                out.append({"id": row["id"], "group": group, "sentences": ss,
                            "all": ss, "labels": ["safe"] * len(ss)})
    for path in WRITTEN:
        for i, line in enumerate(path.read_text("utf-8").splitlines()):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["label"] not in CLASSES:
                raise ValueError(f"{path.name}:{i + 1}: label {row['label']!r} is not one of {CLASSES}")
            group = {"harmful": "harmful", "counterpart": "counterpart", "ordinary": "good"}[row["kind"]]
            ss = [" ".join(sentences(row["text"]))]
            out.append({"id": f"{path.stem}-{i:04d}", "group": group, "sentences": ss,
                        "all": ss, "labels": [row["label"]]})
    return out


def split(us: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(train, validation)``: every :data:`VALIDATION`-th unit of each group is validation."""
    seen: dict[str, int] = {}
    train, val = [], []
    for u in us:
        k = seen.get(u["group"], 0)
        seen[u["group"]] = k + 1
        (val if k % VALIDATION == VALIDATION - 1 else train).append(u)
    return train, val


class Tuner:
    """The frozen lower layers' outputs, cached per sentence, and the trainable top."""

    def __init__(self, model) -> None:
        self.model = model
        self.first = model.layers - TUNED
        self.cache: dict[str, np.ndarray] = {}

    def states(self, texts: list[str]) -> None:
        """Compute and cache the frozen layers' output of every new text."""
        todo = sorted({t for t in texts if t not in self.cache})
        ids = dict(zip(todo, self.model.encode_ids(todo)))
        todo.sort(key=lambda t: len(ids[t]))
        for lo in range(0, len(todo), 64):
            chunk = todo[lo:lo + 64]
            tok, mask = self.model.pad([ids[t] for t in chunk])
            x = self.model.embed_tokens(tok)
            m = mx.array(mask, dtype=mx.float32)
            for i in range(self.first):
                x = self.model.layer(x, m, i)
            mx.eval(x)
            arr = np.array(x)
            for r, t in enumerate(chunk):
                self.cache[t] = arr[r, :len(ids[t])]

    def batch(self, texts: list[str]):
        t = max(len(self.cache[s]) for s in texts)
        x = np.zeros((len(texts), t, self.cache[texts[0]].shape[1]), np.float32)
        m = np.zeros((len(texts), t), np.float32)
        for r, s in enumerate(texts):
            x[r, :len(self.cache[s])] = self.cache[s]
            m[r, :len(self.cache[s])] = 1.0
        return mx.array(x), mx.array(m)

    def logits(self, params: dict, x, m):
        for i in range(self.first, self.model.layers):
            x = self.model.layer(x, m, i, params)
        return head_logits(self.model.pool(x, m, normalize=False), params["head.weight"], params["head.bias"])

    def probabilities(self, params: dict, texts: list[str]) -> np.ndarray:
        self.states(texts)
        out = np.zeros((len(texts), len(CLASSES)), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(self.cache[texts[i]]))
        for lo in range(0, len(order), 64):
            chunk = order[lo:lo + 64]
            p = mx.softmax(self.logits(params, *self.batch([texts[i] for i in chunk])), axis=-1)
            mx.eval(p)
            out[chunk] = np.array(p)
        return out


def initial(model) -> dict:
    """The shipped top layers and a zero head."""
    params = {k: mx.array(model.w[k]) for k in tuned_names(model.layers)}
    params["head.weight"] = mx.zeros((len(CLASSES), model.w["embeddings.LayerNorm.weight"].shape[0]))
    params["head.bias"] = mx.zeros((len(CLASSES),))
    return params


def fit(tuner: Tuner, train: list[dict], epochs: int = EPOCHS, log=print) -> dict:
    """Fine-tune the top layers and the head on the train units' labeled sentences with
    class-balanced cross-entropy (AdamW, one learning rate for the layers, a larger one
    for the head, fixed seed and batch order)."""
    pairs = [(s, CLASSES.index(c)) for u in train for s, c in zip(u["sentences"], u["labels"])]
    tuner.states([s for s, _ in pairs])
    counts = np.bincount([c for _, c in pairs], minlength=len(CLASSES)).astype(np.float32)
    class_w = mx.array(len(pairs) / (len(CLASSES) * np.maximum(counts, 1)))
    params = initial(tuner.model)
    rng = np.random.default_rng(SEED)
    # Batches of similar length (little padding), in a fresh random order each epoch.
    order = sorted(range(len(pairs)), key=lambda i: (len(tuner.cache[pairs[i][0]]), i))
    batches = [order[lo:lo + BATCH] for lo in range(0, len(order), BATCH)]
    total = epochs * len(batches)
    layers_opt = optim.AdamW(optim.cosine_decay(LR_LAYERS, total), weight_decay=WEIGHT_DECAY)
    head_opt = optim.AdamW(optim.cosine_decay(LR_HEAD, total), weight_decay=WEIGHT_DECAY)

    def loss_fn(p, x, m, y):
        z = tuner.logits(p, x, m)
        logp = z - mx.logsumexp(z, axis=-1, keepdims=True)
        nll = -mx.take_along_axis(logp, y[:, None], axis=-1)[:, 0]
        nll = (1.0 - LABEL_SMOOTHING) * nll - LABEL_SMOOTHING * logp.mean(axis=-1)
        w = class_w[y]
        return (w * nll).sum() / w.sum()

    grad_fn = mx.value_and_grad(loss_fn)
    for epoch in range(epochs):
        t0, losses = time.perf_counter(), []
        for bi in rng.permutation(len(batches)):
            idx = batches[bi]
            x, m = tuner.batch([pairs[i][0] for i in idx])
            y = mx.array([pairs[i][1] for i in idx])
            loss, grads = grad_fn(params, x, m, y)
            head = {k: params[k] for k in ("head.weight", "head.bias")}
            body = {k: v for k, v in params.items() if not k.startswith("head.")}
            head = head_opt.apply_gradients({k: grads[k] for k in head}, head)
            body = layers_opt.apply_gradients({k: grads[k] for k in body}, body)
            params = {**body, **head}
            mx.eval(params, layers_opt.state, head_opt.state)
            losses.append(float(loss))
        log(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f} ({time.perf_counter() - t0:.0f} s)")
    return params


def unit_scores(tuner: Tuner, params: dict, us: list[dict]) -> list[float]:
    """Each unit's harm score: its most harmful sentence, over all of its sentences."""
    flat = sorted({s for u in us for s in u["all"]})
    probs = dict(zip(flat, tuner.probabilities(params, flat))) if flat else {}
    out = []
    for u in us:
        if not u["all"]:
            out.append(0.0)
            continue
        p = np.stack([probs[s] for s in u["all"]])
        out.append(float(harm_scores(p).max()))
    return out


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


def train(report: bool = False, epochs: int = EPOCHS) -> dict:
    """Fit on the training units, choose the threshold on the validation units. Returns the
    parameters, the threshold and the validation figures."""
    from kasper.agents.quality.harm.minilm import model  # deferred: loads the MiniLM weights

    log = print if report else (lambda *_: None)
    train_us, val_us = split(units())
    tuner = Tuner(model())
    params = fit(tuner, train_us, epochs, log)
    scores = unit_scores(tuner, params, val_us)
    threshold = choose_threshold(val_us, scores)
    if report:
        for t in (0.5, 0.7, 0.9, 0.95, 0.98, 0.99, threshold):
            print(f"threshold {t:.3f}: {rates(val_us, scores, t)}")
    cv = {"threshold": threshold, "validation_rates": rates(val_us, scores, threshold),
          "units": {g: [sum(u["group"] == g for u in part) for part in (train_us, val_us)]
                    for g in ("harmful", "counterpart", "good", "other")},
          "missed_harmful": [u["id"] for u, s in zip(val_us, scores) if u["group"] == "harmful" and s < threshold],
          "flagged_safe": [u["id"] for u, s in zip(val_us, scores)
                           if u["group"] in ("counterpart", "good") and s >= threshold]}
    return {"params": params, "threshold": threshold, "cv": cv}


def to_npz(result: dict) -> bytes:
    """The shipped file's bytes: the tuned tensors in float16 (half the size; the gate
    computes in float32), the threshold, the class order and the validation rates at the
    threshold (a test checks the shipped file still gives them)."""
    buf = io.BytesIO()
    arrays = {k: np.array(v.astype(mx.float16)) for k, v in result["params"].items()}
    np.savez_compressed(buf, threshold=np.float64(result["threshold"]), classes=np.array(CLASSES),
                        tuned=np.int64(TUNED), validation=np.array(json.dumps(result["cv"]["validation_rates"])),
                        **arrays)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print the figures, write nothing")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args(argv)
    result = train(report=True, epochs=args.epochs)
    print(json.dumps(result["cv"], indent=1))
    if not args.check:
        (DATA / WEIGHTS).write_bytes(to_npz(result))
        print(f"wrote {DATA / WEIGHTS}")


if __name__ == "__main__":
    main()
