"""Revisions: the notes shown to the model against a fresh draw, on the pipeline's own path.

Generates the same fixed synthetic prompts (default 64, seed 99) with the shipped model
in process and the default settings, grades each draft as the grade stage does, and
sends every failed draft back as the pipeline does (the rubric's REVISE verdict,
``agents/judge.py``, then the router's revised prompt, ``agents/route.py``), up to the
router's maximum attempts. Each revision is written twice, once per mode of
``KASPER_GENERATE_REVISE_NOTES``: ``show`` (the notes in the prompt: what every revision
got before the setting) and ``hide`` (a fresh draw of the prompt with the revision's own
seed: the in-process default). The two modes take turns batch by batch, so load from
elsewhere on shared cores falls on both alike. Per mode it prints:

- pass rate of each revision attempt (of the drafts sent back to it);
- revisions that copy the notes back: shorter than 30 words, or holding the template's
  revise label;
- prompts that pass within the maximum attempts, and generations and revisions per
  passing prompt (the rubric-level analogue of the run report's revisions per approved
  insight; the LLM judge is not asked);
- completion tokens and seconds of generation.

    python bench/bench_revisions.py [--prompts 64] [--seed 99] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from kasper.agents.generation import Generator
from kasper.agents.grade import grade_insight
from kasper.agents.judge import rubric_verdict
from kasper.agents.quality.prompts import template
from kasper.agents.quality.rubric import Rubric
from kasper.agents.route import DEFAULT_MAX_ATTEMPTS, revised_prompt
from kasper.agents.runtime.mlx_backend import MLXBackend
from kasper.streams.settings import GenerateSettings, GradeSettings
from kasper.streams.synthetic_prompts import synthetic_prompts

MODES = ("show", "hide")
SHORT_WORDS = 30


async def _generate(generator: Generator, prompts: list[dict]) -> tuple[list, float]:
    size = generator.settings.batch_size
    started = time.perf_counter()
    runs = await asyncio.gather(*(generator.run(prompts[i:i + size]) for i in range(0, len(prompts), size)))
    return [o for run in runs for o in run], time.perf_counter() - started


def _copied(text: str) -> bool:
    return len(text.split()) < SHORT_WORDS or template()["revise_label"].split(";")[0] in text


async def measure(prompts: list[dict], rubric: Rubric) -> dict[str, Any]:
    backend = MLXBackend(settings=GenerateSettings())
    await backend.start()
    try:
        generators = {m: Generator(backend, GenerateSettings(revise_notes=m)) for m in MODES}
        # Warm the prefix cache as the pipeline's would be in steady state.
        warm = list({p["domain"]: p for p in prompts}.values())
        await Generator(backend, GenerateSettings(max_tokens=1)).run(warm)
        first, seconds = await _generate(generators["hide"], prompts)
        grades = [grade_insight(rubric, o.insight) for o in first]
        out: dict[str, Any] = {"prompts": len(prompts), "first_attempt_passed": sum(g["passed"] for g in grades),
                               "first_attempt_seconds": round(seconds, 1), "modes": {}}
        pending = {m: [g for g in grades if not g["passed"]] for m in MODES}
        stats = {m: {"attempts": [], "copied": 0, "tokens": 0, "seconds": 0.0, "revisions": 0} for m in MODES}
        for attempt in range(1, DEFAULT_MAX_ATTEMPTS):
            for mode in MODES if attempt % 2 else reversed(MODES):
                revised = [revised_prompt(rubric_verdict(g)) for g in pending[mode]]
                if not revised:
                    stats[mode]["attempts"].append({"attempt": attempt, "sent": 0, "passed": 0})
                    continue
                outcomes, seconds = await _generate(generators[mode], revised)
                drafts = [o.insight for o in outcomes if o.insight is not None]
                again = [grade_insight(rubric, d) for d in drafts]
                s = stats[mode]
                s["attempts"].append({"attempt": attempt, "sent": len(revised),
                                      "passed": sum(g["passed"] for g in again)})
                s["copied"] += sum(_copied(d["text"]) for d in drafts)
                s["tokens"] += sum(d["completion_tokens"] for d in drafts)
                s["seconds"] += seconds
                s["revisions"] += len(revised)
                pending[mode] = [g for g in again if not g["passed"]]
        for mode in MODES:
            s = stats[mode]
            passed = out["first_attempt_passed"] + sum(a["passed"] for a in s["attempts"])
            generations = len(prompts) + s["revisions"]
            out["modes"][mode] = {
                "attempts": [{**a, "pass_rate": round(a["passed"] / a["sent"], 3) if a["sent"] else None}
                             for a in s["attempts"]],
                "copied_revisions": s["copied"], "revisions": s["revisions"],
                "prompts_passed": passed,
                "generations_per_passed_prompt": round(generations / passed, 2) if passed else None,
                "revisions_per_passed_prompt": round(s["revisions"] / passed, 2) if passed else None,
                "revision_tokens": s["tokens"], "revision_seconds": round(s["seconds"], 1),
            }
        return out
    finally:
        await backend.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    prompts = list(synthetic_prompts(args.prompts, seed=args.seed))
    # As the grade stage grades: the model layers by its setting.
    out = asyncio.run(measure(prompts, Rubric(semantic=GradeSettings().semantic_gate)))
    if args.json:
        print(json.dumps(out, indent=1))
        return out
    print(f"first attempt: {out['first_attempt_passed']} of {out['prompts']} pass")
    for mode, r in out["modes"].items():
        per = ", ".join(f"attempt {a['attempt']}: {a['passed']}/{a['sent']}" for a in r["attempts"])
        print(f"{mode:<5} {per}; copied {r['copied_revisions']} of {r['revisions']}; "
              f"prompts passed {r['prompts_passed']}; revisions per passed prompt {r['revisions_per_passed_prompt']}; "
              f"generations per passed prompt {r['generations_per_passed_prompt']}; "
              f"{r['revision_tokens']} tokens in {r['revision_seconds']} s")
    return out


if __name__ == "__main__":
    main()
