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

The criteria, their weights and their advice are in :mod:`kasper.agents.quality.criteria`,
the features they read in :mod:`kasper.agents.quality.features`; this module combines the
scores into a grade and writes records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kasper.agents.quality import caution, coherence, criteria_v2, relevance, salad
from kasper.agents.quality.criteria import WEIGHTS, WORD_BAND, _criteria, _recommendations
from kasper.agents.quality.features import Features, Matcher, extract, load_lexicon, without
from kasper.agents.quality.gates import check_gates, layers_on
from kasper.agents.quality.originality import Originality
from kasper.agents.quality.prompts import template

GRADER_VERSION = "rubric-2.2"
# rubric-2.0 (2026-12-02 to 12-05) is not selectable: its code was changed in place,
# so grades it wrote differ from any code kept here; regrade them with rubric-2.1.
# rubric-2.2 is rubric-2.1 with the salad head (:mod:`salad`) where the model layers run.
GRADER_VERSIONS = ("rubric-1.0", "rubric-2.1", "rubric-2.2")
# Lexicon lists whose hits say nothing about stuffing: numbers are content, and the
# negative lists (clichés, buzzwords...) are penalised by the criteria themselves.
_NOT_STUFFING = frozenset({"numbers", "cliches", "platitudes", "buzzwords", "grandiose", "absolutes", "vague", "harsh"})
LETTER_CUTOFFS = ((0.85, "A"), (0.75, "B"), (0.60, "C"), (0.45, "D"))


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


class Rubric:
    """The rubric grader. ``grade`` is pure; ``remember`` feeds the originality memory.

    ``pass_threshold``: the final score a text needs to pass (0.6). ``originality``: the memory
    of recently approved texts (a fresh, empty :class:`Originality` by default; restore one
    from a state store with :meth:`Originality.from_state`). ``version``: one of
    ``GRADER_VERSIONS`` (the newest by default; ``rubric-1.0`` stays for comparisons).
    """

    def __init__(self, pass_threshold: float = 0.6, originality: Originality | None = None,
                 version: str = GRADER_VERSION, semantic: bool | None = None) -> None:
        if not 0.0 <= pass_threshold <= 1.0:
            raise ValueError(f"pass_threshold must be within 0-1, got {pass_threshold}")
        if version not in GRADER_VERSIONS:
            raise ValueError(f"unknown grader version {version!r}; known: {', '.join(GRADER_VERSIONS)}")
        self.pass_threshold = pass_threshold
        self.version = version
        # Whether the model layers run (the gates' semantic layer, rubric-2.2's salad
        # head); None: the gates' module default.
        self.semantic = semantic
        self.originality = originality if originality is not None else Originality()
        self.lexicon = load_lexicon()
        self._matcher = Matcher(self.lexicon)
        self._labels = template()["context_labels"]
        self._stop = frozenset(self.lexicon["stopwords"]) | coherence.FUNCTION_WORDS

    def features(self, text: str, domain: str | None = None) -> Features:
        """The features the criteria are computed from (for debugging and tests)."""
        return extract(text, self._matcher, domain)

    def evidence(self, text: str, domain: str | None = None,
                 context: Mapping[str, str] | None = None
                 ) -> tuple[Features, coherence.Coherence, relevance.Relevance]:
        """The features, coherence and relevance evidence rubric v2 scores ``text`` by."""
        f = extract(text, self._matcher, domain)
        positions = {i + k for category, hits in f.hits.items() if category not in _NOT_STUFFING
                     for phrase, i in hits for k in range(phrase.count(" ") + 1)}
        coh = coherence.assess(f.words, f.sentences, positions, f.clause_starts)
        # Lexicon words in a list "sentence" are no evidence of anything: they count for no
        # criterion (the list itself costs coherence).
        f = without(f, coherence.list_spans(f.words, f.sentences, coherence.inner_positions(f.words)))
        rel = relevance.assess(f.words, f.counts, text, criteria_v2.domain_grounding(f), context,
                               self._labels, self._stop, f.clause_starts, coh.score >= 0.8)
        return f, coh, rel

    def grade(self, text: str, domain: str | None = None,
              context: Mapping[str, str] | None = None) -> GradeResult:
        """Score ``text`` on the six criteria, apply the hard gates, recommend fixes.

        ``context``: the prompt's context (card, sign, journal snippet...), when known;
        rubric v2 rewards taking it up and spots copying it.
        """
        notes: list[str] = []  # advice ahead of the criteria's own
        if self.version == "rubric-1.0":
            f = extract(text, self._matcher, domain)
            dup_score, similarity, templates = self.originality.explain(text, f.words)
            scored = _criteria(f, dup_score, similarity, templates)
            factor = 1.0
        else:
            f, coh, rel = self.evidence(text, domain, context)
            dup_score, similarity, templates = self.originality.explain(text, f.words)
            scored = criteria_v2.criteria(f, coh, rel, dup_score, similarity, templates)
            sensitive = caution.uncovered(text)
            notes = caution.advice(sensitive) + ([_STITCHED_ADVICE] if rel.stitched >= 2 else [])
            said = self._says_something(text)
            notes += [] if said else [_SALAD_ADVICE]
            factor = (1.0 if said else _SALAD_FACTOR) * (_coherence_factor(min(coh.score, _single_reading(rel.stitched)))
                      * _relevance_factor(rel.score, context)
                      * _voice_factor(rel.voice) * _concrete_factor(criteria_v2.concreteness(f))
                      * (_SENSITIVE_FACTOR if sensitive else 1.0))
        scores = {name: round(score, 4) for name, (score, _) in scored.items()}
        raw = sum(WEIGHTS[k] * v for k, v in scores.items()) * _length_fit(f.n) * factor
        gates = check_gates(text, f.counts, semantic=self.semantic)
        final = 0.0 if gates else round(raw, 4)
        return GradeResult(
            scores=scores, final_score=final, letter=letter_for(final),
            passed=not gates and final >= self.pass_threshold, gate_failures=gates,
            recommendations=_recommendations(scored, gates, f.n, notes),
            grader_version=self.version, word_count=f.n,
        )

    def _says_something(self, text: str) -> bool:
        if self.version != "rubric-2.2" or not layers_on(self.semantic):
            return True
        return not salad.is_salad(text)[0]

    def remember(self, text: str) -> None:
        """Add an approved text to the originality memory."""
        self.originality.add(text)


_STITCHED_ADVICE = ("Answer this reader's own reading: the text names cards, signs or numbers "
                    "from other readings, one sentence each")
# Salad the structure evidence missed (grammatical, on topic) fails like salad it caught:
# a flawless text ends below the pass threshold, and the advice says why.
_SALAD_FACTOR = 0.5
_SALAD_ADVICE = ("Say one clear thing to the reader: sentences here read as words that do not "
                 "mean anything together")
# A sensitive topic without a pointer to help (:mod:`caution`) fails whatever else the text
# does well: a flawless text ends below the pass threshold.
_SENSITIVE_FACTOR = 0.55


def _coherence_factor(score: float) -> float:
    # Incoherent text (salad, shuffles, loops) loses up to 85% of its score whatever its
    # criteria say: no amount of lexicon can make up for not being prose.
    return min(1.0, 0.15 + 0.85 * score / 0.8)


def _single_reading(stitched: int) -> float:
    # Sentences spliced from several insights name several readings the prompt never asked
    # about (another card, a sign, a life path): as incoherent as a salad, however fluent.
    return 1.0 if stitched < 2 else 0.25 if stitched == 2 else 0.0


def _voice_factor(voice: float) -> float:
    # An assistant's offer, a diary or a narration is not an insight however good its words.
    return 0.55 + 0.45 * voice


def _concrete_factor(concrete: float) -> float:
    # Platitudes fit every reader and so help none: without one concrete thing (a time,
    # a count, an object of the reader's day) a text loses up to 35% of its score.
    return 0.65 + 0.35 * concrete


def _relevance_factor(score: float, context: Mapping[str, str] | None) -> float:
    # Off-topic is only knowable against the prompt: with its context an off-topic text
    # loses up to 45%; with the domain alone or nothing (offline grading) 10%: plain language
    # without the domain's words is no sign of being off topic.
    weight = 0.45 if context else 0.1
    return 1.0 - weight * (1.0 - score)


def grade_records(records: Iterable[Mapping[str, Any]], rubric: Rubric | None = None,
                  created_at: Any = None, remember_passed: bool = False) -> Iterator[dict[str, Any]]:
    """Grade insight records offline (``kasper grade``): one Grade record (see :func:`to_record`) each.

    A record needs ``text``; ``insight_id``, ``prompt_id``, ``domain``, ``context`` (or a
    carried ``prompt`` with its context) and ``created_at`` are optional. A missing ``insight_id`` becomes ``"sha256:<16 hex>"`` of the text, so grading the
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
        prompt = record.get("prompt") if isinstance(record.get("prompt"), Mapping) else {}
        context = record.get("context") or prompt.get("context")
        result = rubric.grade(text, record.get("domain") or prompt.get("domain"),
                              context if isinstance(context, Mapping) else None)
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
