"""Live evidence on model versions, and the rule that rolls a promoted version back.

Every Insight names the adapter version that wrote it (``adapter_version``; null
is the base model, counted as ``"base"``). :class:`Tally` folds the records of
three topics into per-version counts, keyed by tier and version label:

- ``kasper.verdicts``: each verdict carries its grade and insight, so its insight
  id is *judged* and belongs to the insight's version (a rubric REVISE, a judge
  REJECT or REVISE and an APPROVE all count once per insight id);
- ``kasper.approved``: the insight id is *approved* (and judged);
- ``kasper.feedback``: a thumbs up or down on an insight id, attributed to the
  version of that insight once the insight is known from either topic above.
  Feedback without thumbs (stars or a comment only) is not a thumb.

Records are deduplicated by insight id (verdicts, approvals) and feedback id
(thumbs), so a redelivered record is not counted twice.

:func:`decide` compares a newly promoted version with its incumbent (what served
the tier before it) on two rates: approval (approved / judged) and thumbs up
(up / up + down). For each rate it bounds the incumbent's lead ``d = p_old -
p_new`` with Newcombe's hybrid score interval (Wilson intervals of each rate,
combined), one-sided at ``alpha / 2`` per rate (Bonferroni over the two rates).
Newcombe rather than the plain Wald interval because thumbs-up rates sit near 1
and counts are small at first, where Wald's interval is too narrow (it is empty
at a rate of 0 or 1). Per rate:

- ``too few``: either version has fewer than ``min_count`` trials: no judgement
  at all, however large the difference looks (a version with a handful of
  lucky or unlucky insights must not be promoted or rolled back on them);
- ``worse``: the lower bound of ``d`` exceeds ``margin``, i.e. the test of
  "the new version is at most ``margin`` below the incumbent" rejects;
- ``not worse``: the upper bound of ``d`` is at most ``margin``;
- ``unsure``: neither yet.

The version is rolled back when any rate is ``worse``, kept (fully promoted)
when every rate is ``not worse``, and watched further otherwise.

Which period the two rates come from: a canary (a new version serving a share of
its tier beside the incumbent, split by prompt id) is compared with the incumbent
on the same period, the insights written since the canary was recorded
(``Tally.counts(..., since=...)``), so drift in prompts, users or judges hits both
alike and the margin stands for the model alone. Without a canary (share 0) the
incumbent served before the new version, the rates come from different periods,
and the margin also absorbs drift that is not the model's doing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist
from typing import Any

BASE = "base"
ROLLBACK, KEEP, WAIT = "rollback", "keep", "wait"


@dataclass(frozen=True)
class Live:
    """One version's live counts."""

    judged: int = 0
    approved: int = 0
    up: int = 0
    down: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"judged": self.judged, "approved": self.approved, "up": self.up, "down": self.down}


@dataclass(frozen=True)
class Policy:
    """When the live watch decides (``KASPER_TRAINER_ROLLBACK_*``)."""

    margin: float = 0.05
    min_count: int = 100
    alpha: float = 0.05

    @classmethod
    def from_settings(cls, trainer: Any) -> "Policy":
        return cls(trainer.rollback_margin, trainer.rollback_min_count, trainer.rollback_alpha)


@dataclass(frozen=True)
class Comparison:
    """One rate of the new version against the incumbent's, and what it says."""

    rate: str  # "approval" or "thumbs_up"
    new: tuple[int, int]  # (hits, trials)
    old: tuple[int, int]
    low: float | None  # bounds of the incumbent's lead p_old - p_new (None: too few)
    high: float | None
    outcome: str  # "too few", "worse", "not worse", "unsure"

    def describe(self) -> str:
        text = f"{self.rate} {_rate(self.new)} vs {_rate(self.old)}"
        if self.low is None:
            return f"{text}: too few"
        return f"{text}: lead of the incumbent in [{self.low:+.3f}, {self.high:+.3f}], {self.outcome}"


@dataclass(frozen=True)
class Decision:
    """What to do with the new version: ``rollback``, ``keep`` or ``wait``, and why."""

    action: str
    reason: str
    comparisons: tuple[Comparison, ...]


class Tally:
    """Per-version live counts from decoded verdicts, approvals and feedback records."""

    def __init__(self) -> None:
        self._owner: dict[str, tuple[str, str]] = {}  # insight id -> (tier, version label)
        self._written: dict[str, int | None] = {}  # insight id -> when it was written (epoch ms)
        self._approved: set[str] = set()
        self._thumbs: dict[str, tuple[str, bool]] = {}  # feedback id -> (insight id, up?)
        self.skipped = 0

    def add(self, topic: str, record: Mapping[str, Any]) -> None:
        """Fold one record of ``kasper.verdicts``, ``kasper.approved`` or ``kasper.feedback``.

        A record of another shape (another schema written to the topic, a field missing)
        is counted in ``skipped`` and left out: the watch reads what the stages wrote and
        dead-letters nothing itself, and one odd record must not stop the train role.
        """
        try:
            self._add(topic, record)
        except (KeyError, TypeError, AttributeError):
            self.skipped += 1

    def _add(self, topic: str, record: Mapping[str, Any]) -> None:
        if topic.endswith(".verdicts"):
            insight = (record.get("grade") or {}).get("insight")
            if insight is not None:  # verdicts written before grades carried insights: no version
                self._own(insight)
        elif topic.endswith(".approved"):
            self._own(record["insight"])
            self._approved.add(record["insight_id"])
        elif topic.endswith(".feedback") and record.get("rating") in ("up", "down"):
            self._thumbs[record["feedback_id"]] = (record["insight_id"], record["rating"] == "up")

    def _own(self, insight: Mapping[str, Any]) -> None:
        owner = (insight["tier"], insight.get("adapter_version") or BASE)
        if self._owner.setdefault(insight["insight_id"], owner) == owner:
            self._written.setdefault(insight["insight_id"], epoch_ms(insight.get("created_at")))

    def counts(self, tier: str, version: str, since: int | None = None) -> Live:
        """The live counts of ``version`` (``"base"``: the base model) on ``tier``, of the
        insights written at ``since`` (epoch ms) or later when given (a canary's period)."""
        key = (tier, version)
        mine = {i for i, owner in self._owner.items() if owner == key
                and (since is None or (self._written.get(i) or 0) >= since)}
        thumbs = [up for insight_id, up in self._thumbs.values() if insight_id in mine]
        return Live(judged=len(mine), approved=len(mine & self._approved),
                    up=sum(thumbs), down=len(thumbs) - sum(thumbs))


def decide(new: Live, old: Live, policy: Policy) -> Decision:
    """Roll back, keep or wait: the rule of the module docstring."""
    z = NormalDist().inv_cdf(1 - policy.alpha / 2)  # one-sided, alpha split over two rates
    comparisons = (
        compare("approval", (new.approved, new.judged), (old.approved, old.judged), policy, z),
        compare("thumbs_up", (new.up, new.up + new.down), (old.up, old.up + old.down), policy, z),
    )
    outcomes = {c.outcome for c in comparisons}
    details = "; ".join(c.describe() for c in comparisons)
    if "worse" in outcomes:
        action = ROLLBACK
        why = f"worse than the incumbent by more than {policy.margin:g}"
    elif outcomes == {"not worse"}:
        action = KEEP
        why = f"not worse than the incumbent by more than {policy.margin:g}"
    else:
        action = WAIT
        why = f"not enough evidence yet ({policy.min_count} trials per rate and version at least)"
    return Decision(action, f"{why} (one-sided alpha {policy.alpha:g} over two rates): {details}",
                    comparisons)


def compare(rate: str, new: tuple[int, int], old: tuple[int, int], policy: Policy,
            z: float) -> Comparison:
    """One rate: the bounds of the incumbent's lead and the outcome."""
    if min(new[1], old[1]) < policy.min_count:
        return Comparison(rate, new, old, None, None, "too few")
    low, high = lead_bounds(new, old, z)
    outcome = "worse" if low > policy.margin else "not worse" if high <= policy.margin else "unsure"
    return Comparison(rate, new, old, low, high, outcome)


def lead_bounds(new: tuple[int, int], old: tuple[int, int], z: float) -> tuple[float, float]:
    """Newcombe's hybrid score bounds on ``p_old - p_new`` (each side one-sided at ``z``)."""
    p_new, (l_new, u_new) = new[0] / new[1], wilson(*new, z)
    p_old, (l_old, u_old) = old[0] / old[1], wilson(*old, z)
    lead = p_old - p_new
    low = lead - math.sqrt((p_old - l_old) ** 2 + (u_new - p_new) ** 2)
    high = lead + math.sqrt((u_old - p_old) ** 2 + (p_new - l_new) ** 2)
    return low, high


def wilson(hits: int, trials: int, z: float) -> tuple[float, float]:
    """Wilson score bounds of a rate of ``hits`` in ``trials``."""
    p, n = hits / trials, trials
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def epoch_ms(value: Any) -> int | None:
    """A decoded timestamp-millis (a datetime, or already an int) in epoch milliseconds."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value) if isinstance(value, (int, float)) else None


def _rate(pair: tuple[int, int]) -> str:
    return f"{pair[0]}/{pair[1]}"
