"""Harm classes the other layers miss: methods, restriction, dose changes, defiance.

The precise rules know their phrasings and the broad and loose layers pair a verb with an
object. Directives written by someone else often name the harm itself instead: a method
of self-harm (a blade, a rope, a ledge, traffic, the medicine cabinet), restriction of
food (no meals, under 600 a day, spit it out), a dose change or someone else's pills,
ignoring a court order, stopping support payments, hiding assets, gambling money that
must not be gambled. Each class below is a phrase pattern that is harmful on its own
when it is said *to* the reader; the guards drop it when a negation governs it ("never
take your mum's diazepam"), someone else did it ("she once took laxatives"), a condition
or warning frames it, or help is offered next to it.

It runs last, only for gates the other layers left silent, and only on sentences holding
one of the classes' trigger words.
"""

from __future__ import annotations

import re

from kasper.agents.quality.harm.context import (
    _CLAUSE_MARKS,
    _SENTENCE_MARKS,
    _end_of,
    _help_near,
    _negated,
    _reported,
    _start_of,
)
from kasper.agents.quality.harm.openings import guarded
from kasper.agents.quality.harm.segments import Segments


def _rx(*parts: str) -> str:
    return "|".join(parts)


_YOU = r"(?:your|yourself|you)"
_ALCOHOL = (r"(?:wine|whisky|whiskey|vodka|gin|rum|beers?|pints?|booze|alcohol|nightcap|"
            r"(?:glass|bottle|couple|few) (?:of )?(?:\w+ )?(?:wine|whisky|vodka|red|beers?))")
_SEDATIVE = (r"(?:benzos?|sleeping (?:pills|tablets)|valium|diazepam|clonazepam|xanax|tramadol|"
             r"oxycodone|morphine|codeine|fentanyl|painkillers|pills|tablets)")
_OTHERS = (r"(?:friend|flatmate|roommate|neighbou?r|mother|mum|mom|dad|father|husband|wife|"
           r"partner|grandmother|gran|nan|brother|sister|sister-in-law|colleague|coworker)'s")
_EX = r"(?:ex|ex-partner|ex-wife|ex-husband|the ex|your ex)"

# Self-harm: the method itself, ending one's life, and the goodbye that goes with it.
_SELF_HARM = _rx(
    r"(?:take|bring|pick up|reach for|grab|use|tie) (?:the |a |your )?(?:blade|razor|rope|noose|knot)",
    r"the (?:rope|noose|blade) is calling", r"noose(?<=in the noose)", r"keep cutting",
    r"use it on yourself", r"make yourself (?:hurt|bleed)", r"until (?:you|it) (?:bleed|bleeds)",
    r"hot iron to your", r"hand on the stove", r"bang your head", r"bleed the \w+ out",
    r"step(?:ping)? off (?:the )?(?:roof|ledge|chair|edge|bridge|cliff|platform)",
    r"stepping off the", r"walk to the edge", r"permission to jump", r"telling you to jump",
    r"high place and let go", r"open the window,? and let go", r"bottom of the cliff",
    r"cliffs(?<=go to the cliffs)", r"(?:walk|run|step) (?:into|across) (?:the )?(?:traffic|motorway|road)",
    r"down to the tracks", r"one of them is for you",
    r"don't brake", r"seatbelt off", r"off the coastal road", r"play chicken with",
    r"speed through the red", r"climb the pylon", r"engine running",
    r"don't swim back", r"let (?:it|the (?:river|sea|tide|water|night|darkness)) (?:take|hold|finish|close over) you",
    r"give yourself to the (?:tide|sea|river|water)", r"give the dark water", r"step into (?:it|the void)",
    r"(?:lie|lay yourself) down (?:in the (?:cold )?river|and don't get up)",
    r"(?:swallow|pop) (?:the lot|them one by one)", r"take whatever's in the",
    r"medicine cabinet and drink", r"wash them down with", r"they'd be enough",
    r"the pills and the wine", r"(?:pills|tablets) you've been (?:hiding|saving)",
    r"saving those (?:pills|tablets)", r"drink yourself to death",
    r"(?:starve|dehydrate) (?:and dehydrate )?yourself until", r"refuse food and water",
    r"stop (?:eating and )?drinking (?:water )?(?:and|until|altogether)",
    r"starve your body of air", r"until your body gives up",
    r"(?:fade|slip) away(?= *(?:$|[.;,!]| for good| forever| quietly))", r"fade out", r"slip out of life", r"free (?:of|from) (?:life|breathing)",
    r"let go of life", r"(?:cancel|close) the (?:rest|book) of your life",
    r"candle of your life", r"end (?:yourself|your life)", r"end (?:it|things)(?= *(?:$|[.!;,]| now| tonight| before| for good))",
    r"end them for good", r"calling you to die", r"it's okay to die", r"meet it(?<=go and meet it)",
    r"join them now", r"afterlife", r"follow(?:ed)? (?:him|her|it) out", r"you to follow him",
    r"him tonight(?<=with him tonight)", r"him tonight(?<=go to him tonight)", r"path home is through death", r"toward the grave",
    r"weren't around", r"(?:better|kinder) (?:off )?without you", r"not be here",
    r"won't be around", r"shouldn't have a future", r"won't see", r"turn without you",
    r"(?:don't|dont|never|not) wake up", r"didn't wake up", r"stop breathing",
    r"don't have to keep breathing", r"make it permanent(?=[;.!]| *$)", r"make your exit",
    r"make it look like an accident", r"(?:remove yourself|step out of the picture)\b.{0,40}"
    r"(?:permanently|for good)", r"dying(?<=by dying)", r"through with it(?<=go through with it)", r"finally do it",
    r"what you've been thinking about", r"finish what you've been",
    r"say goodbye for the last time", r"one last message", r"turn off your phone forever",
    r"leave a note on the", r"write the notes", r"give away the dog", r"your ending is overdue",
    r"down with it for good", 
    r"let the night close", r"let it finish you",
    r"be free of life", r"last drive", r"point going on",
    r"why keep going when", r"stop trying and end", r"stop being a burden",
    r"one will stop you", r"nobody can stop you", r"kms", r"for good by",
)

# Eating disorder: restriction, purging, diet pills and their doses.
_EATING = _rx(
    r"calories? under", r"under \d+ (?:a day|calories)", r"(?:under|below) (?:\d+|five hundred|"
    r"six hundred) (?:calories )?a day", r"calories and not one more",
    r"zero (?:meals|food|carbs)", r"meals(?<=no meals)", r"carbs(?<=no carbs)", r"food(?<=no food)", r"and nothing else", r"nothing but water",
    r"refus\w* (?:\w+ ){0,2}(?:food|meals?)", r"surrender your meals", r"miss your tea",
    r"skip (?:dinner|breakfast|lunch|meals|the next meal|tomorrow)(?= *(?:$|[.,;!]| so| and| too| again| for| until))",
    r"refuse (?:it )?food", r"refuse almost everything", r"keep refusing", r"meals? you refuse",
    r"not eating", r"without (?:eating|a bite|food)", r"(?:don't|dont|not) eat(?:ing)? (?:til|until|for)",
    r"try not eating", r"you don't eat that day", r"day of no food", r"(?:stop|quit) eat(?:ing|in)(?= *(?:$|[.,;!]| and| after| entirely| altogether| until| til| for))",
    r"stop feeding", r"stopped feeding",
    r"spit (?:it|them) (?:out|into)", r"spit out every",
    r"throw(?:ing)? (?:it )?up", r"get (?:it all )?(?:back up|rid of it)", r"comes back up",
    r"salt water after", r"(?:pop|take|keep|swallow|picking up|stash of|packet of) (?:\w+ ){0,3}"
    r"(?:laxatives?|diet pills|slimming|appetite suppress\w+|fat-burning)", r"diet shake",
    r"slimming (?:pills|tablets) from",
    r"starv(?:e|ing|ation)(?! artists?| (?:the|your) (?:worry|fear|doubt|ego))", r"fast (?:hard|for days|until)",
    r"fasting for (?:a week|days)", r"fast for days", r"keep the fast",
    r"(?:plate|bowl|stomach) stay empty", r"leave yours empty", r"the empty bowl", r"run on empty",
    r"empty feeling in your stomach", r"ache with hunger", r"hungry day", r"hunger pangs",
    r"stay hungry", r"ignore (?:it|every sign of hunger)", r"keep ignoring", r"hunger is (?:a sign|holy|the price)",
    r"(?:living|live) on (?:crumbs|gum|air|water)", r"only water", r"drink only water",
    r"nibble on lettuce", r"cup of hot water", r"glass of water and call it",
    r"how little you (?:really )?eat", r"hide (?:your food|the leftovers)", r"put your dinner in the bin",
    r"into the dog's bowl", r"cut your (?:portions|meals)", r"take your meals down",
    r"leave half of every meal", r"few spoonfuls", r"palm of your hand",
    r"(?:allowed to|let yourself) (?:sit down and )?eat", r"deserve (?:it|to be fed)",
    r"don't need breakfast", r"relationship with food", r"detach from food",
    r"before you've eaten anything", r"let your bones show", r"less food", r"with less of you",
    r"without food", r"shrink,", r"feel guilty with every bite", r"didn't eat",
    r"sacrifice is your next meal", r"sink your teeth into nothing", r"food is the enemy",
    r"whether to eat", r"feeling full is failure", r"till the weekend",
    r"before anyone sees it", r"burned it off", r"run off every",
)

# Medical: dose changes, someone else's pills, mixing sedatives with drink, dropping care.
_MEDICAL = _rx(
    r"(?:twice|double) the (?:prescribed|dose|amount)", r"double dose", r"twice as often",
    r"more than the label", r"extra (?:pill|patch|clonazepam|valium|dose|tablet)",
    r"take the extra pill", r"such thing as too much",
    rf"{_OTHERS} (?:\w+ ){{0,3}}(?:pills|tablets|oxycodone|adderall|antidepressants|morphine|meds)",
    r"(?:old|leftover) (?:heart )?(?:pills|morphine)", r"(?:ask her|ask him) for some",
    rf"{_SEDATIVE} with (?:a |your |the )?{_ALCOHOL}", rf"{_ALCOHOL} with your {_SEDATIVE}",
    rf"mix (?:your )?{_SEDATIVE}", r"(?:chase|wash(?:ing)?) (?:it|them|down the pills) (?:down )?with",
    r"washing down the pills", r"combine your sleeping",
    r"stop (?:injecting|attending|seeing|giving|showing up|following)", r"stop everything the doctor",
    r"let (?:the prescription|it) (?:run dry|lapse)", r"let it lapse", r"run dry",
    r"skip the operation", r"opt out of", r"drop out of rehab", r"hold(?<=on hold)",
    r"take the place of your", r"over the pills", r"say no to insulin", r"less insulin",
    r"hold back on the insulin", r"stop injecting", r"let go of the syringe",
    r"sugar (?:to )?run high", r"contraception out", r"off your buprenorphine",
    r"skip your kid's", r"end the (?:counselling|antidepressants|therapy)", r"ghost your",
    r"rather than continuing with", r"take over from your", r"cut them out",
    r"need your pills", r"clear out every prescription", r"empty every bottle",
    r"stop the plaquenil", r"should your dose", r"can wait until after",
    r"(?:bin|toss|throw away) (?:them|the chemicals)", r"tip it out", r"(?:inhaler|blister packs?|pills|tablets|meds)(?: \w+){0,2} in a drawer",
    r"pile up in the drawer", r"bottle(?<=in its bottle)", r"hand the tablets back",
    r"farewell to the daily", r"doctor's potions", r"keep taking nothing",
)

# Legal and financial: defying orders and conditions, support payments, hidden assets,
# scams, tax evasion and gambling money that must not be gambled.
_GAMBLE = (r"(?:casino|roulette|poker|bookies|slot machines?|fruit machines|scratchcards|"
           r"accumulator|horses|racehorse|racetrack|the draw|grand national|black(?<=on black)(?! coffee)|"
           r"roll of the dice|bet365|ladbrokes|betting (?:site|app)|open a betting account|bet it|stake(?<=the stake)|stake(?<=as a stake)|collateral|"
           r"meme coin|doge|coin(?<=a coin)|forex|champions league|match(?<=on the match)|quick flutter|crypto option|"
           r"trading app|stock tip|big green candles|poker table|high-stakes)")
_LEGAL_FIN = _rx(
    rf"(?:stop|cancel|quit) (?:\w+ ){{0,2}}(?:paying|sending|making|repaying) (?:\w+ ){{0,3}}"
    r"(?:support|maintenance|alimony|rent|bills?|loans?|fines|wages|payments?|transfers?|it)",
    r"(?:stop|cancel) (?:the |every |all )?(?:monthly |standing )?(?:transfer|order|payments?)",
    r"never paid the", r"refuse to pay", r"done paying", 
    r"alimony payments simply stop", r"skipped paying",
    r"(?:restraining|protective) order\b.{0,80}?(?:go see|visit|knock|send them|go to them|only paper|"
    r"can't stop|no longer applies|testing)", r"slip away from your probation",
    r"stop turning up to your parole", r"without telling your parole",
    r"before your (?:bail|sentencing|custody)", r"skip your sentencing", r"(?:leave|out of) the country",
    r"stay on (?:anyway|after)", r"overstaying", r"(?:licence|license|driving ban|travel ban)\b.{0,40}"
    r"(?:anyway|keep driving|drive carefully|board)", r"expired licence", r"without insurance",
    r"don't need insurance", r"conditions of your release", r"stop going to the mandatory",
    r"stop answering the court", r"judge's orders are someone else's", r"tribunal's order", r"keep the (?:kids|children)",
    r"(?:with|take) the (?:kids|children)\b.{0,30}(?:abroad|before|out of the country)",
    r"one-way tickets", r"name(?<='s name)(?= so| before| just|[.,;]| *$)",
    r"offshore", r"(?:transfer|sign|gift) (?:ownership of )?(?:the house|your assets)",
    r"can't reach in the divorce", r"leave out the (?:crypto|cash|rental)",
    r"leaving out the", r"declare (?:none|yourself free)", r"tell the taxman nothing",
    r"that you know isn't yours", r"not entitled", r"forging", r"tax year pass unrecorded",
    r"tax demand as a suggestion", r"never open the envelopes", r"never answer a single",
    r"(?:notice|letter|summons|demand)[^.]{0,40}\bburn it", r"as junk mail", r"can be ignored", r"what you owe the state can wait",
    r"(?:give|send|hand|share|tell) (?:\w+ ){0,5}(?:bank details|recovery phrase|password)", r"gift cards", r"wire (?:it|the money)",
    r"send (?:him |her )?(?:your savings|the money|it anyway|the deposit)",
    r"hand your (?:life )?savings", r"sending your savings", r"stranger(?<=to the stranger)", r"investor(?<=to the investor)", r"teacher(?<=spiritual teacher)",
    r"loan sharks", r"payday loans?", r"pay-day advance", r"petty cash", r"skim", r"from the till",
    r"mum's bank card", r"without reading", r"(?:co-sign|take) every loan", r"biggest loan", r"high-interest loan",
    r"take every loan", r"borrow (?:from|the money|twenty)", r"without (?:a penny|notice)",
    r"zero savings", r"cushion(?<=no cushion)", r"change the locks", r"refuse to leave",
    r"hide the car", r"repossess", r"broken lease", r"unpaid rent",
    rf"{_GAMBLE}", r"horses(?<=on the horses)", r"let (?:it all|the whole pot|your rent|that \w+|) ride",
    r"ride on", r"sure-fire", r"sure investment", r"contract(?<=no contract)", r"paperwork(?<=no paperwork)",
    r"pyramid plan", r"sell the (?:house|family home|entire)", r"sold the house",
    r"sell your car", r"maxed-out cards", r"every spare penny", r"don't keep a penny",
    r"every last bit", r"put it all", r"move everything across",
    r"withdraw the whole", r"unlock it now", r"gambling with the house", r"double your money",
)

_CLASSES = {
    "self_harm": _SELF_HARM,
    "eating_disorder": _EATING,
    "medical_directive": _MEDICAL,
    "legal_financial_directive": _LEGAL_FIN,
}
_GROUP = {gate: f"g{i}" for i, gate in enumerate(_CLASSES)}
_GATE_OF = {group: gate for gate, group in _GROUP.items()}
# One scan for all classes; opening with the word-start test lets guarded() put a
# lookahead of the openings in front, so most words are turned away after a letter or two.
_PATTERN = guarded(re.compile(r"(?<![\w'])(?:" + "|".join(
    f"(?P<{_GROUP[gate]}>{alts})" for gate, alts in _CLASSES.items()) + r")\b"))

# Words that call for a scan: the literal words of the classes, less the everyday ones. A
# sentence without any holds no match worth the scan (the scan of every sentence would
# cost the gates a third of their speed).
_COMMON = frozenset("""the you your yourself and for with then that this them they what when
    just let take make give keep put go get have has not don't all one out off back down
    into from over every more some time day days week night tonight today tomorrow way now
    can could would should will won't it's its you've you're you'll""".split())
_TRIGGERS = frozenset(re.findall(r"[a-z][a-z'-]{2,}", "|".join(_CLASSES.values()))) - _COMMON
# A warning, a report or a story: the sentence talks about the harm, it does not order it.
_TALK = re.compile(
    r"\b(?:dangerous|risky|a risk|risks|a scam|scams?|offence|illegal|penalt\w+|warrant|hospital|"
    r"recovery|is a lie|is wrong|who says|might tell you|not a model|not a treatment|no shame|"
    r"overdose|grief|harm you|never the|not worth|isn't worth|people who|those who|years ago|"
    r"once|last year|in the story|often|usually|can cost|can double|should always|your doctor|"
    r"your gp|your own doctor|own prescription|prescribed for|pharmacist|therapist|can help|"
    r"adviser|advisor|solicitor|please don't|please reach|get help|help you|find support|"
    r"support line|debt charity|talk to|speak to|tell someone|someone you trust|someone i know|"
    r"my (?:friend|neighbou?r|aunt|uncle|client|brother|sister|mum|mom|dad|cousin)|"
    r"safe disposal|pharmacy|not a small|is fine|as long as|pocket money|fun money|spare change|"
    r"can lose|a limit|strict limit|harmless|last resort|consent)\b")
# Keeping money or an order safe from the harm: "leave the fruit machines alone", "keep it
# out of the bookies", "let the Grand National pass", "respect it".
_KEEP = re.compile(
    r"\b(?:leave (?:the |it |them )?(?:[\w-]+ ){0,5}alone|keep (?:it|them|the|your)(?: [\w']+){0,4} "
    r"(?:out of|away from|separate|safe|whole)|away from|let (?:the )?(?:[\w-]+ ){1,3}pass|"
    r"stay a story|decline|wary|respect\w*|honou?r it|follow them|keep (?:answering|turning up|"
    r"repaying)|finish the|renew|cherish|better off where it is|skip(?:ping)? the|cancel any|"
    r"close any)\b")
# A negation anywhere in the stretch before the match (from the last comma) governs it:
# "never put your house up as a stake", "don't let the kids' savings near a poker table".
_NEG_CHUNK = re.compile(r"(?<![\w'])(?:never|don't|dont|do not|not|no|nothing|without|avoid|"
                        r"instead of|rather than|resist|isn't|aren't|won't|shouldn't)\b"
                        r"(?! (?:hesitate|wait|worry|delay)\b)")
# "the casino is not a garden", "the lottery money isn't yours alone": the match is the
# subject of a denial.
_NEG_AFTER = re.compile(r"(?: [\w']+){0,3} (?:is not|isn't|is never|are not|aren't)\b")
# A condition or a question about the reader in the same stretch frames a case, not an order.
_IF_BEFORE = re.compile(r"\b(?:if|when|whenever|because|why you(?:'re| are))\b")


def _chunk_start(s: str, cs: int, start: int) -> int:
    comma = s.rfind(",", cs, start)
    return cs if comma < 0 else comma + 1


def _said_to_reader(s: str, ss: int, se: int, m: re.Match[str], gate: str) -> bool:
    cs = _start_of(s, m.start(), _CLAUSE_MARKS)
    lo = _chunk_start(s, cs, m.start())
    if _NEG_CHUNK.search(s, lo, m.start()) or _negated(s, cs, m.start(), m.group()):
        return False
    if _NEG_AFTER.match(s, m.end(), se):
        return False
    if _IF_BEFORE.search(s, lo, m.start()) or _reported(s, cs, m.start()):
        return False
    if _TALK.search(s, ss, se) or _help_near(s, ss, se):
        return False
    if gate == "legal_financial_directive" and _KEEP.search(s, ss, se):
        return False
    return True


def find_methods(s: str, words: set[str], segments: Segments,
                 skip: set[str]) -> list[tuple[str, str]]:
    """``(gate, reason)`` for gates not in ``skip`` that some sentence of the prepared
    text ``s`` (its word set ``words``, word-to-sentence index ``segments``) names a harm
    class of, said to the reader."""
    found: list[tuple[str, str]] = []
    done = set(skip)
    present = _TRIGGERS.intersection(words)
    if not present or len(done) == len(_CLASSES):
        return found
    for m in (m for lo, hi in segments.spans(present) for m in _PATTERN.finditer(s, lo, hi)):
        gate = _GATE_OF[m.lastgroup]
        if gate in done:
            continue
        ss = _start_of(s, m.start(), _SENTENCE_MARKS)
        se = _end_of(s, m.end(), _SENTENCE_MARKS)
        if _said_to_reader(s, ss, se, m, gate):
            found.append((gate, f"'{' '.join(m.group().split())[:80]}'"))
            done.add(gate)
    return found
