"""Rubric v2 criteria: the same six criteria and weights as v1, scored by evidence stuffing cannot buy.

What changed from v1 (:mod:`kasper.agents.quality.criteria`, still used for
``rubric-1.0``):

- Lexicon words count with a cap and diminishing returns (:func:`_capped`): the
  first hit of a list is worth most, the third is the last that counts, and the
  coherence evidence (:mod:`~kasper.agents.quality.coherence`) turns a text that
  is mostly lexicon words into a worse one, so stuffing past a point lowers a score.
- Grounding is relevance to the prompt (:mod:`~kasper.agents.quality.relevance`):
  taking up the reader's card, sign, number or words counts as much as the
  domain's vocabulary, so a plain-language insight about "the Tower card" and
  "your sister" is grounded without a single spiritual word.
- Clarity is coherence first: connected prose, no impossible word pairs, no loops.
- Resonance includes the voice: written to "you", not an assistant's offer, a
  diary or a narrator.
- Originality is lowered by repetition and by echoing the prompt.

Every function is pure; the rubric (:mod:`kasper.agents.quality.rubric`) combines
the scores with the coherence and relevance factors.
"""

from __future__ import annotations

from kasper.agents.quality.coherence import Coherence
from kasper.agents.quality.criteria import (
    Scored, _actionability, _clamp, _clarity, _originality, _practical, _quote, _resonance)
from kasper.agents.quality.features import Features, load_lexicon
from kasper.agents.quality.relevance import Relevance

_LEX = load_lexicon()
_SECOND = tuple(_LEX["second_person"])


def _capped(count: int, enough: int) -> float:
    """0-1 for ``count`` lexicon hits: concave up to ``enough``, flat after it."""
    x = min(count, enough) / enough
    return 1 - (1 - x) ** 2


def concreteness(f: Features) -> float:
    """0-1: concrete things the text names (objects of the day, counts, numbers, times),
    four or more is full marks. Platitudes name none."""
    found = (len(f.distinct("everyday")) + len(f.distinct("practice_nouns")) + f.count("numbers")
             + f.digits + len(f.distinct("time_cues")))
    return min(1.0, found / 4)


def domain_grounding(f: Features) -> float:
    """Distinct words of the text's domain, 0-1; words of the other domains count for less
    (the domain lists are short, and a career text may speak of the moon)."""
    def grounding(domain: str) -> float:
        return _capped(len(f.distinct(f"domain:{domain}")), 3)
    best = max(grounding(d) for d in _LEX["domains"])
    if f.domain not in _LEX["domains"]:
        return best
    return max(grounding(f.domain), 0.5 * best)


def _authenticity(f: Features, rel: Relevance) -> Scored:
    grounding = max(rel.grounding, rel.score)
    contemplative = _capped(len(f.distinct("spiritual")), 2)
    humility = 1.0 - min(1.0, 0.5 * f.count("grandiose") + 0.1 * f.count("absolutes"))
    buzz = min(1.0, 0.2 * max(0, f.count("buzzwords") - 1))
    # Platitudes ("faith can move mountains") are v2's clichés too: they fit every reader.
    cliches = f.distinct("cliches") + f.distinct("platitudes")
    vague = min(1.0, f.count("vague") * 10 / max(f.n, 1))
    score = (0.5 * grounding + 0.15 * contemplative + 0.2 * humility + 0.15 * (1 - buzz)
             - 0.3 * len(cliches) - 0.3 * vague)
    advice = []
    if cliches:
        advice.append(f"Replace clichés: {_quote(cliches)} "
                      "with an image or observation from the reader's situation")
    if grounding < 0.6:
        hints = _LEX["domain_hints"]
        if rel.context_fields:
            advice.append("Take up the reader's own details (their card, sign, number or words) "
                          "and say what they mean for them")
        else:
            advice.append("Ground it: " + hints.get(f.domain or "", hints["default"]))
    if f.count("grandiose"):
        advice.append(f"Drop certainty promises: {_quote(f.distinct('grandiose'))}; offer, don't predict")
    if buzz:
        advice.append(f"Cut buzzwords: {_quote(f.distinct('buzzwords'))}")
    return _clamp(score), advice


def _practical_v2(f: Features, rel: Relevance) -> Scored:
    score, advice = _practical(f)
    # The reader's own details are the most specific thing a text can mention.
    specific = min(1.0, len(rel.mentioned) / 2)
    return _clamp(0.85 * score + 0.15 * specific), advice


# Words that leave a harsh phrase aimed at the reader: "Get over it.", "just grow up", "you need
# to toughen up". After anyone else ("Kids get over it fast") the phrase describes them.
_AT_READER = frozenset({"you", "just", "to", "and", "then", "so", "now", "simply", "must", "should",
                        "need", "needs", "have", "has", "gotta", "please"})


def _harsh(f: Features) -> int:
    return sum(1 for phrase, i in f.hits.get("harsh", ())
               if " " not in phrase or i in f.clause_starts or f.words[i - 1] in _AT_READER)


def _resonance_v2(f: Features, rel: Relevance) -> Scored:
    _, advice = _resonance(f)
    you = sum(f.counts[w] for w in _SECOND)
    if you >= 2:
        # Written to the reader, its instructions speak to them too: "Pick one. Write it down."
        # (A recipe or a manual with a stray "you" stays a manual.)
        you += rel.imperatives
    second = min(1.0, you / max(f.n, 1) / 0.05)  # about one "you/your" in 20 words
    # Warmth in the lexicon's words or in plain ones ("you don't have to", "that counts").
    warmth = _capped(len(f.distinct("warmth")) + len(f.distinct("care")), 3)
    emotion = _capped(len(f.distinct("emotions")), 2)
    # Speaking to this reader's own situation is what makes a text personal; without
    # the prompt's context the domain grounding stands in for it.
    personal = (min(1.0, len(rel.mentioned) / min(2, rel.context_fields)) if rel.context_fields
                else 0.8 * rel.grounding)
    harsh = min(1.0, 0.25 * _harsh(f))
    if not harsh:
        advice = [a for a in advice if not a.startswith("Soften harsh")]
    shouting = 0.1 if f.exclamations > 2 else 0.0
    score = 0.3 * second + 0.2 * warmth + 0.2 * emotion + 0.3 * personal - 0.5 * harsh - shouting
    if rel.voice < 1.0:
        advice.insert(0, "Write the insight to the reader as 'you': not an offer of help, "
                         "a diary entry or a description of them")
    return _clamp(score * (0.4 + 0.6 * rel.voice)), advice


def _clarity_v2(f: Features, coh: Coherence) -> Scored:
    plain, advice = _clarity(f)
    if coh.score < 0.8:
        advice.insert(0, "Write connected sentences about one idea: not a list of words, "
                         "phrases out of order or a repeated line")
    return _clamp(plain * (0.3 + 0.7 * coh.score)), advice


def _originality_v2(f: Features, coh: Coherence, rel: Relevance, memory_score: float,
                    similarity: float, templates: tuple[str, ...]) -> Scored:
    score, advice = _originality(f, memory_score, similarity, templates)
    loops = min(1.0, coh.repeated_trigrams * 2 + 0.25 * coh.repeated_sentences)
    if loops >= 0.2:
        advice.insert(0, "Say each thing once: the text repeats itself")
    if rel.echo:
        advice.insert(0, f"Answer the prompt instead of copying it ({', '.join(rel.echo)})")
    return _clamp(score * (1 - loops) * (0.0 if rel.echo else 1.0)), advice


def criteria(f: Features, coh: Coherence, rel: Relevance, memory_score: float,
             similarity: float, templates: tuple[str, ...]) -> dict[str, Scored]:
    """The six v2 criteria of one text, each (score, advice)."""
    return {
        "spiritual_authenticity": _authenticity(f, rel),
        "practical_wisdom": _practical_v2(f, rel),
        "emotional_resonance": _resonance_v2(f, rel),
        "clarity_coherence": _clarity_v2(f, coh),
        "actionability": _actionability(f),
        "originality": _originality_v2(f, coh, rel, memory_score, similarity, templates),
    }
