"""The shipped seed exemplars (agents/quality/templates/seed_exemplars.json).

The generator shows these to the model as earlier chat turns at cold start, so a tiny
model imitates them: each one has to be a passing insight for its own context, written
to "you", and the set has to vary its openings so the model does not learn one template.
"""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from kasper.agents.quality.features import load_lexicon
from kasper.agents.quality.prompts import build_messages, template
from kasper.agents.quality.rubric import Rubric

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_FIRST_PERSON = frozenset({"i", "i'm", "i've", "i'd", "i'll", "me", "my", "mine", "myself"})
_THEY = frozenset({"they", "them", "their", "theirs", "themselves", "they're"})
_SNIPPET_RUN = 8
PER_DOMAIN = 3


def _load() -> dict:
    # Through the package, as the generator loads it: a missing package-data entry fails here.
    text = resources.files("kasper.agents.quality").joinpath("templates/seed_exemplars.json").read_text()
    return json.loads(text)


SEEDS = _load()
EXEMPLARS = [(domain, i, ex) for domain, exs in SEEDS["domains"].items() for i, ex in enumerate(exs)]
IDS = [f"{domain}-{i}" for domain, i, _ in EXEMPLARS]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def test_version_and_three_per_template_domain():
    assert SEEDS["version"] == "seed-1"
    assert set(SEEDS["domains"]) == set(template()["domains"])
    for domain, exs in SEEDS["domains"].items():
        assert len(exs) == PER_DOMAIN, f"{domain}: {len(exs)} exemplars"
        for ex in exs:
            assert set(ex) == {"context", "text"}, f"{domain}: keys {sorted(ex)}"


@pytest.mark.parametrize("domain,index,ex", EXEMPLARS, ids=IDS)
def test_context_is_a_valid_prompt_context(domain, index, ex):
    context = ex["context"]
    labels = template()["context_labels"]
    assert context and set(context) <= set(labels), f"unknown keys {set(context) - set(labels)}"
    assert all(isinstance(v, str) and v.strip() for v in context.values())
    # The exemplar's user turn is built the way a real prompt is: it must not be refused.
    messages = build_messages({"domain": domain, "context": context})
    assert messages[-1]["role"] == "user"


@pytest.mark.parametrize("domain,index,ex", EXEMPLARS, ids=IDS)
def test_passes_rubric_v2_with_its_context(domain, index, ex):
    grade = Rubric().grade(ex["text"], domain, ex["context"])
    assert not grade.gate_failures, grade.gate_failures
    assert grade.passed and grade.final_score >= 0.75, (grade.final_score, grade.scores,
                                                        grade.recommendations)


@pytest.mark.parametrize("domain,index,ex", EXEMPLARS, ids=IDS)
def test_second_person_one_paragraph_with_a_timed_practice_at_the_end(domain, index, ex):
    text = ex["text"]
    words = _words(text)
    assert 60 <= len(words) <= 110, f"{len(words)} words"
    assert "\n" not in text.strip()
    assert {"you", "your"} & set(words)
    assert not _FIRST_PERSON & set(words), _FIRST_PERSON & set(words)
    assert not _THEY & set(words), _THEY & set(words)
    assert not re.search(r"(?:^|[.!?]\s+)I\s", text)
    last = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s][-1].lower()
    assert any(re.search(rf"\b{re.escape(cue)}\b", last) for cue in load_lexicon()["time_cues"]), last


@pytest.mark.parametrize("domain,index,ex", EXEMPLARS, ids=IDS)
def test_does_not_copy_its_snippet(domain, index, ex):
    snippet = _words(ex["context"].get("journal_snippet", ""))
    words = _words(ex["text"])
    runs = {tuple(snippet[i:i + _SNIPPET_RUN]) for i in range(len(snippet) - _SNIPPET_RUN + 1)}
    copied = [words[i:i + _SNIPPET_RUN] for i in range(len(words) - _SNIPPET_RUN + 1)
              if tuple(words[i:i + _SNIPPET_RUN]) in runs]
    assert not copied, copied


def test_snippets_are_not_the_corpus_ones():
    corpus = resources.files("kasper.streams").joinpath("data/corpus.json").read_text()
    shipped = set(json.loads(corpus)["journal_snippets"])
    used = {ex["context"]["journal_snippet"] for _, _, ex in EXEMPLARS if "journal_snippet" in ex["context"]}
    assert used and not used & shipped


def test_no_two_exemplars_open_alike():
    openings: dict[tuple[str, ...], str] = {}
    for (domain, i, ex), name in zip(EXEMPLARS, IDS):
        first = tuple(_words(ex["text"])[:5])
        assert first not in openings, f"{name} and {openings[first]} both open with {' '.join(first)!r}"
        openings[first] = name
