"""The semantic layer of the hard gates: a fine-tuned MiniLM sentence classifier.

The rules (:mod:`~kasper.agents.quality.harm.engine`) recognise the phrasings they were
written for; a paraphrase by someone who never saw them slips through. This layer reads
meaning instead: every sentence of the (normalised) text goes through all-MiniLM-L6-v2
(:mod:`~kasper.agents.quality.harm.minilm`) with its top :data:`TUNED` layers fine-tuned,
and a softmax head over five classes (``safe`` and four harm gates) reads the mean of its
last hidden states. A text is flagged when one of its sentences has a harm probability
(``1 - p(safe)``) of at least the shipped threshold: a directive hidden in an otherwise
kind text is still one sentence. The gate is the sentence's most likely harm class; the
reason reads ``semantic:<class> p=<probability>``.

The tuned tensors, the head and the threshold are in ``data/semantic_gate.npz``, made by
:mod:`~kasper.agents.quality.harm.train_semantic` from the development corpus and the
written sentences in ``data/`` (docs/quality.md says how).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import numpy as np

from kasper.agents.quality.harm.normalize import normalize
from kasper.schemas.errors import KasperError

# Class order of the shipped weights; "safe" first.
CLASSES = ("safe", "medical", "financial", "eating", "self_harm")
GATE_OF = {"medical": "medical_directive", "financial": "legal_financial_directive",
           "eating": "eating_disorder", "self_harm": "self_harm"}
WEIGHTS = "semantic_gate.npz"
# Encoder layers fine-tuned for the gate (the top ones); the others stay as shipped.
TUNED = 2

# Sentence ends: . ! ? (with closing quotes) or a line break. Abbreviation dots ("dr.")
# are kept inside their sentence so "ask dr. lee before you stop" stays whole.
_END = re.compile(r"(?<!\bdr)(?<!\bmr)(?<!\bmrs)(?<!\bms)(?<!\bst)(?<!\bvs)(?<!\be\.g)(?<!\bi\.e)"
                  r"[.!?]+[\"')\]]*(?=\s)|\n+")
# A sentence needs a few letters to say anything (list bullets, "ok." are not scored).
_LETTERS = re.compile(r"[a-z]")
_MIN_LETTERS = 8
# Sentences of one text the layer reads, from the start. An insight has about six; a text
# of hundreds (a record written to kasper.insights by hand, up to the codec's 512 KiB)
# would hold the grade stage for a minute. Past the cap only the rules read on; such a text
# is far outside the word band, so it cannot pass the rubric at the default threshold.
MAX_SENTENCES = 200


class SemanticWeightsError(KasperError):
    """The shipped semantic gate weights are missing or do not fit the classes."""


def sentences(text: str) -> list[str]:
    """The normalised sentences of ``text`` that hold enough letters to score."""
    out = []
    for part in _END.split(normalize(text)):
        part = part.strip()
        if len(_LETTERS.findall(part)) >= _MIN_LETTERS:
            out.append(part)
    return out


def tuned_names(layers: int) -> list[str]:
    """The MiniLM tensor names the gate fine-tunes (every tensor of the top layers)."""
    parts = ("attention.self.query", "attention.self.key", "attention.self.value",
             "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
             "output.dense", "output.LayerNorm")
    return [f"encoder.layer.{i}.{p}.{w}" for i in range(layers - TUNED, layers)
            for p in parts for w in ("weight", "bias")]


def head_logits(pooled, weight, bias):
    """Class scores from mean-pooled hidden states (MLX arrays in training, numpy here)."""
    return pooled @ weight.T + bias


@lru_cache(maxsize=1)
def weights() -> tuple[dict[str, np.ndarray], float]:
    """``(tensors, threshold)`` of the shipped gate: the tuned layers' tensors by MiniLM
    name, and ``head.weight`` / ``head.bias``, all float32."""
    try:
        data = resources.files("kasper.agents.quality").joinpath("data", WEIGHTS).read_bytes()
    except FileNotFoundError as exc:
        raise SemanticWeightsError(
            f"{WEIGHTS} is missing: python -m kasper.agents.quality.harm.train_semantic") from exc
    import io

    with np.load(io.BytesIO(data)) as z:
        if tuple(z["classes"]) != CLASSES:
            raise SemanticWeightsError(f"{WEIGHTS} classes {tuple(z['classes'])} != {CLASSES}")
        if "tuned" not in z.files or int(z["tuned"]) != TUNED:
            raise SemanticWeightsError(f"{WEIGHTS} holds no fine-tuned layers ({TUNED} expected): retrain it")
        tensors = {k: z[k].astype(np.float32) for k in z.files if k not in ("classes", "threshold", "tuned", "validation")}
        return tensors, float(z["threshold"])


def harm_scores(probs: np.ndarray) -> np.ndarray:
    """Each sentence's harm probability, ``1 - p(safe)``, from its class probabilities."""
    return 1.0 - probs[:, 0]


def findings(probs: np.ndarray, threshold: float) -> list[tuple[str, str]]:
    """``(gate, reason)`` of one text from its sentences' class probabilities: each gate
    once, with its most probable sentence."""
    best: dict[str, float] = {}
    for row, harm in zip(probs, harm_scores(probs)):
        harm = float(harm)
        if harm >= threshold:
            cls = CLASSES[1 + int(np.argmax(row[1:]))]
            best[cls] = max(best.get(cls, 0.0), harm)
    return [(GATE_OF[c], f"semantic:{c} p={p:.2f}") for c, p in best.items()]


_TUNED_MODEL = None
_LOCK = threading.Lock()


def tuned_model():
    """The process's fine-tuned MiniLM (the shipped one with the gate's top layers), loaded
    on first use."""
    global _TUNED_MODEL
    if _TUNED_MODEL is None:
        from kasper.agents.quality.harm.minilm import MiniLM, model_dir  # deferred: loads MLX and the MiniLM weights, only when the layer runs

        with _LOCK:
            if _TUNED_MODEL is None:
                tensors, _ = weights()
                _TUNED_MODEL = MiniLM(model_dir(), {k: v for k, v in tensors.items() if not k.startswith("head.")})
    return _TUNED_MODEL


def load() -> None:
    """Load the gate's weights and model now (a worker calls it at start, so a missing
    package or weights file stops the worker with the reason instead of failing grades)."""
    tuned_model()


def probabilities(ss: Sequence[str]) -> np.ndarray:
    """Class probabilities (N x classes) of normalised sentences."""
    if not ss:
        return np.zeros((0, len(CLASSES)), np.float32)
    tensors, _ = weights()
    z = head_logits(tuned_model().embed(list(ss), normalize=False), tensors["head.weight"], tensors["head.bias"])
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def find_semantic_batch(texts: Sequence[str]) -> list[list[tuple[str, str]]]:
    """:func:`find_semantic` of many texts, all their sentences embedded in one batch."""
    _, threshold = weights()
    per_text = [sentences(t)[:MAX_SENTENCES] for t in texts]
    probs = probabilities([s for ss in per_text for s in ss])
    out, i = [], 0
    for ss in per_text:
        out.append(findings(probs[i:i + len(ss)], threshold))
        i += len(ss)
    return out


@lru_cache(maxsize=2048)
def _cached(text: str) -> tuple[tuple[str, str], ...]:
    # The rubric and its callers often gate the same text twice (grade, then report).
    return tuple(find_semantic_batch([text])[0])


def find_semantic(text: str) -> list[tuple[str, str]]:
    """``(gate, "semantic:<class> p=<p>")`` for every harm gate a sentence of ``text``
    reaches the classifier's threshold on."""
    return list(_cached(text))
