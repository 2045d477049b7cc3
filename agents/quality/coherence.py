"""Coherence evidence for rubric v2: does the text read as connected English prose?

Keyword stuffing buys lexicon hits, not syntax. Four kinds of evidence that a
lexicon cannot supply, all computed from the word sequence alone (no model, so a
grade stays pure, deterministic and cheap):

- **function words**: English prose is held together by closed-class words
  (the, of, to, and, you, is...). Lists and salads of content words have few.
- **impossible word pairs**: sequences that English grammar does not produce
  ("the of", "your the", "and but", "they the", a sentence ending in "the").
  Prepositions are left out: a stranded one ("the feelings you sit with in the
  evening") makes legal pairs of almost anything. Shuffled text
  and function-word padding ("the sacred of the and to your intuition") are full
  of them; written text almost never has one.
- **lexicon density**: the share of content words that are rubric lexicon hits.
  Natural writing mixes them with the words of its own subject; stuffing is
  almost nothing else.
- **repetition**: repeated three-word sequences and repeated sentences, the
  signature of a decoding loop.
- **list sentences**: a "sentence" of six or more words with almost no function
  words is a keyword dump, even after a well-written opening.
- **run-ons**: written clauses rarely run past thirty words without a comma or a
  full stop; a salad or a loop runs on for fifty or more.
- **lexicon chains**: "a sacred candle of communication that journals the
  intuition of the moon": stuffing that keeps its grammar links lexicon words
  with "of" again and again.

:func:`assess` returns every figure and a combined ``score`` in 0-1; the rubric
turns it into the clarity criterion and a factor on the final score.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

# Closed-class words by role. Only unambiguous members: "that", "this", "her" and
# "his" can be pronouns as well as determiners, so they are in no strict class.
_DETERMINERS = frozenset({"a", "an", "the", "my", "your", "our", "their", "every"})
_PREPOSITIONS = frozenset({
    "of", "in", "on", "at", "for", "with", "by", "from", "into", "onto", "about", "under",
    "between", "through", "during", "without", "within", "toward", "towards", "among", "upon"})
_COORDINATORS = frozenset({"and", "or", "but", "nor"})
_SUBJECTS = frozenset({"i", "we", "he", "she", "they"})
_AUXILIARIES = frozenset({"is", "are", "was", "were", "am", "will", "would", "can", "could",
                          "should", "might", "must", "shall", "does", "did", "has", "had"})
FUNCTION_WORDS = frozenset({
    *_DETERMINERS, *_PREPOSITIONS, *_COORDINATORS, *_SUBJECTS, *_AUXILIARIES,
    "to", "you", "it", "me", "us", "them", "him", "her", "his", "its", "this", "that",
    "these", "those", "is", "be", "been", "being", "do", "have", "not", "no", "if", "when",
    "so", "as", "than", "because", "while", "what", "which", "who", "how", "where", "there",
    "here", "some", "any", "each", "all", "one", "more", "just", "then", "up", "out", "off",
    "over", "before", "after", "since", "until", "once", "yourself", "myself", "let", "it's",
    "you're", "you've", "you'll", "you'd", "don't", "can't", "i'm", "that's", "there's"})
_CANNOT_FOLLOW_DETERMINER = _DETERMINERS | _PREPOSITIONS | _COORDINATORS | _SUBJECTS | _AUXILIARIES | {
    "to", "you", "is", "be", "not", "because", "if", "when", "than"}
_CANNOT_END_SENTENCE = _DETERMINERS | _COORDINATORS | {"of", "the", "to", "because", "with", "from"}


@dataclass(frozen=True)
class Coherence:
    """Coherence figures of one text; ``score`` combines them (1 = reads as prose)."""

    function_ratio: float  # closed-class words / words
    impossible_pairs: float  # impossible word pairs per 100 words
    lexicon_density: float  # lexicon hits / content words
    repeated_trigrams: float  # share of three-word sequences seen before in the text
    repeated_sentences: int  # sentences that are exact repeats of an earlier one
    list_share: float  # share of words in sentences of 6+ words with almost no function words
    lexicon_chains: float  # "<lexicon word> of (the) <lexicon word>" per 100 words
    longest_clause: int  # most words between two punctuation marks
    score: float


def _impossible_pairs(words: list[str], sentence_ends: set[int]) -> int:
    bad = 0
    for i in range(len(words) - 1):
        a, b = words[i], words[i + 1]
        if i + 1 in sentence_ends:
            bad += a in _CANNOT_END_SENTENCE  # "... into the." ends mid-phrase
            continue
        if a in _DETERMINERS and b in _CANNOT_FOLLOW_DETERMINER:
            bad += 1  # "the of", "your the", "a and"
        elif a in _COORDINATORS and b in _COORDINATORS:
            bad += 1  # "and but"
        elif a in _SUBJECTS and b in _DETERMINERS | _SUBJECTS | _PREPOSITIONS:
            bad += 1  # "they the", "we of"
    if words and len(words) in sentence_ends and words[-1] in _CANNOT_END_SENTENCE:
        bad += 1
    return bad


def _lexicon_chains(words: list[str], lexicon: set[int]) -> int:
    # "a sacred candle of communication", "the intuition of the moon": stuffing that keeps
    # the grammar strings lexicon words together with "of"; written text rarely does it twice.
    chains = 0
    for i in range(1, len(words) - 1):
        if words[i] == "of" and i - 1 in lexicon:
            j = i + 2 if words[i + 1] in _DETERMINERS else i + 1
            chains += j in lexicon
    return chains


def list_spans(words: list[str], sentences: list[int]) -> list[tuple[int, int]]:
    """(start, end) word indices of each "sentence" that is a list of words: six or more
    words with almost no function words (a keyword dump, a salad tail after a good opening)."""
    spans, start = [], 0
    for length in sentences:
        end = start + length
        if length >= 6 and sum(w in FUNCTION_WORDS for w in words[start:end]) < 0.2 * length:
            spans.append((start, end))
        start = end
    return spans


def _ramp(x: float, bad: float, good: float) -> float:
    """0 at ``bad``, 1 at ``good``, linear between (either direction)."""
    t = (x - bad) / (good - bad)
    return 0.0 if t <= 0 else 1.0 if t >= 1 else t


def assess(words: list[str], sentences: list[int], lexicon_positions: set[int],
           clause_starts: set[int] | None = None) -> Coherence:
    """The coherence of a text given its words, sentence lengths and lexicon positions.

    ``lexicon_positions``: indices of the words that the rubric lexicon's lists
    matched (the caller has scanned them already); ``clause_starts``: indices of
    the words that follow a punctuation mark (sentence starts when not given).
    """
    n = len(words)
    if n == 0:
        return Coherence(0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0, 0.0)
    ends, at = set(), 0
    for length in sentences:
        at += length
        ends.add(at)
    content = [i for i, w in enumerate(words) if w not in FUNCTION_WORDS]
    ratio = 1 - len(content) / n
    pairs = 100 * _impossible_pairs(words, ends) / n
    density = len(lexicon_positions.intersection(content)) / max(1, len(content))
    trigrams = list(zip(words, words[1:], words[2:]))
    repeated = 1 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0
    starts = [0]
    for length in sentences:
        starts.append(starts[-1] + length)
    said = Counter(tuple(words[a:b]) for a, b in zip(starts, starts[1:]) if b - a >= 3)
    repeated_sentences = sum(c - 1 for c in said.values())
    list_share = sum(b - a for a, b in list_spans(words, sentences)) / n
    chains = 100 * _lexicon_chains(words, lexicon_positions) / n
    marks = sorted({0, n, *(clause_starts if clause_starts is not None else starts)})
    longest = max(b - a for a, b in zip(marks, marks[1:]))
    # Each piece is 1 where prose normally sits and 0 where no prose goes; the
    # weakest piece dominates because any one of them alone marks a salad or a loop.
    pieces = (
        _ramp(ratio, 0.20, 0.36),
        _ramp(pairs, 4.0, 1.0),
        _ramp(density, 0.75, 0.55),
        _ramp(repeated, 0.35, 0.10) * (0.5 if repeated_sentences >= 2 else 1.0),
        _ramp(list_share, 0.30, 0.05),
        _ramp(chains, 4.0, 2.0),
        _ramp(longest, 45, 32),
    )
    score = min(pieces) * 0.7 + sum(pieces) / len(pieces) * 0.3
    return Coherence(round(ratio, 4), round(pairs, 3), round(density, 4), round(repeated, 4),
                     repeated_sentences, round(list_share, 4), round(chains, 3), longest, round(score, 4))
