"""Which readings a text names: tarot cards, zodiac signs, numerology numbers.

An insight answers one prompt: one card, the reader's signs, their life path or personal
year. Sentences spliced from several insights keep every sentence fluent and on some
topic, so no word-level check sees them; what gives them away is that they name the
anchors of several readings the prompt never asked about ("The Tower shows...", "Your
Taurus sun...", "Life path 8 is...", "The Empress sits..."). :func:`foreign_systems`
counts the kinds of reading (cards, signs, numbers) the text names beyond its prompt's
context. A good insight stays within its reading and may borrow one image from another;
two other kinds of reading is a text stitched from several.

Signs count only capitalised ("your cancer treatment" is no sign); card names only as
cards ("the Sun card", "The Hermit holds", "Nine of Pentacles").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

_SIGNS = ("aries", "taurus", "gemini", "cancer", "leo", "virgo", "libra", "scorpio", "sagittarius",
          "capricorn", "aquarius", "pisces")
_MAJORS = ("fool", "magician", "high priestess", "empress", "emperor", "hierophant", "lovers",
           "chariot", "strength", "hermit", "wheel of fortune", "justice", "hanged man", "death",
           "temperance", "devil", "tower", "star", "moon", "sun", "judgement", "world")
_RANKS = "ace|two|three|four|five|six|seven|eight|nine|ten|page|knight|queen|king"
_SUITS = ("cups", "wands", "swords", "pentacles")
# Majors that are everyday words ("the moon is in Cancer", "the world is") count as "the Sun
# card" or as the subject of what a card's picture does ("The Star shows a woman..."); the
# others also as the subject of what a card does in a reading ("The Hermit asks").
_EVERYDAY_MAJORS = ("sun", "moon", "star", "world", "death", "strength", "justice", "lovers")
_CARD = re.compile(
    rf"\b(?:(?:{_RANKS}) of (?:{'|'.join(_SUITS)})|the (?:{'|'.join(_MAJORS)}) card|the (?:"
    + "|".join(m for m in _MAJORS if m not in _EVERYDAY_MAJORS)
    + r"),? (?:shows|is|sits|holds|stands|asks|turns|hangs|pours|rides|stares|walks|carries|"
    r"reminds|invites|appears|says|points|offers|brings)\b|the (?:" + "|".join(_EVERYDAY_MAJORS)
    + r") (?:shows|holds|pours|sits|stands|rides|carries|depicts)\b)", re.IGNORECASE)
_SIGN = re.compile(rf"\b(?:{'|'.join(s.capitalize() for s in _SIGNS)})(?:s|'s)?\b")
_NUMBER = re.compile(r"\b(?:life path|personal year|angel number|master number)(?: number)?(?: of)? "
                     r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|eleven|twenty-two)\b",
                     re.IGNORECASE)
# Words one of which each kind of anchor holds: without two kinds, nothing to read.
_HINTS = {
    "card": (frozenset(_SUITS) | {"card", "shows", "pours", "depicts"}
             | {w for m in _MAJORS if m not in _EVERYDAY_MAJORS for w in m.split() if w != "of"}),
    "sign": frozenset(_SIGNS),
    "number": frozenset({"path", "personal", "angel", "master"}),
}
_FIELD_TEXT = {"card": "the {} card", "life_path_number": "life path {}",
               "personal_year": "personal year {}"}


def anchors(text: str) -> set[str]:
    """The readings ``text`` names, as ``kind:name`` ("card:tower", "sign:taurus",
    "number:life path 8")."""
    found = {"card:" + _card_name(m.group()) for m in _CARD.finditer(text)}
    found |= {"sign:" + m.group().lower().rstrip("s").replace("'", "") for m in _SIGN.finditer(text)}
    found |= {"number:" + _number_name(m.group()) for m in _NUMBER.finditer(text)}
    # "Scorpios" and "Scorpio's" are Scorpio; "Aries" keeps its s.
    return {a if not a.startswith("sign:") or a[5:] in _SIGNS else a + "s" for a in found}


NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                "seventeen", "eighteen", "nineteen", "twenty", "twenty-one", "twenty-two")
_NUMBER_VALUES = {w: str(i) for i, w in enumerate(NUMBER_WORDS)}


def _number_name(match: str) -> str:
    # "Life path number seven", "life path of 7": "life path 7".
    words = [w for w in match.lower().split() if w not in ("number", "of")]
    return " ".join([*words[:-1], _NUMBER_VALUES.get(words[-1], words[-1])])


def _card_name(match: str) -> str:
    words = match.lower().replace(",", "").split()
    if words[0] == "the":  # "the Tower card", "The Hermit holds": the name between
        words = words[1:-1]
    return " ".join(words)


_READING_FIELDS = {"card": "card", "sun_sign": "sign", "moon_sign": "sign", "rising_sign": "sign",
                   "life_path_number": "number", "personal_year": "number"}


def assess(text: str, words: Collection[str], context: Mapping[str, str] | None) -> tuple[int, bool]:
    """``(foreign, wrong)`` for ``text`` against its prompt's ``context``: how many kinds of
    reading (card, sign, number) it names beyond what the context names, and whether it names
    a reading of a kind the context gives (a card, a sign, a number) but never the context's
    own: the Queen of Cups for a reader who drew the King of Pentacles, Pisces for a Leo.
    ``words``: the text's lowercase words (a cheap first test)."""
    context = context or {}
    hinted = {kind for kind, hints in _HINTS.items() if not hints.isdisjoint(words)}
    given = {_READING_FIELDS[k] for k in context if k in _READING_FIELDS}
    if len(hinted) < 2 and not hinted & given:
        return 0, False
    licensed = anchors(" ".join(_FIELD_TEXT.get(k, "{}").format(v) if k in _FIELD_TEXT
                                else str(v).title() for k, v in context.items()))
    named = anchors(text)
    foreign = named - licensed
    kinds = {a.split(":")[0] for a in foreign}
    wrong = any(kind in kinds and not any(a.startswith(kind + ":") for a in named & licensed)
                for kind in given)
    return len(kinds), wrong
