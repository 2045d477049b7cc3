"""Revisions: whether the model sees the notes on the draft it replaces.

The shipped small model copies a revision's notes back ("Your previous draft was sent
back with these") instead of following them, so by default the in-process generator
writes a revision as a fresh draw of the same prompt; an OpenAI-compatible model is
shown the notes. The prompt record keeps the notes either way, and the trainer trains
an approved text as the answer to its prompt without them. The pass rates behind the
default are measured in bench/bench_revisions.py, not here.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from kasper.agents.quality.exemplars import ExemplarBook
from kasper.agents.quality.prompts import build_messages, template
from kasper.agents.runtime.prompting import chat, request_for
from kasper.schemas import Codec
from kasper.streams.settings import GenerateSettings
from kasper.trainer.config import WindowPolicy
from kasper.trainer.dataset import Source, build_window
from kasper.trainer.synthetic_records import synthetic_approved

NOTES = "Expand to at least 50 words (now 17); Speak to the reader directly as 'you'"
PROMPT = {"prompt_id": "p-1", "domain": "daily_card", "tier": "standard", "attempt": 0,
          "context": {"card": "Three of Cups", "focus": "friendship"}, "instructions": None,
          "revise_notes": None, "user_hash": "u1"}
REVISION = {**PROMPT, "attempt": 1, "revise_notes": NOTES}
LABEL = template()["revise_label"]


def _text(messages) -> str:
    return "\n".join(m["content"] for m in messages)


def _book() -> ExemplarBook:
    return ExemplarBook(per_prompt=2)


def test_the_in_process_model_gets_a_revision_as_a_fresh_draw_of_its_prompt():
    settings = GenerateSettings(backend="mlx")
    assert settings.revise_notes == "auto" and not settings.shows_revise_notes
    _, _, first = chat(PROMPT, settings, _book())
    _, _, revision = chat(REVISION, settings, _book())
    assert revision == first
    assert LABEL not in _text(revision) and "Expand to at least" not in _text(revision)


def test_a_fresh_draw_has_its_own_seed():
    settings = GenerateSettings(backend="mlx")
    _, a = request_for(PROMPT, "p-1:0", settings, _book())
    _, b = request_for(REVISION, "p-1:1", settings, _book())
    assert a.messages == b.messages and a.seed != b.seed


@pytest.mark.parametrize("backend, mode, shown", [
    ("openai", "auto", True), ("mlx", "show", True), ("openai", "hide", False), ("mlx", "hide", False)])
def test_the_setting_decides_who_sees_the_notes(backend, mode, shown):
    settings = GenerateSettings(backend=backend, revise_notes=mode)
    assert settings.shows_revise_notes is shown
    _, _, messages = chat(REVISION, settings, _book())
    user = messages[-1]["content"]
    assert (f'{LABEL}: "{NOTES}"' in user) is shown
    # The context block is the same either way: the notes only add a line.
    assert user.startswith(chat(PROMPT, settings, _book())[2][-1]["content"])


def test_the_environment_sets_it_and_a_wrong_value_names_the_field(monkeypatch):
    monkeypatch.setenv("KASPER_GENERATE_REVISE_NOTES", "show")
    assert GenerateSettings().shows_revise_notes
    monkeypatch.setenv("KASPER_GENERATE_REVISE_NOTES", "sometimes")
    with pytest.raises(ValidationError, match="revise_notes"):
        GenerateSettings()


def test_the_trainer_trains_a_revised_text_as_the_answer_to_its_prompt_without_notes():
    codec = Codec()
    records = synthetic_approved(10, tier="pro", score=0.95)
    for r in records:
        r["prompt"] = {**r["prompt"], "attempt": 1, "revise_notes": NOTES}
    sources = [Source("kasper.approved", 0, i, "approved", r, codec.encode("ApprovedInsight", r))
               for i, r in enumerate(records)]
    content = build_window("pro", sources, WindowPolicy())
    rows = [json.loads(line) for name in ("train.jsonl", "valid.jsonl", "test.jsonl")
            if name in content.files for line in content.files[name].decode().splitlines()]
    assert len(rows) == 10
    by_text = {r["insight"]["text"]: r for r in records}
    for row in rows:
        system, user, answer = row["messages"]
        prompt = by_text[answer["content"]]["prompt"]
        assert [system, user] == build_messages({**prompt, "revise_notes": None})
        assert [system, user] == build_messages(prompt, revise_notes=False)
        assert LABEL not in user["content"] and NOTES not in user["content"]
