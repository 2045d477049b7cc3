"""Rubric grader: fast, deterministic, versioned scores for insight texts.

Six criteria, each 0-1, weighted (``WEIGHTS``) into ``final_score``:

- spiritual_authenticity (0.25): grounded in the domain (the card, number, transit...),
  contemplative vocabulary, no certainty promises, no clichés or buzzword padding.
- practical_wisdom (0.20): says why (reasoning words), ties to everyday life, specific
  rather than vague.
- emotional_resonance (0.20): speaks to "you", names a feeling, warm not harsh.
- clarity_coherence (0.15): 50-150 words, readable (Flesch reading ease), sentence
  lengths, little repetition.
- actionability (0.10): one concrete practice (imperative verb), a time cue, something
  countable.
- originality (0.10): distance from recently approved insights (:class:`Originality`),
  lowered by clichés.

Length outside the 50-150 word band is a format violation, not only a clarity issue:
it also scales the final score (``_length_fit``), so a polished 250-word text fails.

Letter grades: A >= 0.85, B >= 0.75, C >= 0.60, D >= 0.45, else F. ``passed`` needs
``final_score >= pass_threshold`` (0.6 by default) and no hard-gate failure
(:mod:`gates`). A gated text gets ``final_score`` 0.0 and letter F so that it can never
outrank a clean text in any sort; its criterion scores are kept for analysis.

Grading is pure: the same text, domain and originality memory give the same result.
Change ``GRADER_VERSION`` whenever scores for the same input would change.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any

from kasper.agents.gates import check_gates
from kasper.agents.originality import Originality

GRADER_VERSION = "rubric-1.0"
WEIGHTS: dict[str, float] = {
    "spiritual_authenticity": 0.25, "practical_wisdom": 0.20, "emotional_resonance": 0.20,
    "clarity_coherence": 0.15, "actionability": 0.10, "originality": 0.10,
}
LETTER_CUTOFFS = ((0.85, "A"), (0.75, "B"), (0.60, "C"), (0.45, "D"))
WORD_BAND = (50, 150)
# Words in any script ([^\W_] is a letter or digit), with inner apostrophes ("don't");
# sentence ends; clause marks. Must give the same words as originality.tokenize.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[.!?]+|[,;:\u2014]")
_VOWELS = re.compile(r"[aeiouy]+")


@dataclass(frozen=True)
class GradeResult:
    """One grade; field names match the Avro ``Grade`` record (minus ids and timestamp)."""

    scores: dict[str, float]
    final_score: float
    letter: str
    passed: bool
    gate_failures: list[str]
    recommendations: list[str]
    grader_version: str
    word_count: int


def letter_for(score: float) -> str:
    """Letter grade for a final score (A >= 0.85, B >= 0.75, C >= 0.6, D >= 0.45, else F)."""
    return next((letter for cutoff, letter in LETTER_CUTOFFS if score >= cutoff), "F")


@lru_cache(maxsize=1)
def load_lexicon() -> dict[str, Any]:
    """The word lists in ``agents/data/rubric_lexicon.json`` (parsed once)."""
    raw = resources.files("kasper.agents").joinpath("data/rubric_lexicon.json").read_text("utf-8")
    return json.loads(raw)


@lru_cache(maxsize=65536)
def _syllables(word: str) -> int:
    if word[0].isdigit():
        return 1
    n = len(_VOWELS.findall(word))
    if n > 1 and word.endswith("e") and not word.endswith(("le", "ee")):
        n -= 1  # silent final e: "gentle" keeps it, "place" does not
    return max(1, n)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


_LEX = load_lexicon()
_STOP = frozenset(_LEX["stopwords"])
_SECOND = tuple(_LEX["second_person"])
_LEAD_INS = frozenset(_LEX["lead_ins"])


# Lexicon lists the criteria count (the rest, like stopwords, are used as plain sets).
_SCANNED = ("cliches", "buzzwords", "grandiose", "absolutes", "vague", "practice_verbs",
            "vague_actions", "practice_nouns", "numbers", "time_cues", "warmth", "emotions", "harsh",
            "reasoning", "everyday", "spiritual")


class _Matcher:
    """Every scanned lexicon list (single words and phrases) matched in one pass over the words."""

    def __init__(self, lexicon: dict[str, Any]) -> None:
        lists = {k: lexicon[k] for k in _SCANNED}
        lists.update({f"domain:{d}": words for d, words in lexicon["domains"].items()})
        categories: dict[tuple[str, ...], list[str]] = {}
        for category, items in lists.items():
            for item in items:
                key = tuple(t for t in _tokens(item) if t[0].isalnum())
                if key:
                    categories.setdefault(key, []).append(category)
        in_phrases = {c for key, cats in categories.items() if len(key) > 1 for c in cats}
        # One lookup per word: word -> (single-word hits, phrases starting with it). A single
        # hit is (category, whether a phrase of that category may already cover the word);
        # phrases are indexed by their second word, so most positions cost one dict miss.
        Phrase = tuple[list[str], int, tuple[str, ...], str]
        self.index: dict[str, tuple[tuple[tuple[str, bool], ...], dict[str, list[Phrase]]]] = {}
        for key, cats in sorted(categories.items(), key=lambda kv: -len(kv[0])):  # longest first
            singles, phrases = self.index.setdefault(key[0], ((), {}))
            if len(key) == 1:
                self.index[key[0]] = (tuple((c, c in in_phrases) for c in cats), phrases)
            else:
                phrases.setdefault(key[1], []).append((list(key), len(key), tuple(cats), " ".join(key)))

    def scan(self, words: list[str]) -> dict[str, list[tuple[str, int]]]:
        """Category -> [(phrase, word index)] for every lexicon entry found in ``words``."""
        hits: dict[str, list[tuple[str, int]]] = {}
        # category -> end of its last match: "good vibes only" is one cliché, not two
        covered: dict[str, int] = {}
        index, last = self.index, len(words) - 1
        for i, w in enumerate(words):
            entry = index.get(w)
            if entry is None:
                continue
            singles, phrases = entry
            if phrases and i < last:
                for key, size, cats, phrase in phrases.get(words[i + 1], ()):
                    if words[i:i + size] == key:
                        for c in cats:
                            if covered.get(c, 0) <= i:
                                hits.setdefault(c, []).append((phrase, i))
                                covered[c] = i + size
            for c, check in singles:
                if not check or covered.get(c, 0) <= i:
                    hits.setdefault(c, []).append((w, i))
        return hits


@dataclass
class Features:
    """What the criteria read: one tokenization and one lexicon scan per text."""

    words: list[str]
    sentences: list[int]  # word count of each sentence
    clause_starts: set[int]  # word indices that open a sentence or a clause (after , ; : —)
    hits: dict[str, list[tuple[str, int]]]
    counts: Counter[str]
    exclamations: int
    domain: str | None
    digits: int = 0  # number tokens: "7", "11", "2024"

    @property
    def n(self) -> int:
        return len(self.words)

    def count(self, category: str) -> int:
        return len(self.hits.get(category, ()))

    def distinct(self, category: str) -> list[str]:
        return list(dict.fromkeys(p for p, _ in self.hits.get(category, ())))


def extract(text: str, matcher: _Matcher, domain: str | None = None) -> Features:
    """Tokenize once and scan every lexicon list."""
    words: list[str] = []
    sentences: list[int] = []
    clause_starts = {0}
    start, exclamations = 0, 0
    for tok in _tokens(text.replace("\u2019", "'")):
        if tok[0].isalnum():
            words.append(tok)
            continue
        clause_starts.add(len(words))
        if tok[0] in ".!?":
            exclamations += tok.count("!")
            if len(words) > start:
                sentences.append(len(words) - start)
                start = len(words)
    if len(words) > start:
        sentences.append(len(words) - start)
    counts = Counter(words)
    digits = sum(c for w, c in counts.items() if w[0].isdigit())
    hits = matcher.scan(words)
    return Features(words, sentences, clause_starts, hits, counts, exclamations, domain, digits)


class Rubric:
    """The rubric grader. ``grade`` is pure; ``remember`` feeds the originality memory.

    ``pass_threshold``: the final score a text needs to pass (0.6). ``originality``: the memory
    of recently approved texts (a fresh, empty :class:`Originality` by default; restore one
    from a state store with :meth:`Originality.from_state`).
    """

    def __init__(self, pass_threshold: float = 0.6, originality: Originality | None = None) -> None:
        if not 0.0 <= pass_threshold <= 1.0:
            raise ValueError(f"pass_threshold must be within 0-1, got {pass_threshold}")
        self.pass_threshold = pass_threshold
        self.originality = originality if originality is not None else Originality()
        self.lexicon = load_lexicon()
        self._matcher = _Matcher(self.lexicon)

    def features(self, text: str, domain: str | None = None) -> Features:
        """The features the criteria are computed from (for debugging and tests)."""
        return extract(text, self._matcher, domain)

    def grade(self, text: str, domain: str | None = None) -> GradeResult:
        """Score ``text`` on the six criteria, apply the hard gates, recommend fixes."""
        f = extract(text, self._matcher, domain)
        dup_score, similarity, templates = self.originality.explain(text, f.words)
        criteria = _criteria(f, dup_score, similarity, templates)
        scores = {name: round(score, 4) for name, (score, _) in criteria.items()}
        raw = sum(WEIGHTS[k] * v for k, v in scores.items()) * _length_fit(f.n)
        gates = check_gates(text, f.counts)
        final = 0.0 if gates else round(raw, 4)
        return GradeResult(
            scores=scores, final_score=final, letter=letter_for(final),
            passed=not gates and final >= self.pass_threshold, gate_failures=gates,
            recommendations=_recommendations(criteria, gates, f.n),
            grader_version=GRADER_VERSION, word_count=f.n,
        )

    def remember(self, text: str) -> None:
        """Add an approved text to the originality memory."""
        self.originality.add(text)


def grade_records(records: Iterable[Mapping[str, Any]], rubric: Rubric | None = None,
                  created_at: Any = None, remember_passed: bool = False) -> Iterator[dict[str, Any]]:
    """Grade insight records offline (``kasper grade``): one Grade record (see :func:`to_record`) each.

    A record needs ``text``; ``insight_id``, ``prompt_id``, ``domain`` and ``created_at`` are
    optional. A missing ``insight_id`` becomes ``"sha256:<16 hex>"`` of the text, so grading the
    same file twice gives the same keys; a missing ``prompt_id`` becomes ``""`` (the Grade
    schema has no null for it). A missing ``created_at`` takes ``created_at`` (default:
    now, UTC, one value for the whole run). With ``remember_passed``, texts that pass feed the
    originality memory, so later duplicates in the same file score lower.
    Raises ``ValueError`` naming the record (0-based) when ``text`` is missing or not a string.
    """
    rubric = rubric or Rubric()
    created_at = created_at if created_at is not None else datetime.now(timezone.utc)
    for i, record in enumerate(records):
        text = record.get("text")
        if not isinstance(text, str):
            raise ValueError(f"record {i}: 'text' must be a string, got {type(text).__name__}")
        result = rubric.grade(text, record.get("domain"))
        if remember_passed and result.passed:
            rubric.remember(text)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        insight_id = record.get("insight_id") or f"sha256:{digest}"
        prompt_id = record.get("prompt_id") or ""
        yield to_record(result, insight_id, prompt_id, record.get("created_at", created_at))


def _length_fit(n: int) -> float:
    # Outside the band the text breaks the product format: 200 words keeps 60% of its
    # score (so even a flawless one fails), 25 words 80% (short ones also lose content).
    low, high = WORD_BAND
    if n < low:
        return 0.6 + 0.4 * n / low
    if n > high:
        return max(0.4, 1.0 - 0.008 * (n - high))
    return 1.0


def to_record(result: GradeResult, insight_id: str, prompt_id: str, created_at: Any) -> dict[str, Any]:
    """A dict with the Avro ``Grade`` field names; ``created_at`` (datetime or epoch ms) as given."""
    return {
        "insight_id": insight_id, "prompt_id": prompt_id, "scores": dict(result.scores),
        "final_score": result.final_score, "letter": result.letter, "passed": result.passed,
        "gate_failures": list(result.gate_failures), "recommendations": list(result.recommendations),
        "grader_version": result.grader_version, "word_count": result.word_count,
        "created_at": created_at,
    }


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
}


def _recommendations(criteria: dict[str, Scored], gates: list[str], n: int,
                     limit: int = 6) -> list[str]:
    recs = [_GATE_ADVICE[g.split(":")[0]].format(g.split(": ", 1)[1]) for g in gates]
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
