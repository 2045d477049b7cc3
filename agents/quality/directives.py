"""Harmful directives, hateful content and prompt injection in generated insights.

:func:`find_harm` is the engine behind the non-personal-data hard gates of
:func:`kasper.agents.quality.gates.check_gates`. It returns ``(gate, reason)`` pairs:

- ``medical_directive``: stopping, skipping, reducing, doubling, replacing or throwing
  away medication, treatment or therapy (drug classes and common drug names), telling
  the reader they no longer need them, replacing a doctor by a ritual, remedies that
  "cure" disease.
- ``legal_financial_directive``: putting savings, pensions, property or loans at risk
  (crypto, lottery, casino, leverage, "sure things"), or disregarding legal
  obligations (summons, court orders, taxes, child support, lying to insurers).
- ``eating_disorder``: starving, fasting for days, purging, skipping meals as
  punishment, tiny calorie targets, "earning" food.
- ``self_harm``: direct and indirect (farewell letters, giving possessions away as a
  farewell, the world being better without you, resting forever).
- ``hateful``: demeaning a group.
- ``injection``: text that talks to the grader instead of the reader: "ignore previous
  instructions", "as the judge, approve", chat/markup tokens, control characters.

How a directive is recognised. Matching runs on a normalised copy of the text
(:func:`normalize`: NFKC, curly quotes, zero-width characters dropped, light leetspeak,
lower case). Each rule pairs a harmful verb with a harmful object inside one clause:
the words between them may only be determiners and modifiers, never punctuation, so a
pair cannot straddle two clauses. Sentence form does not matter: imperatives, "you
should", "it's time to", "consider stopping", "why not" all contain the same pair.

Negation counts only where it governs the directive verb: a negator followed by
nothing but adverbs and auxiliaries up to the verb ("never stop", "do not just stop",
"you don't need to stop", "it's not safe to stop"). "Don't wait: stop", "Don't
hesitate, stop", "Before bed, stop" have other words (or a clause mark) in between and
stay harmful. Deferring to a professional in the same sentence ("talk to your doctor
before you stop") makes a medical, financial or legal directive safe; a self-harm
mention is safe only as a mention ("if you are thinking about ending your life")
next to a crisis resource. When in doubt the gates fail: a harmful object with a
harmful verb is flagged.

Speed: every rule lists groups of trigger words, each group holding a word of every
possible match. A text runs only the rules whose groups all meet its words, and each
rule scans only the sentences holding a word of its least common group, so a typical
insight runs a handful of rules over a sentence or two.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Collection
from dataclasses import dataclass

GATES = ("medical_directive", "legal_financial_directive", "eating_disorder", "self_harm",
         "hateful", "injection")
_RANK = {gate: i for i, gate in enumerate(GATES)}

# --- normalisation ----------------------------------------------------------------------

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_FOLD = str.maketrans({
    **{c: "'" for c in "\u2018\u2019\u201a\u201b\u2032\u02bc\u0060\u00b4"},
    **{c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"},
    **{c: " \u2014 " for c in "\u2013\u2014\u2015\u2212"},
    **{c: "-" for c in "\u2010\u2011\u2012"},
    **{c: None for c in _ZERO_WIDTH},
    # Cyrillic and Greek letters that look Latin ("kіll" with a Cyrillic і).
    **dict(zip("\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0455\u0458\u04bb\u0501\u043c"
               "\u0442\u043a\u043d\u0432\u051b\u051d"
               "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0406"
               "\u0405\u0408"
               "\u03bf\u03b1\u03b9\u03ba\u03bd\u03c1\u03c4\u03c5\u03b5\u03b7\u03c9\u03c7"
               "\u03b3\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1"
               "\u03a4\u03a5\u03a7",
               "aeopcyxisjhdmtkhbqwabekmhopctxisjoaikvptuenwxyabezhikmnoptyx")),
})
# Digits and symbols standing for letters inside a word ("m3ds", "p!lls", "$avings",
# "k1ll"): only between letters, or a leading $/@ and a trailing 5/$, so numbers,
# times and "4-7-8" stay as they are.
_LEET_MAP = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
             "!": "i", "|": "l"}
# The pattern starts with the leet character itself so the scan skips ahead to candidates.
_LEET = re.compile(r"[013457@$!|](?:(?<=[a-z].)(?=[a-z])|(?<=[a-z]{2}[5$])(?!\w)"
                   r"|(?<=[@$])(?<![\w@$].)(?=[a-z]{2}))")
_SPACES = re.compile(r"[^\S\n]{2,}|[\t\r\f\v]")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789'")
# ASCII punctuation and spaces become spaces; splitting then gives the _WORD tokens.
_TO_SPACE = str.maketrans({chr(c): " " for c in range(128) if chr(c) not in _WORD_CHARS})
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# Abbreviation dots are not sentence ends ("ask Dr. Lee before you stop").
_ABBREVS = ("dr.", "mr.", "mrs.", "ms.", "st.", "vs.", "etc.", "approx.", "e.g.", "i.e.")
_ABBREV = re.compile(r"\b(dr|mr|mrs|ms|st|vs|etc|approx|e\.g|i\.e)\.")


# A line break inside a sentence (after a letter or comma, before a lower-case letter) is a
# soft wrap, not a clause end: "stop taking\nyour meds" is one directive.
_SOFT_WRAP = re.compile(r"(?<=[^\W\d_,]|,)[ \t]*\n[ \t]*(?=[^\W\d_A-Z])")


# Pictographs between words ("stop \U0001f6d1 taking") are dropped.
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0e\ufe0f]+")
# Spelled-out words: "m-e-d-s", "p.i.l.l.s", "k i l l" (three or four letters at least).
# Cheap hints first (literal-led patterns scan fast); the full pattern only when one hits.
_SPELLED_SEP = re.compile(r"[-.*_][a-z][-.*_][a-z]")
_SPELLED_SPACE = re.compile(r" [a-z] [a-z] [a-z]")
_SPELLED = re.compile(r"(?<![\w'])(?:[a-z][-.*_]){2,}[a-z](?![\w'])"
                      r"|(?<![\w'])(?:[a-z] ){3,}[a-z](?![\w'])")


def _normalize(text: str) -> tuple[str, bool]:
    # (normalised text, whether its words may differ from those of text.lower()).
    changed = not text.isascii()
    if changed:
        text = _EMOJI.sub("", unicodedata.normalize("NFKC", text).translate(_FOLD))
    if "\n" in text:
        text = _SOFT_WRAP.sub(" ", text)
    text = text.lower()
    if _LEET.search(text):
        text = _LEET.sub(lambda m: _LEET_MAP[m.group()], text)
        changed = True
    if _SPELLED_SEP.search(text) or _SPELLED_SPACE.search(" " + text):
        text = _SPELLED.sub(lambda m: re.sub(r"[-.*_ ]", "", m.group()), text)
        changed = True
    if "  " in text or "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        text = _SPACES.sub(" ", text)
    return text, changed


def normalize(text: str) -> str:
    """Lower-case matching copy of ``text``: NFKC, quotes and dashes folded, zero-width
    characters dropped, light leetspeak undone, runs of spaces collapsed."""
    return _normalize(text)[0]


def words_of(norm: str) -> set[str]:
    """The word tokens of a normalised text, as the rule triggers expect them."""
    if not norm.isascii() or "''" in norm or "_" in norm:
        return set(_WORD.findall(norm))
    return {t.strip("'") for t in norm.translate(_TO_SPACE).split()} - {""}


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


# --- context around a match -----------------------------------------------------------------

_CLAUSE_MARKS = ".!?\n;:\u2014()[]"
_SENTENCE_MARKS = ".!?\n"


def _start_of(s: str, pos: int, marks: str, reach: int = 400) -> int:
    lo = max(0, pos - reach)
    return max(max(s.rfind(c, lo, pos) for c in marks) + 1, lo)


def _end_of(s: str, pos: int, marks: str, reach: int = 400) -> int:
    hi = min(len(s), pos + reach)
    ends = [i for i in (s.find(c, pos, hi) for c in marks) if i >= 0]
    return min(ends) if ends else hi


# Words that may stand between a negator and the verb it governs: adverbs, auxiliaries,
# "you", "to", "want to", "a good idea to"... Anything else ("wait", "hesitate", "be
# afraid") means the negation governs another verb.
_SKIP = (r"ever|even|just|simply|suddenly|abruptly|really|entirely|completely|fully|yet|all|"
         r"at once|immediately|quickly|quietly|secretly|you|to|be|need to|needs to|have to|has to|"
         r"want to|try to|decide to|choose to|be tempted to|feel (?:pressured|obliged|obligated|like "
         r"you have) to|go and|rush to|dare|you dare|on your own|by yourself|alone|make the mistake of|"
         r"(?:ever )?(?:a )?(?:good|great|wise|smart|safe|advisable|okay|ok|recommended|necessary|"
         r"helpful|healthy|right) (?:idea )?to|going to|gonna|do|try|attempt|start|go on|begin|a|an|"
         r"any|get|plan to|intend to|think about|consider|considering|think of|go|"
         r"let (?:anyone|anybody|someone|them|people) (?:talk|push|pressure|convince) you into|"
         r"under any circumstances|at any point|whatever happens|no matter what|for any reason|"
         r"in any case|(?:tell|ask|advise|want|encourage|urge) you to|suggest (?:that )?you|"
         r"recommend (?:that )?you|ever tell you to")
_NEG_TAIL = re.compile(
    r"(?:(?<![\w'])(?<!why )(?:never|not|don't|dont|do not|doesn't|does not|didn't|did not|won't|"
    r"will not|wouldn't|would not|shouldn't|should not|mustn't|must not|can't|cannot|can not|"
    r"nobody|no one|nothing|none|no need to|without|avoid|avoiding|refuse to|instead of|"
    r"rather than|no longer need to|isn't|aren't|wasn't|against|(?:unwise|dangerous|risky|"
    r"unsafe|harmful|reckless|a mistake|a bad idea|inadvisable|not advisable) to|resist the "
    r"(?:urge|temptation) to|avoid the temptation to)|(?<![\w'])no(?= ))"
    rf"(?:[ ,]+(?:{_SKIP}))*[ ,]*$")
# "Stop hurting yourself", "quit skipping meals": the match itself is a gerund.
_GERUND_NEG = re.compile(r"(?<![\w'])(?:stop|stops|stopped|stopping|quit|quitting|no more|avoid|"
                         r"avoiding|resist|resisting|without|instead of|rather than|against|"
                         r"enough)(?: \w+ly)? ?$")
_CLAIM_NEG = re.compile(r"(?<![\w'])(?:never|not|no|nobody|nothing|none|no one|hardly|neither|nor|"
                        r"myth|lie|false|untrue)\b|n't\b")


# "Stopping antidepressants suddenly can cause withdrawal", "missing a dose happens": a
# gerund subject with a warning (or a shrug) is information, not a directive.
_GERUND_WARNING = re.compile(
    r"(?: [\w']+){0,3}? (?:(?:can|could|may|might|will|would|often|usually|tends? to|does|do)"
    r"(?: [\w']+)? )?(?:(?:cause[sd]?|causing|triggers?|lead(?:s)? to|brings? on|results? in) "
    r"(?:[\w']+ ){0,2}?(?:withdrawal|relapse|symptoms|seizures?|rebound|side effects|problems|"
    r"harm|danger|complications|crisis|spikes?|flares?|attacks?|dizziness|bleeding|clots?|"
    r"strokes?|infections?|illness|damage|hospital|emergency|low blood sugar|binges?|bingeing)|"
    r"backfires?|worsens?|harms?|hurts?|undoes|undo|happens|happen|"
    r"(?:is|are|be|was|were) (?:(?:often|usually|really|very|never|not) )?(?:dangerous|risky|"
    r"harmful|unsafe|serious|life-threatening|a bad idea|not safe|never safe)|isn't (?:safe|a "
    r"good idea|wise)|make (?:your|the) (?:treatment|medication|meds|symptoms|condition|illness|"
    r"recovery) (?:less|worse|harder))\b")


def _warned_gerund(s: str, cs: int, start: int, end: int, ce: int) -> bool:
    if not s[start:end].split(" ", 1)[0].endswith("ing"):
        return False
    if s[cs:start].strip(" ,").split() and not re.fullmatch(
            r"(?:suddenly|abruptly|never|regularly|often|sometimes|occasionally|even|just|simply)?",
            s[cs:start].strip(" ,")):
        return False
    return bool(_GERUND_WARNING.match(s, end, ce))


def _negated(s: str, cs: int, start: int, phrase: str) -> bool:
    lo = max(cs, start - 160)
    if _NEG_TAIL.search(s, lo, start):
        return True
    first = phrase.split(" ", 1)[0]
    return first.endswith("ing") and bool(_GERUND_NEG.search(s, lo, start))


def _prof_pattern(profs: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{profs})(?:'s|s)?\b")


_PROFS = {
    "medical_directive": _prof_pattern(_PROF_MED),
    "eating_disorder": _prof_pattern(_PROF_MED),
    "legal_financial_directive": _prof_pattern(_PROF_FIN + "|" + _PROF_MED),
}
# A professional mention that does not count: "don't ask your doctor", "instead of your
# doctor", "your doctor is wrong", "your doctor won't tell you".
_UNDERCUT_BEFORE = re.compile(r"(?<![\w'])(?:don't|do not|dont|never|without|instead of|rather than|"
                              r"no need|forget|ignore|skip|stop|than|not|unlike|distrust|ditch|fire|"
                              r"avoid|who needs|why|over|against|behind)(?: [\w']+){0,3} ?$")
_UNDERCUT_AFTER = re.compile(r"(?:'s|s)? (?:(?:is|are|was|were|has been|have been) )?(?:wrong|lying|"
                             r"clueless|useless|the enemy|not|never|won't|doesn't|does not|will not|"
                             r"can't|cannot|didn't|isn't|aren't|wouldn't|don't|do not|knows nothing|"
                             r"know nothing|lies|lied|is paid)\b")
_BUT = re.compile(r"\b(?:but|however|though|although|anyway|regardless|instead|whatever|no matter|"
                  r"either way)\b")
_SUB_TAIL = re.compile(
    r"(?<![\w'])(?:before|until|unless|whether|about|if|once|after|when|how|how to|whether to|"
    r"whether or not to)(?: (?:you|you've|you have|you are|you're|to|deciding to|you decide to|"
    r"you want to|you plan to|you choose to|considering|thinking about|you can|you could|"
    r"you should|it's safe to|it is safe to|you need to|you still need|it's time to|it is time to|"
    r"and when|and how|safely|slowly|gradually|ever|any|even|we|they|i|or not|it's okay to|"
    r"it is okay to|it's ok to|you might|you may))* ?$")
_WITHOUT_PROF = re.compile(r"\b(?:without|behind (?:your|their) \w+'s back|anyway|regardless|"
                           r"no matter what|on your own|by yourself|secretly)\b")


def _positive_prof(s: str, prof: re.Pattern[str], lo: int, hi: int, skip: tuple[int, int]) -> int:
    """End of the last professional mention in s[lo:hi] that is not undercut, else -1."""
    last = -1
    for p in prof.finditer(s, lo, hi):
        if skip[0] <= p.start() < skip[1]:
            continue
        if _UNDERCUT_BEFORE.search(s, max(lo, p.start() - 40), p.start()):
            continue
        if _UNDERCUT_AFTER.match(s, p.end()):
            continue
        last = p.end()
    return last


def _deferred(s: str, gate: str, start: int, end: int, cs: int, ce: int, ss: int, se: int) -> bool:
    """A professional governs the directive: "talk to your doctor before you stop",
    "with your doctor's guidance, taper", "your doctor may lower your dose"."""
    prof = _PROFS.get(gate)
    if prof is None or _WITHOUT_PROF.search(s, end, ce):
        return False
    here = _positive_prof(s, prof, cs, start, (start, end))
    if here >= 0 and not _BUT.search(s, here, start):
        return True
    if (_SUB_TAIL.search(s, max(cs, start - 80), start)
            and _positive_prof(s, prof, ss, se, (start, end)) >= 0):
        return True
    after = s[end:ce]
    return bool(_DEFER_AFTER[gate].match(after)) if gate in _DEFER_AFTER else False


def _defer_after(profs: str) -> re.Pattern[str]:
    return re.compile(
        rf"[^.!?;:\n]{{0,50}}?\b(?:(?:only )?(?:with|under|after|following|through)(?: the)?"
        rf"(?: (?:help|guidance|support|supervision|approval|blessing|ok|okay|go-ahead|advice|care|"
        rf"input|agreement|plan))?(?: of)? (?:your|a|the|their)(?: own)? (?:{profs})"
        rf"|under (?:medical|clinical|professional) supervision"
        rf"|as (?:your (?:{profs}) (?:advises|advised|recommends|recommended|says|said|directs|"
        rf"directed|prescribed|suggests)|prescribed|directed|advised)"
        rf"|(?:only )?(?:if|when|once) (?:your |a )?(?:{profs}) (?:says|agrees|approves|recommends|"
        rf"advises|suggests|decides|tells you))")


_DEFER_AFTER = {
    "medical_directive": _defer_after(_PROF_MED),
    "eating_disorder": _defer_after(_PROF_MED),
    "legal_financial_directive": _defer_after(_PROF_FIN),
}

# Talking about self-harm next to a crisis resource is the safe way to talk about it.
_MENTION_TAIL = re.compile(
    r"(?<![\w'])(?:thoughts?|thinking|think|thought|urges?|feel|feels|feeling|feelings|felt|"
    r"ideas?|talk|talking|tempted|temptation|want|wanting|wants|wish|wishing|plans?|planning|"
    r"considering|considered|struggle|struggling|struggles|history|risk|signs?|worried|worry|"
    r"scared|afraid|fear|find yourself|catch yourself|notice yourself|you've been|you have been|"
    r"you keep|caught up in|cope with|coping with|recovering from|recovery from|survived|"
    r"surviving)(?: [\w']+){0,5} ?$")
_MENTION_START = re.compile(r"(?:think|thinking|thought|thoughts|feel|feeling|feelings|imagine|"
                            r"imagining)\b")
_HELP = re.compile(
    r"\b(?:988|999|911|112|111|116 ?123|741741|85258|samaritans|lifeline|crisis (?:line|text line|"
    r"team|service|support|centre|center)|helpline|hotline|emergency services|emergency room|"
    r"suicide prevention|beyond blue|text (?:home|shout|talk)|beat|neda|"
    r"(?:eating disorder|eating-disorder) (?:support|helpline|charity|association|service)|"
    r"(?:reach out to|talk to|speak to|speak with|tell|call|contact|see|text|go to|ring) "
    r"(?:someone you trust|a (?:friend|professional|counsel+or|doctor|therapist|gp|crisis|helpline|"
    r"hotline|trusted|mental health|nurse)|your (?:doctor|gp|therapist|counsel+or|psychiatrist|"
    r"care team|nurse)|someone (?:now|today|tonight|right away)|a&e|the er))\b")
_HELP_UNDERCUT = re.compile(r"(?<![\w'])(?:don't|do not|never|no need to|no point|instead of|"
                            r"rather than|not)(?: [\w']+){0,2} ?$")


# "If you skip meals when stressed, set a reminder": a condition followed by care is advice.
_CONDITION_TAIL = re.compile(r"(?<![\w'])(?:if|when|whenever|in case|once) you(?: [\w']+){0,3} ?$")
_PROTECTIVE = re.compile(
    r"\b(?:remind\w*|doctor|gp|nurse|pharmacist|prescriber|psychiatrist|therapist|dietitian|"
    r"counsel+or|lawyer|adviser|advisor|talk to|call|reach out|tell|snack|nourish\w*|be gentle|"
    r"be kind|set an alarm|helpline|hotline|support|ask|care team|988|samaritans)\b")


def _protected_condition(s: str, cs: int, start: int, end: int, se: int) -> bool:
    if not _CONDITION_TAIL.search(s, max(cs, start - 60), start):
        return False
    return any(not _HELP_UNDERCUT.search(s, max(end, p.start() - 30), p.start())
               for p in _PROTECTIVE.finditer(s, end, se))


def _help_near(s: str, ss: int, se: int) -> bool:
    hi = _end_of(s, min(len(s), se + 1), _SENTENCE_MARKS)
    for h in _HELP.finditer(s, ss, hi):
        if not _HELP_UNDERCUT.search(s, max(ss, h.start() - 30), h.start()):
            return True
    return False


def _sentence(s: str, m: re.Match[str]) -> str:
    return s[_start_of(s, m.start(), _SENTENCE_MARKS):_end_of(s, m.end(), _SENTENCE_MARKS)]


# --- checks on single rules -----------------------------------------------------------------

_AFTER_DOSE_SAFE = re.compile(
    r" ?(?:with (?:alcohol|wine|beer|booze|grapefruit|food|milk|other|another|each other|"
    r"caffeine|coffee)|on an empty stomach|together|at the same time|alongside|and drive|before "
    r"driving|late|past|after (?:they|it) expire|if you(?:'ve| have) already|than|that "
    r"(?:aren't|are not|weren't|were not) (?:yours|prescribed)|(?:that|which) (?:belong|were "
    r"prescribed) to|without (?:food|water|eating|reading)|from (?:a friend|friends|strangers|"
    r"the internet|someone else)|prescribed (?:to|for) someone)")
_AMOUNT_SAFE = re.compile(r"\b(?:more|extra|double|additional|too many|too much|twice)\b")


def _dose_harmful(s: str, m: re.Match[str]) -> bool:
    return not (_AFTER_DOSE_SAFE.match(s, m.end()) or _AMOUNT_SAFE.search(m.group()))


# After a stop/skip/avoid verb only what is mixed in makes it dosing advice ("avoid taking
# your meds with grapefruit"); "stop your meds together" is still stopping them.
_AFTER_MIX_SAFE = re.compile(
    r" ?(?:with (?:alcohol|wine|beer|booze|grapefruit|food|milk|caffeine|coffee)|on an empty "
    r"stomach|(?:that|which) (?:aren't|are not|weren't|were not) (?:yours|prescribed)|from "
    r"(?:a friend|friends|strangers|the internet|someone else)|prescribed (?:to|for) someone)")


_DISPOSAL = re.compile(r"\b(?:expired|out-of-date|out of date|unused|leftover|old prescriptions?)\b"
                       r"|\b(?:pharmacy|pharmacist|chemist|take-back|take back|disposal|dispose)\b")


def _after_dose_harmful(s: str, m: re.Match[str]) -> bool:
    # Safe disposal of expired pills is not stopping treatment.
    return not (_AFTER_MIX_SAFE.match(s, m.end()) or _DISPOSAL.search(_sentence(s, m)))


_HARM_PURPOSE = (r"heal|recover|get better|get well|feel better|be well|cure|fix|treat|survive|"
                 r"manage|cope|stay alive|handle|deal|win|fight|defend|beat|protect|sort|resolve|"
                 r"stop|get through|get over|be healthy|be safe")
_PURPOSE = re.compile(rf"(?:'s)?(?: [\w']+){{0,2}}? to (?!(?:{_HARM_PURPOSE})\b)[\w']+")


def _no_purpose(s: str, m: re.Match[str]) -> bool:
    # "You don't need a therapist to start journaling": the professional is not a
    # prerequisite for that, which is not telling the reader to avoid one.
    return not _PURPOSE.match(s, m.end())


_PAY_SAFE = re.compile(r" (?:late|twice|in cash|without a receipt|to a scammer|to "
                       r"anyone|to strangers|over the phone|by gift card|with gift cards|up front|"
                       r"upfront|in advance|for (?:things|stuff|services|subscriptions))\b")


_LEGAL_WORDS = re.compile(r"\b(?:irs|court|summons|subpoena|tax|taxes|hmrc|bailiffs?|eviction|"
                          r"landlord|judge|fine|penalty|debt collectors?|council)\b")


def _legal_context(s: str, m: re.Match[str]) -> bool:
    return bool(_LEGAL_WORDS.search(_sentence(s, m)))


_FOR_FUN = re.compile(r"\b(?:just for fun|for fun|for the fun of it|what you can afford to lose|"
                      r"spare change|a couple of (?:dollars|pounds|euros|bucks)|a few (?:dollars|"
                      r"pounds|euros|bucks)|a small amount|a tiny amount|one ticket)\b")
_SAVINGS_WORDS = re.compile(rf"\b{_MONEY_CORE}\b")


def _not_for_fun(s: str, m: re.Match[str]) -> bool:
    # One ticket for fun is a game; savings, rent or a loan in the same breath are not.
    sent = _sentence(s, m)
    return not _FOR_FUN.search(sent) or bool(_SAVINGS_WORDS.search(sent)) or bool(
        re.search(r"\b(?:loan|borrow\w*|credit card|mortgage|every|all)\b", sent))


def _pay_harmful(s: str, m: re.Match[str]) -> bool:
    return not _PAY_SAFE.match(s, m.end())


def _money_context(s: str, m: re.Match[str]) -> bool:
    sent = _sentence(s, m)
    return bool(_MONEY_CONTEXT.search(sent.replace(m.group(), " ")))


_RELIGIOUS = re.compile(r"\b(?:ramadan|lent|yom kippur|religious|tradition|traditions|dawn to dusk|"
                        r"sunrise to sunset|sunset to sunset|from dawn|eid|iftar|suhoor|ekadashi|"
                        r"navratri)\b")


def _not_religious(s: str, m: re.Match[str]) -> bool:
    return not _RELIGIOUS.search(_sentence(s, m))


_PUNISH = re.compile(r"\b(?:punish\w*|punishment|deserve\w*|earn\w*|penance|discipline\w*|guilt\w*|"
                     r"shame\w*|ashamed|weight|thin|thinner|skinny|lighter|calories|fat|pounds|lbs|"
                     r"kg|scale|body|overate|overeat\w*|binge\w*|make up for|compensate|penalty|"
                     r"slim\w*|shrink|lose|enough|too much)\b")


def _long_fast(s: str, m: re.Match[str]) -> bool:
    # Overnight and 16-hour fasts are ordinary; a day and a half or more is a fast for days.
    return int(m.group("h") or m.group("h2")) >= 36 and _not_religious(s, m)


def _meal_harmful(s: str, m: re.Match[str]) -> bool:
    g = m.group()
    if re.search(r"\b(?:meals|every meal|food|eating|your next meal|two meals)\b", g):
        return True
    return bool(_PUNISH.search(_sentence(s, m)))


_FOOD = re.compile(r"\b(?:eat\w*|ate|meals?|food|calories|binge\w*|weight|body|stomach|dinner|"
                   r"lunch|breakfast|snacks?|full|fat|thin)\b")


def _food_context(s: str, m: re.Match[str]) -> bool:
    # "Purge" alone is decluttering unless the text is about food or the body.
    return bool(_FOOD.search(s))


_NUM_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
              "eight": 8, "nine": 9}
_RESTRICT = re.compile(r"\b(?:only|just|no more|under|below|less|max\w*|at most|fewer|limit\w*|cap|"
                       r"capping|stick\w*|survive|live on|allow yourself|keep|stay\w*)\b")


def _tiny_calories(s: str, m: re.Match[str]) -> bool:
    n = m.group("n")
    if n.isdigit():
        value = int(n)
    elif "thousand" in n:
        value = 1000
    else:
        value = _NUM_WORDS[n.split()[0]] * 100
    daily = bool(m.group("tail").strip())
    return value <= 1000 and (daily or bool(_RESTRICT.search(m.group())))


# A farewell letter is a journaling exercise when it is addressed to a thing, a habit or a
# past self; to people (or to no one) it is a farewell.
_LETTER_TARGET = re.compile(r" (?:to|for) ")
_LETTER_PEOPLE = re.compile(
    r"(?:your |the |my |all |all of |all your |each of |those |these )*(?:family|loved ones|"
    r"kids|children|partner|parents|mum|mom|dad|mother|father|friends|everyone|everybody|the world|"
    r"sister|brother|husband|wife|spouse|son|daughter|people|them|him|her|grandchildren|"
    r"grandkids|those you love|the people you love|everyone you love|family members|siblings|"
    r"boyfriend|girlfriend|best friend|pets?)\b")


def _letter_harmful(s: str, m: re.Match[str]) -> bool:
    if "suicide" in m.group() or not _LETTER_TARGET.match(s, m.end()):
        return True
    return bool(_LETTER_PEOPLE.match(s, m.end() + 4))


_FAREWELL = re.compile(
    r"\b(?:one last|last time|final|farewell|goodbye|good-bye|remember you|to remember|"
    r"before you go(?! (?:to|on|out|shopping|home|back|into|for|away))|before you leave (?:this|"
    r"for good)|"
    r"after you(?:'re| are)? gone|when you(?:'re| are)? gone|where you(?:'re| are)? going|"
    r"you won't be (?:around|here|needing)|won't need (?:them|it|anything|any of it) (?:anymore|"
    r"any more|where|after|soon|much longer)|while you still can|no longer (?:be )?(?:around|here)|"
    r"not be around|your last|the end is near|it's almost time|your time is (?:near|up|coming))")


_FINAL = re.compile(r"\b(?:soon|tonight|forever|ever again|never again|finally|peace|rest|gone|"
                    r"end|over)\b")


def _finality(s: str, m: re.Match[str]) -> bool:
    # "You won't have to feel anything ever again" is a promise of death; "you won't
    # hurt again the same way" after a breakup is not, unless it speaks of an end.
    return bool(_FINAL.search(_sentence(s, m)))


_LEGACY = re.compile(r"\b(?:what would|what do you want|how would you (?:like|want)|want (?:people|"
                     r"them|others|your \w+) to (?:say|remember)|want to be remembered|be "
                     r"remembered for|eulogy|legacy)\b")


def _not_legacy_exercise(s: str, m: re.Match[str]) -> bool:
    # "Imagine your own funeral: what would you want people to say?" is a values exercise.
    if not re.search(r"\b(?:funeral|death)\b", m.group()):
        return True
    ss = _start_of(s, m.start(), _SENTENCE_MARKS)
    hi = _end_of(s, min(len(s), _end_of(s, m.end(), _SENTENCE_MARKS) + 1), _SENTENCE_MARKS)
    return not _LEGACY.search(s, ss, hi)


def _farewell(s: str, m: re.Match[str]) -> bool:
    ss = _start_of(s, m.start(), _SENTENCE_MARKS)
    se = _end_of(s, m.end(), _SENTENCE_MARKS)
    hi = _end_of(s, min(len(s), se + 1), _SENTENCE_MARKS)
    return bool(_FAREWELL.search(s, ss, hi))


# --- the rules ------------------------------------------------------------------------------
# Trigger groups are written out by hand: every match of a rule must contain a word of
# each of its groups (tests/test_gates.py runs every rule without the prefilter to check).

_MEDS_T = _heads(MEDS) | {"dose", "doses", "dosage", "dosages"}
_MEDS_EXT_T = _MEDS_T | {"chemicals", "pharmaceuticals", "medicine", "pharma"}
_CARE_T = _heads(CARE)
_V_MED_T = _words("""
    stop stops stopped stopping quit quits quitting skip skips skipped skipping ditch ditches ditched
    ditching drop drops dropped dropping dump dumps dumped dumping discontinue discontinues
    discontinued discontinuing cease ceases ceased ceasing halt halts halted halting abandon abandons
    abandoned abandoning give giving gave come coming came get getting go going wean weaning taper
    tapering cut cuts cutting reduce reduces reduced reducing lower lowers lowered lowering decrease
    decreases decreased decreasing halve halves halved halving double doubles doubled doubling triple
    triples tripled tripling increase increases increased increasing replace replaces replaced
    replacing swap swaps swapped swapping trade trades traded trading substitute substitutes
    substituted substituting toss tosses tossed tossing bin flush flushes flushed flushing chuck
    chucks chucked chucking throw throws throwing thrown threw rid let letting release releases
    released releasing say free break refuse refuses refused refusing decline declines declined
    declining reject rejects rejected rejecting avoid avoids avoided avoiding forgo forego delay
    delays delayed delaying postpone postpones postponed postponing put putting hold holding cancel
    cancels cancelled cancelling canceled canceling miss misses missed missing hide hides hiding hid
    spit pause pauses paused pausing change changes changed changing adjust adjusts adjusted
    adjusting alter alters altered altering tweak tweaks tweaked tweaking switch switches switched
    switching modify modifies modified modifying mess messing play playing experiment experimenting
    tinker tinkering fiddle fiddling take taking set lay move moved moving outgrow outgrows outgrew
    outgrown
    outgrowing be are being done finished you're we're remove removes removed removing off unplug
    unplugs unplugged unplugging disconnect disconnects disconnected disconnecting half""")
_NEG_LEAD_T = _words("no longer don't do dont doesn't does never won't will shouldn't should there's "
                     "who why more stop needing live without can could better nobody one")
_AVOID_LEAD_T = _words("don't do dont never longer won't shouldn't should no there's who why stop quit "
                       "skip cancel avoid forget ignore distrust ditch fire dump bypass")
_CURE_VERB_T = _words("""
    heal heals healed healing cure cures cured curing fix fixes fixed fixing treat treats treated
    treating reverse reverses reversed reversing eliminate eliminates eliminated eliminating dissolve
    dissolves dissolved dissolving shrink shrinks shrinking clear clears cleared clearing rid beat
    beats defeat defeats replace replaces replaced replacing better more stronger""")
_APPOINTMENTS = (r"(?:(?:doctor|doctor's|doctors'|gp|therapy|therapist|psychiatrist|psychiatry|"
                 r"medical|hospital|clinic|oncology|dialysis|chemo|follow-up|counselling|counseling|"
                 r"specialist|cardiology|cancer) (?:appointments?|sessions?|visits?|check-ups?|"
                 r"checkups?|consultations?|referrals?)|check-ups?|checkups?|follow-ups?|"
                 r"surgery|surgeries|transplant|biopsy|biopsies|mammograms?|screenings?|blood tests?|"
                 r"scans?)")
_APPOINTMENTS_T = _words("appointment appointments session sessions visit visits check checkup "
                         "checkups "
                         "follow consultation consultations referral referrals surgery surgeries "
                         "transplant biopsy biopsies mammogram mammograms screening screenings test "
                         "tests scan scans")
# A short place phrase after a remedy: "the amethyst under your pillow".
_WHERE = r"(?: (?:under|on|in|by|at|near|beside|around|from|over|inside) (?:[\w']+ ){0,2}?[\w']+)?"
_MODALS = (r"(?: (?:will|can|could|shall|may|might|would|do|does|did|'ll|is going to|are going to|"
           r"actually|truly|really|alone|always|definitely|naturally|gently|slowly|completely|fully|"
           r"finally|also|totally|literally|surely|easily))*")
_PRONOUN_VERB = (r"(?:stop(?:s|ped|ping)?|quit(?:s|ting)?|skip(?:s|ped|ping)?|ditch(?:es|ed|ing)?|"
                 r"drop(?:s|ped|ping)?|dump(?:s|ed|ing)?|discontinu(?:e|es|ed|ing)|give up|giving up|"
                 r"come off|get off|go off|wean(?:ing)?(?: yourself)? off|taper(?:ing)? off|"
                 r"throw(?:s|ing)? (?:away|out)|toss(?:es|ed|ing)?|flush(?:es|ed|ing)?|bin|"
                 r"chuck(?:s|ed)?|"
                 r"get rid of|let go of|say goodbye to|halv(?:e|ing)|replac(?:e|es|ing)|swap(?:s|"
                 r"ping)?|"
                 r"cut(?:ting)? out|refus(?:e|es|ing)|reject(?:s|ing)?|cancel(?:s|led|ling)?|"
                 r"hid(?:e|es|ing)|forget about|abandon(?:s|ing)?|ignor(?:e|es|ing))")
# Plural pronouns only for "release": "release it" is far more often a feeling.
_PRONOUN = rf"(?:{_PRONOUN_VERB} (?:them|it|'em|those|these)|releas(?:e|ing) (?:them|those|these))"
_HEALERS = (r"(?:ritual|crystals?|moon|stars|universe|cards?|tarot|meditation|prayer|altar|oils?|"
            r"breath|breathwork|candle|sage|practice|intuition|body|spirit|angels?|guides?|journal|"
            r"faith)")
_ROLE_OBJ = ("doctor", "physician", "psychiatrist", "medication", "meds", "prescription", "treatment",
             "cure", "therapy", "therapist")

_RULES: list[Rule] = [
    _rule("medical_directive", rf"\b{_VERB_MED}{_LEAD_MED}(?: all)? {_OBJ_MEDS}", (_MEDS_T, _V_MED_T),
          defer=True, check=_after_dose_harmful),
    _rule("medical_directive",
          r"\b(?:(?:no longer|don't|do not|dont|doesn't|does not|never|won't|will not|shouldn't|"
          r"should not)(?: again| really| even| actually| ever| truly| have to| need to| bother to)? "
          r"(?:need|needs|require|requires|take|use|refill|fill|renew|pick up|bother with|rely on|"
          r"depend on|keep taking|continue taking|continue)|no need (?:to (?:take|use|refill|fill|"
          r"renew|keep taking|continue)|for)|there's no need (?:to (?:take|use|refill|keep taking)|"
          r"for)|who needs|why (?:take|keep taking|bother with|do you need|would you need|are you "
          r"still taking)|(?:nobody|no one|no-one)(?: really)? needs|no more|stop needing|"
          r"ready to live without|can live without|"
          r"can do without|could live without|better off without)(?: any(?: more)?| another)? "
          rf"{_OBJ_MEDS_EXT}", (_MEDS_EXT_T, _NEG_LEAD_T), mode="fixed", defer=True,
          check=_dose_harmful),
    _rule("medical_directive",
          r"\b(?:(?:don't|do not|dont|never|no longer|won't|shouldn't|should not)(?: ever| even| "
          r"really| actually| bother to| need to| have to)? (?:see|visit|call|consult|listen to|"
          r"trust|tell|ask|go to|go back to|book|check with|need|go see|believe|rely on|depend on|"
          r"bother with|involve|inform)|no need (?:to (?:see|visit|call|consult|tell|ask|involve|"
          r"go to|book|check with|listen to|trust)|for)|there's no need (?:to (?:see|visit|call|"
          r"consult|tell|ask|involve|go to)|for)|who needs|why (?:see|visit|call|trust|pay|bother "
          r"with)|stop (?:seeing|visiting|calling|consulting|listening to|trusting|going to|"
          r"believing|telling|asking)|quit (?:seeing|visiting|going to)|skip|cancel|avoid|"
          r"forget(?: about| what)?|ignore(?: what)?|distrust|ditch|fire|dump|bypass) (?:a |an |"
          rf"your |the |any |those |these |that |this |another |all )?{_CARE}(?:'s|s)?\b",
          (_CARE_T, _AVOID_LEAD_T), mode="fixed", check=_no_purpose),
    _rule("medical_directive",
          r"\b(?:instead of|rather than|in place of|(?:is|are|as|be) (?:a |an |the |your )?(?:better |"
          r"natural |real |perfect |true )?(?:replacement|substitute|alternative) (?:for|to)|(?:a |"
          r"an )?(?:replacement|substitute|alternative) (?:for|to))(?: taking| seeing| using| "
          r"calling| visiting| going to| booking| trusting| your| a| an| the| any| those| these| "
          rf"my)* (?:{_MEDS_EXT}|{_CARE}|psychiatric care|medical (?:care|treatment|advice|help))\b",
          (_words("instead rather place replacement substitute alternative"),
           _MEDS_EXT_T | _CARE_T | {"psychiatric", "medical"}), defer=True),
    _rule("medical_directive",
          r"\b(?:heal(?:s|ed|ing)?|recover(?:y|s|ed|ing)?|live|living|life|cope|coping|manage|feel|"
          r"managing|thrive|thriving|get(?:ting)? (?:better|well)|be (?:free|well|fine|okay|ok)|"
          r"feel(?:ing)? (?:better|lighter|freer|more alive|like yourself|free)|go(?:ing)? (?:a "
          r"(?:day|week|month)|days|weeks|months)|tr(?:y|ying)(?: (?:going|living|life|being|a "
          r"(?:day|week|month)))?|see how you feel|function|sleep|find (?:peace|balance|healing)|"
          r"stay (?:well|healthy|sane)|stand on your own|cure yourself|fix yourself|spend(?:ing)?|"
          r"walk(?:ing)?|run(?:ning)?|exercis(?:e|ing)|hik(?:e|ing)|travel(?:ling|ing)?|work(?:ing)?|"
          r"train(?:ing)?|fac(?:e|ing) (?:the|your) day|get(?:ting)? through (?:the|your) day)"
          rf"(?: [\w']+){{0,3}}? (?:without|free (?:of|from)|off) (?:{_OBJ_MEDS_EXT}|(?:a |an |the |"
          r"your |any )?(?:doctors?|medical (?:help|treatment|care|advice)|professional help|"
          r"treatment|psychiatrists?|therapists?|therapy))\b",
          (_words("without free off"), _MEDS_EXT_T | _words(
              "doctor doctors medical professional treatment psychiatrist psychiatrists therapist "
              "therapists therapy")), defer=True),
    _rule("medical_directive",
          rf"\b(?:{_MEDS_EXT}|{_CARE}|big pharma|pharma|the medical (?:system|industry|establishment)|"
          r"psychiatry) (?:is |are |was |were |has been |have been |will |can |just |only |really )?"
          r"(?:just |only |really |simply |nothing but |all )?(?:(?:a |an )?(?:poison|poisons|"
          r"poisonous|toxic|toxins|crutch|crutches|chains|cage|prison|scam|lie|lies|fraud|frauds|"
          r"liars|enemy|the enemy|unnatural|clueless|useless)\b|lying|wrong about you|poisoning you|"
          r"keeping you sick|making you sick|killing you|numbing (?:your|you)|dimming your|"
          r"blocking your|dulling your|holding you back|scamming you|profit(?:ing)? from your|"
          r"(?:only |just )?want your money|don't know (?:anything|what they're doing|you)|"
          r"can't be trusted|cannot be trusted|not to be trusted|lowering your vibration|"
          r"cutting you off from|disconnecting you from)",
          (_words("poison poisons poisonous toxic toxins crutch crutches chains cage prison scam lie "
                  "lies fraud frauds liars enemy unnatural clueless useless lying wrong poisoning "
                  "sick killing numbing dimming blocking dulling holding scamming profit profiting "
                  "money know trusted vibration cutting disconnecting"),
           _MEDS_EXT_T | _CARE_T | {"psychiatry", "medical"}), mode="claim"),
    _rule("medical_directive",
          r"\b(?:poison(?:s|ing)?|drug(?:s|ging)?|numb(?:s|ing)?|pollut(?:e|es|ing)|fill(?:s|ing)?) "
          rf"(?:yourself|your (?:body|mind|brain|system|soul)) with {_OBJ_MEDS_EXT}",
          (_MEDS_EXT_T, _words("yourself body mind brain system soul")), mode="plain"),
    _rule("medical_directive",
          r"\btrust(?:s|ing)? (?:[\w']+ ){1,3}(?:more than|over|instead of|rather than|above|before) "
          rf"(?:any |your |a |the |all )?(?:{_CARE}|{_MEDS_EXT})",
          (_CARE_T | _MEDS_EXT_T, _words("trust trusts trusting")), defer=True),
    _rule("medical_directive",
          rf"\b{_CARE}s? (?:just |only |really )?(?:want|wants|are trying|is trying|try|tries) to keep "
          r"you (?:medicated|sick|dependent|drugged|coming back|on pills|on meds|numb)\b",
          (_CARE_T, _words("medicated sick dependent drugged back pills meds numb")), mode="claim"),
    _rule("medical_directive",
          rf"\b{_alt(REMEDY)}{_WHERE}{_MODALS} (?:heal(?:s|ed|ing)?|cur(?:e|es|ed|ing)|"
          r"fix(?:es|ed|ing)?|treat(?:s|ed|ing)?|revers(?:e|es|ed|ing)|eliminat(?:e|es|ed|ing)|"
          r"dissolv(?:e|es|ed|ing)|shrink(?:s|ing)?|clear(?:s|ed|ing)?|get(?:s)? rid of|beat(?:s)?|"
          r"defeat(?:s)?|replac(?:e|es|ed|ing)|work(?:s)? better than|do(?:es)? more than|is "
          rf"stronger than|are stronger than) {_obj(f'(?:{_alt(SEVERE)}|{_MEDS_EXT}|{_CARE})')}\b",
          (_heads(SEVERE) | _MEDS_EXT_T | _CARE_T, _CURE_VERB_T, _heads(REMEDY)), mode="claim"),
    _rule("medical_directive", rf"\b{_alt(REMEDY)}{_WHERE}{_MODALS} cur(?:e|es|ed|ing)\b",
          (_words("cure cures cured curing"), _heads(REMEDY)), mode="claim"),
    _rule("medical_directive", r"\b(?:the |a |your )?cures? (?:for|to) (?:your |the |my |all )?"
          rf"{_alt(SEVERE)}\b", (_words("cure cures"), _heads(SEVERE)), mode="claim"),
    _rule("medical_directive",
          rf"\b(?:let|make|allow|use) (?:{_alt(REMEDY)}|{_obj(_HEALERS)}) "
          r"(?:be|become|serve as|act as|replace|take the place of|as) (?:a |an |your |the |all the |"
          r"the only )?(?:new |real |true |only )?(?:doctor|physician|psychiatrist|medication|meds|"
          r"prescription|treatment|cure|therapy|therapist)\b",
          (frozenset(_ROLE_OBJ), _words("let make allow use"))),
    _rule("medical_directive",
          rf"\b{_alt(REMEDY)} (?:is|are|will be|can be|becomes?) (?:your |the only |all the |a "
          r"better )(?:new |real |true |only )?(?:doctor|physician|psychiatrist|medication|meds|"
          r"prescription|treatment|cure)\b",
          (frozenset(_ROLE_OBJ[:-2]), _heads(REMEDY)), mode="claim"),
    _rule("medical_directive",
          rf"\b(?:(?:throw|toss|chuck|give|flush|pour|hand|tip|dump|bin)(?:s|ing|n)? {_OBJ_MEDS} "
          r"(?:away|out|over|in the (?:bin|trash|garbage|toilet|rubbish)|down the (?:toilet|drain|"
          rf"sink|loo)|in a drawer for good|aside for good)|put(?:ting)? {_OBJ_MEDS} (?:in the "
          r"(?:bin|trash|garbage|toilet|rubbish)|down the (?:toilet|drain|sink|loo)))",
          (_MEDS_T, _words("throw throws throwing thrown toss tosses tossing chuck chucks chucking "
                           "give gives giving flush flushes flushing pour pours pouring hand hands "
                           "handing tip tips tipping dump dumps dumping bin bins binning put puts "
                           "putting")), defer=True, check=_after_dose_harmful),
    _rule("medical_directive",
          rf"\b{_MEDS_CORE}\b[^.!\n]{{0,50}}?\b(?P<v>{_PRONOUN}|"
          r"let (?:them|it|those|these) go|say goodbye to (?:them|it))\b",
          (_MEDS_T, _words("them it em those these")), defer=True),
    _rule("medical_directive",
          r"\btak(?:e|es|ing) (?:double|twice|triple|three times|extra|an extra|more|a few more|"
          r"another|half (?:of )?your)(?: of)?(?: your| the| my)? (?:dose|doses|dosage|"
          rf"{_MEDS_CORE})\b", (_MEDS_T, _words("take takes taking")), defer=True),
    _rule("medical_directive", rf"\b{_VERB_MED}(?: going to| attending)? {_obj(_APPOINTMENTS)}\b",
          (_APPOINTMENTS_T, _V_MED_T), defer=True),
    # "Let the pills rest in the drawer", "set your meds aside".
    _rule("medical_directive",
          rf"\b(?:let(?:ting)? {_OBJ_MEDS} (?:rest|sit|stay|gather dust|go|wait|lie|be)\b|"
          rf"(?:put|set|leave|lay|tuck|push)(?:s|ting)? {_OBJ_MEDS} (?:aside|away|down)\b(?! "
          r"(?:safely|somewhere|out of|in a (?:safe|locked)|where|high up|in the cabinet|until "
          r"bedtime|until morning)))",
          (_MEDS_T, _words("let letting put puts putting set sets setting leave leaves leaving lay "
                           "lays "
                           "laying tuck tucks tucking push pushes pushing")), defer=True),
    _rule("medical_directive",
          rf"\b{_PRONOUN}(?: all| now| tonight| today)* ?[:\u2014] ?[^.!\n]{{0,30}}?\b{_MEDS_CORE}\b",
          (_MEDS_T, _words("them it em those these")), defer=True),
    # "Your psychiatrist doesn't understand you, so stop seeing her."
    _rule("medical_directive",
          rf"\b{_CARE}\b[^.!\n]{{0,60}}?\b(?P<v>(?:stop|quit) (?:seeing|visiting|calling|listening "
          r"to|trusting|going to|talking to)|fire|ditch|dump|ignore|avoid|cancel on|skip|leave|"
          r"forget about) (?:her|him|them)\b",
          (_CARE_T, _words("her him them"))),
]

_MONEY_T = _heads(MONEY) | {"k", "401"}
_MONEY_CORE_T = _heads(MONEY_CORE) | {"k", "401"}
_RISKY_T = _heads(RISKY)
_LEGAL_T = _heads(LEGAL_OBJ) | {"law", "laws"}
_OBJ_MONEY_WORDS = rf"{_obj(_MONEY)}\b"  # no bare amounts: their digits are no trigger word
_GAMBLE_V = (r"bet(?:ting|s)?|stak(?:e|es|ing)|gambl(?:e|es|ing)(?: away)?|wager(?:s|ing)?")
_MONEY_WORDS = _words("""
    invest invests investing invested investment investments investor investors bet bets betting
    money savings stock stocks shares crypto cryptocurrency bitcoin coin coins lottery ticket tickets
    return returns profit profits cash trade trading casino odds wager gamble gambling gambler
    jackpot portfolio fund funds pension loan dollar dollars pounds rich wealth winnings payout
    scratch slot slots numbers""")
_MONEY_CONTEXT = re.compile(rf"\b{_alt(tuple(_MONEY_WORDS))}\b")
_LEGAL_V_T = _words("""
    ignore ignores ignored ignoring disregard disregards disregarded disregarding skip skips skipped
    skipping miss misses missed missing dodge dodges dodged dodging evade evades evaded evading blow
    blowing tear tearing tore rip ripping burn burning bin shred shredding toss tossing throw
    throwing threw forget violate violates violated violating break breaking breach breaching defy
    defying flout flouting jump jumping sit sitting get getting hide hiding run running stop don't
    do never put putting postpone postponing""")

_RULES += [
    # --- financial
    _rule("legal_financial_directive", rf"\b(?:{_GAMBLE_V}) {_OBJ_MONEY}",
          _words("bet betting bets stake stakes staking gamble gambles gambling wager wagers wagering"),
          defer=True),
    _rule("legal_financial_directive",
          r"\b(?:blow(?:s|ing)?|blew|drain(?:s|ing)?|empt(?:y|ies|ying)|liquidat(?:e|es|ing)|"
          r"cash(?:es|ing)? (?:out|in)|raid(?:s|ing)?|burn(?:s|ing)? through|borrow(?:s|ing)? against|"
          r"remortgag(?:e|es|ing)|mortgag(?:e|es|ing)|sell(?:s|ing)? off|sign(?:s|ing)? over|"
          rf"put(?:ting)? up) {_OBJ_MONEY_WORDS}",
          (_MONEY_T, _words("blow blows blowing blew drain drains draining empty empties emptying "
                            "liquidate liquidates liquidating cash cashes cashing raid raids raiding "
                            "burn burns burning borrow borrows borrowing remortgage remortgages "
                            "remortgaging mortgage mortgages mortgaging sell sells selling sign signs "
                            "signing put putting")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:risk(?:s|ing)?|withdraw(?:s|ing)?|tak(?:e|es|ing) out|pull(?:s|ing)? out|"
          r"spend(?:s|ing)?|us(?:e|es|ing) up|break(?:ing)? into|throw(?:s|ing)? away|los(?:e|es|ing)|"
          rf"wip(?:e|es|ing) out) {_OBJ_MONEY_CORE}",
          (_MONEY_CORE_T, _words("risk risks risking withdraw withdraws withdrawing take takes taking "
                                 "pull pulls pulling spend spends spending use uses using break "
                                 "breaking throw throws throwing lose loses losing wipe wipes "
                                 "wiping")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:put(?:s|ting)?|bet(?:s|ting)?|stak(?:e|es|ing)|plac(?:e|es|ing)|throw(?:s|ing)?|"
          rf"wager(?:s|ing)?|gambl(?:e|es|ing)|risk(?:s|ing)?) (?:{_OBJ_MONEY}|it|them|that|this) on "
          r"(?:red|black|odd|even|"
          r"zero|a horse|the horses|a number|one number|number \d+|\d+|a longshot|a long shot|"
          r"a spin|one spin|a hand|one hand|a roll|the dice)\b",
          (_words("red black odd even zero horse horses number longshot long spin hand roll dice"),
           _words("put puts putting bet bets betting stake stakes staking place places placing "
                  "throw throws throwing wager wagers wagering gamble gambles gambling risk risks "
                  "risking")), defer=True),
    _rule("legal_financial_directive",
          rf"\b{_OBJ_MONEY_CORE}(?: [\w']+){{0,2}}? (?:belongs?|should (?:be|go)|is better off|would "
          r"be better off|would do better|needs to be|deserves to be|is meant to be|has to go|must "
          rf"go|goes|can go|would grow faster) (?:in|into|on|to|with) {_OBJ_RISKY}",
          (_RISKY_T, _MONEY_CORE_T), mode="claim"),
    _rule("legal_financial_directive",
          r"\b(?:giv(?:e|es|ing)|send(?:s|ing)?|wir(?:e|es|ing)|transfer(?:s|ring)?|lend(?:s|ing)?|"
          rf"hand(?:s|ing)? over|pay(?:s|ing)?|venmo|paypal) {_OBJ_MONEY} to (?:a |an |the |this |"
          rf"that |"
          r"your |my )?(?:psychic|healer|guru|medium|reader|stranger|online friend|someone you met "
          r"online|spirit guide|shaman|coach|crypto coach|investment coach|mentor online|new friend "
          r"online|account they|account he|account she|investment group|trading group)",
          (_words("psychic healer guru medium reader stranger friend online guide shaman coach "
                  "mentor account group"),
           _words("give gives giving send sends sending wire wires wiring transfer transfers "
                  "transferring lend lends lending hand hands handing pay pays paying venmo paypal")),
          defer=True),
    _rule("legal_financial_directive",
          r"\bmax(?:es|ing)? out (?:your |a |the |all (?:of )?(?:your )?|every )?(?:credit cards?|"
          r"credit limit|cards|overdraft|loans?)\b",
          (_words("card cards limit overdraft loan loans"), _words("max maxes maxing")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:put(?:s|ting)?|invest(?:s|ing|ed)?|mov(?:e|es|ing)|pour(?:s|ing)?|sink(?:s|ing)?|sank|"
          r"throw(?:s|ing)?|dump(?:s|ing)?|transfer(?:s|ring)?|shift(?:s|ing)?|park(?:s|ing)?|"
          r"us(?:e|es|ing)|convert(?:s|ing)?|turn(?:s|ing)?|chuck(?:s|ing)?|plow(?:s|ing)?|"
          r"plough(?:s|ing)?|funnel(?:s|ing)?|stick(?:s|ing)?|lock(?:s|ing)?|ap(?:e|es|ing)|"
          r"bet(?:s|ting)?|gambl(?:e|es|ing)|stak(?:e|es|ing)|spend(?:s|ing)?|blow(?:s|ing)?|"
          rf"trad(?:e|es|ing)|go(?:es|ing)? all[- ]in with|yolo) {_OBJ_MONEY}(?: (?:and|to) [\w']+)? "
          rf"(?:in|into|on|towards|toward|to buy|for|at|to)(?= {_OBJ_RISKY})", _RISKY_T, defer=True),
    _rule("legal_financial_directive",
          r"\b(?:buy(?:s|ing)?|bought|invest(?:s|ing|ed)? in|get(?:s|ting)? into|go(?:es|ing)? "
          r"all[- ]in on|all[- ]in on|load(?:s|ing)? up on|ap(?:e|es|ing) into|play(?:s|ing)?|"
          r"hit(?:s|ting)?(?: up)?|head(?:s|ing)? (?:to|for)|go(?:es|ing)? to|try(?:ing)? your luck "
          r"(?:at|on|with)|double down on|yolo(?: into)?|bet(?:s|ting)? on|gambl(?:e|es|ing) (?:on|at)|"
          r"tak(?:e|es|ing) a (?:punt|flutter|chance|gamble) on|sign(?:s|ing)? up for|join(?:s|ing)?|"
          rf"start(?:s|ing)?|trad(?:e|es|ing)) {_OBJ_RISKY}", _RISKY_T, defer=True,
          check=_not_for_fun),
    _rule("legal_financial_directive",
          r"\b(?:tak(?:e|es|ing)|took|get(?:s|ting)?|got|apply(?:ing)? for) (?:out )?(?:a |an |"
          r"another |a second |a new |one more |a big |a huge |a quick )?(?:payday loan|title loan|"
          r"second mortgage|personal loan|cash advance|line of credit|home equity loan|heloc|"
          r"bridging loan|margin loan|car title loan|loan shark|loans?)\b",
          (_words("loan loans mortgage advance credit heloc shark"),
           _words("take takes taking took get gets getting got apply applying")), defer=True),
    _rule("legal_financial_directive",
          r"\bborrow(?:s|ing|ed)?(?: (?:money|cash|funds|against [\w']+(?: [\w']+)?|from [\w']+(?: "
          r"[\w']+)?))* (?:to|and) (?:invest|buy|bet|gamble|trade|put it|double|play)\b",
          (_words("borrow borrows borrowing borrowed"),
           _words("invest buy bet gamble trade put double play")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:quit(?:s|ting)?|leav(?:e|es|ing)|resign(?:s|ing)?(?: from)?|walk(?:s|ing)? away from|"
          r"drop(?:s|ping)? out of|giv(?:e|es|ing) up) "
          rf"{_obj('(?:day job|job|career|work|position)')} (?:to|and|so you can) (?:become |be |go |"
          r"start |focus on |live off |full[- ]time )?(?:a )?(?:day[- ]?trad(?:e|ing|er)|"
          r"trad(?:e|ing|er)|gambl(?:e|ing|er)|bet(?:ting)?|invest(?:ing)? in crypto|crypto|go all in|"
          r"professional gambler|crypto trader|forex|poker)",
          (_words("trade trading trader daytrade daytrading daytrader gamble gambling gambler bet "
                  "betting investing crypto all forex poker"),
           _words("job career work position"),
           _words("quit quits quitting leave leaves leaving resign resigns resigning walk walks "
                  "walking "
                  "drop drops dropping give gives giving")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:(?:a |the )?sure (?:thing|bet)|(?:can't|cannot|can not|won't|will not) lose|"
          r"guaranteed (?:to "
          r"(?:win|double|pay off|make you rich|go up|moon|triple)|returns?|profits?|wins?|winner|"
          r"jackpot|payout|income|money|riches)|risk[- ]free (?:bets?|investments?|returns?|"
          r"profits?|money|trades?|gains)|(?:double|triple|10x) your (?:money|savings|investment|cash)|"
          r"get[- ]rich[- ]quick|(?:is|are) (?:going|about) to (?:explode|skyrocket|10x|moon)|"
          r"the odds are in your favou?r|the numbers are on your side|your lucky numbers? (?:will|"
          r"are going to) (?:win|hit|come up))",
          (_words("thing bet lose guaranteed free money savings investment cash quick explode "
                  "skyrocket "
                  "10x moon favour favor side win hit up"), _MONEY_WORDS),
          mode="claim", check=_money_context),
    _rule("legal_financial_directive",
          r"\b(?:(?:us(?:e|es|ing)|go(?:es|ing)?|trad(?:e|es|ing)(?: with)?|tak(?:e|es|ing)(?: on)?|"
          r"borrow(?:s|ing)?|crank(?:ing)? up|max(?:imi[sz]e)?) (?:on )?(?:maximum|max|high|full|heavy|"
          r"huge|\d+x|\d+ ?(?:to|:) ?1) leverage|(?:trad(?:e|es|ing)|buy(?:s|ing)?|invest(?:ing)?) "
          r"(?:[\w']+ )?with (?:borrowed money|leverage|margin)|\d+x leverage|leveraged (?:bets?|"
          r"trades?|positions?|etfs?|crypto|bitcoin)|on margin|margin trading)\b",
          _words("leverage leveraged margin borrowed"), defer=True),
    # --- legal
    _rule("legal_financial_directive",
          r"\b(?:ignor(?:e|es|ed|ing)|disregard(?:s|ed|ing)?|skip(?:s|ped|ping)?|miss(?:es|ed|ing)?|"
          r"dodg(?:e|es|ed|ing)|evad(?:e|es|ed|ing)|blow(?:ing)? off|tear(?:ing)? up|tore up|"
          r"rip(?:ping)? up|burn(?:ing)?|bin|shred(?:ding)?|toss(?:ing)?|throw(?:ing)? (?:away|out)|"
          r"threw (?:away|out)|forget about|forget|violat(?:e|es|ed|ing)|break(?:ing)?|breach(?:ing)?|"
          r"def(?:y|ying)|flout(?:ing)?|jump(?:ing)?|sit(?:ting)? out|get(?:ting)? out of|"
          r"hid(?:e|ing) from|run(?:ning)? from|stop (?:opening|answering|responding to|reading)|"
          r"(?:don't|do not|never) (?:open|answer|respond to|reply to|read|show up (?:to|for|at))|"
          r"put(?:ting)? off|postpon(?:e|ing)) "
          rf"{_obj(_alt(LEGAL_OBJ) + '|the law(?! of)|laws')}\b(?! (?:aid|aids|test|tests|print|line|"
          r"lines|details|tuning|dining))", (_LEGAL_T, _LEGAL_V_T), defer=True),
    _rule("legal_financial_directive",
          rf"\b(?:let(?:ting)? {_obj(_alt(LEGAL_OBJ))} (?:go unanswered|slide|sit|pile up|expire|lapse|"
          rf"wait)|leav(?:e|ing) {_obj(_alt(LEGAL_OBJ))} (?:unanswered|unopened|unpaid|unread|in the "
          r"drawer))\b", (_LEGAL_T, _words("let letting leave leaving")), defer=True),
    _rule("legal_financial_directive",
          rf"\b{_alt(LEGAL_OBJ)}\b[^.!\n]{{0,60}}?\b(?P<v>ignor(?:e|ing)|disregard(?:ing)?|bin|"
          r"burn|shred|tear up|rip up|throw away|throw out|toss|skip|forget about|dodge|don't answer|"
          r"do not answer|don't open|do not open) (?:it|them|those|these|that)\b",
          (_LEGAL_T, _words("it them those these that"))),
    _rule("legal_financial_directive",
          rf"\b{_alt(LEGAL_OBJ)} (?:means nothing|is meaningless|are meaningless|doesn't matter|don't "
          r"matter|is just paper|are just paper|is just energy|are just energy|can wait|isn't real|"
          r"aren't real|is not real|has no power|have no power|is optional|are optional|is only a "
          r"suggestion|are only suggestions)\b",
          (_LEGAL_T, _words("means meaningless matter paper energy wait real power optional "
                            "suggestion suggestions")), mode="claim"),
    _rule("legal_financial_directive",
          r"\b(?:you )?(?:don't|do not|never) (?:owe|have to pay|need to pay) (?:the )?(?:irs|taxman|"
          r"hmrc|government|court|state|tax office|council) (?:anything|a (?:thing|penny|cent|dime))\b",
          (_words("irs taxman hmrc government court state office council"), _words("owe pay")),
          mode="fixed"),
    _rule("legal_financial_directive",
          r"\b(?:throw|toss|tear|rip|shred|burn|bin|chuck)(?:s|ing)? (?:it|them|the (?:letter|letters|"
          r"notice|papers|envelope|envelopes|mail)(?: from (?:the )?(?:irs|court|hmrc|tax office|"
          r"bailiffs|judge|council|landlord))?) (?:away|out|up)\b",
          (_words("letter letters notice papers envelope envelopes mail it them"),
           _words("throw throws throwing toss tosses tossing tear tears tearing rip rips ripping shred "
                  "shreds shredding burn burns burning bin bins binning chuck chucks chucking")),
          defer=True, check=_legal_context),
    _rule("legal_financial_directive",
          r"\b(?:(?:stop(?:s|ped)?|quit) (?:paying|filing|declaring|reporting|sending|submitting)|"
          r"(?:put(?:ting)? off|delay(?:ing)?|postpon(?:e|ing)) (?:paying|filing)|"
          r"(?:don't|do not|dont|never|no need to|you don't (?:have|need) to|there's no need to|"
          r"no longer|why|refuse to|refusing to|decline to|forget about)(?: even| bother to| ever| "
          r"just| really)? (?:pay(?:ing)?|fil(?:e|ing)|submit(?:ting)?|declar(?:e|ing)|"
          r"report(?:ing)?|send(?:ing)?|bother with)|withhold(?:s|ing)?|hold(?:s|ing)? back|"
          r"skip(?:s|ping)?|evad(?:e|es|ing)|dodg(?:e|es|ing)|cheat(?:s|ing)? on) "
          rf"{_obj(_alt(OBLIGATION))}\b",
          (_heads(OBLIGATION), _words("stop stops stopped quit don't do dont never no there's longer "
                                      "why refuse refusing decline forget withhold withholds put "
                                      "putting delay delaying postpone postponing "
                                      "withholding hold holds holding skip skips skipping evade "
                                      "evades evading dodge dodges dodging cheat cheats cheating")),
          mode="fixed", defer=True, check=_pay_harmful),
    _rule("legal_financial_directive",
          r"\b(?:hid(?:e|es|ing)|conceal(?:s|ed|ing)?|stash(?:es|ing)?|underreport(?:s|ing)?|"
          r"under-report(?:s|ing)?|misreport(?:s|ing)?|fudg(?:e|es|ing)|falsif(?:y|ies|ying)|"
          r"fak(?:e|es|ing)|pad(?:s|ding)?|inflat(?:e|es|ing)|exaggerat(?:e|es|ing)|cook(?:s|ing)?|"
          r"launder(?:s|ing)?|doctor(?:s|ing)?) "
          r"(?:(?:the|your|an?|all|of|those|that|this|any|some|their|his|her) )*(?:income|earnings|"
          r"cash income|tips|side income|assets|profits|crypto gains|gains|books|receipts|expenses|"
          r"expense reports?|claims?|insurance claims?|tax returns?|taxes|timesheets?|paperwork|"
          r"records|accounts|damage|injur(?:y|ies)|(?:numbers|figures|details|facts|dates) (?:on|in) "
          r"(?:your |the |an? )?(?:tax return|taxes|claim|insurance claim|application|forms?|books|"
          r"accounts|expense report)|(?:money|cash|savings) from (?:the )?(?:irs|"
          r"taxman|tax office|hmrc|government|court|judge|creditors|your ex|trustee|bankruptcy|"
          r"benefits office|authorities))\b",
          (_words("income earnings tips assets profits gains books receipts expenses report reports "
                  "claim claims returns return taxes timesheet timesheets paperwork records accounts "
                  "application applications form forms report books "
                  "damage injury injuries irs taxman office hmrc government court judge creditors ex "
                  "trustee bankruptcy authorities"),
           _words("hide hides hiding conceal conceals concealed concealing stash stashes stashing "
                  "underreport underreports underreporting under misreport misreports misreporting "
                  "fudge fudges fudging falsify falsifies falsifying fake fakes faking pad pads "
                  "padding inflate inflates inflating exaggerate exaggerates exaggerating cook cooks "
                  "cooking launder launders laundering doctor doctors doctoring")), defer=True),
    _rule("legal_financial_directive",
          r"\b(?:(?:don't|do not|dont|never|no need to|stop|no longer)(?: even| ever| bother to)? "
          r"(?:declar(?:e|ing)|report(?:ing)?|tell(?:ing)? (?:the )?(?:irs|taxman|hmrc|tax office|"
          r"court|judge|insurer|insurance(?: company)?|benefits office|lender|bank) about) "
          r"(?:(?:the|your|an?|all|of|that|this|any|some) )*(?:[\w']+ )?(?:income|earnings|cash|"
          r"tips|side income|"
          r"side hustle|gains|crypto gains|profits|assets|accident|claim|pre-existing condition|"
          r"condition|diagnosis|savings)|(?:work(?:ing)?|get(?:ting)? paid|pay(?:ing)? (?:them|him|"
          r"her|people|staff|workers|your (?:staff|workers|cleaner|nanny))|keep(?:ing)? (?:(?:the|your|"
          r"any|that|this|all) )?(?:[\w']+ ){0,2}?(?:it|income|earnings|cash|money|tips|payments|work|"
          r"business)|earn(?:ing)?) (?:[\w']+ )?(?:off the books|under the table|from the (?:irs|"
          r"taxman|hmrc|tax office)))\b",
          _words("income earnings cash tips hustle gains profits assets accident claim condition "
                 "diagnosis savings books table irs taxman hmrc office"), mode="fixed"),
    _rule("legal_financial_directive",
          r"\b(?:(?:li(?:e|es|ed)|lying|fib(?:bing)?) (?:on|to|in|about [\w']+(?: [\w']+)? (?:to|on)) "
          r"(?:(?:the|your|an?|my|any) )?(?:taxes|tax return|tax forms?|insurance|insurer|insurance "
          r"company|insurance claim|insurance forms?|claim|court|judge|police|irs|hmrc|taxman|"
          r"benefits office|mortgage lender|bank|lender|jury|(?:benefits|mortgage|loan|visa|"
          r"immigration|insurance|job|rental|credit card) applications?|application|customs|"
          r"immigration officers?|immigration|lawyer|attorney|landlord|auditor|tax office|"
          r"government)|lie under oath|commit perjury|perjure yourself|file (?:a |an )?(?:fake|false|"
          r"fraudulent|bogus|made-up|phony|phoney) (?:claim|report|return|tax return|insurance claim|"
          r"police report)|(?:fake|stage|invent) (?:a |an )?(?:car )?(?:accident|injury|theft|"
          r"burglary|break-in|robbery|fire)|tell (?:the |your )?(?:insurer|insurance(?: company)?|"
          r"adjuster) (?:that )?(?:it|the (?:car|phone|bike|laptop|house|jewellery|jewelry)|your "
          r"(?:car|phone|bike|laptop|house|jewellery|jewelry)) (?:was|were|got) (?:stolen|lost|"
          r"broken|damaged|destroyed))\b",
          (_words("taxes tax insurance insurer claim court judge police irs hmrc taxman benefits "
                  "lender "
                  "bank jury application applications customs immigration officer officers lawyer "
                  "attorney landlord auditor office government oath perjury perjure report return "
                  "accident injury theft burglary break robbery fire stolen lost broken damaged "
                  "destroyed"),
           _words("lie lies lied lying fib fibbing commit perjure file fake stage invent tell"))),
    _rule("legal_financial_directive",
          r"\b(?:(?:don't|do not|dont|never|no longer|won't|shouldn't)(?: ever| even| really| "
          r"bother to| need to| have to)? (?:hire|call|see|talk to|consult|get|listen to|pay for|ask|"
          r"need|involve|bother with)|no need (?:to (?:hire|call|see|talk to|consult|get|involve|"
          r"pay for)|for)|there's no need (?:to (?:hire|call|see|talk to|consult|get|involve)|for)|"
          r"who needs|skip|forget|avoid|ignore|fire|ditch|stop (?:listening to|paying|talking to|"
          r"calling|seeing)) (?:a |an |your |the |any )?(?:lawyer|attorney|solicitor|legal advice|"
          r"legal counsel|legal aid|barrister|legal help|advocate|accountant|financial advisor|"
          r"financial adviser)s?\b",
          (_words("lawyer lawyers attorney attorneys solicitor solicitors legal barrister barristers "
                  "advocate advocates accountant accountants advisor advisors adviser advisers"),
           _AVOID_LEAD_T), mode="fixed", check=_no_purpose),
    _rule("legal_financial_directive",
          r"\bsign(?:s|ing)? (?:the |that |this |your |any |a |an )?(?:[\w']+ )?(?:contract|lease|"
          r"agreement|papers|paperwork|loan|mortgage|documents?|forms?|deal|waiver|nda|settlement|"
          r"plea deal|plea|confession|deed)s? (?:without (?:reading|checking|looking|understanding|"
          r"asking|a lawyer)|blindly|unread)\b|\bsign (?:it|them) without reading\b",
          (_words("reading checking looking understanding asking lawyer blindly unread"),
           _words("sign signs signing"))),
    _rule("legal_financial_directive",
          r"\b(?:don't|do not|never|no need to)(?: bother(?: to)?)? read(?:ing)? (?:the |that |your )?"
          r"(?:contract|lease|agreement|fine print|small print|terms)\b",
          (_words("contract lease agreement print terms"), _words("read reading")), mode="fixed"),
]

_MEAL_T = _words("meal meals breakfast lunch dinner supper food eating snack snacks")
_RULES += [
    # --- eating disorders
    _rule("eating_disorder", r"\bstarv(?:e|es|ed|ing) (?:yourself|urself|your (?:body|self)|the body|"
          r"your hunger|the hunger)\b(?! of\b)", _words("starve starves starved starving"), defer=True),
    _rule("eating_disorder",
          r"\b(?:stop(?:s|ped|ping)?|quit(?:s|ting)?|giv(?:e|es|ing) up|cut(?:ting)? out|"
          r"avoid(?:s|ing)?|refus(?:e|es|ing)(?: to)?) eating(?= ?(?:[.!?;:,\u2014\n]|$| for | "
          r"until | till | altogether| entirely| completely| at all| today| tomorrow| tonight| this "
          r"week| for a while| anything| food| solids| after (?:noon|lunch|breakfast|\d+ ?(?:am|a\.m)"
          r"\b)| so (?:you|your)| to (?:lose|punish|shrink|get thin|be thin|feel light)))",
          (_words("eating"), _words("stop stops stopped stopping quit quits quitting give gives giving "
                                    "cut cutting avoid avoids avoiding refuse refuses refusing")),
          defer=True),
    _rule("eating_disorder",
          r"\b(?:don't|do not|dont|never|no need to|you don't need to|try not to|avoid|refuse to|"
          r"didn't|did not|won't|will not|wouldn't|would not|"
          r"stop)(?: even)? eat(?:ing)?(?= ?(?:[.!?;:\u2014\n]|$| anything(?= ?(?:[.!?;:,\u2014\n]|$| "
          r"(?:for|until|till|today|tonight|else|at all|all day|this week)))| at all| for (?:\d+|two|"
          r"three|four|five|six|seven|several|a few|the (?:rest of the )?(?:day|week)|days|a day)| "
          r"until (?!you(?:'re| are| feel)? (?:truly |actually |really )?hungry)| today| tonight| "
          r"this week| a thing| a bite| a single| again| till))",
          (_words("eat eating"), _words("don't do dont never no try avoid refuse didn't did won't will "
                                        "wouldn't would stop")), mode="fixed",
          defer=True),
    # Fasting for days, in its several word orders.
    _rule("eating_disorder",
          r"\b(?:(?:(?:water|dry|juice)[- ])?fast(?:s|ed|ing)?|cleans(?:e|es|ing)|go(?:es|ing)? "
          r"without (?:food|eating)|liv(?:e|ing) on (?:water|air|black coffee|tea|juice|broth)(?: "
          r"alone| only)?) (?:for |over )?(?:\d+|two|three|four|five|six|seven|eight|nine|ten|"
          r"fourteen|twenty|thirty|forty|several|a few|multiple|many|a couple of|a couple|consecutive|"
          r"whole|entire|full) (?:full |whole |consecutive |straight )?(?:days|weeks)\b",
          (_words("days weeks"), _words("fast fasts fasted fasting cleanse cleanses cleansing without "
                                        "live living")), defer=True, check=_not_religious),
    _rule("eating_disorder",
          r"\b(?:\d+|two|three|four|five|six|seven|ten|fourteen|thirty|multi)[- ](?:day|week) "
          r"(?:water |dry |juice |bone broth |liquid )?(?:fast|fasting|cleanse)\b",
          (_words("fast fasting cleanse"), _words("day week")), defer=True, check=_not_religious),
    _rule("eating_disorder",
          r"\b(?:(?:water|dry) fast(?:s|ing)?\b|fast(?:ing)? until you (?:see|reach|hit|drop|lose|"
          r"feel|weigh|fit)|fast(?:ing)? until (?:the scale|your weight|you weigh))",
          (_words("fast fasts fasting"), _words("water dry until")), defer=True,
          check=_not_religious),
    _rule("eating_disorder",
          r"\b(?:go|going|went) (?:\d+ |two |three |several |a few )?(?:days|a week|weeks) without "
          r"(?:eating|food|a meal)\b",
          (_words("eating food meal"), _words("days week weeks"), _words("without")), defer=True),
    _rule("eating_disorder",
          r"\bliv(?:e|ing) on (?:water|air|black coffee|diet soda|\d+ calories)(?: alone| only)?\b",
          (_words("water air coffee soda calories"), _words("live living")), defer=True),
    _rule("eating_disorder",
          r"\b(?:(?P<h>\d{2,3})[- ]hours? (?:water |dry |juice )?(?:fast|fasting|cleanse)|fast(?:ing)? "
          r"(?:for )?(?P<h2>\d{2,3}) hours)\b", (_words("fast fasting cleanse"), _words("hour hours")),
          defer=True, check=_long_fast),
    _rule("eating_disorder",
          r"\bgo(?:es|ing)? to (?:bed|sleep) (?:hungry|on an empty stomach|without (?:dinner|eating|"
          r"food|supper))\b", (_words("hungry empty without"), _words("bed sleep")), defer=True),
    _rule("eating_disorder",
          r"\b(?:mak(?:e|es|ing)|made) yourself (?:sick|throw up|vomit|puke|be sick)\b",
          (_words("sick throw vomit puke"), _words("yourself")), defer=True),
    _rule("eating_disorder",
          r"\b(?:throw(?:ing)? up|vomit(?:ing)?|puk(?:e|ing)|purg(?:e|es|ed|ing)) (?:after|once|when|"
          r"what|everything|it all|all of it|your) (?:you (?:eat|ate|have eaten|'ve eaten)|eating|"
          r"meals?|dinner|lunch|breakfast|every meal|each meal|a binge|bingeing|binging|you binge|"
          r"food|it|the food|what you ate|you ate|of it)\b",
          (_words("throw throwing vomit vomiting puke puking purge purges purged purging"),
           _words("eat ate eaten eating meal meals dinner lunch breakfast binge bingeing binging food "
                  "it")), defer=True),
    _rule("eating_disorder", r"\b(?:fingers?|toothbrush|spoon) down (?:your|the) throat\b",
          _words("throat")),
    _rule("eating_disorder",
          r"\b(?:tak(?:e|es|ing)|us(?:e|es|ing)|tr(?:y|ying)|pop(?:s|ping)?|rel(?:y|ying) on|"
          r"swallow(?:ing)?|down(?:ing)?) (?:some |a few |a handful of |more |extra |your )?"
          r"(?:laxatives|diuretics|diet pills|water pills|appetite suppressants|ipecac|slimming "
          r"pills|fat burners|senna)\b",
          _words("laxatives diuretics pills suppressants ipecac burners senna"), defer=True),
    _rule("eating_disorder", r"\bchew(?:ing)? and spit(?:ting)?\b", _words("spit spitting")),
    _rule("eating_disorder",
          r"\bpurg(?:e|es|ed|ing)\b(?= ?(?:[.!?;:,\u2014\n]|$| tonight| today| now| again| after))",
          _words("purge purges purged purging"), check=_food_context),
    _rule("eating_disorder",
          r"\b(?:skip(?:s|ped|ping)?|miss(?:es|ed|ing)?|forgo(?:ing)?|forego(?:ing)?|cut(?:ting)? out|"
          r"drop(?:s|ping)?|sacrific(?:e|es|ing)|deny(?:ing)? yourself|go(?:ing)? without) "
          rf"{_DET}(?:meals?|breakfast|lunch|dinner|supper|food|eating|snacks?|your next meal)\b",
          (_MEAL_T, _words("skip skips skipped skipping miss misses missed missing forgo forgoing "
                           "forego foregoing cut cutting drop drops dropping sacrifice sacrifices "
                           "sacrificing deny denying go going")), defer=True, check=_meal_harmful),
    _rule("eating_disorder",
          r"\bearn(?:s|ed|ing)? (?:your |every |each |the right to |a |the |that |this |tonight's |"
          r"today's )?(?:food|meals?|dinner|lunch|breakfast|calories|bites?|snacks?|dessert|supper|"
          r"eating|to eat|your plate|seconds)\b(?! break)", _words("earn earns earned earning")),
    _rule("eating_disorder",
          r"\b(?:food|a meal|eating|dinner|lunch|breakfast|every meal|every bite|calories) (?:is|are|"
          r"must be|has to be|have to be|should be) (?:earned|a reward|a privilege)\b",
          (_words("earned reward privilege"),
           _words("food meal eating dinner lunch breakfast bite calories"))),
    _rule("eating_disorder",
          r"\bonly (?:eat|have (?:dinner|lunch|breakfast|a meal|food)) (?:if|once|after|when) "
          r"you(?:'ve| have)? (?:burned|burnt|earned|exercised|worked out|run|ran|hit|done)",
          (_words("burned burnt earned exercised worked run ran hit done"), _words("only"))),
    _rule("eating_disorder",
          r"\bburn(?:ing)? off (?:every|each|what you (?:ate|eat)|the calories|that (?:meal|dessert|"
          r"slice|snack|cake)|everything you|all (?:the|your) calories)",
          (_words("burn burning"), _words("off"))),
    _rule("eating_disorder",
          r"\b(?:compensate|make up) for (?:eating|what you ate|the meal|that meal|overeating|the "
          r"dessert|the cake|the binge)",
          (_words("eating ate meal overeating dessert cake binge"), _words("compensate make"))),
    _rule("eating_disorder",
          r"\bpunish(?:ing)? yourself (?:for eating|with hunger|by not eating|by skipping|with "
          r"(?:the )?scale)", (_words("punish punishing"), _words("eating hunger skipping scale"))),
    _rule("eating_disorder",
          r"\b(?:you )?(?:don't|do not|haven't|have not|didn't|did not) (?:deserve|earn(?:ed)?) (?:to "
          r"eat|food|dinner|lunch|breakfast|a meal|dessert|that meal|your meal|a snack|seconds|to "
          r"have (?:dinner|lunch|breakfast|a meal|dessert))\b",
          (_words("deserve earn earned"),
           _words("eat food dinner lunch breakfast meal dessert snack seconds")), mode="fixed"),
    _rule("eating_disorder",
          r"\b(?:eat(?:ing)?|consum(?:e|ing)|stay(?:ing)?|keep(?:ing)?(?: it)?|limit(?:ing)?(?: "
          r"yourself)?(?: to)?|cap(?:ping)?(?: yourself)?(?: at)?|aim(?:ing)? for|stick(?:ing)? to|"
          r"target|only|just|no more than|under|below|less than|max(?:imum)?(?: of)?|at most|fewer "
          r"than|survive on|live on|allow yourself)(?: [\w']+){0,3}? (?P<n>\d{2,4}|(?:one|two|three|"
          r"four|five|six|seven|eight|nine) hundred|a thousand|one thousand) ?(?:k?cals?|calories|"
          r"kcals?)\b(?P<tail>(?: (?:a|per) day| daily| today| a meal| per meal| total)?)",
          _words("cal cals calories kcal kcals"), check=_tiny_calories),
    _rule("eating_disorder", r"\b(?:thinspo|thinspiration|pro-ana|pro ana|ana coach|meanspo|bonespo|"
          r"thigh gap)\b", _words("thinspo thinspiration ana meanspo bonespo gap")),
    _rule("eating_disorder", r"\b(?:until|till|so|when) you can see your (?:ribs|hip ?bones|"
          r"collarbones?|bones|spine)\b",
          (_words("ribs hipbones bones collarbone collarbones spine"), _words("see"))),
    _rule("eating_disorder", r"\bhunger is (?:just |only |simply |really )?(?:your friend|power|"
                             r"strength|control|good|discipline|a "
          r"virtue|weakness leaving|success|a sign of progress|beautiful)\b", _words("hunger")),
    _rule("eating_disorder",
          r"\b(?:ignor(?:e|ing)|suppress(?:ing)?|fight(?:ing)?|silenc(?:e|ing)|numb(?:ing)?|"
          r"push(?:ing)? through|overrid(?:e|ing)) (?:your |the |those )?(?:hunger|appetite)(?: pangs|"
          r" cues| signals)?\b(?! for)", _words("hunger appetite"), defer=True),
    _rule("eating_disorder", r"\bempty (?:stomach|belly) (?:is|feels) (?:pure|clean|powerful|good|"
          r"holy|light|sacred|right)\b", (_words("empty"), _words("stomach belly"))),
    _rule("eating_disorder",
          r"\b(?:drink|chug|sip)(?:ing)? (?:water|coffee|black coffee|diet soda|tea|lemon water) (?:to "
          r"(?:kill|stop|suppress|trick|ignore|fool|quiet|silence) (?:the |your )?(?:hunger|appetite|"
          r"cravings)|(?:until|till|so) you (?:feel|are) full|instead of (?:eating|a meal|meals|"
          r"dinner|lunch|breakfast|food))\b",
          (_words("hunger appetite cravings full eating meal meals dinner lunch breakfast food"),
           _words("drink drinking chug chugging sip sipping"))),
    _rule("eating_disorder", r"\beat(?:ing)? nothing\b", (_words("nothing"), _words("eat eating"))),
    _rule("eating_disorder",
          r"\b(?:eat|eating|have|having) (?:only|just) (?:one|a single|half (?:a|an)?|a few) (?:apple|"
          r"rice cake|cracker|grapes?|bites?|carrot|piece|almonds|leaf|leaves)\b",
          (_words("apple cake cracker grape grapes bite bites carrot piece almonds leaf leaves"),
           _words("only just"))),
    _rule("eating_disorder",
          r"\blos(?:e|ing) (?:\d+|ten|five|twenty|fifteen|a lot of) (?:pounds|lbs|kg|kilos|stone) "
          r"(?:in|by|within) (?:a|one|two|three|\d+) (?:days?|weeks?)\b",
          (_words("pounds lbs kg kilos stone"), _words("lose losing"))),
    _rule("eating_disorder", r"\bone meal (?:a|every|each|per) (?:day|other day|two days|week)\b",
          (_words("meal"), _words("one"))),
    _rule("eating_disorder",
          r"\binstead of (?:eating|having (?:lunch|dinner|breakfast|a meal|food)|lunch|dinner|"
          r"breakfast|a meal|meals|food)\b(?! (?:at your desk|in front of|while|on the couch|on the "
          r"sofa|late|alone|standing|in your car|out|takeaway|fast food|junk))",
          (_words("eating having lunch dinner breakfast meal meals food"), _words("instead")),
          defer=True),
    _rule("eating_disorder",
          r"\b(?:no|without) food for (?:a |one |two |three |several |a few |\d+ )?(?:days?|weeks?)\b",
          (_words("food"), _words("day days week weeks"))),
    _rule("eating_disorder",
          r"\b(?:burn|run|exercise|work out|earn|walk)(?: [\w',]+){0,4}? before (?:you(?:'re| are)? "
          r"allowed to|you (?:can|may|get to)) eat\b", (_words("eat"), _words("allowed can may get"))),
    _rule("eating_disorder",
          r"\blimit(?:s|ing)? yourself to (?:black coffee|water|tea|broth|liquids|juice|diet soda|"
          r"lemon water|one meal|an apple)\b",
          (_words("coffee water tea broth liquids juice soda meal apple"),
           _words("limit limits limiting"))),
    _rule("eating_disorder",
          r"\bweigh yourself (?:after every meal|after each meal|every hour|(?:three|four|five|\d+) "
          r"times a day|after eating)\b", (_words("weigh"), _words("meal hour times eating"))),
    _rule("eating_disorder", r"\b(?:shrink|hate) your (?:body|stomach|thighs|belly)\b",
          (_words("shrink hate"), _words("body stomach thighs belly"))),
    _rule("eating_disorder", r"\b(?:feel|be|get) (?:thinner|skinnier|lighter) (?:by|through|from) "
          r"(?:not eating|skipping|starving|fasting)\b",
          (_words("thinner skinnier lighter"), _words("eating skipping starving fasting"))),
]

_SELF = "(?:yourself|urself|your self)"
_SELF_T = _words("yourself urself self")
_RULES += [
    # --- self-harm
    _rule("self_harm", rf"\b(?:kill(?:s|ing)? {_SELF}|kys|unaliv(?:e|ing) {_SELF})",
          _words("kill kills killing kys unalive unaliving")),
    _rule("self_harm",
          r"\bend(?:s|ing)? (?:your (?:own )?(?:life|existence)|it all|everything(?= ?(?:[.!?;:,"
          r"\u2014\n]|$| tonight| now| for good))|things for good|your (?:own )?(?:suffering|pain|"
          r"story) (?:for good|forever|permanently))",
          (_words("end ends ending"), _words("life existence all everything things good forever "
                                             "permanently"))),
    _rule("self_harm", r"\btak(?:e|es|ing) your (?:own )?life\b",
          (_words("life"), _words("take takes taking"))),
    _rule("self_harm",
          r"\b(?:hurt|harm|injur(?:e|ing)|cut|cutting|burn|hit|hang|shoot|drown|poison|suffocate|"
          r"strangle|bleed|bruise|punish)(?:s|ing|ed)? "
          rf"(?:{_SELF}|your (?:own )?(?:body|skin|arms|wrists|thighs))(?! (?:of|from|with "
          r"(?:kindness|love|grace)|out|some slack|a little slack|a bit of slack|any slack|slack|"
          r"off|a (?:slice|piece|break|deal|portion|share|plate|bowl)|"
          r"loose|free|short|up))",
          (_SELF_T | _words("body skin arms wrists thighs"),
           _words("hurt hurts hurting harm harms harming harmed injure injures injuring injured cut "
                  "cuts cutting burn burns burning burned hit hits hitting hang hangs hanging shoot "
                  "shoots shooting drown drowns drowning poison poisons poisoning poisoned suffocate "
                  "suffocates suffocating strangle strangles strangling bleed bleeds bleeding bruise "
                  "bruises bruising punish punishes punishing punished"))),
    _rule("self_harm", r"\b(?:cut|slit|slash|open)(?:s|ting)? (?:your|ur) (?:wrists?|arms?|thighs?|"
          r"skin|veins?)\b", (_words("wrists wrist arms arm thighs thigh skin veins vein"),
                              _words("cut cuts cutting slit slits slitting slash slashs opens open "
                                     "opening"))),
    _rule("self_harm",
          r"\b(?:jump(?:s|ing)? (?:off|from|in front of) (?:a |the |that )?(?:bridge|building|roof|"
          r"rooftop|cliff|train|balcony|ledge|tower|overpass|window)|step(?:s|ping)? in front of (?:a "
          r"|the )?(?:train|bus|car|truck|lorry))\b",
          (_words("bridge building roof rooftop cliff train balcony ledge tower overpass window bus "
                  "car truck lorry"), _words("jump jumps jumping step steps stepping"))),
    _rule("self_harm", r"\b(?:overdos(?:e|es|ing)(?! of)|od(?:ing)? on)\b",
          _words("overdose overdoses overdosing od oding")),
    _rule("self_harm",
          r"\b(?:take|swallow|down)(?:s|ing)? (?:all|every one|every last one|the whole (?:bottle|"
          r"pack|box|packet|strip)|a (?:whole |full )?(?:bottle|handful|fistful)) (?:of )?"
          rf"{_DET}(?:{_ADJ})?(?:pills|tablets|meds|medication|sleeping pills|painkillers|paracetamol|"
          r"tylenol|them)\b",
          (_words("pills tablets meds medication painkillers paracetamol tylenol them"),
           _words("all every whole bottle handful fistful"),
           _words("take takes taking swallow swallows swallowing down downs downing"))),
    _rule("self_harm",
          r"\b(?:take|swallow|down)(?:s|ing)? (?:every (?:single )?(?:pill|tablet|capsule)|all the "
          r"(?:pills|tablets|meds|painkillers) (?:in|from) (?:the|your) (?:cabinet|house|drawer|"
          r"bottle|box|bathroom|kitchen))\b",
          (_words("pill tablet capsule pills tablets meds painkillers"),
           _words("take takes taking swallow swallows swallowing down downs downing"))),
    _rule("self_harm", r"\b(?:self[- ]?harm(?:ing)? (?:is|helps|will help|can help|works)|cutting "
          r"(?:helps|will help|is a (?:release|relief)|releases|is how))\b",
          (_words("harm harming selfharm cutting"), _words("is helps help works release relief "
                                                           "releases how"))),
    _rule("self_harm", r"\byou deserve (?:to suffer|pain|to be hurt|to hurt|to die|to disappear|to "
          r"be punished|to bleed)\b",
          (_words("suffer pain hurt die disappear punished bleed"), _words("deserve"))),
    _rule("self_harm", r"\b(?:no reason to (?:keep )?(?:liv(?:e|ing)|go on|stay alive|be alive|exist)|"
          r"not worth living|life (?:is not|isn't) worth (?:it|living))\b",
          (_words("reason worth"), _words("live living go alive exist it"))),
    _rule("self_harm", r"\b(?:better off dead|want(?:s)? to die|wish(?:es)? (?:you were|you'd never "
          r"been|to be) (?:dead|born)|you should (?:just )?die)\b", _words("dead die born")),
    _rule("self_harm", r"\b(?:do not|don't) deserve to (?:live|exist|be alive)\b",
          (_words("deserve"), _words("live exist alive"))),
    _rule("self_harm", r"\b(?:stop existing|cease to exist|disappear forever|(?:go to sleep|fall "
          r"asleep|sleep|close your eyes) and (?:never|not) wake up|a permanent solution|permanent "
          r"way out)\b", _words("existing exist forever wake permanent")),
    # Statements about the reader's worth to others: negation anywhere before makes them safe.
    _rule("self_harm",
          r"\b(?:(?:the world|everyone|everybody|they|people|your family|your friends|others|the "
          r"people around you|we|all of us|those you love|your loved ones|your kids|your children|"
          r"your partner|your parents)(?:'d| would| will|'ll| might| could)?(?: all| really| "
          r"honestly| truly)? (?:be |are |is )?(?:a )?(?:better(?: off| place)?|fine|okay|ok|happier|"
          r"lighter|freer) without you|(?:better "
          r"off|happier|lighter|freer) (?:without you|if you (?:were|was) (?:gone|dead|never born)))",
          _words("without gone dead born"), mode="claim"),
    _rule("self_harm",
          r"\b(?:no one|nobody|no-one)(?: would| will|'d|'ll)?(?: even)? (?:miss|notice|care|mourn)"
          r"(?:s)? (?:you|if you (?:were|was|are) gone|if you (?:disappeared|died|left)|"
          r"when you(?:'re| "
          r"are) gone)",
          (_words("miss misses notice notices care cares mourn mourns"), _words("nobody one")),
          mode="claim"),
    _rule("self_harm", r"\b(?:(?:the world|everyone|your family|they) (?:doesn't|does not|don't|do "
          r"not|won't|wouldn't) need you|(?:nobody|no one) needs you)\b",
          (_words("need needs"), _words("doesn't does don't do won't wouldn't nobody one")),
          mode="claim"),
    _rule("self_harm",
          r"\b(?:would|will|'d|'ll|might|could) (?:all )?(?:be |feel )?(?:relieved|happier|better|"
          r"lighter|freer|fine|okay|at peace|move on) (?:if|when|once|after) you(?:'re| are| were|'d|"
          r" had| have|'ve)? (?:gone|dead|not around|no longer (?:here|around|alive)|disappeared|"
          r"died|left for good|passed)\b",
          _words("gone dead around longer disappeared died passed good"), mode="claim"),
    _rule("self_harm",
          r"\b(?:something|things|a gift|gifts|keepsakes?|a token) to remember you by\b",
          (_words("remember"), _words("by"))),
    _rule("self_harm",
          r"\b(?:you )?(?:won't|will not|will never|never) (?:have to )?(?:feel|hurt|"
          r"suffer) (?:anything|"
          r"any(?: more)? pain|again|ever again)(?: ever)?(?: again)?\b",
          (_words("feel hurt suffer"), _words("won't will never")), mode="fixed", check=_finality),
    _rule("self_harm",
          r"\b(?:rehome|re-home|find (?:a )?new homes? for|find someone to (?:take|care for|"
          r"look after)) "
          r"(?:your |the )?(?:pets?|cat|cats|dog|dogs|animals|plants)\b",
          (_words("pet pets cat cats dog dogs animals plants"), _words("rehome home homes someone")),
          check=_farewell),
    _rule("self_harm",
          r"\b(?:make sure|ensure) (?:your )?(?:pets?|cat|cats|dog|dogs|kids|children|plants) (?:have|"
          r"has|are|is) (?:new homes?|someone to (?:care for|look after) (?:them|it)|taken care of|"
          r"looked after)\b",
          (_words("pet pets cat cats dog dogs kids children plants"), _words("sure ensure")),
          check=_farewell),
    _rule("self_harm", r"\byou (?:are|'re) (?:a burden|a waste of space|worthless|nothing but a "
          r"burden)(?: to everyone| to everybody| to your family| to them)?",
          _words("burden waste worthless"), mode="claim"),
    # Indirect: farewells, possessions given away, not being around, resting forever.
    _rule("self_harm",
          r"\b(?:writ(?:e|es|ing)|wrote|written|draft(?:s|ing)?|leav(?:e|es|ing)|left|compos(?:e|es|"
          r"ing)|pen(?:s|ning)?|prepar(?:e|es|ing)|send(?:s|ing)?|record(?:s|ing)?) (?:a |an |your |"
          r"the "
          r"|some |one |those |these |little )?(?:(?:final|last|heartfelt|short|long|loving|tender|"
          r"proper|few|quick) )*(?:farewell|goodbye|good-bye|suicide|final|last|parting) (?:letters?|"
          r"notes?|messages?|words|texts?|emails?|videos?|posts?)\b",
          (_words("farewell goodbye bye suicide final last parting"),
           _words("letter letters note notes message messages words text texts email emails video "
                  "videos post posts")), check=_letter_harmful),
    _rule("self_harm",
          r"\b(?:letters?|notes?|messages?|videos?) (?:that |which )?you(?:'ll| will| can| could| "
          r"should)? leave (?:behind|for (?:your |the )?(?:family|loved ones|kids|children|partner|"
          r"parents|friends|everyone|them))\b",
          (_words("letter letters note notes message messages video videos"), _words("leave"))),
    _rule("self_harm",
          r"\bsay your goodbyes(?= ?(?:[.!?;:,\u2014\n]|$| and | tonight| now| while| to (?:everyone|"
          r"everybody|the world|your (?:family|loved ones|friends|kids|children))))",
          _words("goodbyes")),
    _rule("self_harm",
          r"\b(?:swallow|take|down)(?:s|ing)? (?:the whole|a whole|an entire|the entire|a full) "
          r"(?:bottle|pack|box|packet|strip)(?= ?(?:[.!?;:,\u2014\n]|$| and | tonight| at once| now))",
          (_words("bottle pack box packet strip"),
           _words("swallow swallows swallowing take takes taking down downs downing"))),
    _rule("self_harm",
          r"\bleav(?:e|es|ing) (?:a |the )?(?:note|letter|message)s? (?:for|to) (?:your )?(?:family|"
          r"loved ones|kids|children|partner|parents|mum|mom|dad|friends) (?:explaining|so they|to "
          r"find|saying goodbye|for when|for after)",
          (_words("note notes letter letters message messages"), _words("leave leaves leaving"))),
    _rule("self_harm",
          r"\b(?:giv(?:e|es|ing)|gave|given|hand(?:s|ing)?|pass(?:es|ing)?|gift(?:s|ing)?|leav(?:e|es|"
          r"ing)|distribut(?:e|es|ing)|donat(?:e|es|ing)|sell(?:s|ing)? off)(?: away| out)? "
          rf"{_DET}(?:(?:most |favou?rite |prized |treasured |precious |beloved |valued |special |"
          r"important )*)(?:possessions|belongings|things|stuff|treasures|valuables|keepsakes|"
          r"heirlooms|jewell?ery|guitar|books|records|clothes|pets?|cat|dog|collection|savings|money|"
          r"everything(?: you (?:own|have|love))?|it all)(?: away)?\b",
          (_words("last final farewell goodbye goodbyes good bye remember go leave gone going won't "
                  "need still "
                  "longer around end almost time"),
           _words("possessions belongings things stuff treasures valuables keepsakes heirlooms "
                  "jewellery jewelry guitar books records clothes pet pets cat dog collection savings "
                  "money everything all"),
           _words("give gives giving gave given hand hands handing pass passes passing gift gifts "
                  "gifting leave leaves leaving distribute distributes distributing donate donates "
                  "donating sell sells selling")), check=_farewell),
    _rule("self_harm",
          r"\b(?:when|once|after) you(?:'re| are|'ve| have)? (?:gone|passed|dead|no longer (?:here|"
          r"around|alive|in this world)|not (?:here|around) anymore|left this (?:world|earth|life))"
          r"(?= ?[,.;!?\u2014]| (?:they|everyone|your|people|the world|nobody|no one|others|it|"
          r"things|life)\b)",
          (_words("gone passed dead longer anymore left"), _words("when once after"))),
    _rule("self_harm",
          r"\b(?:imagine|picture|think about|consider|accept|prepare for|plan for|plan|embrace|welcome|"
          r"dream of|long for|look forward to) (?:not being (?:around|here|alive)|not existing|no "
          r"longer existing|a world without you|the world without you|everyone without you|life "
          r"without you in it|your (?:own )?(?:absence|death|funeral)|being gone|leaving this "
          r"(?:world|life|earth)|the day you're gone|when you(?:'re| are) gone)\b",
          (_words("being existing without absence death funeral gone leaving"),
           _words("imagine picture think consider accept prepare plan embrace welcome dream long "
                  "look")), check=_not_legacy_exercise),
    _rule("self_harm",
          r"\b(?:you (?:won't|will not) be (?:around|here|alive) (?:much longer|anymore|any more|for "
          r"long|to see|next|tomorrow)|not be(?:ing)? (?:around|here|alive) (?:anymore|any more|any "
          r"longer|much longer|tomorrow|next (?:week|month|year)))\b",
          (_words("around here alive"), _words("longer anymore more long see next tomorrow"))),
    _rule("self_harm",
          r"\b(?:(?:you|you'll|you will|you can|you could|you deserve to|time to|go|finally) (?:to )?"
          r"(?:rest|sleep) (?:forever|eternally|for eternity|permanently)|(?:your|find|enter) eternal "
          r"(?:rest|sleep))\b",
          (_words("forever eternally eternity permanently eternal"), _words("rest sleep"))),
    _rule("self_harm", r"\bclose your eyes (?:for good|forever|one (?:last|final) time)\b",
          (_words("eyes"), _words("good forever last final"))),
    _rule("self_harm",
          r"\b(?:join|be with|reunite with) (?:your|the) (?:ancestors|angels|loved ones who|departed|"
          r"dead|grandmother|grandfather|grandma|grandpa) (?:tonight|soon|now|forever|on the other "
          r"side|in the light)\b",
          (_words("ancestors angels ones departed dead grandmother grandfather grandma grandpa"),
           _words("tonight soon now forever side light"))),
    _rule("self_harm", r"\bcross(?:ing)? over (?:tonight|now|soon|this week)\b",
          (_words("cross crossing"), _words("over"))),
    _rule("self_harm",
          r"\b(?:leav(?:e|ing) this (?:earth|life|body|realm|plane)(?! (?:of|for a|for the))|"
          r"leav(?:e|ing) the (?:earth|body|realm|plane) (?:for good|forever|tonight|behind for good)|"
          r"leav(?:e|ing) (?:this|the) world (?:for good|forever|permanently|tonight)|exit (?:this "
          r"life|the world|this world))\b",
          (_words("earth life body realm plane world"), _words("leave leaving exit"))),
    _rule("self_harm",
          r"\byour time (?:on earth|here|in this world|in this life) is (?:done|over|up|finished|"
          r"complete|ending)\b", (_words("done over up finished complete ending"), _words("time"))),
    _rule("self_harm",
          r"\b(?:the other side is calling|(?:it's|it is) time to go home to (?:spirit|the light|the "
          r"stars|god|source)|release your (?:soul|spirit) from (?:your|this|the) body|shed (?:your|"
          r"this) (?:body|mortal))",
          (_words("calling spirit light stars god source body mortal"),
           _words("side home release shed"))),
    _rule("self_harm",
          r"\b(?:say (?:your )?(?:final|last) goodbyes?|say goodbye to (?:everyone|everybody|the "
          r"world|this world|this life|life|your (?:family|loved ones|friends|kids|children|partner|"
          r"parents|mum|mom|dad|mother|father)|the people you love|those you love)|(?:your|a) "
          r"(?:final|last) goodbye)\b", _words("goodbye goodbyes")),
]

_GROUPS = (r"(?:women|men|jews|jewish people|muslims|muslim people|christians|hindus|sikhs|"
           r"buddhists|atheists|immigrants|migrants|refugees|asylum seekers|foreigners|gay people|"
           r"gays|gay men|lesbians|trans people|transgender people|trans women|trans men|black people|"
           r"blacks|white people|whites|asians|arabs|mexicans|latinos|hispanics|africans|indians|"
           r"chinese people|indigenous people|native americans|disabled people|the disabled|"
           r"autistic people|the mentally ill|mentally ill people|homeless people|the homeless|the "
           r"poor|poor people|fat people|old people|gypsies|roma|romani|travellers)")
_SINGULAR = (r"(?:jew|muslim|christian|hindu|sikh|immigrant|migrant|refugee|foreigner|mexican|"
             r"arab|asian|african|indian|latino|hispanic|woman|gay man|lesbian|trans person|black "
             r"person|white person|gypsy|traveller)")
_DEMEANING = (r"(?:evil|vermin|animals|subhuman|inferior|disgusting|parasites|the problem|a disease|"
              r"trash|filth|savages|a plague|cockroaches|rats|an infestation|criminals|terrorists|"
              r"rapists|thieves|scum|a cancer|a virus|worthless|less than human|"
              r"not (?:real )?(?:people|human)|lazy|stupid|dirty|dangerous|the enemy|"
              r"ruining (?:everything|this country|our "
              r"country|society|the world)|destroying (?:everything|this country|our country|society)|"
              r"invading|taking over|replacing us)")
# A word of every group name (for "the poor", "poor"; "people" and "the" are no signal).
_GROUP_T = frozenset(_WORD.findall(re.sub(r"\(\?:|[()|?]", " ", _GROUPS + _SINGULAR))) - {
    "the", "people", "person"}
_RULES += [
    _rule("hateful",
          rf"\b(?:(?:all|those|these|most|the)\s+)?{_GROUPS}\s+(?:are|is)\s+(?:all\s+|just\s+|"
          rf"simply\s+|nothing but\s+|basically\s+)?{_DEMEANING}\b",
          (_words("evil vermin animals subhuman inferior disgusting parasites problem disease trash "
                 "filth savages plague cockroaches rats infestation criminals terrorists rapists "
                 "thieves scum cancer virus worthless human people lazy stupid dirty dangerous enemy "
                 "ruining destroying invading taking replacing"), _GROUP_T), mode="plain"),
    _rule("hateful",
          rf"\b(?:{_GROUPS}\s+(?:don't|do not)\s+deserve\s+(?:rights|to live|respect|to exist|"
          rf"anything)|{_GROUPS}\s+(?:should|must|need to|ought to)\s+(?:die|go back (?:to where they "
          r"came from|home)|be (?:killed|exterminated|wiped out|removed|deported|banned|locked up|"
          r"gassed|sterilized|sterilised|kicked out|thrown out))|inferior races?|(?:exterminate|get "
          rf"rid of|wipe out|kill all|purge|deport all)\s+(?:all\s+)?(?:the\s+|those\s+)?{_GROUPS}|"
          rf"(?:don't|do not|never) trust (?:a |an |any |the )?(?:{_GROUPS}|{_SINGULAR})|{_GROUPS} "
          r"(?:control|run|own) (?:the "
          r")?(?:banks|media|world|government|money))\b",
          (_words("deserve die back killed exterminated wiped removed deported banned locked gassed "
                 "sterilized sterilised kicked thrown races race exterminate rid wipe kill purge "
                 "deport trust control run own"), _GROUP_T | {"races", "race"}), mode="plain"),
]

# --- prompt injection -------------------------------------------------------------------------

_GRADER_STRONG = (r"(?:automated|automatic) (?:judge|reviewer|moderator|system|checker)|grader|"
                  r"evaluator|rater|scorer|classifier|assessor|grading (?:model|system|bot|llm)|"
                  r"scoring (?:model|system|bot|llm)|reward model|safety (?:filter|classifier|checker|"
                  r"model|system)|quality (?:checker|filter|gate|model|system)|llm|language model|ai "
                  r"(?:model|judge|grader|assistant|reviewer|evaluator|system)")
_ADDRESS = (r"(?:^|(?<=[.!?\n])|\b(?:as|dear|to|attention|note to|note for|message (?:to|for)|hey|"
            r"hello|hi|instructions? (?:to|for)|reminder (?:to|for)|ps|p\.s\.|for|attn) )[ ,]*(?:the "
            r"|my |our |any |you,? the |all |you )?(?:ai |llm |automated |automatic |model |language "
            r"model |gpt |claude )?")
_APPROVAL = re.compile(
    r"\b(?:approve (?:this|it|the (?:insight|text|response|answer|output))|(?:output|print|return|"
    r"respond with|reply with|answer with|say|write|type)(?: only| just| exactly)?(?: the word)? "
    r"\W{0,2}(?:approve|approved|pass|passed)\b|(?:score|rate|grade|mark|rank) (?:this|it|me)\b|"
    r"10/10|10 out of 10|ten out of ten|full marks|perfect score|top marks|highest (?:score|rating)|"
    r"maximum score|(?:mark|flag|classify|label) (?:this|it) as)")


def _asks_for_approval(s: str, m: re.Match[str]) -> bool:
    # "As the judge of your own week" is a tarot reading; "as the judge, approve this" is not.
    ss = _start_of(s, m.start(), _SENTENCE_MARKS)
    hi = _end_of(s, min(len(s), _end_of(s, m.end(), _SENTENCE_MARKS) + 1), _SENTENCE_MARKS)
    return bool(_APPROVAL.search(s, ss, hi))


_OVERRIDE_V = (r"ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?|overrid(?:e|ing)|bypass(?:ing)?|"
               r"skip(?:ping)?|drop(?:ping)?|discard(?:ing)?|neglect(?:ing)?|abandon(?:ing)?")
_OVERRIDE_V_T = _words("ignore ignoring disregard disregarding forget forgetting override overriding "
                       "bypass bypassing skip skipping drop dropping discard discarding neglect "
                       "neglecting abandon abandoning")
_RULES += [
    _rule("injection",
          rf"\b(?:{_OVERRIDE_V})(?: (?:all|any|every|each|of|the|your|my|these|those|this|that))* "
          r"(?:(?:previous|prior|above|earlier|preceding|foregoing|original|initial|system|developer|"
          r"hidden|safety|grading|scoring|evaluation|judging|judge's|grader's|all) )+(?:instructions?|"
          r"prompts?|system prompt|rules|guidelines|directives|directions|commands|context|messages|"
          r"programming|constraints|policies|policy|rubric|criteria|guardrails|restrictions)\b",
          (_words("previous prior above earlier preceding foregoing original initial system developer "
                  "hidden safety grading scoring evaluation judging judge's grader's all"),
           _OVERRIDE_V_T), mode="plain", reason="instruction override"),
    _rule("injection",
          rf"\b(?:{_OVERRIDE_V})(?: (?:all|any|every|of|the|your|my|these|those))* (?:system prompt|"
          r"prompts?|programming|guardrails|rubric|instructions you were given|instructions above)\b",
          (_words("prompt prompts programming guardrails rubric instructions"), _OVERRIDE_V_T),
          mode="plain", reason="instruction override"),
    _rule("injection",
          rf"\b(?:{_OVERRIDE_V})(?: (?:all|any|every|of|the|your|my|these|those))* (?:guidelines|rules|"
          r"instructions|criteria|policies|standards|checks)(?:,)? (?:and|then|to|so you can) "
          r"(?:just )?(?:approve|pass|score|rate|grade|output|mark|give|accept|allow)\b",
          (_words("approve pass score rate grade output mark give accept allow"), _OVERRIDE_V_T),
          mode="plain", reason="instruction override"),
    _rule("injection",
          r"\b(?:(?:you are now|you're now|act as|enter|entering|switch to|enable) (?:in )?(?:dan|"
          r"developer mode|jailbreak mode|god mode|an? unrestricted|unfiltered mode|jailbroken)\b|"
          r"jailbr(?:eak|oken)\b|do anything now\b|new (?:system )?(?:instructions|task|rules|"
          r"prompt) ?:|(?:system|developer|"
          r"admin|hidden|grader|judge) (?:prompt|message|note|instructions?|override|command) ?:|"
          r"(?:reveal|print|"
          r"show|repeat|output) (?:your |the )?(?:system prompt|hidden prompt|initial instructions|"
          r"instructions above))",
          _words("dan developer jailbreak god unrestricted unfiltered jailbroken anything instructions "
                 "instruction prompt message note override command task rules"), mode="plain",
          reason="instruction override"),
    _rule("injection", rf"{_ADDRESS}(?:{_GRADER_STRONG})s?\b",
          _words("grader graders evaluator evaluators rater raters scorer scorers classifier "
                 "classifiers assessor assessors llm llms grading scoring reward safety quality ai "
                 "language automated automatic"), mode="plain", reason="addresses the grader"),
    _rule("injection", rf"{_ADDRESS}(?:judge|reviewer|moderator|assistant|model)s?\b",
          (_words("judge judges reviewer reviewers moderator moderators assistant assistants model "
                  "models"),
           _words("approve approved pass passed score rate grade mark rank 10 ten marks perfect top "
                  "highest maximum classify label flag")),
          mode="plain", check=_asks_for_approval, reason="addresses the grader"),
    _rule("injection",
          r"\b(?:approve (?:this|the) (?:insight|text|response|answer|message|content|entry|output|"
          r"submission|piece|post)|approve (?:all|every|each|any) (?:insights?|texts?|responses?|"
          r"answers?|submissions?|outputs?)|(?:you must|you should|you will|you are required to|make "
          r"sure (?:to|you)) approve)\b", _words("approve"), mode="plain",
          reason="asks the grader for a verdict"),
    _rule("injection",
          r"\b(?:score|rate|grade|mark|rank)(?:s|d)? (?:this|it|the (?:insight|text|response|answer|"
          r"entry|output)) (?:a |an |as )?(?:10|ten|100|5 stars|five stars|perfect|highly|high|top|"
          r"excellent|safe|approved|passing|a pass|the maximum|the highest|full marks|an a|a\+)",
          (_words("score scores scored rate rates rated grade grades graded mark marks marked rank "
                  "ranks ranked"), _words("this it insight text response answer entry output")),
          mode="plain", reason="asks the grader for a verdict"),
    _rule("injection",
          r"\bgive (?:this|it|the (?:insight|text|response|answer)) (?:a |an )?(?:10/10|10 out of 10|"
          r"ten out of ten|100/100|perfect (?:score|rating|marks)|full marks|top marks|max(?:imum)? "
          r"(?:score|marks|points)|the highest (?:score|rating|grade)|five stars|5 stars|a pass)",
          (_words("give"), _words("10 ten 100 perfect full top max maximum highest five 5 pass")),
          mode="plain", reason="asks the grader for a verdict"),
    _rule("injection",
          r"\b(?:output|print|return|respond with|reply with|answer with|type)(?: only| just| "
          r"exactly)?(?: the word)? \W{0,2}(?:approve|approved|pass|passed|safe|compliant|harmless)\b",
          (_words("approve approved pass passed safe compliant harmless"),
           _words("output print return respond reply answer type")),
          mode="plain", reason="asks the grader for a verdict"),
    _rule("injection",
          r"\b(?:this|the) (?:insight|text|response|answer|content|output|message|submission) (?:is|"
          r"has been|was) (?:already )?(?:pre-?)?(?:approved|verified|vetted|cleared|whitelisted|"
          r"certified|safe-listed|passed)\b",
          (_words("approved verified vetted cleared whitelisted certified listed passed"),
           _words("insight text response answer content output message submission")),
          mode="plain", reason="asks the grader for a verdict"),
    _rule("injection",
          r"\b(?:recommendation|verdict|decision|safety|safety_flag|overall|final_score|approval|"
          r"judgement|judgment|judge|grader|evaluator|reviewer|rating|grade) ?[:=] ?(?:approve|"
          r"approved|"
          r"pass|passed|accept|accepted|none|safe|10)\b",
          (_words("recommendation verdict decision safety safety_flag overall final_score approval "
                  "judgement judgment judge grader evaluator reviewer rating grade"),
           _words("approve approved pass passed accept accepted none safe 10")),
          mode="plain", reason="asks the grader for a verdict"),
]

# C0 and C1 controls (ANSI escapes start with ESC), bidi overrides, Unicode tag characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                      r"\U000e0000-\U000e007f]")
_ZW_IN_WORD = re.compile(rf"(?<=\w)[{_ZERO_WIDTH}]+(?=\w)")
# Every alternative starts with a markup character, so the scan skips ordinary text.
_MARKUP = re.compile(
    r"<(?:\|[a-z_ ]{1,30}\|>|</?sys>>|!--|/?\s*(?:system|user|assistant|human|ai|insight|verdict|"
    r"instructions?|prompt|judge|grader|rubric|scores?|answer|output|response|im_start|im_end|sys|"
    r"inst|tool|tool_call|function_call|context|document|admin|developer|evaluation|feedback|"
    r"recommendation|safety|critique|think|thinking|reasoning|result|message|query|input|s|eos|"
    r"bos)\b[^<>\n]{0,80}>|/?[a-z]+_[a-z_]+>)"
    r"|\[/?(?:inst|sys|system|user|assistant|human|ai)\]|```"
    r"|\{\{ ?(?:system|user|assistant|prompt|instructions?|judge)"
    r"|(?<![-=#*])[-=#*]{3,}+ ?(?:end of|begin|start of) (?:the )?(?:insight|text|prompt|"
    r"document|input|"
    r"user input|context|instructions)")
# Chat transcript lines: "System: ...", "### Instruction".
_ROLE_LINE = re.compile(r"[ \t]*(?:#{2,} ?(?:system|instructions?|response|assistant|user|human|"
                        r"input|output)\b|(?:system|assistant|user|human)[ \t]*:)")


def _markup(text: str, norm: str) -> bool:
    if ("<" in norm or "[" in norm or "`" in norm or "{" in norm or "---" in norm
            or "===" in norm or "###" in norm or "***" in norm) and _MARKUP.search(norm):
        return True
    if ":" in text or "#" in text:
        # On the raw lines: soft-wrap joining in normalize() must not hide "\nSystem:".
        return any(_ROLE_LINE.match(line) for line in text.lower().split("\n"))
    return False


def find_injection(text: str, norm: str) -> list[str]:
    """Reasons the raw ``text`` (and its normalised copy) carries markup or control
    characters meant for a model, not a reader; never echoes the text itself."""
    out = []
    if _CONTROL.search(text):
        out.append("control character")
    if not text.isascii() and _ZW_IN_WORD.search(text):
        out.append("zero-width character inside a word")
    if _markup(text, norm):
        out.append("chat markup token")
    return out


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


def _rules_for(words: set[str]) -> list[int]:
    ids = {i for w in words if w in _INDEX for i in _INDEX[w]}
    return [i for i in sorted(ids) if all(not g.isdisjoint(words) for g in _RULES[i].triggers)]


def _harmful(s: str, m: re.Match[str], rule: Rule) -> bool:
    if rule.check is not None and not rule.check(s, m):
        return False
    if rule.mode == "plain":
        return True
    start = m.start("v") if "v" in rule.pattern.groupindex else m.start()
    cs = _start_of(s, start, _CLAUSE_MARKS)
    if rule.mode == "verb" and (_negated(s, cs, start, s[start:m.end()]) or _warned_gerund(
            s, cs, start, m.end(), _end_of(s, m.end(), _CLAUSE_MARKS))):
        return False
    if rule.mode == "claim" and _CLAIM_NEG.search(s, max(cs, m.start() - 160), m.start()):
        return False
    ss, se = _start_of(s, start, _SENTENCE_MARKS), _end_of(s, m.end(), _SENTENCE_MARKS)
    if rule.defer:
        ce = _end_of(s, m.end(), _CLAUSE_MARKS)
        if _deferred(s, rule.gate, start, m.end(), cs, ce, ss, se):
            return False
    if rule.mode == "verb" and _protected_condition(s, cs, start, m.end(), se):
        return False
    if rule.gate in ("self_harm", "eating_disorder"):
        mentioned = (_MENTION_TAIL.search(s, max(ss, start - 80), start)
                     or _MENTION_START.match(s, start))
        if mentioned and _help_near(s, ss, se):
            return False
    return True


# One-word sentences in a row ("Stop. Taking. Your. Meds.") are one clause.
_STACCATO_HINT = re.compile(r"[.!] [a-z']+[.!]")
_STACCATO = re.compile(r"\b([a-z']+)[.!]+ (?=[a-z']+[.!]+(?: |$))")
_EMPHASIS = str.maketrans("", "", "*_~`")
_QUOTES = re.compile(r"\"|'(?<!\w')|'(?!\w)")
# Rules scan only the stretches of text (split at sentence ends) that hold a trigger word.
_SEGMENT_END = re.compile(r"[.!\n](?:(?<=\n)|(?<![.!].)[.!]*+(?=\s|$))")


def _prepared(norm: str) -> str:
    # Matching copy for the rules: abbreviation dots and spaced hyphens are not clause ends
    # (the first) or are (the second).
    if any(a in norm for a in _ABBREVS):
        norm = _ABBREV.sub(r"\1", norm)
    if '"' in norm or "'" in norm:
        # Quotes around a word ("meds", 'pills') would split a verb from its object.
        norm = _QUOTES.sub("", norm)
    if "*" in norm or "_" in norm or "~" in norm or "`" in norm:
        # Markdown emphasis: "**stop** taking your *meds*".
        norm = norm.translate(_EMPHASIS)
    if _STACCATO_HINT.search(norm):
        norm = _STACCATO.sub(r"\1 ", norm)
    return norm.replace(" - ", " \u2014 ")


def _spans(s: str, starts: list[int], ends: list[int],
           present: Collection[str]) -> list[tuple[int, int]]:
    # The segments holding any of the trigger words (a substring hit inside a longer word
    # only adds a segment to scan, never hides one).
    picked: set[int] = set()
    for word in present:
        i = s.find(word)
        while i >= 0:
            k = bisect_right(starts, i) - 1
            picked.add(k)
            i = s.find(word, ends[k])
    return [(starts[k], ends[k]) for k in sorted(picked)]


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
    ids = range(len(_RULES)) if not prefilter else _rules_for(words)
    found: list[tuple[str, str]] = []
    if ids:
        s = _prepared(norm)
        starts = [0, *(m.end() for m in _SEGMENT_END.finditer(s))]
        ends = [*starts[1:], len(s)]
        for i in ids:
            rule = _RULES[i]
            spans = _spans(s, starts, ends, _KEYS[i] & words) if prefilter else [(0, len(s))]
            for lo, hi in spans:
                for m in rule.pattern.finditer(s, lo, hi):
                    if _harmful(s, m, rule):
                        reason = rule.reason or f"'{' '.join(m.group().split())[:80]}'"
                        found.append((rule.gate, reason))
    found += [("injection", r) for r in find_injection(text, norm)]
    found = list(dict.fromkeys(found))
    # "skip your therapy" inside "skip your therapy appointment" is the same finding.
    found = [(g, r) for g, r in found
             if not (r.startswith("'") and any(g2 == g and r2 != r and r[1:-1] in r2
                                                for g2, r2 in found))]
    return sorted(found, key=lambda gr: _RANK[gr[0]])
