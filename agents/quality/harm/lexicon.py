"""Word lists, regex building blocks and the :class:`Rule` record of the harm rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kasper.agents.quality.harm.normalize import _WORD

# --- lexicons ---------------------------------------------------------------------------


def _lex(spec: str) -> tuple[str, ...]:
    """Comma-separated phrases; one "(x)" per phrase is optional ("pill(s)")."""
    out: list[str] = []
    for item in spec.split(","):
        item = " ".join(item.split())
        m = re.fullmatch(r"(.*?)\(([^)]*)\)(.*)", item)
        if m:
            out += [m[1] + m[3], m[1] + m[2] + m[3]]
        elif item:
            out.append(item)
    return tuple(dict.fromkeys(out))


def _alt(phrases: tuple[str, ...]) -> str:
    # Longest first, so "blood thinners" wins over "blood".
    ordered = sorted(phrases, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(p).replace("\\ ", " ") for p in ordered) + ")"


# Words too common to stand for a phrase in the trigger sets ("medical attention" is
# triggered by "medical", not "attention").
_COMMON = frozenset("attention room advice help care team system services establishment provider "
                    "providers professional professionals the a an of your health practitioner "
                    "practitioners money cash home house car have own all everything you things "
                    "stuff time day week number numbers card cards thing things".split())


def _heads(*lexicons: tuple[str, ...]) -> frozenset[str]:
    """One word of each phrase (its last uncommon word): any match of the phrase has it."""
    out = set()
    for lex in lexicons:
        for phrase in lex:
            tokens = _WORD.findall(phrase)
            rare = [t for t in tokens if t not in _COMMON]
            out.add((rare or tokens)[-1])
    return frozenset(out)


def _words(spec: str) -> frozenset[str]:
    return frozenset(spec.split())


MEDS = _lex("""
    medication(s), med(s), medicine(s), pill(s), tablet(s), capsule(s), prescription(s),
    treatment(s), therapy, therapies, chemo, chemotherapy, radiation, radiotherapy,
    radiation therapy, dialysis, infusion(s), injection(s), shot(s) of insulin, vaccine(s),
    vaccination(s), jab(s), insulin, metformin, ozempic, semaglutide, antidepressant(s),
    anti-depressant(s), ssri(s), snri(s), maoi(s), sertraline, zoloft, fluoxetine, prozac,
    citalopram, celexa, escitalopram, lexapro, paroxetine, paxil, venlafaxine, effexor,
    duloxetine, cymbalta, bupropion, wellbutrin, mirtazapine, trazodone, lithium, lamotrigine,
    lamictal, valproate, depakote, mood stabilizer(s), mood stabiliser(s), antipsychotic(s),
    anti-psychotic(s), quetiapine, seroquel, olanzapine, zyprexa, risperidone, risperdal,
    aripiprazole, abilify, clozapine, haloperidol, benzodiazepine(s), benzo(s), xanax,
    alprazolam, valium, diazepam, klonopin, clonazepam, lorazepam, ativan, adderall, ritalin,
    methylphenidate, warfarin, coumadin, blood thinner(s), anticoagulant(s), eliquis, apixaban,
    xarelto, rivaroxaban, heparin, clopidogrel, plavix, aspirin, statin(s), atorvastatin,
    lipitor, simvastatin, rosuvastatin, crestor, beta blocker(s), beta-blocker(s), metoprolol,
    propranolol, atenolol, lisinopril, amlodipine, losartan, levothyroxine, synthroid,
    prednisone, prednisolone, steroid(s), corticosteroid(s), hydrocortisone, inhaler(s),
    ventolin, albuterol, salbutamol, puffer(s), epipen(s), antibiotic(s), amoxicillin,
    penicillin, antiviral(s), antiretroviral(s), arv(s), truvada, biktarvy, anticonvulsant(s),
    antiepileptic(s), anti-seizure meds, anti-seizure medication, levetiracetam, keppra,
    carbamazepine, tegretol, phenytoin, dilantin, immunosuppressant(s), tamoxifen,
    methotrexate, methadone, suboxone, buprenorphine, naltrexone, hormone therapy, hrt,
    prescription drugs, prescribed drugs, psychiatric drugs, psych drugs, painkiller(s),
    transplant meds, hiv meds, epilepsy meds, seizure meds, insulin pump, cpap, oxygen therapy,
    oxygen tank, home oxygen,
    nebuliser, nebulizer
""")
# Modifiers that may stand before a drug word without a determiner ("blood pressure pills").
MED_MODS = _lex("""
    blood pressure, heart, thyroid, psych, psychiatric, mental health, anxiety, anti-anxiety,
    depression, cholesterol, diabetes, seizure, epilepsy, hiv, cancer, asthma, pain, sleeping,
    sleep, prescription, prescribed, daily, morning, evening, night, bedtime, cardiac, bp,
    mood, adhd, bipolar, kidney, transplant, allergy, arthritis, migraine, ms
""")
PROF_MED = _lex("""
    doctor(s), dr, gp(s), physician(s), psychiatrist(s), prescriber(s), pharmacist(s), nurse(s),
    nurse practitioner(s), care team, medical team, healthcare provider(s),
    health care provider(s), specialist(s), clinician(s), oncologist(s), endocrinologist(s),
    cardiologist(s), neurologist(s), therapist(s), psychologist(s), counsellor(s), counselor(s),
    dietitian(s), dietician(s), nutritionist(s), midwife, consultant, medical professional(s),
    health professional(s), mental health team, care provider(s), pediatrician,
    paediatrician, surgeon(s), psychiatric team, prescribing doctor, treatment team
""")
CARE = PROF_MED + _lex("""
    hospital(s), the er, emergency room, ambulance, medical help, medical advice, medical care,
    medical attention, medical system, medical establishment, professional help,
    mental health services, psychiatric care, psychiatric help, crisis team, clinic
""")
PROF_FIN = _lex("""
    financial advisor(s), financial adviser(s), financial planner(s), financial professional(s),
    accountant(s), tax advisor, tax adviser, tax professional, tax preparer, lawyer(s),
    attorney(s), solicitor(s), legal aid, fiduciary, debt counsellor, debt counselor,
    debt adviser, debt advisor, debt charity, citizens advice, bank, banker, adviser, advisor,
    credit counsellor, credit counselor, financial counsellor, financial counselor
""")
SEVERE = _lex("""
    cancer, tumour(s), tumor(s), diabetes, hiv, aids, epilepsy, seizures, schizophrenia,
    bipolar, bipolar disorder, psychosis, heart disease, infection(s), pneumonia, asthma,
    high blood pressure, hypertension, depression, clinical depression, anxiety,
    anxiety disorder, multiple sclerosis, lupus, arthritis, illness(es), disease(s),
    disorder(s), condition, diagnosis, covid, the flu, addiction, ptsd, ocd, adhd, autism,
    dementia, alzheimer's, parkinson's, leukemia, leukaemia, stroke, heart condition
""")
REMEDY = _lex("""
    crystal(s), stone(s), gemstone(s), amethyst, quartz, rose quartz, essential oil(s), oil(s),
    reiki, prayer(s), praying, meditation, breathwork, ritual(s), spell(s), sage, smudging,
    the moon, moonlight, moon water, sound bath(s), tea(s), herb(s), herbal remedies,
    tincture(s), fasting, juicing, positive thinking, manifesting, manifestation,
    affirmation(s), your vibration, high vibration(s), energy healing, chakra work,
    chakra healing, grounding, sunlight, sungazing, colloidal silver, apple cider vinegar,
    turmeric, homeopathy, frequencies, the universe, the stars, the cards, tarot, your angels,
    your guides, spirit, faith, this practice, this ritual, your intuition, your altar,
    candles, incantation(s), this tea, this oil, this stone, this crystal, raw food, detox
""")
MONEY_CORE = _lex("""
    savings, life savings, nest egg, emergency fund(s), emergency savings, rainy day fund,
    rainy-day fund, retirement savings, retirement fund, retirement account, retirement money,
    retirement, pension(s), pension pot, 401k, 401(k), ira, roth ira, superannuation,
    college fund, university fund, kids' college fund, children's college fund, inheritance,
    rent money, grocery money, food money, kids college fund, house deposit, down payment,
    child support,
    trust fund, severance, tax refund
""")
MONEY = MONEY_CORE + _lex("""
    paycheck(s), paycheque(s), salary, wages, house, home, family home, flat, property,
    home equity, equity, mortgage, credit card(s), credit limit, money, cash, funds, rent,
    business, company funds, bonus, car, everything, everything you have, everything you own,
    all you have, every penny, every cent, every dollar, last dollar, last penny, it all, all of it,
    the lot, the farm, all your money
""")
RISKY = _lex("""
    crypto, cryptocurrency, cryptocurrencies, crypto coins, bitcoin, btc, ethereum, dogecoin,
    doge, shiba inu, shiba, solana, xrp, altcoin(s), memecoin(s), meme coin(s), meme stock(s),
    nft(s), a new coin, this coin, coin, token(s), lottery, lottery ticket(s), lotto,
    powerball, mega millions, scratch card(s), scratchcard(s), scratch-off(s), scratchers,
    pokies, slots, the slots, slot machine(s), casino(s), roulette, blackjack, craps, baccarat,
    online poker, high-stakes poker, sports betting, betting app(s), bet(s), gambling,
    horses, horse race(s), the races, racetrack, penny stock(s), options, options trading,
    futures, forex, leveraged trade(s), leveraged etf(s), margin, margin trading, day trading,
    day-trading, a single stock, one stock, hot tip, sure thing, guaranteed returns,
    pyramid scheme, ponzi scheme, mlm, multi-level marketing, get-rich-quick scheme,
    gamestop, this opportunity, this investment, lucky numbers, your lucky number
""")
LEGAL_OBJ = _lex("""
    summons(es), subpoena(s), jury duty, jury summons, jury service, jury notice,
    court order(s), court date(s), court hearing(s), court summons, court appearance,
    court papers, court letter(s), court notice(s), court fine(s), court case, hearing(s),
    eviction notice(s), eviction letter(s), notice to quit, notice to vacate, tax bill(s),
    tax return(s), tax notice(s), tax letter(s), tax demand(s), tax deadline, tax forms,
    tax audit, irs letter(s), irs notice(s), irs audit, hmrc letter(s), audit(s),
    restraining order(s), protective order(s), custody order, custody agreement,
    custody arrangement, custody schedule, parenting plan, probation, probation officer,
    parole, parole officer, bail, bail conditions, warrant(s), legal papers, legal notice(s),
    legal letter(s), legal documents, legal obligations, legal deadline, lawsuit(s),
    debt collector(s), collection letter(s), final demand, fine(s), parking ticket(s),
    parking fine(s), speeding ticket(s), penalty notice(s), child support order, alimony,
    cease and desist, court-ordered payments, court-ordered treatment, letter(s) from the court,
    letter(s) from the irs, letter(s) from hmrc, letter(s) from the tax office,
    letter(s) from the bailiffs, letter(s) from debt collectors, mail from the court, court mail
""")
OBLIGATION = _lex("""
    taxes, tax, tax return, income tax, council tax, property tax, child support, alimony,
    maintenance payments, rent, mortgage, debt(s), loan(s), student loan(s), fine(s), bills,
    insurance premium(s), court fees, national insurance
""")

# --- regex building blocks ----------------------------------------------------------------

_DET_WORDS = ("all|of|the|your|ur|yer|my|our|his|her|their|those|these|that|this|any|every|each|"
              "some|most|half|a|an|both|rest|remaining|own|daily|nightly|morning|evening|"
              "current|usual|regular|prescribed|next|few|couple|other|last|whole|entire|stupid|"
              "little|damn|silly|precious|two|three|one|sleeping|new|old|bloody|beloved|dear")
# Also any possessive ("tomorrow's dialysis", "your mother's pills").
_DET_PLUS = rf"(?:(?:{_DET_WORDS}|[a-z]+'s) ){{1,5}}"
_DET = rf"(?:(?:{_DET_WORDS}|[a-z]+'s) ){{0,5}}"
# Free modifiers, only after a determiner ("your blood pressure pills"): never a
# preposition, pronoun, auxiliary or -ing word, so "stop worrying about your treatment"
# and "double check your meds" do not pair "stop" or "double" with the object.
_ADJ = (r"(?:(?!(?:about|for|with|to|in|on|at|from|over|than|and|or|but|because|if|when|so|"
        r"as|like|after|before|while|until|without|into|onto|off|out|away|up|down|by|of|is|"
        r"are|was|were|be|been|you|yourself|it|them|i|we|they|he|she|not|never|don't|can|"
        r"will|should|must|just|then|instead|also)\b)(?![\w'-]*ing\b)[\w'-]+ ){0,2}?")


def _obj(core: str, mods: tuple[str, ...] = ()) -> str:
    """An object noun phrase: determiners then free modifiers, or bare listed modifiers."""
    bare = rf"|(?:{_alt(mods)} ){{1,2}}" if mods else ""
    return rf"(?:{_DET_PLUS}{_ADJ}{bare})?{core}"


# "Reduce radiation from your phone" is about screens, not radiotherapy.
_MEDS_CORE = _alt(MEDS).replace("|radiation|", "|radiation(?! from| exposure| levels?| emitted)|")
_MEDS_OBJ = (rf"(?:(?:doses?|dosages?) of (?:your |the |my )?{_MEDS_CORE}|(?:doses?|dosages?)(?! of\b)"
             rf"|(?<!retail )(?<!silent )(?<!spa )(?<!beauty )(?<!facial )(?<!vip )(?<!royal )"
             rf"(?<!special )(?<!hair )(?<!harsh )(?<!unfair )(?<!cruel )(?<!rough )(?<!star )"
             rf"(?<!preferential ){_MEDS_CORE})\b(?!-)(?! (?:ball|balls|wheel|man|woman|bag|show|"
             rf"drum|of (?:yourself|others|people)|you give|"
             rf"bills?|costs?|budget|expenses?|"
             rf"fees?|cabinet|notes?|journal|books?|speak))")
_MEDS_EXT = rf"(?:{_MEDS_OBJ}|chemicals|pharmaceuticals|western medicine|modern medicine|big pharma)\b"
_OBJ_MEDS = _obj(_MEDS_OBJ, MED_MODS)
_OBJ_MEDS_EXT = _obj(_MEDS_EXT, MED_MODS)
_CARE = _alt(CARE)
_PROF_MED = _alt(PROF_MED)
_PROF_FIN = _alt(PROF_FIN)
_MONEY_CORE = _alt(MONEY_CORE)
_MONEY = _alt(MONEY)
_RISKY = _alt(RISKY)
_AMOUNT = r"(?:[$£€]\s?\d[\d,.]*k?|\d[\d,.]*k? (?:dollars|pounds|euros|bucks|grand)|\d[\d,.]*k\b)"
_OBJ_MONEY = rf"(?:{_obj(_MONEY)}|{_AMOUNT})\b"
_OBJ_MONEY_CORE = rf"{_obj(_MONEY_CORE)}\b"
_OBJ_RISKY = (rf"(?:(?:some|more|a|an|the|your|my|this|that|these|those|one|extra|lots of|a lot of|"
              rf"a few|a bunch of|a stack of|a handful of|a little|a bit of|\d+|ten|five|twenty|big|"
              rf"huge|massive|risky|wild|quick|single|last|final|all-in|high-stakes|new|"
              rf"hot) )*{_RISKY}\b")

_VERB_MED = (
    r"(?:stop(?:s|ped|ping)?|quit(?:s|ting)?|skip(?:s|ped|ping)?|ditch(?:es|ed|ing)?"
    r"|drop(?:s|ped|ping)?(?! off\b)|dump(?:s|ed|ing)?|discontinu(?:e|es|ed|ing)|ceas(?:e|es|ed|ing)"
    r"|halt(?:s|ed|ing)?|abandon(?:s|ed|ing)?|give up|giving up|gave up|come off|coming off|came off"
    r"|get off|getting off|go off|going off|wean(?:ing)?(?: yourself)? off|taper(?:ing)? off"
    r"|cut(?:ting)? (?:back|down) on|cut(?:ting)? out|cut(?:ting|s)?|reduc(?:e|es|ed|ing)"
    r"|lower(?:s|ed|ing)?|decreas(?:e|es|ed|ing)|halv(?:e|es|ed|ing)|doubl(?:e|es|ed|ing)"
    r"|tripl(?:e|es|ed|ing)|increas(?:e|es|ed|ing)|replac(?:e|es|ed|ing)|swap(?:s|ped|ping)?"
    r"|trad(?:e|es|ed|ing)|substitut(?:e|es|ed|ing)|toss(?:es|ed|ing)?|bin|flush(?:es|ed|ing)?"
    r"|chuck(?:s|ed|ing)?|throw(?:s|ing|n)? (?:away|out)|threw (?:away|out)|give away|giving away"
    r"|gave away|get rid of|getting rid of|rid yourself of|let go of|letting go of|releas(?:e|es|ed|"
    r"ing)"
    r"|say goodbye to|free yourself (?:from|of)|break free (?:from|of)|refus(?:e|es|ed|ing)"
    r"|declin(?:e|es|ed|ing)|reject(?:s|ed|ing)?|avoid(?:s|ed|ing)?|forgo|forego|delay(?:s|ed|ing)?"
    r"|postpon(?:e|es|ed|ing)|put off|putting off|put down|putting down|set down|lay down|"
    r"hold(?:ing)? off on|cancel(?:s|led|ling|ed|ing)?"
    r"|miss(?:es|ed|ing)?|hid(?:e|es|ing)|spit out|paus(?:e|es|ed|ing)|chang(?:e|es|ed|ing)"
    r"|adjust(?:s|ed|ing)?|alter(?:s|ed|ing)?|tweak(?:s|ed|ing)?|switch(?:es|ed|ing)? off"
    r"|modif(?:y|ies|ied|ying)|mess(?:ing)? with|play(?:ing)? with|experiment(?:ing)? with"
    r"|tinker(?:ing)? with|fiddl(?:e|ing) with|take a (?:break|holiday|vacation|rest) from"
    r"|remov(?:e|es|ed|ing)|take off|taking off|unplug(?:s|ged|ging)?|disconnect(?:s|ed|ing)?"
    r"|half|taper(?:ing)? yourself off"
    r"|taking a (?:break|holiday|vacation|rest) from|take time off(?: from)?|move away from"
    r"|outgr(?:ow|ows|ew|own|owing)|mov(?:e|ed|ing) (?:beyond|past|on from)"
    r"|(?:be|are|you're|we're|being) (?:done|finished) with|(?:be|are|you're|we're) ready to let "
    r"go of|wean)"
)
_LEAD_MED = (r"(?: taking| using| trusting| relying on| refilling| filling| picking up| seeing|"
             r" attending| going to| listening to| with| injecting| giving yourself| wearing|"
             r" applying)?")


@dataclass(frozen=True, slots=True)
class Rule:
    """One harmful pattern and how a match of it may still be safe.

    ``mode``: ``verb`` (the match starts at a directive verb: a negation governing it
    makes it safe), ``fixed`` (the negation is part of the harm: "don't take your meds"),
    ``claim`` (a statement: any negator earlier in its clause makes it safe), ``plain``
    (no negation check). ``defer``: a professional named in the sentence can make it
    safe. ``check``: extra test on the match, False makes it safe. ``triggers``: word
    groups; the rule runs only on a text that has a word of every group, so each group
    must hold a word of every possible match (the rarest group first: it is the index).
    """

    gate: str
    pattern: re.Pattern[str]
    triggers: tuple[frozenset[str], ...]
    mode: str = "verb"
    defer: bool = False
    check: Callable[[str, re.Match[str]], bool] | None = None
    reason: str | None = None


_Groups = frozenset[str] | set[str] | str


def _rule(gate: str, pattern: str, triggers: _Groups | tuple[_Groups, ...], mode: str = "verb",
          defer: bool = False, check: Callable[[str, re.Match[str]], bool] | None = None,
          reason: str | None = None) -> Rule:
    groups = triggers if isinstance(triggers, tuple) else (triggers,)
    sets = tuple(_words(g) if isinstance(g, str) else frozenset(g) for g in groups)
    if pattern.startswith(r"\b"):
        # Same start as \b before a letter (and not inside "don't"), and the scan runs
        # markedly faster over long alternations.
        pattern = r"(?<![\w'])" + pattern[2:]
    return Rule(gate, re.compile(pattern), sets, mode, defer, check, reason)

# Words that may lead an "avoid the professional" rule (medical and legal).
_AVOID_LEAD_T = _words("don't do dont never longer won't shouldn't should no there's who why stop quit "
                       "skip cancel avoid forget ignore distrust ditch fire dump bypass")
