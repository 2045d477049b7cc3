"""Few-shot exemplars: the best approved insights of each domain, shown to the generator.

A small model writes far better when its prompt shows two or three insights in the
voice wanted, as earlier turns of the chat (the context block -> the insight). The
pipeline already holds such texts: every approved insight, with its rubric score
and the judge's. :class:`ExemplarBook` keeps the best few per domain and hands a
prompt its examples; until a domain has enough approvals, the package's seed
examples (``templates/seed_exemplars.json``, written for it) fill in.

What an exemplar may carry, since it is shown while writing to someone else:

- its text with personal data redacted, and never to the same user (``user_hash``);
- its context without the user's own words (the journal snippet): only the card,
  signs, numbers, focus and mood it was written for;
- nothing that failed a gate.

The set a prompt gets changes only when a domain's best set changes, so the prefix
cache of the generator (system message + exemplar turns) is rebuilt only then. Each
set has a stable id (``exemplar_set``), recorded in every Insight it produced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from kasper.agents.quality.personal_data import redact_personal_data

SEED_FILE = "templates/seed_exemplars.json"
# Context fields an exemplar keeps: none of them is the user's own words.
_SHAREABLE = frozenset({"life_path_number", "personal_year", "sun_sign", "moon_sign", "rising_sign",
                        "moon_phase", "card", "focus", "mood"})
# Shorter or longer approved texts make poor examples for a 50-150 word insight.
_MIN_WORDS, _MAX_WORDS = 40, 170


@dataclass(frozen=True)
class Exemplar:
    """One example insight: where it came from, its context and text, and its quality."""

    ident: str
    domain: str
    context: Mapping[str, str]
    text: str
    score: float
    user_hash: str | None = None


@lru_cache(maxsize=1)
def seed_exemplars() -> dict[str, tuple[Exemplar, ...]]:
    """The shipped seed exemplars per domain (ids ``seed:<domain>:<n>``)."""
    raw = json.loads(resources.files("kasper.agents.quality").joinpath(SEED_FILE).read_text("utf-8"))
    return {domain: tuple(Exemplar(f"seed:{domain}:{i}", domain, dict(e["context"]), e["text"], 0.0)
                          for i, e in enumerate(items))
            for domain, items in raw["domains"].items()}


def from_approved(record: Mapping[str, Any]) -> Exemplar | None:
    """An ApprovedInsight as an exemplar, or None if it should not be shown to others."""
    insight, grade, verdict = record["insight"], record["grade"], record["verdict"]
    if grade.get("gate_failures") or verdict.get("safety"):
        return None
    text = redact_personal_data(insight["text"].strip())
    if not _MIN_WORDS <= len(text.split()) <= _MAX_WORDS:
        return None
    prompt = record["prompt"]
    context = {k: v for k, v in (prompt.get("context") or {}).items() if k in _SHAREABLE}
    # Rubric (0-1) and judge (0-10) weigh the same.
    score = (float(grade["final_score"]) + float(verdict.get("overall") or 0.0) / 10.0) / 2.0
    return Exemplar(record["insight_id"], insight["domain"], context, text, round(score, 4),
                    prompt.get("user_hash"))


class ExemplarBook:
    """The best ``keep`` approved exemplars per domain, and the seeds; see the module doc."""

    def __init__(self, per_prompt: int = 2, keep: int = 4) -> None:
        self.per_prompt = per_prompt
        self.keep = max(keep, per_prompt + 1)
        self._best: dict[str, list[Exemplar]] = {}

    def offer(self, record: Mapping[str, Any]) -> bool:
        """Consider an ApprovedInsight; True if its domain's kept set changed."""
        exemplar = from_approved(record)
        if exemplar is None:
            return False
        kept = self._best.setdefault(exemplar.domain, [])
        if any(e.ident == exemplar.ident or e.text == exemplar.text for e in kept):
            return False  # a redelivered approval, or the same text approved twice
        ranked = sorted(kept + [exemplar], key=lambda e: (-e.score, e.ident))[:self.keep]
        if ranked == kept:
            return False
        self._best[exemplar.domain] = ranked
        return True

    def choose(self, domain: str, user_hash: str | None = None) -> tuple[str | None, list[Exemplar]]:
        """The exemplars for a prompt of ``domain`` by ``user_hash``, and the set's id."""
        if self.per_prompt <= 0:
            return None, []
        learned = [e for e in self._best.get(domain, ()) if not (user_hash and e.user_hash == user_hash)]
        picks = (learned + list(seed_exemplars().get(domain, ())))[:self.per_prompt]
        if not picks:
            return None, []
        return set_id(picks), picks


def set_id(exemplars: list[Exemplar]) -> str:
    """A short stable id of an exemplar set (its members, in order)."""
    digest = hashlib.sha256("\x1f".join(e.ident for e in exemplars).encode()).hexdigest()
    return f"{exemplars[0].domain}-{digest[:12]}"
