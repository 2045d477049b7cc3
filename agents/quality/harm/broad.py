# Long: the three gates' verb-object readings share its object and lead machinery; split by gate, each part would import the rest.
"""The broad, sentence-level detector behind the precise rules.

The precise rules (one module per gate) pair a listed verb with a listed object. Text
written by someone else says the same thing with other words, so this detector looks
for three things in one clause instead:

1. a *change verb* of a gate's family (stop, drop, halve, flush, set aside, cash out,
   withdraw, move ... into, ignore, tear up, keep ... off ...);
2. a *risk object* of that gate after it (medication in general, generic nouns such as
   tablets, dose or treatment, drug-name suffixes such as -pril, -olol, -statin, -pam,
   -xetine, -mab; savings, pension, emergency fund, rent money; summons, court, taxes,
   child support, insurance, benefits), or a pronoun ("bin them") when the sentence or
   the one before names the object;
3. a *directive lead*: the verb opens its clause (an imperative, after commas, "and",
   "so", time words), or follows a modal aimed at the reader ("you should", "you
   could", "you'd", "it's time to", "why not", "consider", "let yourself", "trust
   yourself to", "the cards ask you to"), or is a gerund subject praised rather than
   warned about ("ditching the pills is the bravest step").

A finding is dropped, as for the precise rules, when a negation governs the verb, a
professional governs the directive (deferral), a protective condition follows ("if you
skip a dose, call your pharmacist"), or the gerund carries a warning. Only base and
-ing verb forms count, so statements about the past or about other people ("she
stopped her meds") never match. Money verbs that are harmless on their own (put, move,
spend, take) need a risky destination (crypto, casino, lottery, a single stock ...) or
an essential fund (rent money, emergency fund).

Passive directives ("the chemo is best set aside", "the hearing can be missed") count
when the risk object is their subject, in the sentence or the one before. Ideas with no
verb and object (self-harm, disordered eating, some legal ones) are phrase cues, in
:mod:`kasper.agents.quality.harm.cues`.

The word lists, verb tables and patterns are in :mod:`kasper.agents.quality.harm.broad_words`.
Speed: verbs are tried only where their first word stands, against the few phrases that
start with it; an object pattern is scanned only when one of its head words is near.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from kasper.agents.quality.harm.broad_words import (  # loose.py, engine.py import some from here
    _ALL_IN, _CARRY_VERBS, _CLAUSE_END, _CUE_T, _DISPOSAL, _DROP_PROF, _DRUG_SEEN, _ESSENTIAL,
    _FIN_FIXED, _FIN_FIXED_T, _FIN_STRONG, _FIN_TABLE, _FIN_VT, _GAP_STOP, _INTO, _JOB_RISK_T,
    _JOB_T, _LEAVE, _LEGAL_FIXED, _LEGAL_OBJ, _LEGAL_T, _LEGAL_TABLE, _LEGAL_VT, _LUXURY,
    _MED_BAD_MOD, _MED_OBJ, _MED_T, _MED_TABLE, _MED_VT, _MONEY_OBJ, _MONEY_T, _OBJ_HEADS,
    _PARTICLE, _PARTICLE_VERBS, _PASSIVE, _PASSIVE_ANY, _PASSIVE_T, _PRAISE, _PROF_OBJ, _PRONOUN,
    _PRONOUN_IN, _PRONOUN_TAIL, _RISKY_DEST, _SOME, _med_words,
)
from kasper.agents.quality.harm.context import (
    _CLAUSE_MARKS,
    _SENTENCE_MARKS,
    _deferred,
    _end_of,
    _negated,
    _protected_condition,
    _reported,
    _start_of,
    _warned_gerund,
)
from kasper.agents.quality.harm.cues import find_cues
from kasper.agents.quality.harm.leads import directed
from kasper.agents.quality.harm.segments import Segments


def _fin_fixed(s: str, spans: list[tuple[int, int]]) -> str | None:
    for lo, hi in spans:
        for m in _FIN_FIXED.finditer(s, lo, hi):
            ss = _start_of(s, m.start(), _SENTENCE_MARKS)
            if not directed(s, ss, m.start(), m.group()):
                continue
            if _safe_context(s, "legal_financial_directive", m.start(), m.end()):
                continue
            return " ".join(m.group().split())[:80]
    return None


def _object_after(s: str, end: int, ce: int, obj: re.Pattern[str], words: int = 6) -> re.Match[str] | None:
    """The risk object within a few words after a verb, before the clause ends; the
    words between may not be prepositions or other verbs ("stop worrying about your
    meds" does not pair)."""
    hi = min(ce, end + 90)
    if not _has_heads(s, end, hi, obj):
        return None
    m = obj.search(s, end, hi)
    if m is None:
        return None
    gap = s[end:m.start()].split()
    if len(gap) > words or any(_GAP_STOP.fullmatch(w) for w in gap):
        return None
    return m


def _antecedent(s: str, obj: re.Pattern[str], ss: int, start: int) -> bool:
    # The object named earlier in this sentence or in the one before.
    prev = _start_of(s, max(0, ss - 1), _SENTENCE_MARKS)
    return _has_heads(s, prev, start, obj) and obj.search(s, prev, start) is not None


def _has_heads(s: str, lo: int, hi: int, obj: re.Pattern[str]) -> bool:
    """Whether s[lo:hi] holds a head word of ``obj``: a set test before any regex scan."""
    heads = _OBJ_HEADS.get(obj)
    if heads is None:
        return True
    toks = set(s[lo:hi].replace(",", " ").replace(".", " ").replace("?", " ").split())
    return not heads.isdisjoint(toks) or (obj is _MED_OBJ and not _DRUG_SEEN.isdisjoint(toks))


def _pronoun_object(s: str, end: int, ce: int, obj: re.Pattern[str], ss: int, start: int) -> bool:
    return bool(_PRONOUN.match(s, end)) and _antecedent(s, obj, ss, start)


def _safe_context(s: str, gate: str, start: int, end: int, reports: bool = True) -> bool:
    """The context rules shared with the precise rules: governing negation, a warned
    gerund, deferral to a professional, a protective condition."""
    cs = _start_of(s, start, _CLAUSE_MARKS)
    ce = _end_of(s, end, _CLAUSE_MARKS)
    ss, se = _start_of(s, start, _SENTENCE_MARKS), _end_of(s, end, _SENTENCE_MARKS)
    if (_negated(s, cs, start, s[start:end]) or _warned_gerund(s, cs, start, end, ce)
            or (reports and _reported(s, cs, start))):
        return True
    if _deferred(s, gate, start, end, cs, ce, ss, se):
        return True
    return _protected_condition(s, cs, start, end, se)


def _positions(s: str, present: Collection[str]) -> list[tuple[int, str]]:
    """Where (and as which word) the words ``present`` start as whole words in ``s``: the
    verb patterns are tried only there, not scanned over whole sentences."""
    out = set()
    n = len(s)
    for w in present:
        k = len(w)
        i = s.find(w)
        while i >= 0:
            if (i == 0 or not (s[i - 1].isalnum() or s[i - 1] == "'")) and (
                    i + k == n or not s[i + k].isalnum()):
                out.add((i, w))
            i = s.find(w, i + k)
    return sorted(out)


def _verb_object(s: str, positions: list[tuple[int, str]], gate: str,
                 verbs: dict[str, re.Pattern[str]], obj: re.Pattern[str], accept,
                 gap: int = 6) -> str | None:
    for pos, word in positions:
        verb = verbs.get(word)
        v = verb.match(s, pos) if verb is not None else None
        if v is None:
            continue
        start, end = v.start(), v.end()
        c = _CLAUSE_END.search(s, end, end + 400)
        ce = c.start() if c else min(len(s), end + 400)
        o = _object_after(s, end, ce, obj, gap)
        ss = _start_of(s, start, _SENTENCE_MARKS)
        if o is None and v.group() in _CARRY_VERBS and _PARTICLE.search(s, end, ce):
            # "Sweep every bottle, the venlafaxine included, into the bin": a particle verb
            # carries its object to the end of the clause, or to the sentence before.
            o = obj.search(s, end, ce)
            if o is None and not _antecedent(s, obj, ss, start):
                continue
        elif o is None and not _pronoun_object(s, end, ce, obj, ss, start) and not (
                (_PRONOUN_IN.search(v.group()) or _LEAVE.match(v.group()))
                and _antecedent(s, obj, ss, start)):
            continue
        if not directed(s, ss, start, v.group()) and not _praised_gerund(s, start, end, o, ce):
            continue
        if not accept(s, v, o, ce):
            continue
        if _safe_context(s, gate, start, o.end() if o else end):
            continue
        return " ".join(s[start:(o.end() if o else end + 5)].split())[:80]
    return None


def _praised_gerund(s: str, start: int, end: int, o: re.Match[str] | None, ce: int) -> bool:
    # "Ditching the pills is the bravest step": a gerund subject held up as the way.
    if not s[start:end].split(" ", 1)[0].endswith("ing"):
        return False
    cs = _start_of(s, start, _CLAUSE_MARKS + ",")
    if s[cs:start].strip():
        return False
    return bool(_PRAISE.match(s, o.end() if o else end))


# --- acceptance tests per gate ------------------------------------------------------------------

def _med_ok(s: str, v: re.Match[str], o: re.Match[str] | None, ce: int) -> bool:
    if o is not None and _MED_BAD_MOD.search(s, max(0, o.start() - 14), o.start()):
        return False
    if _DISPOSAL.search(s, v.start(), _end_of(s, v.end(), _SENTENCE_MARKS)):
        return False  # expired pills to the pharmacy: safe disposal, not stopping treatment
    verb = v.group()
    tail = s[(o.end() if o else v.end()):ce]
    if o is None:
        tail = _PRONOUN_TAIL.sub("", tail, 1)
    if o is not None and _PROF_OBJ.fullmatch(o.group()):
        return bool(_DROP_PROF.fullmatch(verb))
    if verb in _PARTICLE_VERBS:
        # "put the pens back in the fridge for good", "sweep every bottle into a bag".
        return bool(_PARTICLE.search(tail)) and not _DISPOSAL.search(s, v.start(), ce)
    if verb in ("give", "giving"):
        return bool(re.match(r" (?:a (?:rest|break|miss|pass|holiday|day off|week off|skip)|away|"
                             r"up|back)\b", tail))
    if verb in ("let", "letting"):
        return bool(re.match(r" (?:go|slide|slip|lapse|run out|expire)\b", tail))
    if verb.startswith(("drop", "dropp")) and s.startswith((" off", " by", " in "), v.end()):
        return False
    if verb.startswith(("double", "doubling", "triple", "tripl")) and o is not None:
        # "double check your meds", "double your dose" both start so; only the dose counts.
        return not s.startswith(" check", v.end())
    if verb.startswith(("return", "returning", "donat", "hand back", "handing back")):
        return not _DISPOSAL.search(s, v.start(), ce)
    if verb.startswith(("flush", "bin", "toss", "throw", "pour", "burn", "bury")):
        return not _DISPOSAL.search(s, v.start(), ce)
    if verb.startswith(("end", "ending")) and o is not None:
        return o.group() in ("treatment", "treatments", "therapy", "chemo", "dialysis",
                             "medication", "medications", "meds")
    return True


def _fin_ok(s: str, v: re.Match[str], o: re.Match[str] | None, ce: int) -> bool:
    sent_end = _end_of(s, v.end(), _SENTENCE_MARKS)
    if o is not None and o.group() == "everything":
        # "Move everything to the weekend" is planning; everything into coins is not.
        return bool(_RISKY_DEST.search(s, o.end(), sent_end))
    if o is not None and _ALL_IN.search(s, v.end(), min(sent_end, o.end() + 40)) and _INTO.search(
            s, o.end(), sent_end):
        return True  # all of it into one thing, whatever the thing
    if o is None:
        # "spend it on the retreat": a fund named just before ("everything" is too vague).
        prev = _start_of(s, max(0, _start_of(s, v.start(), _SENTENCE_MARKS) - 1), _SENTENCE_MARKS)
        named = [m.group() for m in _MONEY_OBJ.finditer(s, prev, v.start())]
        if not any(n != "everything" for n in named):
            return False
        essential = any(_ESSENTIAL.fullmatch(n) for n in named)
        return bool(_FIN_STRONG.fullmatch(v.group()) or _RISKY_DEST.search(s, v.end(), sent_end)
                    or (essential and _LUXURY.search(s, v.end(), sent_end)))
    if _SOME.search(s, v.end(), o.start()) and not _ESSENTIAL.fullmatch(o.group()):
        return False
    if _FIN_STRONG.fullmatch(v.group()):
        return True
    if _ESSENTIAL.fullmatch(o.group()):
        return bool(_RISKY_DEST.search(s, o.end(), sent_end) or _LUXURY.search(
            s, o.end(), sent_end)) or v.group().startswith(
            ("spend", "blow", "use", "using", "gambl", "bet"))
    return bool(_RISKY_DEST.search(s, o.end(), sent_end))


_OWN_LETTER = re.compile(r"\b(?:write|writing|draft|pen|jot)(?: down| out)? (?:a|the|your|an) "
                         r"(?:[a-z]+ )?(?:letter|note|message|list|email)\b")


def _legal_ok(s: str, v: re.Match[str], o: re.Match[str] | None, ce: int) -> bool:
    verb = v.group()
    if verb.startswith(("keep", "stash", "pocket", "hold back", "withhold")):
        # "Keep the income off your return"; "keep receipts for your taxes" is the opposite.
        return bool(re.match(r"[^,]{0,40}?\b(?:off|out of|away from|from|hidden|secret|quiet)\b",
                             s[v.end():ce]))
    if verb.startswith(("leave", "leaving", "let", "letting")):
        return bool(re.search(r"\b(?:unopened|unanswered|unpaid|unread|in the drawer|sit|slide|"
                              r"pile up|lapse|expire|go unanswered|gather dust|rot|off|out of)\b",
                              s[v.end():ce]))
    if verb in ("stop", "stopping"):
        return o is not None and bool(re.search(r"payments?|support|alimony|maintenance", o.group()))
    if verb.startswith(("break", "breaking", "cut", "cutting", "cancel", "drop", "dropping")):
        return o is not None and bool(re.search(r"order|custody|bail|probation|parole|law|"
                                                r"child support|alimony|insurance", o.group()))
    if verb.startswith(("miss", "missing", "avoid", "avoiding", "delay", "postpon", "put off",
                        "putting off")):
        return o is not None and not re.fullmatch(r"taxes|tax|insurance|benefits|council|police|"
                                                  r"fines?", o.group())
    if o is None and verb.startswith(("burn", "shred", "tear", "rip", "bin", "toss", "throw")) and (
            _OWN_LETTER.search(s, _start_of(s, v.start(), _SENTENCE_MARKS), v.start())):
        # "Write the letter you wish you could send, then burn it": the reader's own letter.
        return False
    if verb.startswith(("lie", "lying", "fib", "mislead", "deceiv", "cheat", "fake", "faking",
                        "falsif", "inflat", "pad", "exaggerat", "invent", "make up", "making up",
                        "fudg", "underreport", "under-report")):
        return True
    return True


# --- entry point --------------------------------------------------------------------------------

def might_flag(words: Collection[str]) -> bool:
    """Cheap test: whether the broad detector could find anything in a text with these
    words (a change verb of some gate, or a self-harm word)."""
    return not (words.isdisjoint(_MED_VT) and words.isdisjoint(_FIN_VT)
                and words.isdisjoint(_LEGAL_VT)
                and words.isdisjoint(_LEGAL_T) and words.isdisjoint(_FIN_FIXED_T | _JOB_T)
                and words.isdisjoint(_CUE_T) and words.isdisjoint(_PASSIVE_T))


def find_broad(s: str, words: Collection[str], starts: list[int], ends: list[int],
               skip: Collection[str] = (), segments: Segments | None = None,
               meds: bool | None = None) -> list[tuple[str, str]]:
    """``(gate, reason)`` pairs the broad detector finds in the prepared text ``s`` (its
    word set ``words``, sentence starts and ends), for gates not in ``skip``.

    ``segments``: the text's word-to-sentence index when the caller has one (the engine
    shares it between the layers); ``meds``: :func:`_med_words` of ``words``, likewise."""
    words = words if isinstance(words, set) else set(words)
    found: list[tuple[str, str]] = []
    if segments is None:
        segments = Segments(s, starts, ends)
    if meds is None:
        meds = _med_words(words)
    if "medical_directive" not in skip and meds and not words.isdisjoint(_MED_VT):
        hit = _verb_object(s, _positions(s, words & _MED_VT), "medical_directive", _MED_TABLE,
                           _MED_OBJ, _med_ok)
        if hit:
            found.append(("medical_directive", f"'{hit}'"))
    present = words & _PASSIVE_T
    legal_words = not words.isdisjoint(_LEGAL_T)
    money_words = not words.isdisjoint(_MONEY_T)
    need_med = meds and "medical_directive" not in skip and not found
    need_legal = "legal_financial_directive" not in skip and (legal_words or money_words)
    # Passives are scanned once, and only when some gate has its objects in the text.
    passives = (_passives(s, segments.spans(present))
                if present and (need_med or need_legal) else [])
    if need_med and passives:
        hit = _passive(s, passives, "medical_directive", _MED_OBJ)
        if hit:
            found.append(("medical_directive", f"'{hit}'"))
    if "legal_financial_directive" not in skip:
        hit = None
        if passives and legal_words:
            hit = _passive(s, passives, "legal_financial_directive", _LEGAL_OBJ)
        if hit is None and passives and money_words:
            hit = _passive(s, passives, "legal_financial_directive", _MONEY_OBJ)
        if hit is None and money_words and not words.isdisjoint(_FIN_VT):
            hit = _verb_object(s, _positions(s, words & _FIN_VT), "legal_financial_directive",
                               _FIN_TABLE, _MONEY_OBJ, _fin_ok)
        fixed = words & _FIN_FIXED_T
        if not words.isdisjoint(_JOB_T) and not words.isdisjoint(_JOB_RISK_T):
            fixed |= words & _JOB_T
        if hit is None and fixed:
            hit = _fin_fixed(s, segments.spans(fixed))
        if hit is None and legal_words:
            if not words.isdisjoint(_LEGAL_VT):
                hit = _verb_object(s, _positions(s, words & _LEGAL_VT),
                                   "legal_financial_directive", _LEGAL_TABLE, _LEGAL_OBJ,
                                   _legal_ok, gap=8)
            if hit is None:
                spans = segments.spans(words & _LEGAL_T)
                hit = _legal_fixed(s, spans)
        if hit:
            found.append(("legal_financial_directive", f"'{hit}'"))
    if not words.isdisjoint(_CUE_T):
        done = set(skip) | {g for g, _ in found}
        found += find_cues(s, words, segments.spans, done, meds)
    return found


# --- passive voice: "the chemo is best set aside", "the hearing can be missed" ----------------

def _passives(s: str, spans: list[tuple[int, int]]) -> list[re.Match[str]]:
    out = []
    for lo, hi in spans:
        for m in _PASSIVE_ANY.finditer(s, lo, hi):
            if not (m.start() and (s[m.start() - 1].isalnum() or s[m.start() - 1] == "'")):
                out.append(m)
    return out


def _passive(s: str, found: list[re.Match[str]], gate: str, obj: re.Pattern[str]) -> str | None:
    """A risk object as the subject of a passive directive, in the same sentence before
    the verb or in the sentence before ("the remaining cycles can be cancelled")."""
    pattern = _PASSIVE[gate]
    for any_match in found:
        m = pattern.match(s, any_match.start())
        if m is None:
            continue
        ss = _start_of(s, m.start(), _SENTENCE_MARKS)
        if not obj.search(s, ss, m.start()) and not _antecedent(s, obj, ss, m.start()):
            continue
        se = _end_of(s, m.end(), _SENTENCE_MARKS)
        if obj is _MONEY_OBJ and not (_RISKY_DEST.search(s, m.end(), se)
                                      or _ALL_IN.search(s, ss, se)):
            continue
        if gate == "medical_directive" and (s.startswith(" off", m.end())
                                            or _DISPOSAL.search(s, ss, se)):
            continue  # "can be dropped off at the pharmacy"
        # The subject of a passive is the object ("they can be binned"), not a person.
        if _safe_context(s, gate, m.start(), m.end(), reports=False):
            continue
        return " ".join(m.group().split())[:80]
    return None


def _legal_fixed(s: str, spans: list[tuple[int, int]]) -> str | None:
    for lo, hi in spans:
        for m in _LEGAL_FIXED.finditer(s, lo, hi):
            ss = _start_of(s, m.start(), _SENTENCE_MARKS)
            se = _end_of(s, m.end(), _SENTENCE_MARKS)
            if not _LEGAL_OBJ.search(s, ss, se):
                continue
            if not directed(s, ss, m.start()):
                continue
            cs = _start_of(s, m.start(), _CLAUSE_MARKS)
            ce = _end_of(s, m.end(), _CLAUSE_MARKS)
            if _deferred(s, "legal_financial_directive", m.start(), m.end(), cs, ce, ss, se):
                continue
            return " ".join(s[m.start():m.end() + 30].split())[:80]
    return None
