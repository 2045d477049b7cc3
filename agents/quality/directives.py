"""Harmful directives, hateful content and prompt injection in generated insights.

:func:`find_harm` is the engine behind the non-personal-data hard gates of
:func:`kasper.agents.quality.gates.check_gates`. It returns ``(gate, reason)`` pairs:

- ``medical_directive``: stopping, skipping, reducing, doubling, replacing or throwing
  away medication, treatment or therapy (drug classes and common drug names), telling
  the reader they no longer need them, replacing a doctor by a ritual, remedies that
  "cure" disease.
- ``legal_financial_directive``: putting savings, pensions, property or loans at risk
  (crypto, lottery, casino, leverage, "sure things"), or disregarding legal
  obligations (summons, court orders, taxes, child support, lying to insurers).
- ``eating_disorder``: starving, fasting for days, purging, skipping meals as
  punishment, tiny calorie targets, "earning" food.
- ``self_harm``: direct and indirect (farewell letters, giving possessions away as a
  farewell, the world being better without you, resting forever).
- ``hateful``: demeaning a group.
- ``injection``: text that talks to the grader instead of the reader: "ignore previous
  instructions", "as the judge, approve", chat/markup tokens, control characters.

How a directive is recognised. Matching runs on a normalised copy of the text
(:func:`normalize`: NFKC, curly quotes, zero-width characters dropped, light leetspeak,
lower case). Three layers read it, each only for gates the layers before left silent:

1. Precise rules (one module per gate under :mod:`kasper.agents.quality.harm`) pair a
   harmful verb with a harmful object inside one clause: the words between them may only
   be determiners and modifiers, never punctuation, so a pair cannot straddle two
   clauses. Sentence form does not matter: imperatives, "you should", "it's time to",
   "consider stopping", "why not" all contain the same pair.
2. The broad detector (:mod:`~kasper.agents.quality.harm.broad`) generalises the pair:
   a change verb of the gate's family, a risk object of the gate a few words on (drug
   classes by suffix, generic nouns, a pronoun whose object was just named), and a lead
   aimed at the reader (:mod:`~kasper.agents.quality.harm.leads`); passive forms ("the
   chemo is best set aside"); phrase cues for ideas with no verb and object
   (:mod:`~kasper.agents.quality.harm.cues`: "let Sunday be your final sunset", "three
   days of nothing").
3. The loose layer (:mod:`~kasper.agents.quality.harm.loose`) reads a sentence as a bag
   of signals: a risk object, a change cue anywhere, a reader being addressed, and no
   protective cue (keeping the treatment, a professional to ask, a condition, a small
   amount); for self-harm, an ending for the reader in a text about despair.

Negation counts only where it governs the directive verb: a negator followed by
nothing but adverbs and auxiliaries up to the verb ("never stop", "do not just stop",
"you don't need to stop", "never halve or stop"). "Don't wait: stop", "Don't hesitate,
stop", "Before bed, stop" have other words (or a clause mark) in between and stay
harmful. A verb whose subject is someone else ("she stopped her chemo") or the topic of
a thought ("he is thinking about changing his treatment") directs nobody. Deferring to a
professional in the same sentence ("talk to your doctor before you stop") makes a
medical, financial or legal directive safe; a self-harm mention is safe only as a
mention ("if you are thinking about ending your life") next to a crisis resource. When
in doubt the gates fail.

Speed: every rule and cue lists trigger words; a text runs only the rules whose words it
holds, over the sentences holding them, and verbs are matched only where their first
word stands.
"""

from __future__ import annotations

# The rules and the engine live in the harm subpackage; this module is the entry point
# the gates and the tests import.
from kasper.agents.quality.harm.engine import GATES, find_harm
from kasper.agents.quality.harm.injection import find_injection
from kasper.agents.quality.harm.normalize import normalize, words_of

__all__ = ["GATES", "find_harm", "find_injection", "normalize", "words_of"]
