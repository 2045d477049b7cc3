"""The probe prompts every candidate adapter answers before promotion: the golden prompts.

They come from the golden set (:mod:`kasper.trainer.eval_set`), not from the
window: answers stay comparable across windows and versions. The set's version
(``PROBE_SET_VERSION``, the golden set's) is recorded with the metrics; changing
a golden prompt bumps it.
"""

from __future__ import annotations

from typing import Any

from .eval_set import GOLDEN_VERSION, golden_prompts

PROBE_SET_VERSION = GOLDEN_VERSION


def probe_prompts(count: int | None = None, tier: str = "standard") -> list[dict[str, Any]]:
    """The first ``count`` golden prompts (all by default) as PromptEvent-like dicts."""
    return [{k: v for k, v in p.items() if k != "reference"} for p in golden_prompts(count, tier)]
