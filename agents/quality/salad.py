"""The salad head: whether a text's sentences say anything, read from their meaning.

Rubric v2's coherence evidence (:mod:`kasper.agents.quality.coherence`) reads structure:
word order, function words, chains of lexicon words. Salad that keeps its grammar
("fold your worry into the drawer of your Tuesday courage") has none of those faults
and passed it. What a sentence encoder does carry is whether a sentence is about
something a reader could picture or do; this head reads that.

Features: all-MiniLM-L6-v2 (the shipped encoder, :mod:`kasper.agents.quality.harm.minilm`,
not the semantic gate's fine-tuned copy, whose top layers were bent towards harm) gives a
unit vector per sentence and per clause (sentences cut at commas, dashes and
conjunctions); a text is the mean of its sentence vectors beside the mean of its clause
vectors. A logistic regression on those gives the probability that the text is salad.
Trained by ``python -m kasper.agents.quality.train_salad`` on the development files; the
threshold is set there on texts no model it came from was trained on (docs/quality.md,
"The salad head").

Cost: about 17 short texts to embed per insight, batched per call of
:func:`probabilities`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from kasper.agents.quality.harm.logistic import load_head, logistic
from kasper.agents.quality.harm.semantic import MAX_SENTENCES, sentences

WEIGHTS = "salad_head.npz"
DIM = 384
# Clause cuts: punctuation inside a sentence and the conjunctions salad joins its
# unrelated halves with ("because", "which is why", "so").
_CLAUSE = re.compile(r"\s*(?:[,;:\u2014\u2013]|\s-\s|\b(?:and|but|because|so|which|while|when|as|or)\b)\s*")
_LETTERS = re.compile(r"[a-z]")
_MIN_LETTERS = 8


def clauses(sentence: str) -> list[str]:
    """The parts of a normalised sentence between clause cuts (the sentence itself when
    no part holds enough letters)."""
    parts = [p.strip() for p in _CLAUSE.split(sentence) if p and len(_LETTERS.findall(p)) >= _MIN_LETTERS]
    return parts or [sentence]


def units(text: str) -> tuple[list[str], list[str]]:
    """``(sentences, clauses)`` of ``text`` that the head reads."""
    ss = sentences(text)[:MAX_SENTENCES]
    return ss, [c for s in ss for c in clauses(s)]


def _mean_unit(vectors: np.ndarray) -> np.ndarray:
    if not len(vectors):
        return np.zeros(vectors.shape[1], np.float32)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    return unit.mean(axis=0)


def features(texts: Sequence[str], embed=None) -> np.ndarray:
    """The head's input (N x 2*384): mean sentence vector and mean clause vector per text.
    ``embed``: list of strings -> vectors (the shipped encoder when None); every sentence
    and clause of every text goes through it in one call."""
    if embed is None:
        from kasper.agents.quality.harm.minilm import embed  # deferred: loads MLX and the encoder, only when the head runs
    per_text = [units(t) for t in texts]
    flat = [u for ss, cs in per_text for u in (*ss, *cs)]
    vectors = embed(flat) if flat else np.zeros((0, DIM), np.float32)
    out = np.zeros((len(texts), 2 * DIM), np.float32)
    i = 0
    for row, (ss, cs) in enumerate(per_text):
        out[row, :DIM] = _mean_unit(vectors[i:i + len(ss)])
        i += len(ss)
        out[row, DIM:] = _mean_unit(vectors[i:i + len(cs)])
        i += len(cs)
    return out


@lru_cache(maxsize=1)
def weights() -> tuple[np.ndarray, float, float]:
    """``(weight, bias, threshold)`` of the shipped head."""
    return load_head(WEIGHTS, 2 * DIM, "python -m kasper.agents.quality.train_salad")


def load() -> None:
    """Load the head and its encoder now (a worker calls it at start, so a missing package
    or weights file stops the worker with the reason instead of failing grades)."""
    from kasper.agents.quality.harm.minilm import model  # deferred: as in features()

    weights()
    model()


def probabilities(texts: Sequence[str]) -> np.ndarray:
    """The salad probability of each text, all embedded in one batch."""
    weight, bias, _ = weights()
    return logistic(features(texts), weight, bias)


@lru_cache(maxsize=2048)
def probability(text: str) -> float:
    """The salad probability of one text (cached: the grade and the report read it twice)."""
    return float(probabilities([text])[0])


def is_salad(text: str) -> tuple[bool, float]:
    """``(flagged, probability)``: flagged when the probability reaches the shipped threshold."""
    p = probability(text)
    return p >= weights()[2], p
