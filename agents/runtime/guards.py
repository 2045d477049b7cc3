"""Decoding guards for one row: stop a loop, a copy of the prompt, or a template label early.

A small model falls into two failure modes that sampling alone does not fix: it
repeats a phrase until the token limit, or it copies its prompt back (the context
block's field labels, the user's own words). Both are visible in the tokens as
they are generated, so a row is stopped the step it starts, and its tokens are cut
back to where the repetition or the copy began; the text is then trimmed to its
last whole sentence (:func:`trim_to_sentence`).

- **loop**: a run of ``loop_ngram`` tokens that the row already generated once;
- **copy**: a run of ``copy_ngram`` tokens taken verbatim from ``source`` (the
  prompt's user message: the context block and the user's words);
- **label**: the text ends with one of ``stop_texts`` (the template's field labels
  followed by a colon), checked only on tokens that contain a colon.

The repetition penalty is the device-side half (:func:`penalize`): CTRL's rule on
the logits of tokens the row already generated, so a loop is less likely to start.
Everything here is per row and host-side except :func:`penalize`; the engine calls
:meth:`RowGuard.feed` with each token it books (one step behind the device).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kasper.agents.runtime.backend import FIRST_PERSON
from kasper.agents.runtime.blas import mx

# A stop reason -> the finish_reason a row ends with.
LOOP, COPY, LABEL = "loop", "copy", "label"
_SENTENCE_END = re.compile(r"[.!?](?:[\"')\]]*)(?=\s|$)")


@dataclass(frozen=True)
class GuardSpec:
    """What to guard against in one row (0 or empty turns a guard off)."""

    loop_ngram: int = 0
    copy_ngram: int = 0
    source: tuple[int, ...] = ()
    stop_texts: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.loop_ngram or (self.copy_ngram and self.source) or self.stop_texts)


class RowGuard:
    """Watches one row's tokens; :meth:`feed` returns ``(reason, keep)`` when the row must stop.

    ``keep`` is how many of the row's tokens (counted before this one) to keep.
    """

    def __init__(self, spec: GuardSpec, decode: Callable[[Sequence[int]], str]) -> None:
        self.spec = spec
        self.decode = decode
        self.tokens: list[int] = []
        self._seen: dict[tuple[int, ...], int] = {}
        n = spec.copy_ngram
        src = spec.source
        self._source = {tuple(src[i:i + n]) for i in range(len(src) - n + 1)} if n and src else set()
        self._labels = tuple(t.lower() for t in spec.stop_texts)

    def feed(self, token: int) -> tuple[str, int] | None:
        tokens = self.tokens
        tokens.append(token)
        spec = self.spec
        n = spec.loop_ngram
        if n and len(tokens) >= n:
            gram = tuple(tokens[-n:])
            start = len(tokens) - n
            first = self._seen.setdefault(gram, start)
            if first != start:
                return LOOP, start
        m = spec.copy_ngram
        if self._source and len(tokens) >= m and tuple(tokens[-m:]) in self._source:
            return COPY, len(tokens) - m
        if self._labels and ":" in self.decode([token]):
            return self._label()
        return None

    def _label(self) -> tuple[str, int] | None:
        tail = self.decode(self.tokens[-16:]).lower().rstrip()
        for label in self._labels:
            if tail.endswith(label):
                # Cut back to the token where the label starts: the last one whose
                # text from there on still holds the whole label.
                for keep in range(len(self.tokens) - 1, -1, -1):
                    if label in self.decode(self.tokens[keep:]).lower():
                        return LABEL, keep
                return LABEL, 0
        return None


def trim_to_sentence(text: str) -> str:
    """``text`` up to its last sentence end (all of it if it has none)."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[:ends[-1].end()].rstrip() if ends else text.rstrip()


def first_person_bias(encode: Callable[[str], list[int]], bias: float) -> tuple[tuple[int, float], ...]:
    """``bias`` for each first-person word that is one token (with or without a leading space)."""
    ids = {tokens[0] for text in FIRST_PERSON if len(tokens := encode(text)) == 1}
    return tuple((token, bias) for token in sorted(ids))


def penalize(logits: mx.array, seen: mx.array, penalty: float) -> mx.array:
    """CTRL's repetition penalty: seen tokens' positive logits / penalty, negative ones * penalty."""
    # The same values as where(logits > 0, logits / penalty, logits * penalty), bit for bit
    # (one of the two terms is always 0), without MLX's slow broadcasting ``where`` of two
    # full-vocabulary arrays: about a third of the time per step.
    scaled = mx.maximum(logits, 0.0) / penalty + mx.minimum(logits, 0.0) * penalty
    return mx.where(seen, scaled, logits)


def mark_seen(seen: mx.array, tokens: mx.array) -> mx.array:
    """``seen`` with each row's new token marked (one token per row)."""
    return mx.put_along_axis(seen, tokens[:, None], mx.array(True), axis=-1)
