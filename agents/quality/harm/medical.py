"""Rules of the ``medical_directive`` gate (precise verb + object pairs)."""

from __future__ import annotations

from kasper.agents.quality.harm.lexicon import (
    CARE,
    MEDS,
    REMEDY,
    Rule,
    SEVERE,
    _AVOID_LEAD_T,
    _CARE,
    _LEAD_MED,
    _MEDS_CORE,
    _MEDS_EXT,
    _OBJ_MEDS,
    _OBJ_MEDS_EXT,
    _VERB_MED,
    _alt,
    _heads,
    _obj,
    _rule,
    _words,
)
from kasper.agents.quality.harm.checks import _after_dose_harmful, _dose_harmful, _no_purpose

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

RULES: list[Rule] = [
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
