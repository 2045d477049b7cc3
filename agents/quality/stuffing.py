"""Evidence against salad that keeps its grammar, for rubric v2's coherence score.

:mod:`~kasper.agents.quality.coherence` catches salad whose grammar breaks (word lists,
shuffles, padding) or whose words are all inner-life vocabulary. Stuffing that keeps
its grammar and uses concrete words instead ("Your coffee writes the colours of the
door. The window remembers the brushes of the mirror.") reads as English to those
checks. What it cannot keep is sense, and some of its nonsense has a shape:

- **object agents**: a household object that remembers, drinks, whispers or writes
  something ("the pillow drinks the easel"). Cards, numbers and planets act in this
  genre ("the Tower asks you"); kettles and stairs do not, and prose names them as
  subject of such a verb once at most.
- **object chains**: a household object "of" another object, a weekday or a person
  ("the inbox of your Tuesday", "the stairs of your manager"). Containers and
  measures are left out: "a glass of water", "a page of notes", "a block of time".
- **genitives**: "of" phrases per 100 words ("a lantern of hours, a bridge of
  tenderness"), and the most in one sentence: a salad tail piles them up ("the
  number of the agenda of your week"); prose has three at most.
- **skeletons**: the function words of a sentence with its content words blanked.
  Mad-libs and repeated frames ("Some feedback arrives like a parcel, and you open
  it at the desk. Some feedback arrives like a letter, ...") repeat the same skeleton
  with new nouns, so no trigram repeats; their six-word skeletons do.
- **enumeration**: the longest run of short items (four words or fewer between
  commas, "and" or "or") in one sentence: a list written as a sentence ("at a
  running club, a book group, a pottery class, a choir, ...") runs to ten or twenty;
  a practical sentence lists five at most.

:func:`assess` returns the figures and a combined ``score`` in 0-1 (1 = none of it),
which :func:`kasper.agents.quality.coherence.assess` takes as one more piece. All of it
reads the word sequence alone: pure, deterministic, microseconds per text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat

from kasper.agents.quality.features import load_lexicon

_LEX = load_lexicon()
# People and animals can do all of it; cards, letters and messages "say" and "ask" in prose.
_NOT_OBJECTS = frozenset("""
    friend friends sister brother mother father mom dad partner boss manager colleague coworker
    team dog cat card cards question questions word words letter note notes message messages list
    journal page pages sentence sentences line lines name names
""".split())
_PEOPLE = frozenset(_LEX["everyday"]) & _NOT_OBJECTS
_OBJECTS = (frozenset(_LEX["everyday"]) | frozenset(_LEX["practice_nouns"])) - _NOT_OBJECTS
_DAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
# Times of day end a chain ("the spoon of the evening") but seldom start one.
_TIMES = frozenset("morning afternoon evening night weekend".split())
# Containers and measures: "a glass of water", "a drawer of letters", "a window of time".
_MEASURES = frozenset("""
    glass mug bowl jar bag drawer shelf pocket wallet notebook block slot window minute minutes
    step steps cup box pile sheet stack
""".split())
# Verbs of thought, speech, taste and handwork: what people do and objects cannot.
_AGENT_VERBS = frozenset("""
    remember remembers forget forgets know knows think thinks want wants hope hopes believe
    believes wish wishes decide decides dream dreams drink drinks eat eats taste tastes swallow
    swallows breathe breathes whisper whispers sing sings hum hums laugh laughs cry cries speak
    speaks talk talks chat chats listen listens write writes walk walks cook cooks sketch sketches
    pour pours fold folds paint paints
""".split())
_LIQUIDS = frozenset({"water", "tea", "coffee"})  # "the coffee pours" is English
_WRITERS = frozenset({"pen", "paper"})  # "the pen writes" is too
_DETERMINERS = frozenset({"a", "an", "the", "my", "your", "our", "their", "his", "her", "its",
                          "this", "that", "these", "those", "every", "each"})
# Heads that mean a part, a quantity or a stretch of time: "the top of the page", "the rest
# of the week", "a lot of", "ten minutes of", "the Queen of Cups".
_RELATIONAL = frozenset("""
    lot lots kind kinds sort sorts couple bit bits instead front top end rest part parts half
    piece pieces middle side sides back bottom edge inside outside start beginning course number
    numbers amount cup cups glass pot bowl jar bag box pile sheet page pages list row set pair
    slice loaf packet bunch stack handful minute minutes hour hours day days week weeks month
    months year years night nights ace knight queen king
""".split())
_SUITS = frozenset({"cups", "wands", "swords", "pentacles"})
_LIST_BREAKS = frozenset({"and", "or"})


@dataclass(frozen=True)
class Stuffing:
    """Figures of grammatical stuffing in one text; ``score`` 1 = none of it."""

    object_agents: float  # household objects acting as people, per 100 words
    object_chains: float  # "<object> of <object, weekday or person>", per 100 words
    genitives: float  # "<noun> of" phrases (parts and measures aside), per 100 words
    genitive_pileup: int  # most "<noun> of" phrases in one sentence
    skeleton_repeats: float  # share of six-symbol function skeletons seen before in the text
    enumeration: int  # longest run of short list items in a sentence of five breaks or more
    score: float


def ramp(x: float, bad: float, good: float) -> float:
    """0 at ``bad``, 1 at ``good``, linear between (either direction)."""
    t = (x - bad) / (good - bad)
    return 0.0 if t <= 0 else 1.0 if t >= 1 else t


def combine(pieces: tuple[float, ...]) -> float:
    """Pieces of evidence (1 = clean) as one score: any one clear sign is enough, the
    others can only add to it."""
    return min(pieces) * 0.7 + sum(pieces) / len(pieces) * 0.3


def _agents(words: list[str], clause_starts: set[int]) -> int:
    # "<the|your|clause start> <object> <verb> <the|your|a ...>": transitive, so "the table
    # folds away" and "the pen writes smoothly" are not counted.
    count = 0
    for i, w in enumerate(words[:-2]):
        if w in _OBJECTS and words[i + 1] in _AGENT_VERBS and words[i + 2] in _DETERMINERS and (
                i in clause_starts or (i and words[i - 1] in _DETERMINERS)):
            verb = words[i + 1]
            count += not ((w in _LIQUIDS and verb.startswith("pour"))
                          or (w in _WRITERS and verb.startswith("write")))
    return count


def _genitives(words: list[str], sentences: list[int], function: frozenset[str]
               ) -> tuple[int, int, int]:
    # (object chains, metaphor-prone genitives, most genitives of any kind in one sentence)
    chains = loose = pileup = 0
    start = 0
    for length in sentences:
        end, here = start + length, 0
        for i in range(max(start, 1), end - 1):
            if words[i] != "of":
                continue
            head, nxt = words[i - 1], words[i + 1]
            if head in function or nxt in _SUITS or head[0].isdigit():
                continue
            here += 1
            if head not in _RELATIONAL:
                loose += 1
            j = i + 2 if nxt in _DETERMINERS and i + 2 < end else i + 1
            tail = words[j]
            if ((head in _OBJECTS and head not in _MEASURES) or head in _DAYS) and (
                    tail in _OBJECTS or tail in _DAYS or tail in _TIMES or tail in _PEOPLE):
                chains += 1
        pileup = max(pileup, here)
        start = end
    return chains, loose, pileup


@lru_cache(maxsize=4)
def _codes(function: frozenset[str]) -> dict[str, str]:
    # One printable character per function word ("\x00" stands for content words).
    return {w: chr(0x21 + k) for k, w in enumerate(sorted(function))}


_CONTENT_RUN = re.compile("\x00+")


def _skeleton_repeats(words: list[str], function: frozenset[str]) -> float:
    # The function words in order, each run of content words one blank: a repeated frame,
    # whatever nouns fill it, repeats its six-symbol windows. Prose rarely does; a mad-lib
    # repeats most of them. A string of one character a word keeps the windows cheap.
    skeleton = _CONTENT_RUN.sub("\x00", "".join(map(_codes(function).get, words, repeat("\x00"))))
    windows = len(skeleton) - 5
    if windows <= 0:
        return 0.0
    return 1 - len({skeleton[i:i + 6] for i in range(windows)}) / windows


def _enumeration(words: list[str], sentences: list[int], clause_starts: set[int]) -> int:
    # Items are split at commas and at "and" / "or"; a run continues while the items stay
    # short and parallel (each opens with the word the last one opened with, "a choir, a
    # dog park", or is one word, "price, commute, light"). Clauses of a sentence are short
    # too, but they do not open alike. Only sentences with five breaks or more can hold a
    # run that counts, so only they are read (the figure is 0 without one).
    if len(clause_starts) - len(sentences) + words.count("and") + words.count("or") < 5:
        return 0  # fewer than five breaks in the whole text (clause starts count sentence starts)
    breaks = sorted({i for i in clause_starts if i < len(words)}
                    | {i for i, w in enumerate(words) if w in _LIST_BREAKS})
    best, start, k = 0, 0, 0
    for length in sentences:
        end = start + length
        inside = []
        while k < len(breaks) and breaks[k] < end:
            if breaks[k] > start:
                inside.append(breaks[k])
            k += 1
        if len(inside) >= 5:
            best = max(best, _run(words, [start, *inside, end]))
        start = end
    return best


def _run(words: list[str], cuts: list[int]) -> int:
    best = run = 0
    opener = None
    for a, b in zip(cuts, cuts[1:]):
        item = words[a + 1:b] if words[a] in _LIST_BREAKS else words[a:b]
        if not item:
            continue  # ", and": one break, not an empty item
        if len(item) <= 4 and (len(item) == 1 or item[0] == opener):
            run += 1
        else:
            run = 1 if len(item) <= 4 else 0
        opener = item[0] if len(item) > 1 else opener
        best = max(best, run)
    return best


def assess(words: list[str], sentences: list[int], clause_starts: set[int],
           function: frozenset[str]) -> Stuffing:
    """The stuffing figures of a text from its words, sentence lengths and clause starts;
    ``function``: the closed-class words (:data:`coherence.FUNCTION_WORDS`)."""
    n = len(words)
    if n == 0:
        return Stuffing(0.0, 0.0, 0.0, 0, 0.0, 0, 1.0)
    agents = 100 * _agents(words, clause_starts) / n
    chains, loose, pileup = _genitives(words, sentences, function)
    chains, loose = 100 * chains / n, 100 * loose / n
    repeats = _skeleton_repeats(words, function)
    listed = _enumeration(words, sentences, clause_starts)
    pieces = (
        ramp(agents, 3.0, 1.0),
        ramp(chains, 4.0, 1.5),
        ramp(loose, 10.0, 5.0),
        ramp(pileup, 6, 3),
        ramp(repeats, 0.2, 0.06),
        ramp(listed, 10, 6),
    )
    score = combine(pieces)
    return Stuffing(round(agents, 3), round(chains, 3), round(loose, 3), pileup, round(repeats, 4),
                    listed, round(score, 4))
