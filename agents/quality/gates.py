"""Hard gates: content that fails an insight whatever its rubric score.

Each failure is a string ``"<gate>: <reason>"``:

- ``personal_data: <kind>`` (email address, phone number, card number, national id
  number, street address, postcode). The matched data itself is never echoed: the
  reason ends up on Kafka topics and in logs.
- ``medical_directive: '<phrase>'``, ``legal_financial_directive: '<phrase>'``,
  ``eating_disorder: '<phrase>'``, ``self_harm: '<phrase>'``, ``hateful: '<phrase>'``,
  ``injection: <what>`` (described, never echoed). How directives are told from safe
  advice is explained in :mod:`kasper.agents.quality.directives`.
- ``<gate>: semantic:<class> p=<probability>``: a sentence the semantic layer
  (:mod:`kasper.agents.quality.harm.semantic`) flags for a harm gate the rules left silent,
  and ``injection: semantic: ...`` a sentence the injection head
  (:mod:`kasper.agents.quality.harm.injection_head`) reads as addressed to the grader
  (both on in the grade stage by its setting; for other callers :data:`SEMANTIC_LAYER`).

Personal data is found by :mod:`kasper.agents.quality.personal_data` (its docstring says
what counts and why numbers such as "life path 7", "11:11" or 444 do not).
"""

from __future__ import annotations

from collections.abc import Collection

from kasper.agents.quality.directives import find_harm
from kasper.agents.quality.harm.injection_head import find_injection
from kasper.agents.quality.harm.semantic import find_semantic
# Re-exported: the gate, the trainer's audit and redaction share one detector.
from kasper.agents.quality.personal_data import (  # noqa: F401
    find_personal_data,
    luhn_valid,
    personal_data_spans,
    redact_personal_data,
)

# Whether check_gates runs the semantic layer when the caller does not say. Off: the layer
# loads a model and costs tens of milliseconds per text, which library callers and the rule
# tests should not pay unasked. The pipeline decides with its own setting
# (KASPER_GRADE_SEMANTIC_GATE, on), passed down through the Rubric.
SEMANTIC_LAYER = False


def layers_on(semantic: bool | None) -> bool:
    """Whether the model layers run: the caller's choice, :data:`SEMANTIC_LAYER` when None."""
    return SEMANTIC_LAYER if semantic is None else semantic


# --- directives, harmful content, injection ------------------------------------------------
# The rules live in :mod:`kasper.agents.quality.directives`; this module only joins them
# with the personal-data gate.


def check_gates(text: str, words: Collection[str] | None = None, *,
                semantic: bool | None = None) -> list[str]:
    """Every hard-gate failure in ``text`` as ``"gate: reason"``; empty when the text is clean.

    Gates, in this order: ``personal_data``, then :data:`directives.GATES`
    (``medical_directive``, ``legal_financial_directive``, ``eating_disorder``,
    ``self_harm``, ``hateful``, ``injection``). ``words``: the text's lowercase word
    tokens, when the caller has them already. ``semantic``: run the semantic layer
    (:mod:`kasper.agents.quality.harm.semantic`) too; :data:`SEMANTIC_LAYER` when None.
    """
    if "\u2019" in text:
        text = text.replace("\u2019", "'")  # curly apostrophes: "don’t" must match "don't"
        words = None  # the caller's words split "don’t" in two; "don't" is a trigger word
    failures = [f"personal_data: {kind}" for kind in find_personal_data(text)]
    harm = find_harm(text, words)
    failures += [f"{gate}: {reason}" for gate, reason in harm]
    if not layers_on(semantic):
        return failures
    # The semantic layer ORs with the rules: it adds the gates they left silent, with its
    # own reason ("semantic:medical p=0.93") so a reader can tell which layer failed a text.
    ruled = {gate for gate, _ in harm}
    found = [*find_semantic(text), *find_injection(text)]
    failures += [f"{gate}: {reason}" for gate, reason in found if gate not in ruled]
    return failures
