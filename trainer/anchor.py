"""The texts a preference objective is anchored on, so learning users' taste does not
cost the model what it already predicts well.

KTO and DPO move sequence log-probs on a window's few thumbed texts; left alone, the
rest of the model's distribution drifts with them, and the persistent evaluation
set's loss rises (the promotion rule's loss guard then holds the candidate back,
docs/trainer.md, "The anchor"). The anchor holds each of these texts' mean token
loss at or below the reference model's (:func:`kasper.trainer.preference.anchor_loss`):

- the shipped seed exemplars (``agents/quality/templates/seed_exemplars.json``),
  written for the package in the voice it wants, and disjoint from the golden set
  the decision is measured on (a test checks that);
- the window's approved texts that no user disliked (its SFT training split).

Nothing here is from the evaluation set: neither the golden references nor any
held-out line.
"""

from __future__ import annotations

from typing import Any

from kasper.agents.quality.exemplars import seed_exemplars
from kasper.agents.quality.prompts import build_messages
from kasper.streams.settings import DEFAULT_TEMPLATE

from .packed import Seq
from .preference import encode


def seed_messages(template_version: str = DEFAULT_TEMPLATE) -> list[list[dict[str, str]]]:
    """Each seed exemplar as a chat: its prompt as the generator would build it, its text
    as the answer."""
    return [[*build_messages({"domain": e.domain, "context": dict(e.context)}, template_version),
             {"role": "assistant", "content": e.text}]
            for domain in sorted(seed_exemplars()) for e in seed_exemplars()[domain]]


def anchor_texts(tokenizer: Any, window_texts: list[Seq],
                 template_version: str = DEFAULT_TEMPLATE) -> list[Seq]:
    """Tokenized anchor rows: the seed exemplars, then ``window_texts`` (already tokenized)."""
    seeds = [encode(tokenizer, chat[:-1], chat[-1:]) for chat in seed_messages(template_version)]
    return seeds + list(window_texts)
