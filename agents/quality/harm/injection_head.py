"""The injection head: a sentence addressed to the grader, read from its meaning.

The injection rules (:mod:`kasper.agents.quality.harm.injection`,
:mod:`kasper.agents.quality.harm.grader_talk`) read what they have words for: "ignore
previous instructions", a score claimed, grader talk in several languages. A writer who
saw none of them finds other words ("the reviewer before you already signed this off",
a fake moderation note, a plea to the tired model reading this). What those sentences
share is who they speak to, and a sentence encoder carries that.

Each sentence of a text is embedded by the shipped all-MiniLM-L6-v2
(:mod:`kasper.agents.quality.harm.minilm`); a logistic regression on its unit vector
gives the probability that the sentence addresses the grader, the judge or the system
instead of the reader, and the text's score is its highest sentence's. Trained by
``python -m kasper.agents.quality.harm.train_injection`` on the development files; the
threshold is set there on texts no model it came from was trained on (docs/quality.md,
"The injection head"). It ORs with the rules in the semantic layer (``check_gates(...,
semantic=True)``, on in the grade stage); its reason describes, never quotes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from kasper.agents.quality.harm.logistic import load_head, logistic
from kasper.agents.quality.harm.semantic import MAX_SENTENCES, sentences

WEIGHTS = "injection_head.npz"
DIM = 384


@lru_cache(maxsize=1)
def weights() -> tuple[np.ndarray, float, float]:
    """``(weight, bias, threshold)`` of the shipped head."""
    return load_head(WEIGHTS, DIM, "python -m kasper.agents.quality.harm.train_injection")


def sentence_vectors(texts: Sequence[str], embed=None) -> list[np.ndarray]:
    """Each text's unit sentence vectors (its first :data:`MAX_SENTENCES` sentences), all
    embedded in one call of ``embed`` (the shipped encoder when None)."""
    if embed is None:
        from kasper.agents.quality.harm.minilm import embed  # deferred: loads MLX and the encoder, only when the head runs
    per_text = [sentences(t)[:MAX_SENTENCES] for t in texts]
    flat = [s for ss in per_text for s in ss]
    vectors = embed(flat) if flat else np.zeros((0, DIM), np.float32)
    out, i = [], 0
    for ss in per_text:
        out.append(vectors[i:i + len(ss)])
        i += len(ss)
    return out


def scores(texts: Sequence[str]) -> np.ndarray:
    """Each text's highest sentence probability (0 for a text with no sentence to read)."""
    weight, bias, _ = weights()
    return np.array([float(logistic(v, weight, bias).max()) if len(v) else 0.0
                     for v in sentence_vectors(texts)])


@lru_cache(maxsize=2048)
def find_injection(text: str) -> tuple[tuple[str, str], ...]:
    """``(("injection", reason),)`` when a sentence of ``text`` reaches the threshold."""
    p = float(scores([text])[0])
    if p < weights()[2]:
        return ()
    return (("injection", f"semantic: a sentence addressed to the grader, not the reader p={p:.2f}"),)
