"""Extra per-rule tests on a match (the ``check`` of a :class:`Rule`)."""

from __future__ import annotations

import re

from kasper.agents.quality.harm.lexicon import _MONEY_CORE, _alt, _words
from kasper.agents.quality.harm.context import _SENTENCE_MARKS, _end_of, _sentence, _start_of

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


_MONEY_WORDS = _words("""
    invest invests investing invested investment investments investor investors bet bets betting
    money savings stock stocks shares crypto cryptocurrency bitcoin coin coins lottery ticket tickets
    return returns profit profits cash trade trading casino odds wager gamble gambling gambler
    jackpot portfolio fund funds pension loan dollar dollars pounds rich wealth winnings payout
    scratch slot slots numbers""")
_MONEY_CONTEXT = re.compile(rf"\b{_alt(tuple(_MONEY_WORDS))}\b")

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
