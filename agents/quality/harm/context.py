"""What around a match makes it safe: governing negation, deferral to a professional,
protective conditions, crisis resources."""

from __future__ import annotations

import re
from itertools import repeat

from kasper.agents.quality.harm.lexicon import _PROF_FIN, _PROF_MED

# --- context around a match -----------------------------------------------------------------

_CLAUSE_MARKS = ".!?\n;:\u2014()[]"
_SENTENCE_MARKS = ".!?\n"


def _start_of(s: str, pos: int, marks: str, reach: int = 400) -> int:
    lo = max(0, pos - reach)
    return max(max(map(s.rfind, marks, repeat(lo), repeat(pos))) + 1, lo)


# One character-class scan finds the nearest mark ahead, instead of one find per mark.
_MARK_SCANS: dict[str, re.Pattern[str]] = {}


def _mark_scan(marks: str) -> re.Pattern[str]:
    scan = _MARK_SCANS.get(marks)
    if scan is None:
        scan = _MARK_SCANS[marks] = re.compile("[" + "".join(map(re.escape, marks)) + "]")
    return scan


def _end_of(s: str, pos: int, marks: str, reach: int = 400) -> int:
    hi = min(len(s), pos + reach)
    if pos < 0:
        # str.find counts a negative start from the end; keep that reading.
        ends = [i for i in (s.find(c, pos, hi) for c in marks) if i >= 0]
        return min(ends) if ends else hi
    scan = _MARK_SCANS.get(marks) or _mark_scan(marks)
    m = scan.search(s, pos, hi)
    return m.start() if m else hi


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
         r"recommend (?:that )?you|ever tell you to|"
         r"let (?:[a-z]+ ){1,3}?(?:talk|push|pressure|convince|persuade) you (?:into|to)|"
         # "never treat them as a sign to gamble", "don't try to undo it by purging": the
         # negation governs the means and the reason as well.
         r"treat (?:[a-z']+ ){0,3}as (?:a |an )?(?:sign|reason|excuse|signal|cue|permission) to|"
         r"(?:undo|fix|solve|handle|cope with|deal with|make up for) (?:it|this|that|them) by|"
         # Coordinated verbs share the negation: "never halve or stop", "don't stop them on
         # your own or skip doses".
         r"[a-z]+(?: [a-z']+){0,6} (?:or|nor)|[a-z]+, [a-z]+,? (?:or|nor)")
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
    r"(?: [\w']+){0,5}? (?:(?:can|could|may|might|will|would|often|usually|tends? to|does|do)"
    r"(?: [\w']+)? )?(?:(?:cause[sd]?|causing|triggers?|lead(?:s)? to|brings? on|brings?|results? in) "
    r"(?:[\w']+ ){0,2}?(?:withdrawal|relapse|symptoms|seizures?|rebound|side effects|problems|"
    r"harm|danger|complications|crisis|spikes?|flares?|attacks?|dizziness|bleeding|clots?|"
    r"strokes?|infections?|illness|damage|hospital|emergency|low blood sugar|binges?|bingeing)|"
    r"backfires?|worsens?|harms?|hurts?|undoes|undo|happens|happen|"
    r"(?:is|are|be|was|were) (?:(?:often|usually|really|very|never|not) )?(?:dangerous|risky|"
    r"harmful|unsafe|serious|life-threatening|a bad idea|not safe|never safe)|isn't (?:safe|a "
    r"good idea|wise)|make (?:your|the) (?:treatment|medication|meds|symptoms|condition|illness|"
    r"recovery) (?:less|worse|harder)|make (?:things|it|matters|everything) (?:[a-z]+ )?worse|"
    r"lead (?:to )?(?:[\w']+ ){0,2}?(?:fines?|penalt(?:y|ies)|prosecution|arrest|a warrant|jail|"
    r"prison|a criminal record|eviction)|"
    r"(?:[\w']+ ){0,6}?(?:dangerous levels|life-threatening|an emergency)|"
    r"(?:may|might|can|could) (?:feel|seem|look) (?:harmless|tempting|easy|small|innocent|"
    r"victimless)(?:,? but (?:it's|it is|that's|that is) (?:fraud|illegal|a crime|a criminal "
    r"offence|against the law))?)\b")


# What may stand before a noun phrase a warning is about: "three days on water tends to
# bring dizziness".
_COUNT = re.compile(r"(?:a|an|the|one|two|three|four|five|six|seven|several|a few|many|\d+)"
                    r"(?:[- ][a-z]+)?")


def _warned_gerund(s: str, cs: int, start: int, end: int, ce: int, noun: bool = False) -> bool:
    """Whether the match at ``start:end`` is the subject of a warning ("stopping suddenly
    can cause withdrawal"); with ``noun``, a noun phrase may be that subject too."""
    if noun and _COUNT.fullmatch(s[cs:start].strip(" ,")) and _GERUND_WARNING.match(s, end, ce):
        return True
    if not s[start:end].split(" ", 1)[0].endswith("ing"):
        return False
    if s[cs:start].strip(" ,").split() and not re.fullmatch(
            # An adverb, or a gerund subject it is coordinated with ("adding a laptop or
            # rounding up the quote may feel harmless").
            r"(?:suddenly|abruptly|never|regularly|often|sometimes|occasionally|even|just|simply|"
            r"[a-z]+ing(?: [\w']+){0,4} (?:or|and))?",
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
                              r"avoid|who needs|why|over|against|behind|"
                              # Telling a professional of a decision is not asking them.
                              r"tell|inform|notify|let)(?: [\w']+){0,3} ?$")
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
    r"wrote|written|said|told|mentioned|shared|described|voice|says|whispers|"
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
_CONDITION_TAIL = re.compile(r"(?<![\w'])(?:if|when|whenever|in case|once) you(?:'ve|'re|'d|'ll)?"
                             r"(?: [\w']+){0,3} ?$")
_PROTECTIVE = re.compile(
    r"\b(?:remind\w*|doctor|gp|nurse|pharmacist|prescriber|psychiatrist|therapist|dietitian|"
    r"counsel+or|lawyer|adviser|advisor|talk to|call|reach out|tell|snack|nourish\w*|be gentle|"
    r"be kind|set an alarm|helpline|hotline|support|ask|care team|988|samaritans|book|schedule|"
    r"make an appointment|see (?:a|your))\b")


def _protected_condition(s: str, cs: int, start: int, end: int, se: int) -> bool:
    if not _CONDITION_TAIL.search(s, max(cs, start - 60), start):
        return False
    return any(not _HELP_UNDERCUT.search(s, max(end, p.start() - 30), p.start())
               for p in _PROTECTIVE.finditer(s, end, se))


def _help_near(s: str, ss: int, se: int) -> bool:
    """A crisis resource, not undercut, from ``ss`` to the end of the sentence after ``se``."""
    hi = _end_of(s, min(len(s), se + 1), _SENTENCE_MARKS)
    for h in _HELP.finditer(s, ss, hi):
        if not _HELP_UNDERCUT.search(s, max(ss, h.start() - 30), h.start()):
            return True
    return False


def _sentence(s: str, m: re.Match[str]) -> str:
    return s[_start_of(s, m.start(), _SENTENCE_MARKS):_end_of(s, m.end(), _SENTENCE_MARKS)]


# A subject other than the reader: "she stopped her chemo", "my friend cashed out his
# pension" report what someone did; they direct nobody.
_SUBJECT = (
    r"(?<![\w'])(?:she|he|they|i|we|someone|somebody|people|others|many people|some people|"
    r"(?:my|his|her|their|a|your) (?:[a-z]+ )?(?:friend|mother|father|mum|mom|dad|sister|brother|"
    r"aunt|uncle|client|colleague|neighbour|neighbor|partner|husband|wife|son|daughter|patient|"
    r"cousin|grandmother|grandfather|boss)(?: of (?:mine|yours|ours))?)(?: (?:had|has|have|once|"
    r"never|finally|suddenly|eventually|just|recently|already|also|then|[a-z]+ly))*")
_OTHER_SUBJECT = re.compile(_SUBJECT + " ?$")


# "If he is thinking about changing his treatment": the topic of a thought, not an order.
_TOPIC = re.compile(r"(?<![\w'])(?:is|are|'s|'re|am|been|was|were) (?:[a-z]+ly )?(?:thinking about|"
                    r"considering|wondering about|talking about|worried about|afraid of|scared of) $")


# "A cousin of mine once cashed out her pension for a sure thing and regrets it": a claim
# inside a story of someone else's loss is the lesson, not the pitch.
_STORY = re.compile(_SUBJECT + r" (?:[a-z]+ed|took|put|sold|lost|gave|"
                    r"spent|went|bought|sank|threw|tried|did)\b")
_REGRET = re.compile(r"\b(?:regret\w*|lost (?:it|everything|the lot|most of it|half)|never (?:saw|got) "
                     r"(?:it|a penny|the money) back|wish(?:es|ed)? (?:she|he|they|i|we) hadn't|"
                     r"learned the hard way)\b")


def _lost_story(s: str, ss: int, se: int) -> bool:
    return bool(_STORY.match(s, ss) and _REGRET.search(s, ss, se))


# "People online promising that a smoothie can replace insulin": a claim the text holds up
# to doubt, not an order to the reader.
_CLAIMED = re.compile(r"(?<![\w'])(?:promis(?:e|es|ed|ing)|claim(?:s|ed|ing)?) (?:that )?"
                      r"(?:[\w'-]+ ){1,6}(?:can|could|will|would) $")


def _reported(s: str, cs: int, start: int) -> bool:
    """Whether the verb at ``start`` has a subject other than the reader, is the topic of
    someone's thought ("she is thinking about stopping") or part of someone's claim."""
    lo = max(cs, start - 60)
    return bool(_OTHER_SUBJECT.search(s, lo, start) or _TOPIC.search(s, lo, start)
                or _CLAIMED.search(s, max(cs, start - 80), start))
