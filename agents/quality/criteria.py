"""Rubric criteria: the six scores of an insight, the weights that combine them, and the advice.

Each criterion (``_authenticity``, ``_practical``, ``_resonance``, ``_clarity``,
``_actionability``, ``_originality``; all of them through ``_criteria``) reads the
:class:`~kasper.agents.quality.features.Features` of one text and returns a 0-1 score with advice
for the parts that are weak.  ``_recommendations`` ranks that advice by the final score
it costs (``WEIGHTS``) after the hard-gate and length advice.  What each criterion
rewards is described in :mod:`kasper.agents.quality.rubric`, which extracts the features and
combines the scores into a grade.

The word lists come from :func:`kasper.agents.quality.features.load_lexicon`.  ``WEIGHTS`` and ``WORD_BAND`` are defined here because the
criteria use them; :mod:`kasper.agents.quality.rubric` re-exports them.

Everything here is pure and deterministic: the same features give the same scores and
advice.  Any change to a score is a new ``GRADER_VERSION`` (:mod:`kasper.agents.quality.rubric`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from kasper.agents.quality.features import Features, load_lexicon

WEIGHTS: dict[str, float] = {
    "spiritual_authenticity": 0.25, "practical_wisdom": 0.20, "emotional_resonance": 0.20,
    "clarity_coherence": 0.15, "actionability": 0.10, "originality": 0.10,
}
WORD_BAND = (50, 150)
_VOWELS = re.compile(r"[aeiouy]+")


@lru_cache(maxsize=65536)
def _syllables(word: str) -> int:
    if word[0].isdigit():
        return 1
    n = len(_VOWELS.findall(word))
    if n > 1 and word.endswith("e") and not word.endswith(("le", "ee")):
        n -= 1  # silent final e: "gentle" keeps it, "place" does not
    return max(1, n)


_LEX = load_lexicon()
_STOP = frozenset(_LEX["stopwords"])
_SECOND = tuple(_LEX["second_person"])
_LEAD_INS = frozenset(_LEX["lead_ins"])


# --- criteria: each returns (score in 0-1, advice when a part of it is weak) ----------

Scored = tuple[float, list[str]]


def _clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _quote(items: list[str], limit: int = 3) -> str:
    return ", ".join(f"'{i}'" for i in items[:limit])


def _authenticity(f: Features) -> Scored:
    domains = [f.domain] if f.domain in _LEX["domains"] else list(_LEX["domains"])
    grounding = max(min(1.0, len(f.distinct(f"domain:{d}")) / 3) for d in domains)
    contemplative = min(1.0, len(f.distinct("spiritual")) / 3)
    humility = 1.0 - min(1.0, 0.5 * f.count("grandiose") + 0.1 * f.count("absolutes"))
    buzz = min(1.0, 0.2 * max(0, f.count("buzzwords") - 1))  # one "energy" is fine; padding is not
    cliches = f.distinct("cliches")
    vague = min(1.0, f.count("vague") * 10 / max(f.n, 1))  # hollow generalities read as inauthentic too
    score = (0.35 * grounding + 0.25 * contemplative + 0.2 * humility + 0.2 * (1 - buzz)
             - 0.3 * len(cliches) - 0.3 * vague)
    advice = []
    if cliches:
        advice.append(f"Replace clichés: {_quote(cliches)} "
                      "with an image or observation from the reader's situation")
    if grounding < 0.67:
        hints = _LEX["domain_hints"]
        advice.append("Ground it: " + hints.get(f.domain or "", hints["default"]))
    if f.count("grandiose"):
        advice.append(f"Drop certainty promises: {_quote(f.distinct('grandiose'))}; offer, don't predict")
    if buzz:
        advice.append(f"Cut buzzwords: {_quote(f.distinct('buzzwords'))}")
    return _clamp(score), advice


def _practical(f: Features) -> Scored:
    reasoning = min(1.0, len(f.distinct("reasoning")) / 3)
    everyday = min(1.0, len(f.distinct("everyday")) / 2)
    specific = min(1.0, (f.count("numbers") + f.digits) / 2)
    vague = min(1.0, f.count("vague") * 10 / max(f.n, 1))  # 10 vague words per 100 saturates
    practice = 1.0 if f.count("practice_verbs") else 0.0
    score = 0.35 * reasoning + 0.3 * everyday + 0.15 * specific + 0.2 * practice - 0.6 * vague
    advice = []
    if reasoning < 0.67:
        advice.append("Explain why it helps: connect the insight to what it changes "
                      "('because...', 'so that...')")
    if everyday < 0.5:
        advice.append("Tie it to an everyday moment "
                      "(the morning coffee, the commute, the inbox, a conversation)")
    if vague >= 0.3:
        advice.append(f"Replace vague words {_quote(f.distinct('vague'))} with specifics")
    return _clamp(score), advice


def _resonance(f: Features) -> Scored:
    you = sum(f.counts[w] for w in _SECOND)
    second = min(1.0, you / max(f.n, 1) / 0.05)  # about one "you/your" in 20 words
    warmth = min(1.0, len(f.distinct("warmth")) / 3)
    emotion = min(1.0, len(f.distinct("emotions")) / 2)
    harsh = min(1.0, 0.25 * f.count("harsh"))
    shouting = 0.1 if f.exclamations > 2 else 0.0
    score = 0.35 * second + 0.3 * warmth + 0.25 * emotion + 0.1 - 0.5 * harsh - shouting
    advice = []
    if second < 0.6:
        advice.append("Speak to the reader directly as 'you'")
    if emotion < 0.5 or warmth < 0.67:
        advice.append("Add warmth: name a feeling the reader may have ('if today felt heavy...') "
                      "and invite gently")
    if harsh:
        advice.append(f"Soften harsh or commanding words: {_quote(f.distinct('harsh'))}")
    if shouting:
        advice.append(f"Use fewer exclamation marks (now {f.exclamations})")
    return _clamp(score), advice


def _clarity(f: Features) -> Scored:
    n, sents = f.n, f.sentences or [0]
    low, high = WORD_BAND
    length = (n / low) ** 1.5 if n < low else max(0.0, 1 - (n - high) / 100) if n > high else 1.0
    syllables = sum(map(_syllables, f.words))
    fre = 206.835 - 1.015 * n / len(sents) - 84.6 * syllables / max(n, 1)  # Flesch reading ease
    read = 1.0 - min(1.0, max(0.0, 50 - fre, fre - 100) / 40)
    avg, longest = n / len(sents), max(sents)
    structure = (
        (1.0 if 7 <= avg <= 24 else 0.5)
        + (1.0 if longest <= 35 else max(0.0, 1 - (longest - 35) / 25))
        + min(1.0, len(f.sentences) / 3)
    ) / 3
    content = {w: c for w, c in f.counts.items() if len(w) > 3 and w not in _STOP}
    top = max(content, key=content.__getitem__, default="")
    top_n = content.get(top, 0)
    # A content word may recur about once per 12 content words before it reads as repetition.
    repetition = min(1.0, max(0, top_n - max(2, sum(content.values()) // 12)) * 0.2)
    score = 0.35 * length + 0.2 * read + 0.25 * structure + 0.2 * (1 - repetition)
    advice = []
    if longest > 30:
        advice.append(f"Split long sentences (the longest has {longest} words)")
    if repetition:
        advice.append(f"Vary repeated words: '{top}' x{top_n}")
    if read < 0.8:
        advice.append(f"Use shorter, plainer words and sentences (reading ease {fre:.0f}, aim for 60-90)")
    if len(f.sentences) < 3 and n >= low:
        advice.append("Use at least three sentences: the insight, why it matters, the practice")
    return _clamp(score), advice


def _actionability(f: Features) -> Scored:
    verbs = f.hits.get("practice_verbs", [])
    if verbs and "cliches" in f.hits:  # "step out of your comfort zone" is not a practice
        inside = {i + k for phrase, i in f.hits["cliches"] for k in range(phrase.count(" ") + 1)}
        verbs = [(p, i) for p, i in verbs if i not in inside]
    # Imperative: the verb opens a clause ("Tonight, write...") or follows a lead-in
    # ("take a minute to write").
    imperative = [p for p, i in verbs if i in f.clause_starts or (i and f.words[i - 1] in _LEAD_INS)]
    concrete = 1.0 if imperative else 0.6 if verbs else 0.25 if f.count("vague_actions") else 0.0
    timed = 1.0 if f.count("time_cues") else 0.0
    countable = 1.0 if f.count("practice_nouns") or f.count("numbers") or f.digits else 0.0
    focus = 1.0 if 1 <= len(imperative) <= 5 else 0.5 if imperative else 0.0
    score = 0.45 * concrete + 0.3 * timed + 0.15 * countable + 0.1 * focus
    advice = []
    if concrete < 1.0:
        advice.append("Add one concrete practice with a time cue, "
                      "e.g. 'tonight, write three lines about what felt heavy today'")
    elif not timed:
        advice.append("Say when to do the practice "
                      "(e.g. 'before bed', 'for five minutes tomorrow morning')")
    if concrete == 1.0 and not countable:
        advice.append("Make the practice countable: how many lines, breaths or minutes")
    if len(imperative) > 5:
        advice.append(f"Keep to one practice (now {len(imperative)} instructions)")
    return _clamp(score), advice


def _originality(f: Features, memory_score: float, similarity: float,
                 templates: tuple[str, ...]) -> Scored:
    cliches = len(f.distinct("cliches"))
    score = memory_score * max(0.0, 1 - 0.25 * cliches)
    advice = []
    if similarity >= 0.25:
        advice.append(f"Too close to a recently approved insight (similarity {similarity:.2f}): "
                      "find a fresh angle or image")
    if templates:
        advice.append(f"Leans on a template many recent insights use ({_quote(list(templates))}): "
                      "say it another way")
    return _clamp(score), advice


def _criteria(f: Features, memory_score: float, similarity: float,
              templates: tuple[str, ...]) -> dict[str, Scored]:
    return {
        "spiritual_authenticity": _authenticity(f), "practical_wisdom": _practical(f),
        "emotional_resonance": _resonance(f), "clarity_coherence": _clarity(f),
        "actionability": _actionability(f),
        "originality": _originality(f, memory_score, similarity, templates),
    }


_GATE_ADVICE = {
    "personal_data":
        "Remove personal data ({}): insights must not carry contact, address or payment details",
    "medical_directive":
        "Remove the medical directive {}: point to a doctor for any change in treatment",
    "legal_financial_directive":
        "Remove the legal/financial directive {}: suggest a qualified professional instead",
    "self_harm": "Remove self-harm content {}",
    "hateful": "Remove hateful content {}",
    "eating_disorder": "Remove the eating-disorder content {}: point to a doctor or a helpline instead",
    "injection": "Remove the text addressed to the grader or the model ({})",
}


def _recommendations(criteria: dict[str, Scored], gates: list[str], n: int,
                     first: list[str] | None = None, limit: int = 6) -> list[str]:
    recs = [_GATE_ADVICE[g.split(":")[0]].format(g.split(": ", 1)[1]) for g in gates]
    recs.extend(first or ())
    low, high = WORD_BAND
    if n < low:
        recs.append(f"Expand to at least {low} words (now {n}): "
                    "say why it matters and add one concrete practice")
    elif n > high:
        recs.append(f"Cut to {high} words (now {n})")
    # The criterion that costs the most final score speaks first, and every weak criterion
    # gets its main advice in before any criterion gets a second one.
    ranked = sorted(criteria.items(), key=lambda kv: -WEIGHTS[kv[0]] * (1 - kv[1][0]))
    depth = max((len(advice) for _, (_, advice) in ranked), default=0)
    recs.extend(advice[k] for k in range(depth) for _, (_, advice) in ranked if k < len(advice))
    return list(dict.fromkeys(recs))[:limit]
