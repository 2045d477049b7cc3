"""The probe prompts every candidate adapter answers before promotion: the golden prompts,
their requests as the generate stage serves them, the answers and their scores.

They come from the golden set (:mod:`kasper.trainer.eval_set`), not from the
window: answers stay comparable across windows and versions. The set's version
(``PROBE_SET_VERSION``, the golden set's) is recorded with the metrics; changing
a golden prompt bumps it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from kasper.agents.runtime.backend import GenRequest
from kasper.agents.runtime.mlx_backend import engine_row, finished_text
from kasper.agents.runtime.mlx_engine import Engine
from kasper.agents.runtime.prompting import request_for
from kasper.agents.quality.exemplars import ExemplarBook
from kasper.agents.quality.rubric import Rubric
from kasper.streams.settings import GenerateSettings
from kasper.streams.simulated_users import thumbs_up_rate

from .eval_set import GOLDEN_VERSION, golden_prompts

PROBE_SET_VERSION = GOLDEN_VERSION


def probe_prompts(count: int | None = None, tier: str = "standard") -> list[dict[str, Any]]:
    """The first ``count`` golden prompts (all by default) as PromptEvent-like dicts."""
    return [{k: v for k, v in p.items() if k != "reference"} for p in golden_prompts(count, tier)]


def probe_requests(prompts: Sequence[dict[str, Any]], generate: GenerateSettings,
                   max_tokens: int | None = None, samples: int = 1, first: int = 0) -> list[GenRequest]:
    """The golden prompts as the generate stage would serve them (:mod:`kasper.agents.runtime.prompting`):
    the package's exemplars (a cold-start book: the trainer does not see the worker's),
    the tier's sampling and guards; ``samples`` answers per prompt in a row, each with
    its own seed (answers ``first`` to ``first + samples - 1``: a second look's seeds
    differ from the first's); ``max_tokens`` caps the length."""
    book = ExemplarBook(generate.exemplars)
    out = []
    for p in prompts:
        for k in range(first, first + samples):
            _, request = request_for(p, f"golden:{p['prompt_id']}:{k}", generate, book)
            if max_tokens is not None and max_tokens < request.sampling.max_tokens:
                request = dataclasses.replace(request, sampling=dataclasses.replace(request.sampling,
                                                                                   max_tokens=max_tokens))
            out.append(request)
    return out


def answer_probes(model: Any, tokenizer: Any, requests: Sequence[GenRequest]) -> list[str]:
    """The answers to ``requests``, written by the serving engine (``mlx_engine``) as the
    generate stage writes them: sampled with their seeds, guarded, ended at a sentence."""
    if not requests:
        return []
    # Not serving: a window's training does not wait for this (agents/runtime/priority.py).
    engine = Engine(model, tokenizer, serving=False)
    outputs = engine.generate([engine_row(engine, r) for r in requests])
    return [finished_text(out.text, out.finish_reason) for out in outputs]


def score_probes(texts: Sequence[str], prompts: Sequence[dict[str, Any]], samples: int = 1
                 ) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """Per golden prompt, over its ``samples`` answers (``texts`` in request order): the mean
    thumbs-up rate, the mean rubric score and the share passed."""
    if not prompts:
        return (), (), ()
    rubric = Rubric()
    thumbs, scores, passed = [], [], []
    for i, p in enumerate(prompts):
        answers = texts[i * samples:(i + 1) * samples]
        grades = [rubric.grade(text, p["domain"], p.get("context")) for text in answers]
        thumbs.append(_mean([thumbs_up_rate(text, p.get("context")) for text in answers]))
        scores.append(_mean([g.final_score for g in grades]))
        passed.append(_mean([float(g.passed) for g in grades]))
    return tuple(thumbs), tuple(scores), tuple(passed)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
