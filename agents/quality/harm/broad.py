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

Speed: verbs are tried only where their first word stands, against the few phrases that
start with it; an object pattern is scanned only when one of its head words is near.
"""

from __future__ import annotations

import re
from collections.abc import Collection

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
from kasper.agents.quality.harm.cues import CUES, find_cues
from kasper.agents.quality.harm.leads import directed
from kasper.agents.quality.harm.lexicon import (
    CARE,
    MEDS,
    MONEY_CORE,
    PROF_MED,
    _alt,
    _heads,
    _lex,
    _words,
)
from kasper.agents.quality.harm.segments import Segments

# Verbs whose last consonant doubles before -ing.
_DOUBLE = _words("stop drop skip quit swap bin cut set put let get split step dip rip ship "
                 "chop plan bet")


def _ing(verb: str) -> str:
    if verb in _DOUBLE:
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye")):
        return verb[:-1] + "ing"
    return verb + "ing"


def _verbs(spec: str) -> frozenset[str]:
    """Comma-separated verb phrases -> their trigger words (first word, base and -ing)."""
    return frozenset(form for phrase in spec.split(",") if phrase.split()
                     for form in (phrase.split()[0], _ing(phrase.split()[0])))


def _verb_table(spec: str, extra: dict[str, str] | None = None) -> dict[str, re.Pattern[str]]:
    """Comma-separated verb phrases -> one small pattern per first word (base and -ing
    form): a verb is matched where its first word stands, against only the phrases that
    start with it, not against one alternation of every phrase."""
    tails: dict[str, set[str]] = {}
    for phrase in spec.split(","):
        words = phrase.split()
        if not words:
            continue
        rest = " ".join(words[1:])
        for form in (words[0], _ing(words[0])):
            tails.setdefault(form, set()).add(rest)
    table = {}
    for form, rests in tails.items():
        alts = sorted((re.escape(r).replace("\\ ", " ") for r in rests if r), key=len, reverse=True)
        tail = f"(?: (?:{'|'.join(alts)}))" + ("?" if "" in rests else "") if alts else ""
        own = f"{form}{tail}"
        if extra and form in extra:
            own = f"(?:{extra[form]}|{own})"
        table[form] = re.compile(rf"{own}\b(?!-)")
    for form, pattern in (extra or {}).items():
        if form not in table:
            table[form] = re.compile(rf"(?:{pattern})\b(?!-)")
    return table


# --- risk objects -------------------------------------------------------------------------------

# Drug names by their class suffix: lisinopril, metoprolol, atorvastatin, diazepam,
# fluoxetine, adalimumab ... (at least three letters before the suffix).
_DRUG_SUFFIX = ("pril", "olol", "sartan", "statin", "azepam", "zolam", "xetine", "oxetine",
                "opram", "faxine", "umab", "imab", "tinib", "mycin", "cillin", "prazole",
                "dipine", "thiazide", "formin", "glutide", "apine", "epine", "idone", "azine",
                "trigine", "racetam", "oxacin", "isone", "olone", "thyroxine", "triptan",
                "gliptin", "flozin", "parin", "xaban", "gatran", "tidine", "semide", "lukast",
                "terol", "sonide", "ticasone", "amine", "phetamine", "azodone", "iazem", "zepine")
_DRUG_WORD = (r"[a-z]{3,}(?:" + "|".join(sorted(_DRUG_SUFFIX, key=len, reverse=True)) + r")")
_MED_GENERIC = _lex("""
    meds, medication(s), medicine(s), pill(s), tablet(s), capsule(s), prescription(s), script(s),
    dose(s), dosage(s), doses, treatment(s), therapy, chemo, chemotherapy, radiotherapy,
    dialysis, infusion(s), injection(s), jab(s), shot(s), insulin, inhaler(s), puffer(s),
    patch(es), drip, transfusion(s), antidepressant(s), antibiotic(s), steroid(s),
    lithium, cpap, pump, nebuliser, nebulizer, epipen, regimen, round of chemo,
    rounds of chemo, course of antibiotics, appointment(s) with your doctor,
    prescribed drugs, prescription drugs, medical care, medical advice, hospital, surgery,
    operation, check-up(s), checkup(s), blood tests, scans, screening(s),
    humira, enbrel, stelara, keytruda, herceptin, wegovy, mounjaro, jardiance, januvia, entresto,
    trulicity, dupixent, victoza, lantus, novorapid, humalog, levemir, tresiba, spiriva, symbicort,
    seretide, advair, flovent, qvar, singulair, lyrica, gabapentin, pregabalin, tramadol, codeine,
    oxycodone, morphine, fentanyl, vyvanse, concerta, strattera, elvanse, modafinil, letrozole,
    anastrozole, remicade, otezla, xeljanz, rinvoq, cosentyx, skyrizi, ocrevus, tecfidera,
    copaxone, gilenya, paxlovid, accutane, isotretinoin, spironolactone, digoxin, amiodarone,
    furosemide, thyroxine, carbimazole, hydroxychloroquine, colchicine, allopurinol, sumatriptan,
    naproxen, mesalazine, azathioprine, mycophenolate, tacrolimus, ciclosporin, cyclosporine,
    oncology team, cancer team, diabetes team, renal team, transplant team, hospital team,
    oncology nurse, diabetes nurse, heart team
""")
# Professionals: an object only for verbs that drop them ("cancel the oncologist").
_PROF_OBJ = re.compile(r"(?:appointments? with (?:the |your |a )?)?" + _alt(PROF_MED) + "s?$")
_MED_OBJ = re.compile(
    r"\b(?:(?:appointments? with (?:the |your |a )?)?" + _alt(PROF_MED) + "|"
    + _alt(MEDS + _MED_GENERIC)[3:-1] + "|" + _DRUG_WORD + r")\b(?!-)"
    r"(?! (?:bills?|costs?|budget|cabinet|of (?:yourself|others|reality)|you give|shows?|balls?|"
    r"wheel|man|woman|bag|drum|notes?|journal|books?|speak|from|exposure|levels?|emitted|"
    r"glasses|cups?|jars?|bottles? (?:of|for) (?:wine|water)))")
_MED_BAD_MOD = re.compile(r"(?:retail|silent|spa|beauty|facial|hair|harsh|cruel|cold shoulder|"
                          r"couples|group|talk|art|music|light|sound|aroma|cold water|ice) $")
# Heads too common to stand for a medication ("up" of "check-up", "help" of "medical help").
_MED_T = (_heads(MEDS, _MED_GENERIC, CARE) | _words("dose doses dosage dosages script scripts")) - _words(
    "up ups help care advice attention") | _words("pharmacy pharmacies pharmacist chemist")

_MONEY_ESSENTIAL = _lex("""
    rent money, rent, grocery money, food money, bill money, emergency fund(s), emergency savings,
    rainy day fund, rainy-day fund, child support, mortgage payment(s), kids' college fund,
    college fund, university fund, children's college fund, school fees, medical fund
""")
_MONEY_SAVINGS = MONEY_CORE + _lex("""
    savings account, savings, nest egg, pension, pension pot, retirement savings,
    retirement fund, retirement account, 401k, ira, isa, life savings, house deposit,
    deposit, down payment, inheritance, redundancy money, severance, lump sum, equity,
    home equity, house, home, family home, property, flat, credit card(s), credit limit,
    overdraft, every penny, every cent, every dollar, everything you own, everything you have,
    everything, the whole amount, the entire amount, the full amount, the whole lot, the lot,
    all of it, the whole sum, lump sum, payout, redundancy payout, redundancy pay, windfall,
    all your money, all you have, your money, the money, your cash, your salary, your paycheck,
    your wages, your bonus
""")
_MONEY_OBJ = re.compile(r"\b" + _alt(_MONEY_ESSENTIAL + _MONEY_SAVINGS) + r"\b")
_ESSENTIAL = re.compile(r"\b" + _alt(_MONEY_ESSENTIAL) + r"\b")
_MONEY_T = (_heads(_MONEY_ESSENTIAL, _MONEY_SAVINGS) | _words("money cash everything")) - _words(
    "have own limit food it lot pay")
# Where money should never go on an insight's say-so.
_RISKY_DEST = re.compile(
    r"\b(?:crypto\w*|bitcoin|btc|ethereum|eth|dogecoin|doge|\w*coins?|tokens?|nfts?|casinos?|"
    r"lotter(?:y|ies)|lotto|scratch ?cards?|scratchers|slots?|roulette|blackjack|poker|the "
    r"tables|the wheel|the races|horses?|bets?|betting|gambl\w*|wager\w*|a single stock|one stock|"
    r"a stock|penny stocks?|meme stocks?|options|futures|forex|leverage\w*|margin|day[- ]?trad\w*|"
    r"a (?:hunch|feeling|sign|vision|dream)|your (?:gut|intuition|lucky)|lucky numbers?|"
    r"sure (?:thing|bet)|startup|start-up|scheme|retreat|guru|psychic|healer|"
    r"stranger|venture|opportunity|the market|this transit|this window|trades?|trading|"
    r"give (?:it|them) away|giving it away|someone you just met|the (?:universe|stars|cards))\b")
# Fine for a bonus, not for the rent or the emergency fund.
_LUXURY = re.compile(r"\b(?:luxur\w*|splurge|shopping|spree|designer|a car|a holiday|a trip|"
                     r"retreat|treat yourself|a party|a night out|holiday|trip)\b")
_ALL_IN = re.compile(r"\b(?:entirely|all of|every (?:penny|cent|pound|dollar)|the whole|the "
                     r"entire|in full|all in|every last)\b")
_INTO = re.compile(r" (?:into|on|in) ")
_SOME = re.compile(r"\b(?:some|part|a portion|a bit|a little|a small|a tenth|10%|a slice|a "
                   r"share|a fraction)\b(?: of)?")

_LEGAL_OBJ = re.compile(
    r"\b(?:summons(?:es)?|subpoenas?|jury (?:duty|service|summons|notice)|court(?: (?:date|"
    r"hearing|order|case|summons|appearance|papers|letter|notice|fine)s?)?|hearings?|"
    r"tax(?:es| returns?| bills?| forms?| demands?| letters?| office| man)?|taxman|irs|hmrc|"
    r"child support|alimony|maintenance payments?|custody (?:order|agreement|arrangement|"
    r"schedule)|restraining orders?|protective orders?|probation(?: officer)?|parole(?: officer)?|"
    r"bail|warrants?|eviction(?: notices?| letters?)?|fines?|parking tickets?|speeding tickets?|"
    r"penalty notices?|debt collectors?|bailiffs?|insurers?|insurance(?: company| claim| forms?)?|"
    r"benefits? (?:office|claim|forms?|assessment|review)|benefits|council|judge|police|"
    r"legal (?:papers|letters?|notices?|documents|obligations|deadline)|lawsuits?|"
    r"official letters?|final demands?|the law|student loans?|loan repayments?)\b(?! of\b)"
    r"(?! (?:aid|test|print|line|dining|tuning|of (?:your|old|the past)))")
_LEGAL_T = _words("""summons summonses subpoena subpoenas jury court hearing hearings tax taxes
    taxman irs hmrc child support alimony maintenance custody restraining protective probation
    parole bail warrant warrants eviction fine fines ticket tickets penalty collectors
    collector bailiffs bailiff insurer insurers insurance benefits council judge police legal
    lawsuit lawsuits official demand demands law loan loans benefit repayments""")


# --- change-verb families -----------------------------------------------------------------------

_MED_SPEC = """
    stop, stop taking, stop using, quit, skip, drop, ditch, dump, halve, double, triple, cut,
    cut back on, cut down on, cut out, reduce, lower, decrease, taper off, taper down,
    wean yourself off, wean off, come off, go off, get off, set aside, put aside, put away,
    lay aside, lay down, set down, flush, bin, toss, throw away, throw out, throw, pour away,
    pour out, let go of, release, give up, abandon, say goodbye to, bid farewell to, replace,
    swap, trade, substitute, exchange, miss, forget, forget about, ignore, pause, take a break from,
    go without, do without, live without, move on from, leave behind, hide, refuse, decline,
    cancel, discontinue, phase out, retire, shelve, ration, stretch out, split, walk away from,
    step away from, part with, part ways with, free yourself from, cut ties with,
    turn your back on, stop relying on, outgrow, end, surrender, sacrifice, burn, bury, donate,
    give away, hand back, return, skip out on, bail on, drop out of, unplug, switch off,
    turn off, take off, remove, rip out, pull out, let lapse, give, let, take double, put, sweep, send, pack,
    box, chuck, tip, shove,
    take twice, take extra, take half, take only half, take triple, stop refilling, stop filling,
    stop injecting, stop going to, quit going to, stop seeing, trust the moon over,
    trust the universe over, spit out, hold off on, delay, postpone, put off
"""
_MED_VT = _verbs(_MED_SPEC)
_FIN_SPEC = """
    cash out, cash in, withdraw, take out, pull out, pull, empty, drain, liquidate, raid,
    dip into, blow, burn through, gamble, gamble away, bet, stake, wager, risk, sink, spend,
    use, put, move, pour, throw, dump, transfer, invest, shift, roll, park, plough, plow, pump,
    give away, give, hand over, hand, donate, lend, borrow against, remortgage, mortgage, sell,
    max out, break into, crack open, let, take, bring, stop paying into, stop contributing to,
    stop saving into, raid, torch, bet on, go all in with, yolo
"""
_FIN_VT = _verbs(_FIN_SPEC)
# Money verbs harmful whatever the destination.
_FIN_STRONG = re.compile(r"(?:cash(?:ing)? (?:out|in)|withdraw\w*|empt(?:y|ying)|drain\w*|"
                         r"liquidat\w*|raid\w*|blow\w*|burn\w* through|gambl\w*|bet(?:ting)?|"
                         r"stak\w*|wager\w*|risk\w*|borrow\w* against|remortgag\w*|max\w* out|"
                         r"break\w* into|crack\w* open|torch\w*|stop\w* (?:paying|contributing|"
                         r"saving)|yolo|go\w* all in with|sink\w*)$")
_LEGAL_SPEC = """
    stop, stop making, stop sending, stop covering, quit paying, stop honouring, stop honoring,
    ignore, skip, miss, dodge, avoid, evade, bin, burn, shred, tear up, rip up, throw away,
    throw out, toss, hide, hide from, forget, forget about, leave, let, stop paying, stop filing,
    stop answering, stop opening, stop responding to, stop reporting, stop declaring,
    put off, delay, postpone, blow off, brush off, shrug off, laugh off, skip out on, walk away from,
    keep, stash, pocket, underreport, under-report, fudge, fake, falsify, inflate, pad,
    exaggerate, invent, make up, lie to, lie on, lie about, fib to, mislead, deceive, cheat,
    cheat on, break, violate, breach, defy, disregard, sit out, get out of, run from,
    withhold, hold back, cut off, cancel, drop
"""
_LEGAL_VT = _verbs(_LEGAL_SPEC)
# Negated legal directives where "don't" is itself the harm: "don't show up", "don't open it".
_LEGAL_FIXED = re.compile(
    r"\b(?:don't|do not|dont|never|no need to|you don't (?:have|need) to|there's no need to|"
    r"no point in|why (?:bother to)?)(?: even| bother to| bother| ever| just)? (?:show(?:ing)? up|"
    r"turn(?:ing)? up|attend(?:ing)?|appear(?:ing)?|open(?:ing)?|answer(?:ing)?|respond(?:ing)?|"
    r"reply(?:ing)?|pay(?:ing)?|fil(?:e|ing)|declar(?:e|ing)|report(?:ing)?|mention(?:ing)?)\b"
    r"(?![^.!?;:\n]{0,40}\b(?:without|alone|late|unprepared|empty-handed|twice|more than|in cash|"
    r"up ?front|to (?:anyone|strangers|a scammer)|over the phone|by gift card|until you(?:'ve| have)? "
    r"(?:read|checked|spoken|talked)))")


# Debt and income risks that need no destination: "take a second mortgage", "hand in your
# notice with no plan and day-trade".
_FIN_FIXED = re.compile(
    r"\b(?:(?:take|taking|get|getting|sign|signing|apply|applying)(?: out| up for| for)? (?:a |an |"
    r"another )?(?:second mortgage|payday loan|title loan|car title loan|cash advance|loan against|"
    r"home equity loan|heloc|bridging loan|logbook loan|loan from a loan shark)|remortgag(?:e|ing)|"
    r"max(?:ing)? out (?:your |the |every |all )?(?:credit cards?|cards|overdraft|credit)|"
    r"borrow(?:ing)? (?:from|against) (?:your |the )?(?:pension|retirement|house|home|401k|"
    r"kids|children|family)|(?:quit|quitting|leave|leaving|hand in|handing in|resign|resigning|"
    r"walk out on|walking out on|walk away from|walking away from) (?:from )?(?:your|the) "
    r"(?:job|notice|career|position|work)(?= [^.!?\n]{0,80}\b(?:no plan|without (?:a plan|savings|"
    r"a backup|a safety net|another job)|no savings|no backup|no safety net|day[- ]?trad\w*|"
    r"crypto|gambl\w*|betting|forex|trading)))")
_FIN_FIXED_T = _words("""mortgage loan advance heloc remortgage remortgaging credit cards overdraft
    borrow borrowing""")
# Quitting a job is a money risk only with a gamble or no plan in the same sentence.
_JOB_T = _words("job notice career position work")
_JOB_RISK_T = _words("""plan savings backup net trade trading day daytrade daytrading crypto gambling
    betting forex""")


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


_GAP_STOP = re.compile(
    r"about|for|with|than|like|because|if|when|while|until|unless|as|is|are|was|were|be|been|"
    r"i|we|they|he|she|not|never|instead|worrying|thinking|talking|reading|learning|asking|"
    r"wondering|to|so|but|or|who|which|that's|what|how|why|people|others|someone|"
    r"(?!taking|using|injecting|relying|filling|refilling|going|seeing|making|paying|sending|"
    r"filing|submitting|(?:every|any|some|no)thing|"
    r"morning|evening|spring|during|king|ring|string|ceiling|wedding|building|savings|earnings)"
    r"[a-z]+ing")
_PRONOUN = re.compile(r" ?(?:it|them|those|these|'em|that|this|both)\b")


_LEAVE = re.compile(r"leav(?:e|ing)$")
_PRONOUN_IN = re.compile(r" (?:it|them|those|these|'em|yours|both) ")


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


_CLAUSE_END = re.compile("[.!?\n;:\u2014]")


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


_PRAISE = re.compile(r"[^.!?;\n]{0,40}?\b(?:is|would be|will be|could be|can be|becomes|feels) "
                     r"(?:a |an |the |your |pure |true |real |how |what |exactly )?(?:[a-z]+ )?"
                     r"(?:step|gift|act|move|way|answer|path|choice|key|thing|best|brave|bravest|"
                     r"right|perfect|medicine|freedom|healing|strength|power|faith|trust|release|"
                     r"liberation|blessing|start|beginning|cure|solution|door|invitation)\b")


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


_PRONOUN_TAIL = re.compile(r"^ (?:it|them|those|these|'em|both)(?= )")
_DROP_PROF = re.compile(r"(?:cancel\w*|skip\w*|avoid\w*|ignor\w*|stop\w* (?:seeing|going to)|"
                        r"quit\w* (?:seeing|going to)|ditch\w*|drop\w*|forget\w*(?: about)?|"
                        r"walk\w* away from|step\w* away from|replac\w*|swap\w*|trad\w*|"
                        r"abandon\w*|refus\w*|declin\w*|put\w* off|delay\w*|postpon\w*|"
                        r"cut\w* ties with|turn\w* your back on|miss\w*)")
_CARRY_VERBS = frozenset("""put putting sweep sweeping send sending pack packing box boxing
    chuck chucking tip tipping shove shoving throw throwing set setting lay laying toss tossing
    pour pouring""".split())
_PARTICLE_VERBS = frozenset("""put putting sweep sweeping send sending pack packing box boxing
    chuck chucking tip tipping shove shoving""".split())
_PARTICLE = re.compile(r"\b(?:away|aside|out|behind|for good|in(?:to)? (?:a|the) (?:bin|bag|trash|"
                       r"rubbish|skip|recycling)|in(?:to)? (?:a|the|your) [a-z]+ (?:bin|bag|box)|"
                       r"for the bin|down the (?:sink|toilet|drain)|back (?:[\w']+ ){0,4}?for good)\b")
_DISPOSAL = re.compile(r"\b(?:expired|out-of-date|out of date|unused|leftover|pharmacy|"
                       r"pharmacist|chemist|take-back|take back|disposal|dispose)\b")


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
    if verb.startswith(("lie", "lying", "fib", "mislead", "deceiv", "cheat", "fake", "faking",
                        "falsif", "inflat", "pad", "exaggerat", "invent", "make up", "making up",
                        "fudg", "underreport", "under-report")):
        return True
    return True


# Particle verbs around a pronoun: "set it aside", "taper them off".
_SPLIT_TAIL = (r" (?:it|them|those|these|'em|yours|both) (?:aside|away|out|down|off|back|up|"
               r"behind|in the drawer|on the shelf)")
_MED_VT = _MED_VT | _words("""cancel cancelling skip skipping avoid avoiding set setting put putting lay laying throw throwing pour pouring give
    giving cut cutting taper tapering wean weaning phase phasing toss tossing flush flushing chuck
    chucking hand handing tip tipping stop stopping leave leaving""")
# The words every match of an object pattern holds (drug names by suffix aside).
_OBJ_HEADS = {
    _MED_OBJ: _MED_T | _words("appointment appointments"),
    _MONEY_OBJ: _MONEY_T | _words("money sum amount lot it pay"),
    _LEGAL_OBJ: _LEGAL_T | _words("benefit"),
}
_LEAVE_MED = (r"leav(?:e|ing)(?= (?:[a-z']+ ){0,4}?(?:in the (?:drawer|cupboard|cabinet|bag|box|"
              r"bin)|on the shelf|behind|at home|untouched|unopened|unfilled|alone)\b)")
_SPLIT_HEADS = _words("""set setting put putting lay laying throw throwing pour pouring give giving
    cut cutting taper tapering wean weaning phase phasing toss tossing flush flushing chuck
    chucking hand handing tip tipping stop stopping leave leaving""")
_MED_TABLE = _verb_table(_MED_SPEC, {
    w: w + _SPLIT_TAIL + (f"|{_LEAVE_MED}" if w in ("leave", "leaving") else "")
    for w in _SPLIT_HEADS})
_FIN_TABLE = _verb_table(_FIN_SPEC)
_LEGAL_TABLE = _verb_table(_LEGAL_SPEC)


# --- entry point --------------------------------------------------------------------------------

# Words already tested for a drug suffix, and those that have one: insights share most of
# their words, so after warm-up the test is two set operations in C.
_SEEN: set[str] = set()
_DRUG_SEEN: set[str] = set()


def _med_words(words: set[str]) -> bool:
    if not _MED_T.isdisjoint(words):
        return True
    # Most texts bring no new word: the subset test allocates nothing.
    new = () if _SEEN.issuperset(words) else words - _SEEN
    if new:
        if len(_SEEN) > 200_000:
            _SEEN.clear()
            _DRUG_SEEN.clear()
            new = set(words)  # every word of this text is unseen again
        _SEEN.update(new)
        # Drug names by suffix are seven letters at least ("ramipril").
        _DRUG_SEEN.update(w for w in new if len(w) > 6 and w.endswith(_DRUG_SUFFIX))
    return not _DRUG_SEEN.isdisjoint(words)




_CUE_T = frozenset().union(*(c.triggers for c in CUES))


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

_ADV = r"(?:(?:just|simply|safely|quietly|easily|now|all|entirely|fully|completely|gently|finally|also|then|even|honestly|really|probably|happily|best|better|quite|surely) )*"
_PASSIVE_LEAD = (rf"(?:(?:can|could|should|may|might|must|will|'ll|ought to) {_ADV}be|(?:is|are|'s|'re) "
                 rf"(?:best|better|fine to be|okay to be|ok to be|safe to be|ready to be|meant to be)) "
                 rf"{_ADV}")
_PASSIVE = {
    "medical_directive": re.compile(
        _PASSIVE_LEAD + r"(?:stopped|dropped|skipped|cancell?ed|set aside|put aside|put away|left "
        r"behind|binned|tossed|thrown (?:away|out)|flushed|halved|paused|missed|forgotten|ignored|"
        r"abandoned|discontinued|ditched|shelved|retired|let go|released|replaced|swapped|tapered "
        r"off|phased out|given up|done without|dispensed with|cut(?: out| back)?|reduced|lowered|"
        r"postponed|delayed|dropped|refused|declined|laid to rest|said goodbye to)\b"),
    "legal_financial_directive": re.compile(
        _PASSIVE_LEAD + r"(?:missed|skipped|ignored|left (?:unanswered|unopened|unpaid|unread|in the "
        r"drawer)|binned|torn up|thrown away|shredded|burn(?:ed|t)|forgotten|dodged|overlooked|"
        r"put off|dropped|stopped|let slide|withheld|kept (?:off|quiet|hidden|secret)|hidden|"
        r"put (?:entirely |all |straight )?(?:into|on)|moved into|cashed out|withdrawn|gambled|"
        r"staked|sunk into|poured into|blown on|spent on|waived|fudged|rounded up|padded|"
        r"inflated|exaggerated)\b"),
}
_PASSIVE_T = _words("""stopped dropped skipped cancelled canceled set put left binned tossed thrown
    flushed halved paused missed forgotten ignored abandoned discontinued ditched shelved retired
    let released replaced swapped tapered phased given done dispensed cut reduced lowered postponed
    delayed refused declined laid said torn shredded burned burnt dodged overlooked withheld kept
    hidden moved cashed withdrawn gambled staked sunk poured blown spent waived fudged rounded
    padded inflated""")
# One scan finds every modal passive; the gate patterns then test each match in place.
_PASSIVE_ANY = re.compile(_PASSIVE_LEAD + r"[a-z]+")


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
