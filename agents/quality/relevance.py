"""Relevance evidence for rubric v2: is the text an insight written to this reader, about their prompt?

- **context mentions**: which of the prompt's context fields (card, sign, number,
  moon phase, mood, focus, journal snippet) the text takes up. A number counts as
  a digit or a word ("7" or "seven"); longer words match on their stem, so
  "anxious" is taken up by "anxiety".
- **domain grounding**: distinct words of the prompt's domain (the card's names,
  the planets...), from the rubric lexicon, capped at three.
- **voice**: an insight speaks to the reader as "you". An assistant's offer ("I'd be
  happy to help", "here's a rewritten version"), a first-person diary or a narrator
  writing about "they" is not an insight, however fluent.
- **echo**: the prompt's field labels ("Sun sign:", "What they wrote:") or a long
  verbatim stretch of the user's own snippet in the text: the model copied its
  prompt instead of answering it.

:func:`assess` returns the figures and a combined ``score`` in 0-1. With no context
(``kasper grade`` on bare texts) only the domain, or any domain, and the voice count.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from kasper.agents.quality import readings
from kasper.agents.quality.readings import NUMBER_WORDS

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself", "i'm", "i've", "i'd", "i'll"})
_SECOND_PERSON = frozenset({"you", "your", "yours", "yourself", "you're", "you've", "you'll", "you'd"})
# "they" only: a card's figure or a planet is "he" or "she" in a good insight.
_THIRD_PERSON = frozenset({"they", "them", "their", "they're", "themselves"})
# Count only in a text with no "you" at all: then "she" is the reader, told about.
_GENDERED = frozenset({"he", "him", "his", "himself", "she", "her", "hers", "herself"})
_ASSISTANT = re.compile(
    r"\b(?:i'?d be (?:happy|glad) to|happy to help|here(?:'s| is) (?:a|an|the|your|my)\b"
    r"|as an ai\b|as a language model|i hope this helps|let me know if|feel free to ask"
    r"|rewritten version|revised version|certainly!|sure!|i can help you|the user\b"
    r"|this insight (?:is|was)|(?:my|this) response"
    # Talk about the writing task itself: a revise note answered instead of followed.
    # ("write 200 words in your journal" is a practice, so a word count alone is not).
    r"|\bexpand (?:it |this |the text )?to (?:at least )?\d+ words\b"
    r"|\b(?:keep|trim|shorten|cut) (?:it|this|the text|the insight) (?:to|under|below|within) \d+ words\b"
    r"|\bprovide (?:a|an|the) (?:\w+ ){0,2}(?:insight|text|version|response)\b"
    r"|\bthe reader\b)"
)  # matched against the lowercased text: IGNORECASE would cost more than the lowercasing
# A quotation inside the text: straight or curly double quotes, on one line.
_QUOTED = re.compile(r'"[^"\n]{1,300}"|\u201c[^\u201d\n]{1,300}\u201d')
# Verbs that open an instruction to the reader ("Write...", "Book...", "Keep..."): the plain
# way of speaking to someone. Words that more often open a statement ("Being", "Today") are not here.
_IMPERATIVES = frozenset("""
    add answer ask book bring buy call check choose clear close commit cook count cross cut do
    don't drink drop eat find flag give go hand keep leave let link list look make mark move open
    pick plan post pour print put read reply ring run say schedule send set show sit sort spend
    start stop take tell try turn walk wash write jot note name offer pause place sketch stretch
    text tidy unplug block circle fold hold light pull draw step water breathe repeat record
""".split())
_SNIPPET_RUN = 8  # words copied verbatim from the user's snippet that make an echo
# What the prompt is about counts double: the card, the sign, the number, the person's own words.
_LIGHT_FIELDS = frozenset({"mood", "focus"})


@dataclass(frozen=True)
class Relevance:
    """Relevance figures of one text; ``score`` (1 = on topic) combines the context, the
    domain and the echo; the ``voice`` is scored on its own."""

    context_fields: int  # fields in the prompt's context that carry a term
    mentioned: tuple[str, ...]  # the fields the text takes up
    grounding: float  # domain words, 0-1
    voice: float  # 1 = written to "you"; lower for an assistant, diary or narrator
    echo: tuple[str, ...]  # what the text copied from its prompt
    score: float
    stitched: int = 0  # kinds of reading (card, sign, number) named beyond the prompt's context
    wrong_reading: bool = False  # names another card, sign or number than the prompt's, never its own
    imperatives: int = 0  # clauses that open with an instruction to the reader ("Write...")


def _stem(word: str) -> str:
    # "anxious" / "anxiety", "nervous" / "nerves": a short stem, only for longer words.
    return word[:4] if len(word) >= 6 else word


def _terms(key: str, value: str, stop: frozenset[str]) -> set[str]:
    words = [w for w in _WORD.findall(value.lower()) if w not in stop]
    terms = set()
    for w in words:
        if w.isdigit():
            terms.add(w)
            n = int(w)
            if n < len(NUMBER_WORDS):
                terms.add(NUMBER_WORDS[n])
        elif len(w) >= (5 if key == "focus" else 3) or (len(w) >= 2 and any(c.isdigit() for c in w)):
            terms.add(_stem(w))  # a focus's "work" or "life" is no evidence; "5k" is
    if key == "journal_snippet":  # a snippet is taken up by its content, not one word
        # "2am", "5k", "70": a figure from the reader's own words is content, however short.
        return {t for t in terms if len(t) >= 4 or any(c.isdigit() for c in t)}
    return terms


def _stems(counts: Mapping[str, int]) -> set[str]:
    # Every word, its first four letters when longer ("guilty" takes up "guilt"), and the base
    # of a plural, past or possessive ("nights" takes up "night", "Libras" the sign "Libra").
    stems = set(counts)
    add = stems.add
    for w in counts:
        if len(w) < 4:
            continue
        add(w[:4])
        last = w[-1]
        if last == "s":
            add(w[:-1])
            if w[-2] in "e'":
                add(w[:-2])  # "boxes", "flatmate's"
        elif last == "d":
            add(w[:-1])
            if w[-2] == "e":
                add(w[:-2])  # "walked": "walk"
    return stems


def _mentioned(key: str, terms: set[str], stems: set[str]) -> bool:
    found = terms & stems
    if key == "journal_snippet":
        return len(found) >= min(2, len(terms))
    return bool(found)


def _echo(lower: str, words: list[str], context: Mapping[str, str],
          labels: Mapping[str, str]) -> tuple[str, ...]:
    echoed = [f"label '{label}'" for key, label in labels.items()
              if f"{label.lower()}:" in lower]
    snippet = _WORD.findall(str(context.get("journal_snippet", "")).lower())
    if len(snippet) >= _SNIPPET_RUN:
        runs = {tuple(snippet[i:i + _SNIPPET_RUN]) for i in range(len(snippet) - _SNIPPET_RUN + 1)}
        if any(tuple(words[i:i + _SNIPPET_RUN]) in runs for i in range(len(words) - _SNIPPET_RUN + 1)):
            echoed.append("the journal snippet verbatim")
    return tuple(echoed)


def imperatives(words: list[str], clause_starts: Collection[int]) -> int:
    """Clauses that open with an instruction ("Pick one room.", "Tonight, write...")."""
    return sum(1 for i in clause_starts if i < len(words) and words[i] in _IMPERATIVES)


def _voice(words: list[str], counts: Mapping[str, int], lower: str, told: int = 0) -> float:
    n = max(1, len(words))
    second = sum(counts.get(w, 0) for w in _SECOND_PERSON)
    # A practice written as imperatives ("Pick one story. Read it aloud.") speaks to the reader
    # as much as "you" does, however often it names a friend as "they". Only against a
    # narrator: imperatives with no "you" at all are a recipe or a manual as often as advice.
    told += second
    first = sum(counts.get(w, 0) for w in _FIRST_PERSON)
    third = sum(counts.get(w, 0) for w in _THIRD_PERSON)
    if '"' in lower or "\u201c" in lower:
        # Words given to the reader to say ("Say: "I can't this week"") are the reader's lines,
        # not the writer's diary or an assistant's offer.
        quoted = _QUOTED.findall(lower)
        first -= sum(1 for q in quoted for w in _WORD.findall(q) if w in _FIRST_PERSON)
        lower = _QUOTED.sub(" ", lower)
    voice = 1.0
    if _ASSISTANT.search(lower):
        voice -= 0.6
    if first > max(2, second):
        voice -= 0.5  # a diary: the writer talks about themselves
    gendered = sum(counts.get(w, 0) for w in _GENDERED)
    if (third > 3 and told / n < 0.03) or (third + gendered > 3 and not second):
        voice -= 0.5  # a narrator talks about the reader as "they" (or "she", never "you")
    if (told if second >= 2 else second) / n < 0.02:
        voice -= 0.3  # seldom "you": unless its instructions speak to the reader (as in resonance)
    return max(0.0, voice)


def assess(words: list[str], counts: Mapping[str, int], text: str, domain_grounding: float,
           context: Mapping[str, str] | None, labels: Mapping[str, str],
           stop: frozenset[str], clause_starts: Collection[int] = (), prose: bool = True
           ) -> Relevance:
    """The relevance of a text (its ``words``, their ``counts`` and the raw ``text``) to its prompt.

    ``domain_grounding``: 0-1 from the domain's lexicon words; ``context``: the
    prompt's context (None or empty when unknown); ``labels``: the prompt
    template's field labels, to spot an echo; ``stop``: words never taken as terms;
    ``clause_starts``: indices of the words that open a sentence or clause (imperatives);
    ``prose``: whether the text reads as prose (the coherence evidence), not a salad.
    """
    context = {k: str(v) for k, v in (context or {}).items() if v}
    fields = {k: t for k, v in context.items() if (t := _terms(k, v, stop))}
    stems = _stems(counts) if fields else set()
    mentioned = tuple(k for k, t in fields.items() if _mentioned(k, t, stems))
    lower = text.lower().replace("\u2019", "'")  # "I’d be happy" is "i'd be happy"
    echo = _echo(lower, words, context, labels)
    told = imperatives(words, clause_starts)
    voice = _voice(words, counts, lower, told)
    if fields:
        weight = {k: 1 if k in _LIGHT_FIELDS else 2 for k in fields}
        # Two light fields (a mood and a focus) are one subject: taking up either is on topic.
        light = all(k in _LIGHT_FIELDS for k in fields)
        needed = 1 if light else min(2, sum(weight.values()))
        taken = min(1.0, sum(weight[k] for k in mentioned) / needed)
        if light and prose and domain_grounding >= 0.99:
            # A mood and a focus are the reader's own free words, and plain writing paraphrases
            # them ("400 emails" for "an overflowing inbox"): prose that speaks the prompt's
            # domain throughout is at least half on its subject. Not a salad: stuffing buys
            # the domain's words too.
            taken = max(taken, 0.5)
        topical = 0.6 * taken + 0.4 * domain_grounding
    else:
        topical = domain_grounding
    foreign, wrong = readings.assess(text, counts, context)
    # Echoing the prompt, or answering another reading's prompt, is not answering this one.
    score = topical * (0.2 if echo else 1.0) * (0.3 if wrong else 1.0)
    return Relevance(len(fields), mentioned, round(domain_grounding, 4), round(voice, 4), echo,
                     round(score, 4), foreign, wrong, told)
