"""Sentence bounds of a prepared text, with the sentences each word occurs in.

Every layer of the gates asks the same question many times per text: which sentences
hold one of these words? One :class:`Segments` per text answers it for all of them, and
finds each word's sentences once however many rules, cues and layers ask."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable


class Segments:
    """The prepared text ``s`` cut at ``starts``/``ends`` (sentence bounds, as the engine
    splits them), with a per-word memo of the sentences holding the word."""

    __slots__ = ("s", "starts", "ends", "_hits")

    def __init__(self, s: str, starts: list[int], ends: list[int]) -> None:
        self.s, self.starts, self.ends = s, starts, ends
        self._hits: dict[str, tuple[int, ...]] = {}

    def of(self, word: str) -> tuple[int, ...]:
        """Indices of the sentences where ``word`` occurs as a substring: a hit inside a
        longer word only adds a sentence to scan, never hides one."""
        hit = self._hits.get(word)
        if hit is None:
            s, starts, ends = self.s, self.starts, self.ends
            out = []
            i = s.find(word)
            while i >= 0:
                k = bisect_right(starts, i) - 1
                out.append(k)
                # Jump to the next sentence: one hit is enough to pick this one.
                i = s.find(word, ends[k])
            hit = self._hits[word] = tuple(out)
        return hit

    def spans(self, present: Iterable[str]) -> list[tuple[int, int]]:
        """``(start, end)`` of the sentences holding any of the words ``present``, in order."""
        hits = self._hits
        first: tuple[int, ...] = ()
        picked: set[int] | None = None
        for word in present:
            hit = hits.get(word)
            if hit is None:
                hit = self.of(word)
            if not hit:
                continue
            if not first:
                # Most asks hold one word: its sentences are already in order, once each.
                first = hit
            else:
                if picked is None:
                    picked = set(first)
                picked.update(hit)
        if not first:
            return []
        starts, ends = self.starts, self.ends
        return [(starts[k], ends[k]) for k in (first if picked is None else sorted(picked))]
