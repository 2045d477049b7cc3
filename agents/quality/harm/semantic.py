"""The semantic layer of the hard gates: a sentence classifier over MiniLM embeddings.

The rules (:mod:`~kasper.agents.quality.harm.engine`) recognise the phrasings they were
written for; a paraphrase by someone who never saw them slips through. This layer reads
meaning instead: every sentence of the (normalised) text is embedded with all-MiniLM-L6-v2
(:mod:`~kasper.agents.quality.harm.minilm`) and scored by a softmax regression over five
classes (``safe`` and four harm gates). A text is flagged when one of its sentences has a
harm probability (``1 - p(safe)``) of at least the shipped threshold: a directive hidden in
an otherwise kind text is still one sentence. The gate is the sentence's most likely harm
class; the reason reads ``semantic:<class> p=<probability>``.

The weights and the threshold are in ``data/semantic_gate.npz``, made by
:mod:`~kasper.agents.quality.harm.train_semantic` from the development corpus and the
sentences in ``data/semantic_train.jsonl`` (docs/quality.md says how).
"""

from __future__ import annotations

import re
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

# Sentence ends: . ! ? (with closing quotes) or a line break. Abbreviation dots ("dr.")
# are kept inside their sentence so "ask dr. lee before you stop" stays whole.
_END = re.compile(r"(?<!\bdr)(?<!\bmr)(?<!\bmrs)(?<!\bms)(?<!\bst)(?<!\bvs)(?<!\be\.g)(?<!\bi\.e)"
                  r"[.!?]+[\"')\]]*(?=\s)|\n+")
# A sentence needs a few letters to say anything (list bullets, "ok." are not scored).
_LETTERS = re.compile(r"[a-z]")
_MIN_LETTERS = 8
# Sentence embeddings barely register negation or a professional in the loop: "don't stop
# your meds" and "ask your doctor before you stop" sit next to "stop your meds". The rules
# read those precisely (negation scope, deferral); the semantic layer leaves any sentence
# holding such a cue to them.
_PROTECTED = re.compile(
    r"\b(?:don't|do not|dont|never|not|no one|nobody|won't|shouldn't|isn't|without your"
    r"|doctor|doctor's|gp|psychiatrist|pharmacist|pharmacy|prescriber|nurse|physician|oncologist"
    r"|lawyer|solicitor|adviser|advisor|counsellor|counselor|helpline|hotline|crisis line"
    r"|legal aid|samaritans|988)\b")


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


@lru_cache(maxsize=1)
def weights() -> tuple[np.ndarray, np.ndarray, float]:
    """``(W, b, threshold)`` of the shipped classifier (W: classes x 384)."""
    try:
        data = resources.files("kasper.agents.quality").joinpath("data", WEIGHTS).read_bytes()
    except FileNotFoundError as exc:
        raise SemanticWeightsError(
            f"{WEIGHTS} is missing: python -m kasper.agents.quality.harm.train_semantic") from exc
    import io

    with np.load(io.BytesIO(data)) as z:
        if tuple(z["classes"]) != CLASSES:
            raise SemanticWeightsError(f"{WEIGHTS} classes {tuple(z['classes'])} != {CLASSES}")
        return z["W"].astype(np.float32), z["b"].astype(np.float32), float(z["threshold"])


def probabilities(vectors: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Softmax class probabilities (N x classes) of sentence vectors (N x dim)."""
    z = vectors @ W.T + b
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def protected(sentence: str) -> bool:
    """Whether a normalised sentence holds a negation or a professional (left to the rules)."""
    return _PROTECTED.search(sentence) is not None


def harm_scores(ss: Sequence[str], probs: np.ndarray) -> np.ndarray:
    """Each sentence's harm probability, ``1 - p(safe)``, zero for a protected sentence."""
    harm = 1.0 - probs[:, 0] if len(ss) else np.zeros(0)
    return np.where([not protected(s) for s in ss], harm, 0.0) if len(ss) else harm


def findings(ss: Sequence[str], probs: np.ndarray, threshold: float) -> list[tuple[str, str]]:
    """``(gate, reason)`` of one text from its sentences and their probabilities: each gate
    once, with its most probable sentence."""
    best: dict[str, float] = {}
    for row, harm in zip(probs, harm_scores(ss, probs)):
        harm = float(harm)
        if harm >= threshold:
            cls = CLASSES[1 + int(np.argmax(row[1:]))]
            best[cls] = max(best.get(cls, 0.0), harm)
    return [(GATE_OF[c], f"semantic:{c} p={p:.2f}") for c, p in best.items()]


def find_semantic_batch(texts: Sequence[str]) -> list[list[tuple[str, str]]]:
    """:func:`find_semantic` of many texts, all their sentences embedded in one batch."""
    from kasper.agents.quality.harm.minilm import embed  # deferred: loads MLX and the MiniLM weights, only when the layer runs

    W, b, threshold = weights()
    per_text = [sentences(t) for t in texts]
    flat = [s for ss in per_text for s in ss]
    probs = probabilities(embed(flat), W, b) if flat else np.zeros((0, len(CLASSES)))
    out, i = [], 0
    for ss in per_text:
        out.append(findings(ss, probs[i:i + len(ss)], threshold))
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
