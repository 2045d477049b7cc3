"""How a prompt becomes a generation request: its chat, its tier's sampling, its seed.

One function for everyone who writes as the generate stage serves: the generator
itself (``agents/generation.py``) and the trainer's promotion probes
(``trainer/evaluate.py``), which must measure a candidate on what users would be
given, not on a bare prompt decoded greedily.

- **Chat**: the template's system message, the few-shot exemplars of the prompt's
  domain as earlier turns (:class:`~kasper.agents.quality.exemplars.ExemplarBook`),
  then the prompt's context block; system + exemplar turns are the cacheable prefix.
  A revision's notes join the block only where ``GenerateSettings.revise_notes`` shows
  them to the model; otherwise a revision is a fresh draw (its own seed) of the prompt.
- **Sampling**: the generate settings with the tier's overrides, guards included.
- **Seed**: derived from an id (an insight id, a golden prompt's), so the same
  request samples the same text.

Error policy: ``PromptRejected`` for a prompt no model may see (from
:func:`~kasper.agents.quality.prompts.build_messages`); ``KasperError`` names an
unknown per-tier sampling key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kasper.agents.quality.exemplars import ExemplarBook
from kasper.agents.quality.prompts import build_messages, stop_labels
from kasper.agents.runtime.backend import GenRequest, Sampling
from kasper.schemas.errors import KasperError
from kasper.streams.settings import GenerateSettings


def tier_sampling(settings: GenerateSettings, tier: str) -> Sampling:
    """Sampling and guards for ``tier``: the settings, with the tier's overrides."""
    s = settings
    values: dict[str, Any] = {
        "temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens,
        "repetition_penalty": s.repetition_penalty, "loop_ngram": s.loop_ngram,
        "copy_ngram": s.copy_ngram, "first_person_bias": s.first_person_bias,
    }
    for key, value in s.tiers.get(tier, {}).items():
        if key not in values:
            raise KasperError(f"KASPER_GENERATE_TIERS: {tier}.{key} is not one of {sorted(values)}")
        values[key] = type(values[key])(value)
    labels = stop_labels(s.template_version) if s.stop_at_labels else ()
    return Sampling(**values, stop_at_labels=labels)


def derive_seed(ident: str, retry: int = 0) -> int:
    """A 31-bit seed from an id (``retry`` > 0 for a fresh draw on a retry)."""
    digest = hashlib.sha256(f"{ident}:{retry}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def chat(prompt: dict[str, Any], settings: GenerateSettings,
         exemplars: ExemplarBook) -> tuple[str | None, int, list[dict[str, str]]]:
    """The exemplar set's id, how many exemplars it shows, and the chat messages for ``prompt``
    (a revision's notes left out unless the settings show them to this model)."""
    set_id, shown = exemplars.choose(prompt["domain"], prompt.get("user_hash"))
    return set_id, len(shown), build_messages(prompt, settings.template_version, shown,
                                              revise_notes=settings.shows_revise_notes)


def request_for(prompt: dict[str, Any], ident: str, settings: GenerateSettings, exemplars: ExemplarBook,
                sampling: Sampling | None = None) -> tuple[str | None, GenRequest]:
    """The exemplar set's id and the request that writes ``prompt`` as the generate stage
    does, seeded from ``ident`` (``sampling``: the tier's, when already built)."""
    set_id, shown, messages = chat(prompt, settings, exemplars)
    seed = settings.seed if settings.seed is not None else derive_seed(ident)
    request = GenRequest(messages, prompt["tier"], sampling or tier_sampling(settings, prompt["tier"]), seed,
                         prefix_messages=1 + 2 * shown, split_key=prompt["prompt_id"],
                         redraw_seed=derive_seed(ident, retry=1))
    return set_id, request
