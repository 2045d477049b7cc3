"""Coherence evidence for rubric v2: does the text read as connected English prose?

Keyword stuffing buys lexicon hits, not syntax. Evidence that a lexicon cannot
supply, all computed from the word sequence alone (no learned model at grading
time, so a grade stays pure, deterministic and cheap):

- **function words**: English prose is held together by closed-class words
  (the, of, to, and, you, is...). Lists and salads of content words have few.
- **impossible word pairs**: sequences that English grammar does not produce
  ("the of", "your the", "a it", "an star", "and but", "they the", "to is", a
  sentence ending in "the").
  Prepositions are left out: a stranded one ("the feelings you sit with in the
  evening") makes legal pairs of almost anything. Shuffled text
  and function-word padding ("the sacred of the and to your intuition") are full
  of them; written text almost never has one.
- **word order**: a table of English word-class bigrams (closed-class roles,
  content words by their ending) predicts prose far better than chance and a
  shuffle not at all, although a shuffle keeps every word and so every count.
- **lexicon density**: the share of content words that are rubric lexicon hits
  or salad vocabulary (``ABSTRACT``: the inner-life words of spiritual and
  self-help writing, inflected or not). Natural writing mixes them with the
  words of its own subject; stuffing is almost nothing else.
- **salad sentences**: sentences whose content words are (almost) all of that
  kind, so that a good opening cannot carry the salad after it.
- **frames**: "the intuition aligns the soul": salad vocabulary acting on salad
  vocabulary through a verb, the grammar of a sentence with nothing in it.
- **repetition**: repeated three-word sequences and repeated sentences, the
  signature of a decoding loop.
- **list sentences**: a "sentence" of six or more words with almost no function
  words is a keyword dump, even after a well-written opening.
- **run-ons**: written clauses rarely run past thirty words without a comma or a
  full stop; a salad or a loop runs on for fifty or more.
- **lexicon chains**: "the candle of gratitude that journals the intuition of
  the moon": stuffing that keeps its grammar links lexicon words with "of"
  again and again.

:func:`assess` returns every figure and a combined ``score`` in 0-1; the rubric
turns it into the clarity criterion and a factor on the final score.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from kasper.agents.quality import stuffing
from kasper.agents.quality.stuffing import Stuffing, combine, ramp

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
_MAY_FOLLOW_DETERMINER = frozenset({"one", "more", "every", "us", "all"})
_CONSONANTS = frozenset("bcdfgjklmnpqrstvwxyz")
_CANNOT_END_CLAUSE = _DETERMINERS | _SUBJECTS
_NOT_AFTER_SUBJECT = _DETERMINERS | _SUBJECTS | _PREPOSITIONS
_PAIR_STARTS = _DETERMINERS | _COORDINATORS | _SUBJECTS | _AUXILIARIES | {"to"}
_NOT_AFTER_TO = _AUXILIARIES | _COORDINATORS | _SUBJECTS | {"to", "because", "than"}
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
    frames: float  # "<salad word> <verb> (the) <salad word>" per 100 words
    salad_sentences: float  # share of words in sentences of (almost) only salad vocabulary
    word_order: float  # gain of a class-bigram model of English over chance (<= 0: no order)
    score: float
    stuffing: Stuffing | None = None  # grammatical stuffing (:mod:`stuffing`), in the score


def _impossible_pairs(words: list[str], sentence_ends: set[int], clause_starts: set[int]) -> int:
    # Phrase ends first, then pairs: only a closed-class first word can start an
    # impossible pair, so the loop visits those positions alone.
    bad = sum([words[i - 1] in _CANNOT_END_SENTENCE for i in sentence_ends if i])  # "into the."
    bad += sum([words[i - 1] in _CANNOT_END_CLAUSE for i in clause_starts  # "the, ", "they;"
                if i and i not in sentence_ends])
    stops = sentence_ends | clause_starts
    last = len(words) - 1
    for i in [i for i, w in enumerate(words) if w in _PAIR_STARTS]:
        if i == last or i + 1 in stops:
            continue
        a, b = words[i], words[i + 1]
        if a in _DETERMINERS:
            # "the of", "your the", "a it", "the because": a determiner opens a noun phrase,
            # and no closed-class word but "one" or "more" starts one. Shuffled words are full
            # of these; prose has one at most ("the US").
            bad += b in FUNCTION_WORDS and b not in _MAY_FOLLOW_DETERMINER
            if a == "an" and b[0] in _CONSONANTS and b[0] != "h":
                bad += 1  # "an star": articles agree with the sound that follows
            elif a == "a" and b[0] in "aeio" and not b.startswith(("one", "once", "eu")):
                bad += 1  # "a old" ("a one-off", "a European" are fine)
        elif a in _COORDINATORS:
            bad += b in _COORDINATORS  # "and but"
        elif a in _SUBJECTS:
            bad += b in _NOT_AFTER_SUBJECT  # "they the", "we of"
        elif a == "to":
            bad += b in _NOT_AFTER_TO  # "to is", "to and", "to they"
        else:
            bad += b in _AUXILIARIES and a != b  # "is will", "can was" ("had had" is English)
    return bad


def _lexicon_chains(words: list[str], lexicon: set[int], inner: set[int]) -> int:
    # "the sacred candle of gratitude", "the intuition of the moon": stuffing that keeps
    # the grammar strings lexicon words together with "of"; written text rarely does it twice.
    # One side must be salad vocabulary (``inner``): "the Page of Wands" or "a cup of tea"
    # join two lexicon words too.
    chains = 0
    for i in range(1, len(words) - 1):
        if words[i] == "of" and i - 1 in lexicon:
            j = i + 2 if words[i + 1] in _DETERMINERS else i + 1
            chains += j in lexicon and (j in inner or i - 1 in inner)
    return chains


def list_spans(words: list[str], sentences: list[int], salad: set[int]) -> list[tuple[int, int]]:
    """(start, end) word indices of each "sentence" that is a list of salad words: six or
    more words with almost no function words, a good share of them ``salad`` (indices of
    inner-life words, :func:`inner_positions`): a keyword dump, a salad tail after a good
    opening."""
    spans, start = [], 0
    for length in sentences:
        end = start + length
        if length >= 6 and sum(map(FUNCTION_WORDS.__contains__, words[start:end])) < 0.2 * length:
            # "expression: writing, talking, making things other people can see" is a
            # plain list of what someone does, not stuffing.
            content = [i for i in range(start, end) if words[i] not in FUNCTION_WORDS]
            if len(salad.intersection(content)) >= 0.4 * len(content):
                spans.append((start, end))
        start = end
    return spans


# The vocabulary of spiritual and self-help salad, as base forms: nouns of the inner
# life, its adjectives and its verbs. Kept here, apart from the rubric lexicon (which
# rewards some of these words), so that stuffing with words the lexicon does not know
# still counts as stuffing. Concrete words (candle, moon, journal) are the lexicon's.
ABSTRACT = frozenset("""
abundance abundant affirmation alignment align ancestor angel ascend ascension attune aura
authentic authenticity awaken awakening awareness balance beauty being bless blessing bliss
blossom bloom celestial centre center chakra channel clarity compassion consciousness cosmic
cosmos courage cultivate destiny devotion dharma divine divinity dream elevate embody
embrace emerge empower empowerment energy enlightenment essence eternal eternity ethereal
expand faith flourish flow frequency freedom glow grace gratitude grateful growth harmony
heal healing heart higher honor honour hope ignite illuminate infinite infinity inner
intention intuition journey joy karma kindness light love luminous magic manifest
manifestation mantra meditation mindful mindfulness miracle mystery mystical nourish nurture
oneness peace peaceful potential power presence prosperity purify purpose radiance radiant
radiate realm rebirth receive release renewal resilience resonance resonate ritual sacred
sacredness sanctuary self serene serenity shine soul source spirit spiritual spirituality
stillness strength surrender tender tranquil tranquility transform transformation truth
trust unfold unity universe uplift vessel vibrate vibration vitality warmth wholeness wisdom
wonder worth worthiness
""".split())


def abstract(word: str) -> bool:
    """Whether ``word`` (lowercase) is salad vocabulary, inflected or not ("aligns", "healing")."""
    if word in ABSTRACT:
        return True
    if word.endswith("s"):
        if word[:-1] in ABSTRACT or (word.endswith("es") and word[:-2] in ABSTRACT):
            return True
    if word.endswith("ing"):
        return word[:-3] in ABSTRACT or word[:-3] + "e" in ABSTRACT
    if word.endswith("ed"):
        return word[:-2] in ABSTRACT or word[:-1] in ABSTRACT
    if word.endswith("ly"):
        return word[:-2] in ABSTRACT
    return False



# Word order. Each word gets a coarse class (its closed-class role, or a content word
# by its ending), and a text is scored by how much better a model of English class
# bigrams predicts its sequence than the class frequencies alone do. Prose gains; a
# shuffle keeps every word (so every count the other checks read) and gains nothing.
# The counts are class bigrams of the labeled corpus's prose (dev part), sentence ends
# as ".": "D>X:523" is a determiner followed by a plain content word 523 times.
_ROLES = {
    **dict.fromkeys(_DETERMINERS, "D"), **dict.fromkeys(_PREPOSITIONS, "P"),
    **dict.fromkeys(_COORDINATORS, "C"), **dict.fromkeys(_SUBJECTS, "S"),
    **dict.fromkeys(_AUXILIARIES | {"be", "been", "being", "do", "have"}, "A"),
    **dict.fromkeys(("me", "us", "them", "him", "it", "yourself", "myself"), "O"),
    **dict.fromkeys(("because", "if", "when", "while", "than", "whether", "so", "as", "that",
                     "which", "who", "what", "how", "where"), "W"),
    **dict.fromkeys(("not", "no", "don't", "can't"), "N"), "to": "T", "you": "Y"}
_BIGRAMS = """
    .>A:13 .>C:4 .>D:108 .>F:88 .>N:9 .>O:21 .>P:25 .>S:10 .>T:1 .>W:61
    .>X:361 .>Xed:5 .>Xing:46 .>Xly:2 .>Xs:35 .>Y:45 A>.:12 A>A:43 A>C:6 A>D:95
    A>F:24 A>N:28 A>O:5 A>P:23 A>S:1 A>T:8 A>W:18 A>X:275 A>Xed:30 A>Xing:73 A>Xly:27 A>Xs:26
    A>Y:2 C>A:7 C>D:72 C>F:63 C>O:16 C>P:12 C>S:9 C>T:1 C>W:15 C>X:222 C>Xed:3 C>Xing:28
    C>Xly:4 C>Xs:25 C>Y:15 D>.:1 D>D:1 D>F:5 D>O:1 D>P:1 D>X:1176 D>Xed:15 D>Xing:44 D>Xly:11
    D>Xs:170 F>.:30 F>A:36 F>C:18 F>D:77 F>F:33 F>N:2 F>O:16 F>P:49 F>S:4 F>T:6 F>W:27
    F>X:276 F>Xed:11 F>Xing:43 F>Xly:10 F>Xs:24 F>Y:23 N>.:1 N>A:2 N>D:19 N>F:5 N>P:3 N>S:1
    N>T:2 N>X:46 N>Xed:4 N>Xing:5 N>Xly:1 N>Xs:3 O>.:49 O>A:52 O>C:15 O>D:14 O>F:11 O>N:3
    O>O:1 O>P:28 O>T:8 O>W:21 O>X:69 O>Xed:3 O>Xing:5 O>Xly:7 O>Xs:31 O>Y:1 P>.:24 P>A:7
    P>C:7 P>D:358 P>F:47 P>N:4 P>O:42 P>P:9 P>T:2 P>W:26 P>X:275 P>Xed:4 P>Xing:59 P>Xly:3
    P>Xs:61 P>Y:23 S>A:25 S>N:1 S>X:31 S>Xed:6 S>Xly:1 S>Xs:6 T>.:6 T>A:17 T>D:35 T>F:14
    T>O:7 T>P:1 T>W:2 T>X:177 T>Xed:3 T>Xing:3 T>Xly:3 T>Xs:7 T>Y:9 W>.:2 W>A:34 W>D:109
    W>F:34 W>N:2 W>O:25 W>P:3 W>S:24 W>T:2 W>W:5 W>X:144 W>Xed:9 W>Xing:19 W>Xly:7 W>Xs:52
    W>Y:96 X>.:484 X>A:240 X>C:311 X>D:373 X>F:244 X>N:27 X>O:138 X>P:548 X>S:15 X>T:174
    X>W:263 X>X:1211 X>Xed:53 X>Xing:150 X>Xly:51 X>Xs:427 X>Y:141 Xed>.:25 Xed>A:3 Xed>C:12
    Xed>D:14 Xed>F:13 Xed>N:2 Xed>O:8 Xed>P:30 Xed>T:12 Xed>W:5 Xed>X:36 Xed>Xed:2 Xed>Xing:5
    Xed>Xly:5 Xed>Xs:10 Xed>Y:6 Xing>.:42 Xing>A:15 Xing>C:17 Xing>D:77 Xing>F:38 Xing>N:2
    Xing>O:22 Xing>P:63 Xing>S:1 Xing>T:20 Xing>W:38 Xing>X:103 Xing>Xed:4 Xing>Xing:9
    Xing>Xly:8 Xing>Xs:28 Xing>Y:35 Xly>.:17 Xly>A:9 Xly>C:14 Xly>D:7 Xly>F:5 Xly>P:11
    Xly>S:1 Xly>T:3 Xly>W:18 Xly>X:42 Xly>Xed:8 Xly>Xing:6 Xly>Xly:2 Xly>Xs:11 Xly>Y:1
    Xs>.:116 Xs>A:56 Xs>C:80 Xs>D:61 Xs>F:53 Xs>N:1 Xs>O:15 Xs>P:128 Xs>S:4 Xs>T:37 Xs>W:57
    Xs>X:217 Xs>Xed:9 Xs>Xing:27 Xs>Xly:7 Xs>Xs:47 Xs>Y:51 Y>.:25 Y>A:137 Y>C:8 Y>D:5 Y>F:8
    Y>N:11 Y>O:1 Y>P:17 Y>T:8 Y>W:11 Y>X:189 Y>Xed:19 Y>Xly:6 Y>Xs:3
"""


def _order_model() -> dict[tuple[str, str], float]:
    pairs = {}
    for item in _BIGRAMS.split():
        ab, count = item.rsplit(":", 1)
        a, b = ab.split(">")
        pairs[a, b] = int(count)
    classes = sorted({c for pair in pairs for c in pair})
    after = Counter()
    for (a, _), count in pairs.items():
        after[a] += count
    total, k = sum(after.values()), len(classes)
    # Half a count for an unseen pair: rare orders cost, impossible ones are not infinite.
    gain = {(a, b): math.log((pairs.get((a, b), 0) + 0.5) / (after[a] + 0.5 * k))
            - math.log((after[b] + 1) / (total + k)) for a in classes for b in classes}
    return gain


_ORDER_GAIN = _order_model()


def _role(word: str) -> str:
    role = _ROLES.get(word)
    if role is not None:
        return role
    if word in FUNCTION_WORDS:
        return "F"
    if word.endswith("ly"):
        return "Xly"
    if word.endswith("ing"):
        return "Xing"
    if word.endswith("ed"):
        return "Xed"
    return "Xs" if word.endswith("s") else "X"


# Role and salad-vocabulary flag of each word seen, so a word is classified once per
# process; bounded, and cleared rather than evicted (the values never change).
_SEEN: dict[str, tuple[str, bool]] = {}


def _classify(word: str) -> tuple[str, bool]:
    found = _SEEN.get(word)
    if found is None:
        if len(_SEEN) > 200_000:
            _SEEN.clear()
        found = _SEEN[word] = (_role(word), abstract(word))
    return found


def inner_positions(words: list[str]) -> set[int]:
    """Indices of the words of the inner-life vocabulary (:data:`ABSTRACT`, inflected)."""
    return {i for i, w in enumerate(words) if (_SEEN.get(w) or _classify(w))[1]}


def _order(roles: list[str], sentences: list[int]) -> float:
    marked, start = ["."], 0
    for length in sentences:
        marked += roles[start:start + length]
        marked.append(".")
        start += length
    if len(marked) < 3:
        return 0.0
    gain = _ORDER_GAIN
    return sum([gain[pair] for pair in zip(marked, marked[1:])]) / (len(marked) - 1)


def word_order(words: list[str], sentences: list[int]) -> float:
    """Mean gain per word pair of the class-bigram model over class frequencies alone:
    positive for prose, about zero or below for shuffled words, lists and padding."""
    return _order([_classify(w)[0] for w in words], sentences)


def _frames(words: list[str], salad: set[int]) -> int:
    # "the intuition aligns the soul", "gratitude opens your heart": a salad that keeps its
    # grammar makes inner-life words act on each other. Prose names a person or a thing
    # on one side of the verb.
    frames = 0
    for i in range(len(words) - 2):
        if i in salad and words[i + 1] not in FUNCTION_WORDS:
            j = i + 3 if words[i + 2] in _DETERMINERS else i + 2
            frames += j in salad
    return frames


def _salad_sentences(words: list[str], sentences: list[int], salad: set[int]) -> int:
    # Words in sentences whose content words are (almost) all salad vocabulary: a good
    # opening cannot carry a salad that follows it.
    total, start, function = 0, 0, FUNCTION_WORDS
    for length in sentences:
        content = [i for i in range(start, start + length) if words[i] not in function]
        if len(content) >= 4 and len(salad.intersection(content)) >= 0.8 * len(content):
            total += length
        start += length
    return total


def assess(words: list[str], sentences: list[int], lexicon_positions: set[int],
           clause_starts: set[int] | None = None) -> Coherence:
    """The coherence of a text given its words, sentence lengths and lexicon positions.

    ``lexicon_positions``: indices of the words that the rubric lexicon's lists
    matched (the caller has scanned them already); ``clause_starts``: indices of
    the words that follow a punctuation mark (sentence starts when not given).
    """
    n = len(words)
    if n == 0:
        return Coherence(0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0)
    starts = [0]
    for length in sentences:
        starts.append(starts[-1] + length)
    ends = set(starts[1:])
    marks = sorted({0, n, *(clause_starts if clause_starts is not None else starts)})
    content = [i for i, w in enumerate(words) if w not in FUNCTION_WORDS]
    ratio = 1 - len(content) / n
    pairs = 100 * _impossible_pairs(words, ends, set(marks)) / n
    seen = _SEEN.get
    classes = [seen(w) or _classify(w) for w in words]
    inner = {i for i in content if classes[i][1]}
    salad = lexicon_positions | inner
    density = len(salad.intersection(content)) / max(1, len(content))
    trigrams = list(zip(words, words[1:], words[2:]))
    repeated = 1 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0
    said = Counter(tuple(words[a:b]) for a, b in zip(starts, starts[1:]) if b - a >= 3)
    repeated_sentences = sum(c - 1 for c in said.values())
    list_share = sum(b - a for a, b in list_spans(words, sentences, inner)) / n
    chains = 100 * _lexicon_chains(words, salad, inner) / n
    frames = 100 * _frames(words, salad) / n
    salad_share = _salad_sentences(words, sentences, salad) / n
    order = _order([role for role, _ in classes], sentences)
    longest = max(b - a for a, b in zip(marks, marks[1:]))
    # Each piece is 1 where prose normally sits and 0 where no prose goes; the
    # weakest piece dominates because any one of them alone marks a salad or a loop.
    pieces = (
        ramp(ratio, 0.20, 0.36),
        ramp(pairs, 3.0, 1.3),
        ramp(density, 0.72, 0.58),
        ramp(repeated, 0.35, 0.10) * (0.5 if repeated_sentences >= 2 else 1.0),
        ramp(list_share, 0.30, 0.05),
        ramp(chains, 4.0, 2.0),
        ramp(longest, 45, 32),
        ramp(frames, 25.0, 10.0),
        ramp(salad_share, 0.5, 0.2),
        ramp(order, -0.08, 0.02),
    )
    score = combine(pieces)
    # Stuffing that keeps its grammar passes every piece above; its own evidence can only
    # lower the score, so prose scores exactly as before.
    stuffed = stuffing.assess(words, sentences, set(marks), FUNCTION_WORDS)
    score = min(score, stuffed.score)
    return Coherence(round(ratio, 4), round(pairs, 3), round(density, 4), round(repeated, 4),
                     repeated_sentences, round(list_share, 4), round(chains, 3), longest,
                     round(frames, 3), round(salad_share, 4), round(order, 4), round(score, 4), stuffed)
