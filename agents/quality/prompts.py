"""Chat prompts for insights: versioned templates, shared by the generator and the trainer.

The trainer builds SFT records with these messages, so a model is trained on the
template it will be served with (without the few-shot exemplar turns the generator
adds: they would more than double every training sequence; docs/trainer.md). Templates are data
(``agents/quality/templates/*.json``); the version travels in every Insight.

What upstream services wrote (journal snippets, instructions) is quoted as the
person's words, never spliced in as instructions, and a prompt that tries to
override the rules is refused with :class:`PromptRejected` before any model sees it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from kasper.schemas.errors import KasperError
# The name is a setting (KASPER_GENERATE_TEMPLATE_VERSION's default); template() checks it exists.
from kasper.streams.settings import DEFAULT_TEMPLATE

MAX_CONTEXT_VALUE_CHARS = 1_000
MAX_CONTEXT_CHARS = 4_000
MAX_INSTRUCTIONS_CHARS = 500

_OVERRIDE = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|rules|prompt|above|previous)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bact as\b|\bjailbreak\b|\bdeveloper mode\b"
    r"|<\|?(system|im_start|im_end)\|?>",
    re.IGNORECASE | re.DOTALL,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class PromptRejected(KasperError):
    """A prompt event that must not reach a model; the message says why."""


@lru_cache(maxsize=None)
def template(version: str = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """The template ``version`` from the package, loaded once."""
    try:
        text = resources.files("kasper.agents.quality").joinpath(f"templates/{version}.json").read_text()
    except FileNotFoundError:
        raise PromptRejected(f"unknown template version {version!r}") from None
    return json.loads(text)


def check_prompt(prompt: Mapping[str, Any], version: str = DEFAULT_TEMPLATE) -> None:
    """Raise :class:`PromptRejected` for a prompt no model should see, naming the field."""
    tpl = template(version)
    if prompt["domain"] not in tpl["domains"]:
        raise PromptRejected(f"domain: unknown domain {prompt['domain']!r} for template {version}")
    context = prompt.get("context") or {}
    if not context:
        raise PromptRejected("context: empty; an insight needs at least one context entry")
    total = 0
    for key, value in context.items():
        total += len(key) + len(value)
        if len(value) > MAX_CONTEXT_VALUE_CHARS:
            raise PromptRejected(f"context.{key}: {len(value)} chars, limit {MAX_CONTEXT_VALUE_CHARS}")
        _check_text(f"context.{key}", value)
    if total > MAX_CONTEXT_CHARS:
        raise PromptRejected(f"context: {total} chars in all, limit {MAX_CONTEXT_CHARS}")
    instructions = prompt.get("instructions") or ""
    if len(instructions) > MAX_INSTRUCTIONS_CHARS:
        raise PromptRejected(f"instructions: {len(instructions)} chars, limit {MAX_INSTRUCTIONS_CHARS}")
    _check_text("instructions", instructions)


def _check_text(field: str, value: str) -> None:
    if _CONTROL.search(value):
        raise PromptRejected(f"{field}: contains control characters")
    match = _OVERRIDE.search(value)
    if match:
        raise PromptRejected(f"{field}: tries to override the instructions ({match.group(0)[:60]!r})")


def build_messages(prompt: Mapping[str, Any], version: str = DEFAULT_TEMPLATE,
                   exemplars: Sequence[Any] = (), revise_notes: bool = True) -> list[dict[str, str]]:
    """System + user chat messages for ``prompt`` (checked with :func:`check_prompt`).

    ``exemplars`` (each with ``domain``, ``context`` and ``text``) go between them as
    earlier turns: their context block as the user's, their text as the answer. With
    ``revise_notes`` False a revision's notes are left out: the prompt as first written.
    """
    check_prompt(prompt, version)
    tpl = template(version)
    messages = [{"role": "system", "content": f"{tpl['persona']}\n\n{tpl['format']}"}]
    for exemplar in exemplars:
        messages += [{"role": "user", "content": _user_content(tpl, exemplar.domain, exemplar.context)},
                     {"role": "assistant", "content": exemplar.text}]
    content = _user_content(tpl, prompt["domain"], prompt["context"], prompt.get("instructions"),
                            prompt.get("revise_notes") if revise_notes else None)
    return messages + [{"role": "user", "content": content}]


def stop_labels(version: str = DEFAULT_TEMPLATE) -> tuple[str, ...]:
    """The template's field labels with their colon: a draft that writes one is copying
    its prompt (the generator's label guard stops it there)."""
    tpl = template(version)
    labels = [*tpl["context_labels"].values(), tpl["instructions_label"], tpl["revise_label"]]
    # "Their request (a wish ...)" is also copied as "Their request:".
    short = [label.split(" (")[0] for label in labels if " (" in label]
    return tuple(dict.fromkeys(f"{label}:" for label in labels + short))


def _user_content(tpl: Mapping[str, Any], domain: str, context: Mapping[str, str],
                  instructions: str | None = None, revise_notes: str | None = None) -> str:
    lines = [tpl["domains"][domain], ""]
    labels = tpl["context_labels"]
    # Known keys in the template's order, then any others alphabetically: stable prompts.
    ordered = [k for k in labels if k in context] + sorted(k for k in context if k not in labels)
    for key in ordered:
        label = labels.get(key, key.replace("_", " ").capitalize())
        value = context[key].strip()
        lines.append(f'{label}: "{value}"' if key in tpl["quoted_fields"] else f"{label}: {value}")
    if instructions:
        lines.append(f'{tpl["instructions_label"]}: "{instructions.strip()}"')
    if revise_notes:
        lines += ["", f'{tpl["revise_label"]}: "{revise_notes.strip()}"']
    return "\n".join(lines)
