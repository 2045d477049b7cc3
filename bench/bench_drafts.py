"""What the generator writes, per variant: first-attempt drafts graded with rubric v2.

Generates the same fixed synthetic prompts (default 64, every domain and tier) with
the shipped model in process, once per variant, and prints per variant:

- first-attempt pass rate under rubric v2 (the grade stage's threshold);
- repetition loops (a six-word sequence written twice), template echoes (a field
  label or a long verbatim stretch of the user's words: rubric v2's echo check),
  and texts not written to the reader (assistant, diary or narrator voice: rubric
  v2's voice evidence at or below 0.5; checked against labeled texts in
  tests/test_drafts_quality.py);
- mean rubric v2 score, completion tokens, generated tok/s and seconds per insight.

Variants (``--variants``): ``baseline`` (no guards, no exemplars), ``guards``
(repetition penalty, loop, copy and label stops, first-person bias), ``exemplars``
(few-shot seed exemplars), ``combined`` (both: the default settings). Before each variant one
prompt per domain is run for a single token, so the prefix cache holds what the
pipeline's would in steady state (the system message, each domain's exemplar turns).

    python bench/bench_drafts.py [--prompts 64] [--seed 99] [--variants baseline,combined] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from typing import Any

from kasper.agents.generation import Generator
from kasper.agents.quality.rubric import Rubric
from kasper.agents.runtime.mlx_backend import MLXBackend
from kasper.streams.settings import GenerateSettings
from kasper.streams.synthetic_prompts import synthetic_prompts

_OFF = {"repetition_penalty": 1.0, "loop_ngram": 0, "copy_ngram": 0, "stop_at_labels": False,
        "first_person_bias": 0.0}
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {**_OFF, "exemplars": 0},
    "guards": {"exemplars": 0},
    "exemplars": dict(_OFF),
    "combined": {},
}
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# At or below: an assistant, a diary or a narrator, not an insight to "you" (relevance.py).
VOICE_OFF = 0.5


def has_loop(text: str, n: int = 6) -> bool:
    """A sequence of ``n`` words written twice."""
    words = _WORD.findall(text.lower())
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


def assess(rubric: Rubric, insight: dict[str, Any]) -> dict[str, Any]:
    """One draft's grade and failure kinds."""
    context = insight["prompt"]["context"]
    grade = rubric.grade(insight["text"], insight["domain"], context)
    _, _, rel = rubric.evidence(insight["text"], insight["domain"], context)
    return {"domain": insight["domain"], "tier": insight["tier"], "text": insight["text"],
            "score": grade.final_score, "passed": grade.passed, "loop": has_loop(insight["text"]),
            "echo": bool(rel.echo), "off_voice": rel.voice <= VOICE_OFF,
            "tokens": insight["completion_tokens"], "exemplar_set": insight.get("exemplar_set")}


async def run_variant(backend: MLXBackend, name: str, prompts: list[dict], rubric: Rubric,
                      first_person_bias: float | None) -> dict[str, Any]:
    changes = dict(VARIANTS[name])
    if first_person_bias is not None and name in ("guards", "combined"):
        changes["first_person_bias"] = first_person_bias
    settings = GenerateSettings().updated(**changes)
    generator = Generator(backend, settings)
    warm = {p["domain"]: p for p in prompts}.values()
    await Generator(backend, settings.updated(max_tokens=1)).run(list(warm))
    started = time.perf_counter()
    outcomes = []
    for i in range(0, len(prompts), settings.batch_size):
        outcomes += await generator.run(prompts[i:i + settings.batch_size])
    seconds = time.perf_counter() - started
    drafts = [assess(rubric, o.insight) for o in outcomes if o.insight is not None]
    n = len(prompts)
    tokens = sum(d["tokens"] for d in drafts)
    return {
        "variant": name, "prompts": n, "drafts": len(drafts), "failed": n - len(drafts),
        "pass_rate": round(sum(d["passed"] for d in drafts) / n, 4),
        "loops": sum(d["loop"] for d in drafts), "echoes": sum(d["echo"] for d in drafts),
        "off_voice": sum(d["off_voice"] for d in drafts),
        "mean_score": round(statistics.fmean(d["score"] for d in drafts), 4) if drafts else 0.0,
        "mean_tokens": round(tokens / max(1, len(drafts)), 1),
        "tokens_per_s": round(tokens / seconds, 2), "seconds_per_insight": round(seconds / n, 2),
        "seconds": round(seconds, 1), "texts": drafts,
    }


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    prompts = list(synthetic_prompts(args.prompts, seed=args.seed))
    backend = MLXBackend(settings=GenerateSettings())
    await backend.start()
    rubric = Rubric()
    results = []
    try:
        for name in args.variants.split(","):
            if name not in VARIANTS:
                raise SystemExit(f"--variants: unknown variant {name!r}; known: {', '.join(VARIANTS)}")
            result = await run_variant(backend, name, prompts, rubric, args.first_person_bias)
            results.append(result)
            print(_line(result), file=sys.stderr, flush=True)
    finally:
        await backend.close()
    return results


def _line(r: dict[str, Any]) -> str:
    return (f"{r['variant']:<10} pass {r['pass_rate']:.3f}  loops {r['loops']:>2}  echoes {r['echoes']:>2}  "
            f"off-voice {r['off_voice']:>2}  failed {r['failed']}  mean {r['mean_score']:.3f}  "
            f"tokens {r['mean_tokens']:>5}  tok/s {r['tokens_per_s']:>6}  s/insight {r['seconds_per_insight']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument("--variants", default="baseline,guards,exemplars,combined")
    parser.add_argument("--first-person-bias", type=float, default=None,
                        help="KASPER_GENERATE_FIRST_PERSON_BIAS for the guards and combined variants "
                             "(default: the setting's)")
    parser.add_argument("--json", action="store_true", help="print every figure and text as JSON")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()
    results = asyncio.run(main(args))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        base = next((r for r in results if r["variant"] == "baseline"), None)
        for r in results:
            ratio = ""
            if base and r is not base:
                ratio = (f"  pass x{r['pass_rate'] / base['pass_rate']:.2f}" if base["pass_rate"] else "") + \
                        f"  tok/s x{r['tokens_per_s'] / base['tokens_per_s']:.2f}"
            print(_line(r) + ratio)
