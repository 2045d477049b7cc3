"""The base model's lower blocks' states per held-out example, kept for the process.

Why: an evaluation measures two models on the same examples (the candidate and the
serving model, :mod:`kasper.trainer.evaluate`), and every window measures a new
candidate on the same golden examples again. Below a tier's LoRA layers both models
are the base model, so what those blocks make of an example is the same for each:
computed once (:func:`~kasper.trainer.packed.lower_states`) and kept here, an
evaluation runs the adapted blocks and the output head only. The tiers adapt
different numbers of blocks; the states where each tier's adapted blocks start are
kept on the way up, so the first evaluation of the run serves every tier's. The
states cost the model's hidden size in float32 per token; the memo is bounded by
bytes and drops the oldest first.

Keys: the base model (:func:`kasper.trainer.eval_cache.model_key` with no
adapter), the block the states stop at, the cut length and the example's tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .packed import Seq, first_adapted, lower_states

# Room for the golden examples of every tier and many windows' held-out lines (each
# example about half a megabyte per split on the shipped model).
MAX_BYTES = 256 * 1024 * 1024


class StateMemo:
    """States by key, oldest dropped first once over ``max_bytes``."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._states: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self.bytes = 0

    def get(self, key: str) -> tuple[Any, Any] | None:
        found = self._states.get(key)
        if found is not None:
            self._states.move_to_end(key)
        return found

    def put(self, key: str, states: tuple[Any, Any]) -> None:
        if key in self._states:
            return
        self._states[key] = states
        self.bytes += sum(s.nbytes for s in states)
        while self.bytes > self.max_bytes and len(self._states) > 1:
            _, old = self._states.popitem(last=False)
            self.bytes -= sum(s.nbytes for s in old)


MEMO = StateMemo()


@dataclass(frozen=True)
class SharedStates:
    """The states one evaluation shares: below block ``split`` of the base model ``base``;
    on the way there, those below each of ``also`` are kept too."""

    memo: StateMemo
    base: str
    split: int
    also: tuple[int, ...] = ()

    def of(self, model: Any, seq: Seq, max_len: int, rows: tuple) -> tuple[Any, Any]:
        """``rows`` (a pack of ``seq`` alone) states after the first ``split`` blocks."""
        splits = sorted({s for s in self.also if 0 < s < self.split} | {self.split})
        keys = {s: self._key(s, seq, max_len) for s in splits}
        start, states = 0, None
        for s in splits:  # the highest split already kept is where the blocks start
            found = self.memo.get(keys[s])
            if found is not None:
                start, states = s, found
        for s in splits:
            if s > start:
                states = lower_states(model, rows, s, start, states)
                self.memo.put(keys[s], states)
                start = s
        return states

    def _key(self, split: int, seq: Seq, max_len: int) -> str:
        text = json.dumps([self.base, split, max_len, seq[1], list(seq[0])], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def shared_states(model: Any, base: str, num_layers: int, others: Iterable[int] = (),
                  memo: StateMemo = MEMO) -> SharedStates | None:
    """What ``model`` (the base model, or it with an adapter on its last blocks) shares with
    every model of a tier training its last ``num_layers`` blocks; None when nothing (a
    model that cannot be split, or an adapter reaching further down). ``others``: the other
    tiers' ``num_layers``, whose states are kept on the way."""
    blocks = len(getattr(getattr(model, "model", None), "layers", ()))
    split = min(blocks - num_layers, first_adapted(model))
    also = tuple(sorted(blocks - n for n in others if 0 < blocks - n < split))
    return SharedStates(memo, base, split, also) if split > 0 else None
