"""The probe prompts every candidate adapter answers before promotion.

The golden prompts come first (:mod:`kasper.trainer.eval_set`: written for the
package, with reference answers); past the golden set's size the list goes on with
fixed synthetic prompts (:mod:`kasper.streams.synthetic_prompts`, seed
:data:`PROBE_SEED`, which no benchmark or default run produces), the kind of
prompt the upstream services send. Neither comes from a window, so answers stay
comparable across windows and versions.

Why more prompts rather than more answers per prompt: the decision's interval is
over prompts, and at the same number of answers, ``n`` prompts answered once vary
less than ``n / 2`` answered twice (each prompt's own variation is averaged over
twice as many prompts, the sampling variation over as many answers).

``PROBE_SET_VERSION`` names the set (the golden set's version and the synthetic
seed); changing either changes it.
"""

from __future__ import annotations

from typing import Any

from kasper.streams.synthetic_prompts import synthetic_prompt

from .eval_set import GOLDEN_VERSION, golden_prompts

PROBE_SEED = 90_001
PROBE_SET_VERSION = f"{GOLDEN_VERSION}+synthetic-{PROBE_SEED}"
_FIELDS = ("prompt_id", "domain", "context", "instructions", "revise_notes")


def probe_prompts(count: int | None = None, tier: str = "standard") -> list[dict[str, Any]]:
    """``count`` probe prompts (None: the golden ones only) as PromptEvent-like dicts: the
    golden prompts, then synthetic ones."""
    golden = [{k: v for k, v in p.items() if k != "reference"} for p in golden_prompts(count, tier)]
    extra = max(0, (count or 0) - len(golden))
    return golden + [{k: p[k] for k in _FIELDS} | {"tier": tier}
                     for p in (synthetic_prompt(i, PROBE_SEED) for i in range(extra))]
