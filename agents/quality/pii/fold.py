"""Unicode folding for the personal-data detector: NFKC per character, ASCII digits, one
dash and one space, invisible characters dropped, and the map from folded offsets back
to the original text (:mod:`kasper.agents.quality.personal_data`)."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Characters NFKC leaves alone that still read as an email's "." or a phone's separator.
_FOLD_EXTRA = {"\u3002": ".", "\uff61": ".", "\u2212": "-", "\u00b7": ".", "\u2027": "."}


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _FOLD_EXTRA:
        return _FOLD_EXTRA[ch]
    category = unicodedata.category(ch)
    if category in ("Cf", "Mn", "Me"):  # zero-width, joiners, soft hyphen, bidi, combining marks
        return ""
    if category == "Zs":
        return " "
    if category == "Pd":
        return "-"
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)
    folded = unicodedata.normalize("NFKC", ch)
    return "".join(_fold_char(c) if not c.isascii() and c != ch else c for c in folded)


class _OffsetMap:
    """Maps offsets in the folded text back to the original text.

    Each folded character is one original character, or part of the replacement of one
    original character. The two lists hold, in pairs, where each replacement begins and
    where the unchanged text after it resumes, as folded and as original offsets.
    """

    def __init__(self, folded_starts: list[int], original_starts: list[int]):
        self.folded_starts = folded_starts
        self.original_starts = original_starts

    def _char(self, pos: int) -> int:
        k = bisect_right(self.folded_starts, pos) - 1
        if k < 0:
            return pos
        if k % 2 == 0:  # inside a replacement: its one original character
            return self.original_starts[k]
        return self.original_starts[k] + pos - self.folded_starts[k]

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self._char(start), self._char(end - 1) + 1


def _fold(text: str) -> tuple[str, _OffsetMap | None]:
    if text.isascii():  # the usual case: nothing to fold
        return text, None
    pieces: list[str] = []
    folded_starts: list[int] = []
    original_starts: list[int] = []
    last = folded_pos = 0
    for m in _NON_ASCII.finditer(text):
        ch = m.group()
        replacement = _fold_char(ch)
        if replacement == ch:
            continue
        i = m.start()
        pieces.append(text[last:i])
        folded_pos += i - last
        folded_starts.append(folded_pos)
        original_starts.append(i)
        pieces.append(replacement)
        folded_pos += len(replacement)
        last = i + 1
        folded_starts.append(folded_pos)
        original_starts.append(last)
    if not folded_starts:
        return text, None
    pieces.append(text[last:])
    return "".join(pieces), _OffsetMap(folded_starts, original_starts)
