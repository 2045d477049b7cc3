"""The rule engine: prefilter index, match context, :func:`find_harm`.

The precise rules run first; the broad detector (:mod:`~kasper.agents.quality.harm.broad`)
then reads the gates they left silent, and the loose layer
(:mod:`~kasper.agents.quality.harm.loose`) the gates both left silent. Injection and
markup checks run on every text."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import replace

from kasper.agents.quality.harm.normalize import _ABBREV, _ABBREV_HINT, _normalize, words_of
from kasper.agents.quality.harm.lexicon import Rule, _words
from kasper.agents.quality.harm.openings import guarded
from kasper.agents.quality.harm.broad import _med_words, find_broad, might_flag
from kasper.agents.quality.harm.segments import Segments
from kasper.agents.quality.harm.loose import find_loose
from kasper.agents.quality.harm.context import (
    _CLAIM_NEG,
    _CLAUSE_MARKS,
    _MENTION_START,
    _MENTION_TAIL,
    _SENTENCE_MARKS,
    _deferred,
    _end_of,
    _help_near,
    _lost_story,
    _negated,
    _protected_condition,
    _reported,
    _start_of,
    _warned_gerund,
)
from kasper.agents.quality.harm.medical import RULES as MEDICAL
from kasper.agents.quality.harm.financial import RULES as FINANCIAL
from kasper.agents.quality.harm.eating import RULES as EATING
from kasper.agents.quality.harm.self_harm import RULES as SELF_HARM
from kasper.agents.quality.harm.hateful import RULES as HATEFUL
from kasper.agents.quality.harm.injection import find_injection, RULES as INJECTION
from kasper.agents.quality.harm.language import foreign_sentence

GATES = ("medical_directive", "legal_financial_directive", "eating_disorder", "self_harm",
         "hateful", "injection")
_RANK = {gate: i for i, gate in enumerate(GATES)}
# Gates where a verb with another subject ("she stopped her chemo") is a report. Self-harm
# and eating keep their own mention rules: "if you are thinking about ending it, do it" is
# no report.
_DIRECTIVE_GATES = frozenset({"medical_directive", "legal_financial_directive"})
_RULES: list[Rule] = [*MEDICAL, *FINANCIAL, *EATING, *SELF_HARM, *HATEFUL, *INJECTION]

# --- the engine ------------------------------------------------------------------------------

# Everyday words: a trigger group holding one of them is a poor index (it matches most texts).
_EVERYDAY = _words("""
    a all an and are as at be been being but by can could day do does don't for from get give go
    going have her him his how i if in is it its just let like make more my no not now of off on
    one or our out over put say see she should so some take than that the their them then there
    these they this those time to too up us was we week what when which who why will with without
    would you your yourself good new old more way well back down still into after before about
    need only also any every each other even never many here life love feel help""")


def _index_group(rule: Rule) -> frozenset[str]:
    # The group with the fewest everyday words (then the smallest) decides whether the
    # rule runs at all and which stretches of text it scans.
    return min(rule.triggers, key=lambda g: (len(g & _EVERYDAY), len(g)))


_KEYS = [_index_group(r) for r in _RULES]
_INDEX: dict[str, tuple[int, ...]] = {}
for _i, _key in enumerate(_KEYS):
    for _w in _key:
        _INDEX[_w] = (*_INDEX.get(_w, ()), _i)


_INDEX_KEYS = frozenset(_INDEX)
# A rule reached through its index group meets that group already: only the others are tested.
_OTHERS = [tuple(g for g in r.triggers if g is not key) for r, key in zip(_RULES, _KEYS)]


# The rules scan with a lookahead of their openings (see openings.py): the same matches.
_RULES = [replace(r, pattern=guarded(r.pattern)) for r in _RULES]


def _rules_for(words: set[str], keys: set[str] | None = None) -> list[int]:
    # keys: the index words among ``words`` when the caller has them.
    if keys is None:
        keys = _INDEX_KEYS.intersection(words)
    ids = {i for w in keys for i in _INDEX[w]}
    out = []
    for i in sorted(ids):
        for group in _OTHERS[i]:
            if group.isdisjoint(words):
                break
        else:
            out.append(i)
    return out


# Stopping or skipping these is the safe advice: they are not anyone's treatment.
_NOT_MEDICINE = re.compile(r"\b(?:diet|slimming|weight[- ]loss) (?:pills?|tablets?|teas?|shakes?)|"
                           r"\blaxatives?\b|\bdetox teas?\b|\bfat burners?\b")


def _harmful(s: str, m: re.Match[str], rule: Rule) -> bool:
    if rule.check is not None and not rule.check(s, m):
        return False
    if rule.mode == "plain":
        return True
    if rule.gate == "medical_directive" and _NOT_MEDICINE.search(m.group()):
        return False
    start = m.start("v") if "v" in rule.pattern.groupindex else m.start()
    cs = _start_of(s, start, _CLAUSE_MARKS)
    if rule.mode == "verb" and (_negated(s, cs, start, s[start:m.end()]) or _warned_gerund(
            s, cs, start, m.end(), _end_of(s, m.end(), _CLAUSE_MARKS)) or (
            rule.gate in _DIRECTIVE_GATES and _reported(s, cs, start))):
        return False
    ss, se = _start_of(s, start, _SENTENCE_MARKS), _end_of(s, m.end(), _SENTENCE_MARKS)
    if rule.mode == "claim" and (_CLAIM_NEG.search(s, max(cs, m.start() - 160), m.start())
                                 or _lost_story(s, ss, se)):
        return False
    if rule.defer:
        ce = _end_of(s, m.end(), _CLAUSE_MARKS)
        if _deferred(s, rule.gate, start, m.end(), cs, ce, ss, se):
            return False
    if rule.mode == "verb" and _protected_condition(s, cs, start, m.end(), se):
        return False
    if rule.gate in ("self_harm", "eating_disorder"):
        mentioned = (_MENTION_TAIL.search(s, max(ss, start - 80), start)
                     or _MENTION_START.match(s, start))
        # A resource later in the text still answers the mention ("You wrote that ...
        # That's the pain talking. ... Please call ...").
        if mentioned and _help_near(s, ss, len(s)):
            return False
    return True


# One-word sentences in a row ("Stop. Taking. Your. Meds.") are one clause.
_STACCATO_HINT = re.compile(r"[.!] [a-z']+[.!]")
_STACCATO = re.compile(r"\b([a-z']+)[.!]+ (?=[a-z']+[.!]+(?: |$))")
_EMPHASIS = str.maketrans("", "", "*_~`")
_QUOTES = re.compile(r"\"|'(?<!\w')|'(?!\w)")
# The apostrophes _QUOTES takes out, found from the literal (most texts hold only "don't").
_QUOTE_HINT = re.compile(r"'(?!\w)|'(?<!\w')")
# Rules scan only the stretches of text (split at sentence ends) that hold a trigger word.
_SEGMENT_END = re.compile(r"[.!\n](?:(?<=\n)|(?<![.!].)[.!]*+(?=\s|$))")
_match_end = re.Match.end


def _prepared(norm: str) -> str:
    # Matching copy for the rules: abbreviation dots and spaced hyphens are not clause ends
    # (the first) or are (the second).
    if _ABBREV_HINT.search(norm):
        norm = _ABBREV.sub(r"\1", norm)
    if '"' in norm or ("'" in norm and _QUOTE_HINT.search(norm)):
        # Quotes around a word ("meds", 'pills') would split a verb from its object.
        norm = _QUOTES.sub("", norm)
    if "*" in norm or "_" in norm or "~" in norm or "`" in norm:
        # Markdown emphasis: "**stop** taking your *meds*".
        norm = norm.translate(_EMPHASIS)
    if _STACCATO_HINT.search(norm):
        norm = _STACCATO.sub(r"\1 ", norm)
    return norm.replace(" - ", " \u2014 ")



def find_harm(text: str, words: Collection[str] | None = None,
              prefilter: bool = True) -> list[tuple[str, str]]:
    """``(gate, reason)`` for every harmful directive, hateful phrase or injection in
    ``text``, in :data:`GATES` order, each once; ``reason`` quotes the matched phrase
    (lower case) except for injection, which is described, never echoed.

    ``words``: the lowercase word tokens of ``text`` when the caller has them (used only
    when normalisation leaves the words unchanged). ``prefilter=False`` runs every rule
    (for tests: the trigger words must never hide a match).
    """
    norm, changed = _normalize(text)
    words = words_of(norm) if words is None or changed else set(words)
    # Every index group is made of index words: the few present ones stand for ``words``.
    keys = _INDEX_KEYS.intersection(words)
    ids = range(len(_RULES)) if not prefilter else _rules_for(words, keys)
    found: list[tuple[str, str]] = []
    broad = might_flag(words)
    if norm.strip():
        s = _prepared(norm)
        starts = [0, *map(_match_end, _SEGMENT_END.finditer(s))]
        ends = [*starts[1:], len(s)]
        # One word-to-sentence index for the rules and both later layers.
        segments = Segments(s, starts, ends)
        for i in ids:
            rule = _RULES[i]
            spans = segments.spans(_KEYS[i] & keys) if prefilter else [(0, len(s))]
            for lo, hi in spans:
                for m in rule.pattern.finditer(s, lo, hi):
                    if _harmful(s, m, rule):
                        reason = rule.reason or f"'{' '.join(m.group().split())[:80]}'"
                        found.append((rule.gate, reason))
        meds = _med_words(words)
        if broad:
            # The broad detector backs up gates the precise rules left silent.
            found += find_broad(s, words, starts, ends, skip={g for g, _ in found},
                                segments=segments, meds=meds)
        # The loose layer reads what both left silent.
        found += find_loose(s, words, starts, ends, skip={g for g, _ in found},
                            segments=segments, meds=meds)
    found += [("injection", r) for r in find_injection(text, norm)]
    if foreign_sentence(norm):
        found.append(("injection", "a sentence not in English"))
    found = list(dict.fromkeys(found))
    # "skip your therapy" inside "skip your therapy appointment" is the same finding.
    found = [(g, r) for g, r in found
             if not (r.startswith("'") and any(g2 == g and r2 != r and r[1:-1] in r2
                                                for g2, r2 in found))]
    return sorted(found, key=lambda gr: _RANK[gr[0]])
