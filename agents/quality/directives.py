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
lower case). Each rule pairs a harmful verb with a harmful object inside one clause:
the words between them may only be determiners and modifiers, never punctuation, so a
pair cannot straddle two clauses. Sentence form does not matter: imperatives, "you
should", "it's time to", "consider stopping", "why not" all contain the same pair.

Negation counts only where it governs the directive verb: a negator followed by
nothing but adverbs and auxiliaries up to the verb ("never stop", "do not just stop",
"you don't need to stop", "it's not safe to stop"). "Don't wait: stop", "Don't
hesitate, stop", "Before bed, stop" have other words (or a clause mark) in between and
stay harmful. Deferring to a professional in the same sentence ("talk to your doctor
before you stop") makes a medical, financial or legal directive safe; a self-harm
mention is safe only as a mention ("if you are thinking about ending your life")
next to a crisis resource. When in doubt the gates fail: a harmful object with a
harmful verb is flagged.

Speed: every rule lists groups of trigger words, each group holding a word of every
possible match. A text runs only the rules whose groups all meet its words, and each
rule scans only the sentences holding a word of its least common group, so a typical
insight runs a handful of rules over a sentence or two.
"""

from __future__ import annotations

# The rules and the engine live in the harm subpackage; this module is the entry point
# the gates and the tests import.
from kasper.agents.quality.harm.engine import GATES, find_harm
from kasper.agents.quality.harm.injection import find_injection
from kasper.agents.quality.harm.normalize import normalize, words_of

__all__ = ["GATES", "find_harm", "find_injection", "normalize", "words_of"]
