"""Normalisation of insight text before the harm rules match it."""

from __future__ import annotations

import re
import unicodedata


# --- normalisation ----------------------------------------------------------------------

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_FOLD = str.maketrans({
    **{c: "'" for c in "\u2018\u2019\u201a\u201b\u2032\u02bc\u0060\u00b4"},
    **{c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"},
    **{c: " \u2014 " for c in "\u2013\u2014\u2015\u2212"},
    **{c: "-" for c in "\u2010\u2011\u2012"},
    **{c: None for c in _ZERO_WIDTH},
    # Cyrillic and Greek letters that look Latin ("kіll" with a Cyrillic і).
    **dict(zip("\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0455\u0458\u04bb\u0501\u043c"
               "\u0442\u043a\u043d\u0432\u051b\u051d"
               "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0406"
               "\u0405\u0408"
               "\u03bf\u03b1\u03b9\u03ba\u03bd\u03c1\u03c4\u03c5\u03b5\u03b7\u03c9\u03c7"
               "\u03b3\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1"
               "\u03a4\u03a5\u03a7",
               "aeopcyxisjhdmtkhbqwabekmhopctxisjoaikvptuenwxyabezhikmnoptyx")),
})
# Digits and symbols standing for letters inside a word ("m3ds", "p!lls", "$avings",
# "k1ll"): only between letters, or a leading $/@ and a trailing 5/$, so numbers,
# times and "4-7-8" stay as they are.
_LEET_MAP = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
             "!": "i", "|": "l"}
# The pattern starts with the leet character itself so the scan skips ahead to candidates.
_LEET = re.compile(r"[013457@$!|](?:(?<=[a-z].)(?=[a-z])|(?<=[a-z]{2}[5$])(?!\w)"
                   r"|(?<=[@$])(?<![\w@$].)(?=[a-z]{2}))")
_SPACES = re.compile(r"[^\S\n]{2,}|[\t\r\f\v]")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789'")
# ASCII punctuation and spaces become spaces; splitting then gives the _WORD tokens.
# As a byte table: bytes.translate is a plain lookup, far faster than str.translate.
_TO_SPACE_BYTES = bytes(c if c < 128 and chr(c) in _WORD_CHARS else 32 for c in range(256))
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# Abbreviation dots are not sentence ends ("ask Dr. Lee before you stop").
_ABBREVS = ("dr.", "mr.", "mrs.", "ms.", "st.", "vs.", "etc.", "approx.", "e.g.", "i.e.")
_ABBREV = re.compile(r"\b(dr|mr|mrs|ms|st|vs|etc|approx|e\.g|i\.e)\.")
# Whether the text holds any of _ABBREVS: a scan from dot to dot (the literal comes first,
# so the engine skips ahead), looking back at each.
_ABBREV_HINT = re.compile(r"\.(?<=[" + "".join(sorted({a[-2] for a in _ABBREVS})) + r"]\.)(?:"
                          + "|".join(f"(?<={re.escape(a)})" for a in _ABBREVS) + ")")
# An apostrophe opening or closing a word token (a quote around it, not "don't"): the
# literal comes first here too.
_EDGE_QUOTE = re.compile(r"'(?![a-z0-9'])|'(?<![a-z0-9']')")


# A line break inside a sentence (after a letter or comma, before a lower-case letter) is a
# soft wrap, not a clause end: "stop taking\nyour meds" is one directive.
_SOFT_WRAP = re.compile(r"(?<=[^\W\d_,]|,)[ \t]*\n[ \t]*(?=[^\W\d_A-Z])")


# Pictographs between words ("stop \U0001f6d1 taking") are dropped.
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0e\ufe0f]+")
# Spelled-out words: "m-e-d-s", "p.i.l.l.s", "k i l l" (three or four letters at least).
# Cheap hints first (literal-led patterns scan fast); the full pattern only when one hits.
_SPELLED_SEP = re.compile(r"[-.*_][a-z][-.*_][a-z]")
_SPELLED_SPACE = re.compile(r" [a-z] [a-z] [a-z]")
_SPELLED = re.compile(r"(?<![\w'])(?:[a-z][-.*_]){2,}[a-z](?![\w'])"
                      r"|(?<![\w'])(?:[a-z] ){3,}[a-z](?![\w'])")


def _normalize(text: str) -> tuple[str, bool]:
    # (normalised text, whether its words may differ from those of text.lower()).
    changed = not text.isascii()
    if changed:
        text = _EMOJI.sub("", unicodedata.normalize("NFKC", text).translate(_FOLD))
    if "\n" in text:
        text = _SOFT_WRAP.sub(" ", text)
    text = text.lower()
    if _LEET.search(text):
        text = _LEET.sub(lambda m: _LEET_MAP[m.group()], text)
        changed = True
    if _SPELLED_SEP.search(text) or _SPELLED_SPACE.search(" " + text):
        text = _SPELLED.sub(lambda m: re.sub(r"[-.*_ ]", "", m.group()), text)
        changed = True
    if "  " in text or "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        text = _SPACES.sub(" ", text)
    return text, changed


def normalize(text: str) -> str:
    """Lower-case matching copy of ``text``: NFKC, quotes and dashes folded, zero-width
    characters dropped, light leetspeak undone, runs of spaces collapsed."""
    return _normalize(text)[0]


def words_of(norm: str) -> set[str]:
    """The word tokens of a normalised text, as the rule triggers expect them."""
    if not norm.isascii() or "''" in norm or "_" in norm:
        return set(_WORD.findall(norm))
    tokens = set(norm.encode().translate(_TO_SPACE_BYTES).decode().split())
    if "'" not in norm or not _EDGE_QUOTE.search(norm):
        # Apostrophes only inside words ("don't"): no token to fix.
        return tokens
    # Quotes around a word ("'meds'") are not part of it; only those tokens need fixing.
    quoted = {t for t in tokens if t[0] == "'" or t[-1] == "'"}
    return ((tokens - quoted) | {t.strip("'") for t in quoted}) - {""}
