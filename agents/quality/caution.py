"""Sensitive topics for rubric v2: a text that speaks of medication, money at risk, legal
obligations, eating or ending one's life must point to the right help.

The hard gates (:mod:`kasper.agents.quality.gates`) fail the directives they recognise,
and a paraphrase they do not recognise still names its topic: "those little white
tablets", "your pension", "the summons", "calories", "a goodbye letter". An insight
app has no business advising on these without sending the reader to someone who
can: a doctor or pharmacist, a financial adviser, a lawyer, a dietitian, a crisis
line. So a text that names such a topic without naming such help is sent back for
revision (a factor on its rubric score and a revise note), whatever the rest of it
says. It is not a gate: the text may be harmless, and its revision can add the
pointer or leave the topic alone.

Topics are literal nouns and phrases (the gates' own drug, money and legal lists,
without the words that are everyday English: "treatment", "therapy", "options",
"hearing", "fine"); metaphors ("starve your doubts", "invest in yourself", "kill the
noise") name no topic.
"""

from __future__ import annotations

import re
from functools import lru_cache

from kasper.agents.quality.harm.lexicon import CARE, LEGAL_OBJ, MEDS, MONEY_CORE, PROF_FIN, PROF_MED, RISKY, _lex

# Words of the gates' lists that are everyday English outside their topic.
_EVERYDAY = frozenset(_lex("""
    treatment(s), therapy, therapies, radiation, shot(s) of insulin, jab(s), aspirin,
    steroid(s), options, futures, margin, coin, token(s), horses, bet(s), lucky numbers,
    your lucky number, this opportunity, this investment, slots, the races, hearing(s),
    fine(s), audit(s), warrant(s), bail, retirement, inheritance, severance, tax refund,
    tax forms
"""))

_EATING = _lex("""
    calorie(s), fasting, water fast, juice fast, dry fast, day fast, purge, purging, laxative(s),
    diet pill(s), skip meal(s), skipping meal(s), skipped meal(s), stop eating, eat nothing,
    eating nothing, go without food, going without food, without eating, starve yourself,
    starving yourself, starvation, weigh yourself, weight loss, lose weight, losing weight, empty stomach
""")
_ENDING = _lex("""
    suicide, suicidal, kill yourself, killing yourself, end it all, end your life, ending your life,
    take your own life, taking your own life, goodbye letter(s), farewell letter(s),
    goodbye note(s), final goodbye, last goodbye, better off without you, better without you,
    overdose, not wake up, never wake up, sleep forever, rest forever, disappear forever,
    give away your things, give your things away, giving your things away, your last night,
    no longer be here, not be here anymore, not being here, self-harm, hurt yourself,
    hurting yourself, cut yourself, cutting yourself
""")

_HELP_MED = CARE + _lex("as prescribed, prescribing, pharmacy, pharmacist(s), medical advice")
_HELP_FIN = PROF_FIN + _lex("money advice, debt advice, financial advice, adviser(s), advisor(s)")
_HELP_LEGAL = PROF_FIN + _lex("""
    legal advice, legal help, court clerk, advice centre, advice center, law centre,
    law center, tribunal, mediator
""")
_CRISIS = _lex("""
    crisis line, crisis text line, crisis team, hotline, helpline, help line, 988, samaritans,
    116 123, 741741, emergency services, 911, 999, 112, lifeline, someone you trust,
    a person you trust, reach out, call someone, talk to someone, therapist(s), counsellor(s),
    counselor(s), doctor(s), gp, psychiatrist(s), the er, emergency room, a&e
""")
_HELP_EATING = PROF_MED + _CRISIS + _lex("eating disorder, beat, neda")

# topic -> (what names it, what counts as pointing to help, the help to name in the advice)
_TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "medication or treatment": (tuple(p for p in MEDS if p not in _EVERYDAY), _HELP_MED,
                                "the reader's doctor or pharmacist"),
    "money at risk": (tuple(p for p in MONEY_CORE + RISKY if p not in _EVERYDAY), _HELP_FIN,
                      "a financial adviser or a free debt-advice service"),
    "legal obligations": (tuple(p for p in LEGAL_OBJ if p not in _EVERYDAY), _HELP_LEGAL,
                          "a lawyer or a free legal-advice service"),
    "eating and weight": (_EATING, _HELP_EATING, "a doctor, a dietitian or an eating-disorder helpline"),
    "ending one's life or self-harm": (_ENDING, _CRISIS, "a crisis line (988 in the US, Samaritans "
                                                         "116 123 in the UK) or someone they trust"),
}


def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    # Hyphens read as spaces on both sides ("legal-advice service", "self harm").
    ordered = sorted({p.replace("-", " ") for p in phrases}, key=len, reverse=True)  # "life savings" first
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)")


@lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[str, re.Pattern[str], re.Pattern[str], str], ...]:
    return tuple((topic, _pattern(names), _pattern(helpers), hint)
                 for topic, (names, helpers, hint) in _TOPICS.items())


def uncovered(text: str) -> list[tuple[str, str, str]]:
    """``(topic, the words that named it, the help to name)`` for each sensitive topic the
    text speaks of without pointing to help; empty when there is none."""
    lower = text.lower().replace("\u2019", "'").replace("-", " ")
    out = []
    for topic, names, helpers, hint in _compiled():
        found = names.search(lower)
        if found and not helpers.search(lower):
            out.append((topic, found.group(), hint))
    return out


def advice(found: list[tuple[str, str, str]]) -> list[str]:
    """One revise note per uncovered topic."""
    return [f"This touches on {topic} ('{words}'): point the reader to {hint}, "
            "or leave the topic out" for topic, words, hint in found]
