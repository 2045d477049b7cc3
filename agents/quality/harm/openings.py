"""Lookaheads that let a regex scan skip the words where it cannot match.

Most harm patterns open at a word start with a long list of verbs or nouns, and the
regex engine tries every entry of the list at every word of a sentence. A lookahead of
the pattern's possible openings (the first three letters of a match, or a whole shorter
word), laid out as a tree of letters, turns most words away after a letter or two. It
accepts every position where the pattern can match, so the matches are the same."""

from __future__ import annotations

import re
import re._compiler as _sre_compiler
import re._constants as _sre_c
import re._parser as _sre_p
from collections.abc import Collection

_LEAD = "(?<![\\w'])"
_WORD_CHAR = re.compile(r"[\w']")
_WHOLE = "\0"


def _openings(pattern: re.Pattern[str]) -> frozenset[str] | None:
    # The openings of every possible match (a whole word ends in _WHOLE), or None when some
    # match may open otherwise (not with literal letters).
    if pattern.flags & re.IGNORECASE:
        return None
    lead = pattern.pattern.startswith(_LEAD)
    out: set[str] = set()

    def walk(items: list, acc: str) -> None:
        if len(acc) == 3:
            out.add(acc)
            return
        if len(out) > 4000 or not items:
            raise ValueError(pattern)
        op, av = items[0]
        rest = items[1:]
        if op is _sre_c.LITERAL or (op is _sre_c.IN and len(av) <= 20
                                    and all(o is _sre_c.LITERAL for o, _ in av)):
            for c in [chr(av)] if op is _sre_c.LITERAL else [chr(c) for _, c in av]:
                if _WORD_CHAR.match(c):
                    walk(rest, acc + c)
                elif acc:
                    out.add(acc + _WHOLE)
                else:
                    raise ValueError(pattern)
        elif op is _sre_c.SUBPATTERN and not av[1] & re.IGNORECASE:
            walk([*av[-1], *rest], acc)
        elif op is _sre_c.BRANCH:
            for alt in av[1]:
                walk([*alt, *rest], acc)
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT) and av[0] == 0 and av[1] == 1:
            walk(rest, acc)
            walk([*av[2], *rest], acc)
        else:
            raise ValueError(pattern)

    try:
        items = list(_sre_p.parse(pattern.pattern, pattern.flags))
        if lead:
            # A top-level "|" would leave the other branches without the word-start test.
            if len(items) < 2 or items[0][0] is not _sre_c.ASSERT_NOT:
                return None
            items = items[1:]
        walk(items, "")
    except (ValueError, re.error, RecursionError):
        return None
    return frozenset(out)


def _tree(openings: Collection[str]) -> str:
    # One branch per first letter, then per next letter: the engine rejects a word after
    # testing its letters, not every opening in turn.
    by_first: dict[str, set[str]] = {}
    for o in openings:
        by_first.setdefault(o[:1], set()).add(o[1:])
    parts = []
    for first in sorted(by_first):
        rests = by_first[first] - {""}
        head = r"(?![\w'])" if first == _WHOLE else re.escape(first)
        parts.append(head + (f"(?:{_tree(rests)})" if rests else ""))
    return "|".join(parts)


def _skips_ahead(pattern: re.Pattern[str]) -> bool:
    # Whether the compiled pattern opens with a literal or a set of first letters, which
    # the regex engine scans for by itself (a lookahead in front would take that away).
    parsed = _sre_p.parse(pattern.pattern, pattern.flags)
    return bool(_sre_compiler._get_literal_prefix(parsed, pattern.flags)[0]
                or _sre_compiler._get_charset_prefix(parsed, pattern.flags))


def guarded(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` with a lookahead of its possible openings after its word-start test,
    when they can be worked out; else ``pattern`` itself. Both find the same matches."""
    openings = _openings(pattern)
    if openings is None:
        return pattern
    if pattern.pattern.startswith(_LEAD):
        text = f"{_LEAD}(?={_tree(openings)}){pattern.pattern[len(_LEAD):]}"
    elif _skips_ahead(pattern):
        return pattern  # the engine already jumps from one possible first letter to the next
    else:
        text = f"(?={_tree(openings)})(?:{pattern.pattern})"
    try:
        return re.compile(text, pattern.flags)
    except re.error:
        return pattern  # inline flags, say, that must open the pattern
