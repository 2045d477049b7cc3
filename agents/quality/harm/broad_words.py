"""Vocabulary of the broad detector (:mod:`kasper.agents.quality.harm.broad`).

Per gate: the risk objects (medication, drug-name suffixes, savings and essential funds,
legal obligations) with the head words that let a pattern be skipped when none is near;
the change-verb families and the per-first-word verb tables built from them; the fixed
phrases that need no object (a second mortgage, "don't show up"); the words and patterns
the acceptance tests consult (risky destinations, disposal, particles, praise); the passive
directives; and the cache of words already checked for a drug-name suffix.

A verb table maps each first word of a verb phrase (base and -ing form) to one small
pattern of the phrases that start with it, so the detector tries a verb only where its
first word stands instead of scanning one alternation of every phrase.
"""

from __future__ import annotations

import re

from kasper.agents.quality.harm.cues import CUES
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


# --- between and around the verb and object ------------------------------------------------

# Words that may not stand between a verb and its object.
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


_CLAUSE_END = re.compile("[.!?\n;:\u2014]")


_PRAISE = re.compile(r"[^.!?;\n]{0,40}?\b(?:is|would be|will be|could be|can be|becomes|feels) "
                     r"(?:a |an |the |your |pure |true |real |how |what |exactly )?(?:[a-z]+ )?"
                     r"(?:step|gift|act|move|way|answer|path|choice|key|thing|best|brave|bravest|"
                     r"right|perfect|medicine|freedom|healing|strength|power|faith|trust|release|"
                     r"liberation|blessing|start|beginning|cure|solution|door|invitation)\b")


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


# --- verb tables ------------------------------------------------------------------------------

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


# Trigger words of the phrase cues.
_CUE_T = frozenset().union(*(c.triggers for c in CUES))


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


# --- medication words in a text ----------------------------------------------------------------

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
