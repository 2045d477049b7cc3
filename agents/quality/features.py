"""The features of one insight text: one tokenization and one scan of the rubric's lexicon.

The criteria (:mod:`kasper.agents.quality.criteria`) read only :class:`Features`;
the rubric (:mod:`kasper.agents.quality.rubric`) extracts them once per text.
The word lists come from ``data/rubric_lexicon.json`` (:func:`load_lexicon`), parsed once.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any

# Words in any script ([^\W_] is a letter or digit), with inner apostrophes ("don't");
# sentence ends; clause marks. Must give the same words as originality.tokenize.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[.!?]+|[,;:\u2014]")


@lru_cache(maxsize=1)
def load_lexicon() -> dict[str, Any]:
    """The word lists in ``agents/data/rubric_lexicon.json`` (parsed once)."""
    raw = resources.files("kasper.agents.quality").joinpath("data/rubric_lexicon.json").read_text("utf-8")
    return json.loads(raw)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


# Lexicon lists the criteria count (the rest, like stopwords, are used as plain sets).
# "care" (plain-language warmth: "you don't have to", "that counts") is read by rubric v2 only.
_SCANNED = ("cliches", "platitudes", "buzzwords", "grandiose", "absolutes", "vague", "practice_verbs",
            "vague_actions", "practice_nouns", "numbers", "time_cues", "warmth", "care", "emotions",
            "harsh", "reasoning", "everyday", "spiritual")


class Matcher:
    """Every scanned lexicon list (single words and phrases) matched in one pass over the words."""

    def __init__(self, lexicon: dict[str, Any]) -> None:
        lists = {k: lexicon[k] for k in _SCANNED}
        lists.update({f"domain:{d}": words for d, words in lexicon["domains"].items()})
        categories: dict[tuple[str, ...], list[str]] = {}
        for category, items in lists.items():
            for item in items:
                key = tuple(t for t in _tokens(item) if t[0].isalnum())
                if key:
                    categories.setdefault(key, []).append(category)
        in_phrases = {c for key, cats in categories.items() if len(key) > 1 for c in cats}
        # One lookup per word: word -> (single-word hits, phrases starting with it). A single
        # hit is (category, whether a phrase of that category may already cover the word);
        # phrases are indexed by their second word, so most positions cost one dict miss.
        Phrase = tuple[list[str], int, tuple[str, ...], str]
        self.index: dict[str, tuple[tuple[tuple[str, bool], ...], dict[str, list[Phrase]]]] = {}
        for key, cats in sorted(categories.items(), key=lambda kv: -len(kv[0])):  # longest first
            singles, phrases = self.index.setdefault(key[0], ((), {}))
            if len(key) == 1:
                self.index[key[0]] = (tuple((c, c in in_phrases) for c in cats), phrases)
            else:
                phrases.setdefault(key[1], []).append((list(key), len(key), tuple(cats), " ".join(key)))

    def scan(self, words: list[str]) -> dict[str, list[tuple[str, int]]]:
        """Category -> [(phrase, word index)] for every lexicon entry found in ``words``."""
        hits: dict[str, list[tuple[str, int]]] = {}
        # category -> end of its last match: "good vibes only" is one cliché, not two
        covered: dict[str, int] = {}
        index, last = self.index, len(words) - 1
        for i, w in enumerate(words):
            entry = index.get(w)
            if entry is None:
                continue
            singles, phrases = entry
            if phrases and i < last:
                for key, size, cats, phrase in phrases.get(words[i + 1], ()):
                    if words[i:i + size] == key:
                        for c in cats:
                            if covered.get(c, 0) <= i:
                                hits.setdefault(c, []).append((phrase, i))
                                covered[c] = i + size
            for c, check in singles:
                if not check or covered.get(c, 0) <= i:
                    hits.setdefault(c, []).append((w, i))
        return hits


@dataclass
class Features:
    """What the criteria read: one tokenization and one lexicon scan per text."""

    words: list[str]
    sentences: list[int]  # word count of each sentence
    clause_starts: set[int]  # word indices that open a sentence or a clause (after , ; : —)
    hits: dict[str, list[tuple[str, int]]]
    counts: Counter[str]
    exclamations: int
    domain: str | None
    digits: int = 0  # number tokens: "7", "11", "2024"

    @property
    def n(self) -> int:
        return len(self.words)

    def count(self, category: str) -> int:
        return len(self.hits.get(category, ()))

    def distinct(self, category: str) -> list[str]:
        return list(dict.fromkeys(p for p, _ in self.hits.get(category, ())))


def without(f: Features, spans: list[tuple[int, int]]) -> Features:
    """``f`` with the lexicon hits and word counts inside ``spans`` (word index ranges)
    taken out: evidence that does not count (rubric v2 ignores word lists)."""
    if not spans:
        return f
    out = {i for a, b in spans for i in range(a, b)}
    hits = {c: kept for c, found in f.hits.items() if (kept := [(p, i) for p, i in found if i not in out])}
    counts = Counter(w for i, w in enumerate(f.words) if i not in out)
    return replace(f, hits=hits, counts=counts)


def extract(text: str, matcher: Matcher, domain: str | None = None) -> Features:
    """Tokenize once and scan every lexicon list."""
    words: list[str] = []
    sentences: list[int] = []
    clause_starts = {0}
    start, exclamations = 0, 0
    for tok in _tokens(text.replace("\u2019", "'")):
        if tok[0].isalnum():
            words.append(tok)
            continue
        clause_starts.add(len(words))
        if tok[0] in ".!?":
            exclamations += tok.count("!")
            if len(words) > start:
                sentences.append(len(words) - start)
                start = len(words)
    if len(words) > start:
        sentences.append(len(words) - start)
    counts = Counter(words)
    digits = sum(c for w, c in counts.items() if w[0].isdigit())
    hits = matcher.scan(words)
    return Features(words, sentences, clause_starts, hits, counts, exclamations, domain, digits)
