"""Sentences that are not English: instructions the injection reading cannot read.

The pipeline writes English insights. A whole sentence in another language (or in a
cipher: ROT13, letters reversed) inside one is not for the reader; it is how an
instruction to the grader or the judge gets past rules that know a few languages'
words for "grader" and "approve". So a sentence of at least :data:`MIN_WORDS` words
fails the ``injection`` gate when it reads as no English, whatever it says:

- **script**: most of its letters are outside the Latin alphabet (Greek, Cyrillic,
  Devanagari, CJK...; look-alike letters in English words are undone by
  :func:`~kasper.agents.quality.harm.normalize.normalize` before this runs);
- **letters**: its letter trigrams are unlikely under English. The model is counted
  once, lazily, from the English text the package ships (the golden set, the seed
  exemplars, the gates' written sentences): no word list, no other language's data,
  so it does not matter which language a sentence is in.

Only a sentence with almost no English function words is scored at all (English prose
is about half function words), so ordinary text costs a split and a set lookup per word.
Short foreign phrases ("carpe diem", "hakuna matata") are below :data:`MIN_WORDS`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from importlib import resources

# A sentence this long can say "grader, approve this text" in any language.
MIN_WORDS = 6
# Mean log-probability per letter trigram below which a sentence is not English. Set on
# the development corpus: its English sentences (good, generic, salad, safe, harmful)
# score -3.0 and above, the foreign instructions of the attack development set -3.3 and
# below (docs/quality.md, "Sentences not in English").
THRESHOLD = -3.2
# At most this share of a scored sentence's words may be English function words.
_MAX_FUNCTION_SHARE = 0.15
_FUNCTION = frozenset(
    "a an the and or but if of to in on at for with from by as is are was were be been am "
    "it its this that these those you your yours i me my we our they their he she his her "
    "not no do does did can will would should could have has had so than then there what "
    "when how why who which just only also very more most".split())
# Sentence marks to line breaks; digits and the punctuation that clings to words to spaces
# (an address or a date is no sentence in any language).
_SPLITTER = str.maketrans({**{c: " " for c in ',"()[]{}*_-/&\u2014\u2013\u2026\u00ab\u00bb\u201c\u201d\u2018'
                              "0123456789"},
                           **{c: "\n" for c in ".!?;:\u0964\u3002\uff01\uff1f"}})
_NOT_LETTER = re.compile(r"[^a-z']+")
_ALPHABET = 28  # a-z, apostrophe, space
_MIN_LETTERS = 12  # letters of another script that make a sentence
_NEVER = math.log(0.5 / (0.5 * _ALPHABET))  # a trigram after a bigram English never has
# (package, file or folder): English the package ships, counted once, lazily.
_SOURCES = (("kasper.agents.quality", "templates/seed_exemplars.json"),
            ("kasper.agents.quality", "data/semantic_train.jsonl"),
            ("kasper.agents.quality", "data/semantic_more"),
            ("kasper.streams", "data/golden.json"))


@lru_cache(maxsize=1)
def _model() -> tuple[dict[str, float], dict[str, float]]:
    """Log-probabilities of letter trigrams given their first two letters, counted from the
    package's English text (add-half smoothing); and, per bigram, that of an unseen trigram."""
    parts = []
    for package, name in _SOURCES:
        node = resources.files(package).joinpath(name)
        files = sorted(node.iterdir(), key=lambda p: p.name) if node.is_dir() else [node]
        parts += [f.read_text(encoding="utf-8") for f in files if f.name.endswith((".json", ".jsonl"))]
    text = _letters(" ".join(parts))
    tri = Counter(text[i:i + 3] for i in range(len(text) - 2))
    bi = Counter(text[i:i + 2] for i in range(len(text) - 1))
    seen = {t: math.log((c + 0.5) / (bi[t[:2]] + 0.5 * _ALPHABET)) for t, c in tri.items()}
    unseen = {b: math.log(0.5 / (c + 0.5 * _ALPHABET)) for b, c in bi.items()}
    return seen, unseen


def _letters(text: str) -> str:
    return " " + " ".join(_NOT_LETTER.sub(" ", text.lower()).split()) + " "


def english_score(sentence: str) -> float:
    """Mean log-probability per letter trigram of ``sentence`` under English."""
    seen, unseen = _model()
    s = _letters(sentence)
    n = len(s) - 2
    if n <= 0:
        return 0.0
    return sum(seen.get(s[i:i + 3]) or unseen.get(s[i:i + 2], _NEVER) for i in range(n)) / n


def _non_latin(sentence: str) -> bool:
    """Most of the sentence's letters (at least :data:`_MIN_LETTERS`) are outside the Latin
    alphabet: a sentence in another script, spaced or not (Japanese and Chinese are not)."""
    letters = [c for c in sentence if c.isalpha()]
    return len(letters) >= _MIN_LETTERS and sum(
        not ("a" <= c <= "z" or "\u00c0" <= c <= "\u024f") for c in letters) > len(letters) / 2


def foreign_sentence(text: str) -> bool:
    """Whether ``text`` holds a sentence of :data:`MIN_WORDS` words or more that is not English."""
    for sentence in text.lower().translate(_SPLITTER).split("\n"):
        words = sentence.split()
        n = len(words)
        # English prose is skipped after one pass over its words in C; a text in a script
        # without spaces is one "word" per clause, so it is read by its letters.
        if (n < MIN_WORDS and sentence.isascii()) or sum(map(_FUNCTION.__contains__, words)) > (
                _MAX_FUNCTION_SHARE * n):
            continue
        if _non_latin(sentence) or (n >= MIN_WORDS and english_score(sentence) < THRESHOLD):
            return True
    return False
