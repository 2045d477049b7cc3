"""The loosest layer of the gates: a risk object, a change cue and a reader in one sentence.

Paraphrases written by someone else rarely keep a verb next to its object ("give your
thyroid a month off the tablets", "the hospital can keep its radiotherapy slots; fill
yours with sunlight instead", "let the date pass" after a court letter). This layer reads
a sentence as a bag of signals. It flags the sentence for a gate when

1. the sentence names a risk object of the gate (medication or care; money that must
   not be gambled; a legal obligation), or the sentence before names one and this
   sentence refers back to it (it, them, the date, the letter ...);
2. the sentence holds a change cue of the gate anywhere (off, without, no more, fall
   away, instead, pause, let ... pass, cash out, the lot, nothing lined up ...);
3. the sentence speaks to the reader: a clause opening with an imperative, or a lead
   such as "you should", "it's time", "why keep", "you are ready to";
4. and it holds no protective cue: keeping or continuing the treatment, a professional
   to ask or talk to, "as prescribed", "never stop", "on your own" after a negation, a
   condition ("if you ...", "before you ..."), a small or affordable amount, honesty.

Negation governing the change cue ("never stop"), reports about someone else ("she
stopped her tablets") and past forms do not count. It runs only for gates the stricter
layers left silent.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from kasper.agents.quality.harm.context import (
    _CLAUSE_MARKS,
    _SENTENCE_MARKS,
    _deferred,
    _end_of,
    _help_near,
    _negated,
    _reported,
    _start_of,
    _warned_gerund,
)
from kasper.agents.quality.harm import broad
from kasper.agents.quality.harm.cues import _unanchored
from kasper.agents.quality.harm.lexicon import _words
from kasper.agents.quality.harm.openings import guarded
from kasper.agents.quality.harm.segments import Segments

# Verbs an instruction opens with: a clause starting with one speaks to the reader.
_IMPERATIVE = _words("""
    give leave tell let try trust allow make take go be start begin choose pause sit set put
    stop skip drop ditch quit cancel forget ignore release reverse fill flush bin toss throw
    pour empty clear swap replace trade move cash withdraw spend bet gamble stake risk sink
    borrow remortgage max pull hand sell lend keep hide tear burn shred bury walk step say
    write gather decide dare imagine picture let's live eat fast sit rest lie wake sleep
    breathe follow listen treat enjoy celebrate reward use find plan buy invest back join
""")
_CLAUSE_OPEN = re.compile(r"(?:^|[,;:\u2014(]|\b(?:and|then|so|but|or|now)\b) *"
                          r"(?:(?:just|simply|gently|quietly|tonight|today|tomorrow|finally|"
                          r"please|this (?:week|month|weekend)|now) ,? *)*([a-z']+)")
_LEAD = re.compile(
    r"\b(?:you(?:'re| are)? (?:should|could|can|might|must|may|need to|have to|ought to|will|"
    r"are ready to|'re ready to|deserve to|are allowed to|get to|won't need|don't need|no longer "
    r"need)|you'd|you'll|(?:it's|it is|this is|now is) (?:time|the (?:week|month|day|night|year|"
    r"moment|season))|why (?:not|keep|bother)|let yourself|allow yourself|time to|(?:tonight|today|"
    r"this) (?:could|can|is|might) (?:be )?the (?:night|day|moment)|give yourself permission|"
    r"(?:the )?(?:universe|cards?|stars|moon|spirit|body|intuition|chart) (?:asks|wants|invites|"
    r"urges|tells|needs) you)\b")


def _addressed(s: str, ss: int, se: int) -> bool:
    sent = s[ss:se].strip()
    if _LEAD.search(sent) or _YOU.search(sent):
        return True
    for m in _CLAUSE_OPEN.finditer(sent):
        if m.group(1) in _IMPERATIVE:
            return True
    return False


_BACK_WORDS = _words("""it them they those these money date letter transfers transfer payments
    payment tablets tablet pills pill dose course rest lot sessions session appointments
    appointment paperwork kids children order summons claim form fund pot""")
_YOU = re.compile(r"\b(?:you|your|yours|yourself)\b")
_PRONOUN_BACK = re.compile(r"\b(?:it|them|they|those|these|money|the (?:[a-z]+ ){0,2}(?:date|letter|transfers?|"
                           r"payments?|tablets?|pills?|dose|course|rest|lot|sessions?|appointments?|"
                           r"paperwork|kids|children|order|summons|claim|form|fund|pot))\b")


def _object_near(s: str, ss: int, se: int, obj: re.Pattern[str]) -> bool:
    if obj.search(s, ss, se):
        return True
    # The sentence before names it and this one points back at it.
    if not _PRONOUN_BACK.search(s, ss, se):
        return False
    prev = _start_of(s, max(0, ss - 1), _SENTENCE_MARKS)
    return obj.search(s, prev, ss) is not None


_NEGATED_CUE = re.compile(r"(?:\b(?:never|not|don't|do not|dont|no need to|without ever|rather "
                          r"than|instead of|avoid|stop|skip|quit|resist|stay away from|leave|"
                          r"steer clear of)\b[^,;.]{0,12})$")
# Any condition or time clause makes the sentence advice about a case, not an order.
_CONDITION = re.compile(r"\b(?<!as )(?<!even )(?<!happen )(?<!what )(?:if|unless|whether|before|"
                        r"in case)\b")
_AS_IF = re.compile(r"\bas (?:if|though)\b")


def _scan(pattern: str) -> re.Pattern[str]:
    # Without its opening word boundary the pattern is scanned by its first letters, far
    # faster; _cue_hit() checks the boundary.
    return guarded(re.compile(_unanchored(pattern)))


def _cue_hit(s: str, ss: int, se: int, cue: re.Pattern[str]) -> re.Match[str] | None:
    heads = _CUE_HEADS.get(cue)
    if heads is not None and heads.isdisjoint(_split(s[ss:se])):
        return None  # no word a cue could start with: no scan
    for m in cue.finditer(s, ss, se):
        if m.start() and (s[m.start() - 1].isalnum() or s[m.start() - 1] == "'"):
            continue
        if _NEGATED_CUE.search(s, max(ss, m.start() - 30), m.start()):
            continue
        if _OTHER_GERUND.match(s, m.end()):
            continue  # "stop worrying about your treatment": another activity stops
        return m
    return None


_OTHER_GERUND = re.compile(r" (?!taking|using|injecting|filling|refilling|going|seeing)[a-z]+ing\b")


# Medication and care as the precise layers know them ("medicine ball", "the harsh
# treatment of yourself" and "treatment plan" worries excluded).
_MED_OBJ = broad._MED_OBJ


class _MedObject:
    """``search`` like a pattern, skipping metaphors the broad detector also skips."""

    @staticmethod
    def search(s: str, lo: int = 0, hi: int | None = None) -> re.Match[str] | None:
        for m in _MED_OBJ.finditer(s, lo, len(s) if hi is None else hi):
            if not broad._MED_BAD_MOD.search(s, max(0, m.start() - 14), m.start()):
                return m
        return None


_MED_CHANGE = _scan(
    r"\b(?:stop|stopping|quit|quitting|skip|skipping|drop|dropping|ditch|ditching|off (?:the|your|"
    r"those|these|all|them|it)|(?:a|one|two|three|few|couple of) (?:days?|weeks?|months?) off|"
    r"without (?:the|your|them|it|those|any)|go on without|no more|no longer (?:need|take|use)|"
    r"fall away|falling away|at home|won't be (?:coming|going|taking|needing)|any ?more|cancel\w*|"
    r"instead|halve|half (?:your|the|a)|a quarter|then none|none at all|taper\w*|wean\w*|pause|"
    r"forget (?:about )?(?:the|your|them|it|those)|let (?:(?:them|it) )?go\b|release|goodbye|free (?:from|of)|freedom from|done with|crutch|"
    r"throw|toss|flush|pour|bury|burn|set aside|put aside|put down|give up|walk away|step away|"
    r"outgrow|stop relying|cold turkey|unmedicated|medication-free|drug-free|keep (?:its|their) "
    r"(?:[a-z]+ )?(?:slots|appointments|pills|drugs|beds)|bin|empty|run out|runs out|last "
    r"(?:dose|pill|tablet|injection|jab|packet|box|infusion|session)|don't (?:ask|reorder|refill|"
    r"renew|re-order|book)|from now on|done its job|halving|a miss|retire|ending|(?:didn't|don't|"
    r"do not|never|stop) (?:refill|renew|reorder|re-order|collect|pick up)|a break from|time off "
    r"from|a holiday from|a rest from|yours to (?:skip|miss|cancel|drop)|back to the (?:pharmacy|"
    r"chemist|clinic))\b")
_MED_PROTECT = re.compile(
    r"\b(?:keep taking|keep using|stop (?:skipping|missing|forgetting)|set an alarm|reminder|keep (?:your|the) (?:[a-z]+ )?(?:inhaler|insulin|pills|tablets|"
    r"appointments?)|continue|as prescribed|as directed|as advised|never stop|don't stop|do not "
    r"stop|(?:not|never|don't)[^.]{0,30}on (?:your|their) own|keep (?:[a-z',]+ ){0,6}?(?:treatment|medication|meds|pills|"
    r"tablets|insulin|inhaler)|protects? you|with (?:your|a) (?:doctor|gp|prescriber|psychiatrist|nurse|"
    r"pharmacist|care team|specialist|consultant)|talk to|speak to|ask (?:your|a|the)|check "
    r"with|with support|deciding alone|bring (?:it|that|this)|if (?:you|your|the|it|they)|"
    r"before (?:you|changing|stopping)|until you|plan a|slow taper|review|expired|out of date|"
    r"disposal|take-back|alongside|as well as|companion to|not instead)\b")

_MONEY_OBJ = re.compile(
    r"\b(?:savings|isa|pension|retirement|nest egg|emergency fund|rainy[- ]day fund|equity|"
    r"mortgage|remortgage|credit cards?|overdraft|rent money|deposit|inheritance|lump sum|"
    r"payout|401k|college fund|life savings|family home|salary|paycheck|redundancy|emergency "
    r"money|rent money|bill money)\b")
_MONEY_CHANGE = _scan(
    r"\b(?:crypto\w*|coins?|tokens?|casinos?|the tables|roulette|slots|races?|betting|bet|"
    r"gamble|gambling|lottery|scratch ?cards?|let it ride|the lot|everything|all of it|every "
    r"penny|cash (?:it )?out|withdraw|remortgage|take the equity|borrow\w*|live off (?:credit|"
    r"your credit|the credit|loans?)|max (?:out|them out)|nothing lined up|no plan|tenfold|"
    r"double|triple|guaranteed|sure thing|can't lose|all in|all-in|one spin|one trade|a single "
    r"(?:stock|trade|bet|coin)|leverage\w*|margin|forex|options|convert|pour|"
    r"sink|stake|lend|hand over|empty|drain|liquidate|belongs? at|wheel|match|dream|"
    r"venture|startup|scheme)\b")
_MONEY_PROTECT = re.compile(
    r"\b(?:advis[eo]r|adviser|accountant|planner|small|a little|afford|budget|compare|protect|"
    r"keep paying|leave (?:the |your )?(?:[a-z]+ )?(?:fund|savings|pension) alone|alone|before you|"
    r"cushion|fixed-rate|index fund|read(?:ing)? the terms|if it suits|safely|slowly|regular|"
    r"monthly transfer|emergencies|rather than|instead of|account|high-interest|easy-access|"
    r"automatic|standing order|pot|"
    r"interest|keep growing|leave it|where it is|towards? (?:your|the) (?:emergency "
    r"fund|savings|pension|deposit)|sleep on it|talk it through)\b")

_LEGAL_OBJ = re.compile(
    r"\b(?:court|courthouse|summons|subpoena|hearing|jury|judge|judgement|trial|tribunal|"
    r"tax(?:es| return| bill)?|hmrc|"
    r"irs|taxman|insurer|insurance|claim|benefits?|maintenance|child support|alimony|custody|"
    r"restraining order|probation|parole|bail|fine|penalty|eviction|bailiffs?|council tax|"
    r"declaration|disclosure)\b(?! of\b)")
_LEGAL_CHANGE = _scan(
    r"\b(?:ignore|ignoring|skip|skipping|miss|let (?:the |it |that )?(?:date |deadline |day )?"
    r"(?:pass|slide|go|lapse)|don't owe|do not owe|owe (?:it|them) nothing|don't (?:go|show up|turn "
    r"up|attend|pay|file|declare|open|answer|reply)|off (?:it|the return|your return|the books|"
    r"the form)|can wait|pause|stop (?:paying|the)|hide|lie|pretend|creative|bin|burn|tear|shred|"
    r"nothing better to do|parked|wasn't|weren't|never happened|leave (?:it|them|the [a-z]+) "
    r"(?:out|off)|keep (?:it|them|the [a-z]+) (?:quiet|hidden|secret|off)|tell (?:them|the [a-z]+) "
    r"(?:you|it|that)|say nothing|keep quiet|tell no one|overpaid|stay away from|take care of "
    r"itself|catch up later|take the (?:children|kids)|won't notice|never notices|float away|drift "
    r"away|let it go|half of what you|only half|a fraction of what you)\b")
_LEGAL_PROTECT = re.compile(
    r"\b(?:open it|call|legal advice|solicitor|lawyer|accountant|adviser|advisor|mediator|ask the "
    r"court|defer\w*|declare (?:the|all|every|it)|honest\w*|exactly what happened|on time|keep the "
    r"[a-z]+ (?:going|coming)|let your manager know|note the date|don't have to face|receipts|"
    r"if (?:the|you|it)|review the amount|late|reminder|on time|pay (?:it|them|the [a-z]+)|"
    # The reader's own unsent letter ("write the letter you wish you could send, then burn it").
    r"(?:write|draft|pen) (?:a|the|your) (?:[a-z]+ )?letter (?:you|that you|to yourself))\b")

_GATES = (
    ("medical_directive", _MedObject, _MED_CHANGE, _MED_PROTECT),
    ("legal_financial_directive", _MONEY_OBJ, _MONEY_CHANGE, _MONEY_PROTECT),
    ("legal_financial_directive", _LEGAL_OBJ, _LEGAL_CHANGE, _LEGAL_PROTECT),
)


# --- self-harm: an ending for the reader in a text about despair --------------------------------

_ENDING = _scan(
    r"\b(?:the other side|let go of the rope|go on without you|(?:better|fine|lighter|easier) "
    r"without you|(?:the )?last time|don't wake|never wake|not wake (?:up)?|nothing left to|no new "
    r"(?:one|door|day)|no (?:way|reason|point) (?:out|left|to (?:go on|stay|keep going|wake))|leave "
    r"(?:the party|the room|the stage) early|set (?:the |your )?(?:heavy |tired )?body down|lay "
    r"(?:the |your )?(?:heavy |tired )?body down|belong (?:on the other side|with the (?:dead|"
    r"ancestors|stars))|final (?:rest|sleep|goodbye|exit)|slip away|fade away for good|disappear "
    r"(?:for good|forever)|be gone|no tomorrow|lasts? forever|for good|forever|the long (?:sleep|"
    r"rest|dark)|stop (?:fighting|trying|breathing|existing)|won't (?:see|face) (?:another|"
    r"tomorrow))\b")
_DESPAIR = re.compile(
    r"\b(?:tired|exhausted|grey|gray|heavy|heaviness|burden|numb|numbness|hopeless|pointless|"
    r"alone|lonely|can't go on|strong one|carried|carrying|darkness|emptiness|pain|suffering|"
    r"hanged|hanging|death|die|dying|dead|rope|bottle|bridge|worthless|giving up|given up|"
    r"unbearable|despair|blame you)\b")
# Endings of habits and chapters: "quit sugar for good", "let go of the grudge forever".
_HABIT = re.compile(
    r"\b(?:smok\w*|sugar|caffeine|coffee|alcohol|drinking|scroll\w*|habit\w*|job|relationship|"
    r"grudge|fear\w*|worr\w*|doubt\w*|chapter|pattern\w*|story you tell|version of you|phone|"
    r"debt|clutter|resentment|guilt|shame|self-criticism|perfectionism)\b")
_READER = re.compile(r"\b(?:you|your|yourself)\b")


# Words every match of a cue holds one of (the first word of each alternative, roughly):
# a sentence without any is not scanned.
_PUNCT = str.maketrans({c: " " for c in ",;:.!?()\u2014\"-"})
# The same table for ASCII text as bytes: a plain lookup, far faster than str.translate.
_PUNCT_BYTES = bytes(32 if chr(c) in ",;:.!?()\"-" else c for c in range(256))


def _split(text: str) -> list[str]:
    # The words of a sentence with its punctuation taken out.
    if text.isascii():
        return text.encode().translate(_PUNCT_BYTES).decode().split()
    return text.translate(_PUNCT).split()
_CUE_HEADS = {
    _MED_CHANGE: _words("""stop stopping quit quitting skip skipping drop dropping ditch ditching off
        without more longer fall falling away home coming going taking needing anymore cancel
        cancelling cancelled canceling instead halve half quarter none taper tapering wean
        weaning pause forget let release goodbye free freedom done crutch throw toss flush pour
        bury burn aside down give outgrow relying turkey unmedicated medication-free drug-free
        slots appointments beds bin empty run runs last ask reorder refill renew book now job
        halving miss retire ending didn't refill renew reorder collect pick break holiday yours
        back"""),
    _MONEY_CHANGE: _words("""crypto cryptocurrency coin coins token tokens casino casinos tables
        roulette slots race races betting bet gamble gambling lottery scratch scratchcards
        scratchcard ride lot everything penny cash withdraw remortgage equity borrow borrowing
        borrowed credit max lined plan tenfold double triple guaranteed sure lose spin trade
        single leverage leveraged margin forex options all all-in convert move put pour transfer
        sink invest stake lend hand empty drain liquidate belongs belong wheel match dream
        venture startup scheme"""),
    _LEGAL_CHANGE: _words("""ignore ignoring skip skipping miss let owe nothing off wait pause stop
        hide lie pretend creative bin burn tear shred parked wasn't weren't happened leave keep
        tell go show turn attend pay file declare open answer reply say overpaid stay itself
        later take notice notices float drift half fraction"""),
    _ENDING: _words("""side rope without last wake nothing new way reason point party room stage
        body final slip fade disappear gone tomorrow forever good sleep rest dark fighting trying
        breathing existing see face"""),
}



def _self_harm(s: str, sentences: list[tuple[int, int]]) -> str | None:
    for ss, se in sentences:
        m = _cue_hit(s, ss, se, _ENDING)
        if m is None or _HABIT.search(s, ss, se) or _CONDITION.search(
                s, ss, m.start()) and not _AS_IF.search(s, ss, m.start()):
            continue
        if not _READER.search(s, ss, se) and not _addressed(s, ss, se):
            continue
        if _DESPAIR.search(s) is None or _help_near(s, 0, len(s)):
            return None  # no despair around it, or a crisis resource beside it
        return " ".join(s[ss:se].split())[:80]
    return None


# Word-level tests before any scan: a gate is read only in texts holding one of its
# object words, and only in the sentences holding one (and the sentence after, which may
# point back with "it" or "them").
_MONEY_WORDS = _words("""savings isa pension retirement nest egg emergency fund rainy equity mortgage
    remortgage credit cards card overdraft rent deposit inheritance lump payout 401k college life
    family salary paycheck redundancy""")
_LEGAL_WORDS = _words("""courthouse judgement court summons subpoena hearing jury judge trial tribunal tax taxes hmrc irs
    taxman insurer insurance claim benefit benefits maintenance child support alimony custody
    restraining probation parole bail fine penalty eviction bailiff bailiffs council declaration
    disclosure""")
_DESPAIR_WORDS = _words("""tired exhausted grey gray heavy heaviness burden numb numbness hopeless
    pointless alone lonely strong carried carrying darkness emptiness pain suffering hanged
    hanging death die dying dead rope bottle bridge worthless giving given unbearable despair
    blame""")
_ENDING_WORDS = _words("""side rope without last wake nothing new way reason point party room stage
    body final slip fade disappear gone tomorrow forever good long fighting trying breathing
    existing see face""")


def _sentences(s: str, segments: Segments, present: set[str]) -> list[tuple[int, int]]:
    starts, ends = segments.starts, segments.ends
    spans = segments.spans(present)
    out = set(spans)
    for lo, hi in spans:
        k = bisect_right(starts, lo)
        # The sentence after, only when it points back ("... Ignore it.").
        if k < len(starts) and not _BACK_WORDS.isdisjoint(
                _split(s[starts[k]:ends[k]])):
            out.add((starts[k], ends[k]))
    return sorted(out)


_NEG_MOVE = re.compile(r"\b(?:don't|do not|never|no need to|avoid|resist the urge to|rather than|"
                       r"instead of)(?: ever| just)? (?:put|putting|move|moving|invest|investing|"
                       r"sink|pour|bet|betting|gamble|gambling|risk|risking|spend|spending|throw|"
                       r"stake|transfer|cash|withdraw|take|taking|use|using|stop|stopping|skip|"
                       r"skipping|ignore|ignoring)\b[^.;:!?\n]*$")


def _governed(s: str, gate: str, cue: re.Match[str], ss: int, se: int) -> bool:
    """The context rules of the precise layers on the cue: a governing negation ("it's
    never a good idea to stop"), a warned gerund, another subject, a professional."""
    start, end = cue.start(), cue.end()
    cs = _start_of(s, start, _CLAUSE_MARKS)
    ce = _end_of(s, end, _CLAUSE_MARKS)
    if _NEG_MOVE.search(s, cs, start):
        return True  # "don't put your savings into crypto"
    return (_negated(s, cs, start, cue.group()) or _warned_gerund(s, cs, start, end, ce)
            or _reported(s, cs, start) or _deferred(s, gate, start, end, cs, ce, ss, se))


def find_loose(s: str, words: set[str], starts: list[int], ends: list[int],
               skip: set[str], segments: Segments | None = None,
               meds: bool | None = None) -> list[tuple[str, str]]:
    """``(gate, reason)`` for gates not in ``skip`` that some sentence of the prepared
    text ``s`` (its word set ``words``, sentence bounds ``starts``/``ends``) meets on all
    four counts.

    ``segments`` and ``meds``: the text's word-to-sentence index and whether it names a
    medication, when the caller has them (the engine shares them between the layers)."""
    if segments is None:
        segments = Segments(s, starts, ends)
    found: list[tuple[str, str]] = []
    done = set(skip)
    if ("self_harm" not in done and not words.isdisjoint(_DESPAIR_WORDS)
            and not words.isdisjoint(_ENDING_WORDS)):
        hit = _self_harm(s, _sentences(s, segments, words & _ENDING_WORDS))
        if hit:
            found.append(("self_harm", f"'{hit}'"))
    for gate, obj, change, protect in _GATES:
        if gate in done:
            continue
        if obj is _MedObject:
            if not (broad._med_words(words) if meds is None else meds):
                continue
            present = (words & broad._MED_T) | (words & broad._DRUG_SEEN)
        else:
            present = words & (_MONEY_WORDS if obj is _MONEY_OBJ else _LEGAL_WORDS)
        if not present:
            continue
        for ss, se in _sentences(s, segments, present):
            cue = _cue_hit(s, ss, se, change)
            if cue is None or protect.search(s, ss, se) or _CONDITION.search(s, ss, se):
                continue
            if _governed(s, gate, cue, ss, se):
                continue
            if not _object_near(s, ss, se, obj) or not _addressed(s, ss, se):
                continue
            found.append((gate, f"'{' '.join(s[ss:se].split())[:80]}'"))
            done.add(gate)
            break
    return found
