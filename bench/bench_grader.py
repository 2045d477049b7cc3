"""Rubric grader and hard-gate throughput, in process, one core; against generation.

Grades the labeled insights (tests/data/insights_labeled.jsonl) round-robin for
``--seconds`` and prints grades/s (the rules' gates only), then grades/s as the grade
stage runs by default (with the model layers, ``KASPER_GRADE_SEMANTIC_GATE``: the gates'
semantic layer with its injection head and rubric-2.2's salad head, their per-text caches
cleared before every grade, so each text is embedded again), then the hard gates alone (``check_gates``, rules) on the same texts. Goals: the gates >=
5,000 texts/s per core, and the grade stage keeps up with generation with at least 5x
headroom: with ``--generate N`` the same run also generates N insights from synthetic
prompts with the shipped model (in process, MLX, batched as the generate stage does,
every core) and divides the stage's grading rate on ONE core by the generator's
insights per second on ALL cores.

Anchor: in the same run, a baseline that only tokenizes and counts words of the same
texts (the least any grader must do). The grader/anchor ratio is much less sensitive
to the machine and to its load than grades/s alone, so compare ratios across runs.
Rates are per CPU-second of this process (the per-core figure); wall-clock grades/s is
printed too and is lower when other processes share the cores.

The originality memory is filled first with ``--memory`` texts recombined from the
labeled sentences (seeded), so that LSH lookups find real candidates, as they would
against a store of recently approved insights on similar topics.

    python bench/bench_grader.py [--seconds 3] [--memory 1000] [--generate 16] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import time
from pathlib import Path

from kasper.agents.quality import salad
from kasper.agents.quality.gates import check_gates
from kasper.agents.quality.harm import injection_head, minilm, semantic
from kasper.agents.quality.rubric import GRADER_VERSION, Rubric
from kasper.streams.settings import GradeSettings

LABELED = Path(__file__).resolve().parent.parent / "tests" / "data" / "insights_labeled.jsonl"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
_SENTENCE = re.compile(r"[^.!?]+[.!?]")


def load() -> list[tuple[str, str | None]]:
    """(text, domain) of every labeled insight."""
    rows = [json.loads(line) for line in LABELED.read_text("utf-8").splitlines() if line.strip()]
    return [(r["text"], r.get("domain")) for r in rows]


def memory_texts(items: list[tuple[str, str | None]], count: int, seed: int = 7) -> list[str]:
    """``count`` texts of 4-6 sentences drawn from the labeled texts' sentences."""
    sentences = [s.strip() for text, _ in items for s in _SENTENCE.findall(text)]
    rng = random.Random(seed)
    return [" ".join(rng.sample(sentences, rng.randint(4, 6))) for _ in range(count)]


def run_for(seconds: float, fn, items: list[tuple[str, str | None]]) -> tuple[int, float, float]:
    """Call ``fn(text, domain)`` over ``items`` round-robin for ``seconds``: (calls, wall s, cpu s).

    CPU time is this process's: on a shared machine other processes take wall-clock time
    slices, so calls per CPU-second is the per-core figure.
    """
    calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
    deadline = start + seconds
    while True:
        for text, domain in items:
            fn(text, domain)
        calls += len(items)
        now = time.perf_counter()
        if now >= deadline:
            return calls, now - start, time.process_time() - cpu_start


def anchor(text: str, domain: str | None) -> int:
    """The baseline: tokenize and count words, nothing else."""
    return len(_WORD.findall(text.lower()))


def measure(seconds: float, memory: int) -> dict:
    """Grade for ``seconds`` with ``memory`` texts remembered; time the anchor; return the figures."""
    items = load()
    rubric = Rubric()
    for text in memory_texts(items, memory):
        rubric.remember(text)
    run_for(0.2, rubric.grade, items)  # warm caches (syllables, word hashes) before timing
    grades, grade_s, grade_cpu = run_for(seconds, rubric.grade, items)
    anchors, _, anchor_cpu = run_for(max(1.0, seconds / 3), anchor, items)
    gated, _, gates_cpu = run_for(max(1.0, seconds / 2), lambda text, _domain: check_gates(text), items)
    rate, anchor_rate, gates_rate = grades / grade_cpu, anchors / anchor_cpu, gated / gates_cpu
    stage = Rubric(originality=rubric.originality, semantic=GradeSettings().semantic_gate)
    semantic.load()
    salad.load()

    def stage_grade(text: str, domain: str | None):
        semantic._cached.cache_clear()  # as if every text were new, as in the stage
        salad.probability.cache_clear()
        injection_head.find_injection.cache_clear()
        minilm.clear_cache()
        return stage.grade(text, domain)

    run_for(0.2, stage_grade, items)
    staged, _, stage_cpu = run_for(seconds, stage_grade, items)
    return {
        "bench": "grader", "grader_version": GRADER_VERSION, "texts": len(items),
        "memory": len(rubric.originality), "seconds": round(grade_s, 3),
        "cpu_seconds": round(grade_cpu, 3), "grades": grades, "grades_per_cpu_s": round(rate, 1),
        "grades_per_wall_s": round(grades / grade_s, 1),
        "stage_semantic_gate": stage.semantic, "stage_grades_per_cpu_s": round(staged / stage_cpu, 1),
        "us_per_grade": round(1e6 / rate, 1), "anchor": "tokenize+count words",
        "anchor_per_cpu_s": round(anchor_rate, 1), "anchor_ratio": round(anchor_rate / rate, 1),
        "gates_per_cpu_s": round(gates_rate, 1), "gates_goal_per_s": 5000,
        "gates_meet_goal": gates_rate >= 5000,
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def generation_rate(count: int, max_tokens: int = 160, batch_size: int = 8) -> dict:
    """Insights per wall-second of the shipped model on ``count`` synthetic prompts, as the
    generate stage makes them (the stage's defaults for tokens, batched)."""
    # Imported here: the MLX runtime costs seconds to import and only this leg needs it.
    import asyncio

    from kasper.agents.generation import Generator
    from kasper.agents.runtime.mlx_backend import MLXBackend
    from kasper.streams.settings import GenerateSettings
    from kasper.streams.synthetic_prompts import synthetic_prompt

    settings = GenerateSettings(max_tokens=max_tokens, batch_size=batch_size)
    backend = MLXBackend(settings=settings)
    asyncio.run(backend.start())
    generator = Generator(backend, settings)
    prompts = [synthetic_prompt(i, 2026) for i in range(count)]
    asyncio.run(generator.run(prompts[:2]))  # warm-up: the shared prefix, kernels

    async def run() -> int:
        made = 0
        for start in range(0, count, batch_size):
            made += sum(o.insight is not None for o in await generator.run(prompts[start:start + batch_size]))
        return made

    started = time.perf_counter()
    made = asyncio.run(run())
    seconds = time.perf_counter() - started
    asyncio.run(backend.close())  # its generation thread, before the interpreter exits
    return {"generated": made, "generate_seconds": round(seconds, 2),
            "insights_per_s": round(made / seconds, 3), "generate_max_tokens": max_tokens}


def report(f: dict) -> None:
    """Print the figures for people."""
    print(f"grader {f['grader_version']}: {f['grades_per_cpu_s']:,.0f} grades per CPU-second "
          f"({f['us_per_grade']:.0f} us/grade), {f['grades_per_wall_s']:,.0f} per wall-second, "
          f"over {f['seconds']:.1f} s; {f['texts']} texts, originality memory {f['memory']}")
    print(f"as the grade stage runs it (semantic gate {'on' if f['stage_semantic_gate'] else 'off'}): "
          f"{f['stage_grades_per_cpu_s']:,.1f} grades per CPU-second")
    print(f"anchor (tokenize + count words): {f['anchor_per_cpu_s']:,.0f} texts per CPU-second; "
          f"the grader costs {f['anchor_ratio']}x the anchor")
    print(f"hard gates alone: {f['gates_per_cpu_s']:,.0f} texts per CPU-second; goal >= 5,000 per core: "
          f"{'met' if f['gates_meet_goal'] else 'NOT met'} (load average {f['loadavg_1m']} on {f['cpus']} cpus)")
    if "insights_per_s" in f:
        print(f"generation, same run: {f['insights_per_s']} insights/s ({f['generated']} in "
              f"{f['generate_seconds']} s, max {f['generate_max_tokens']} tokens, every core); grading on one "
              f"core has {f['headroom']:,.0f}x headroom; goal >= 5x: {'met' if f['headroom'] >= 5 else 'NOT met'}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent grading (default 3)")
    parser.add_argument("--memory", type=int, default=1000,
                        help="texts remembered before timing (default 1000)")
    parser.add_argument("--generate", type=int, default=0, metavar="N",
                        help="also generate N insights with the shipped model and report the headroom")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    figures = measure(args.seconds, args.memory)
    if args.generate:
        figures.update(generation_rate(args.generate))
        figures["headroom"] = round(figures["stage_grades_per_cpu_s"] / figures["insights_per_s"], 1)
    if args.json:
        print(json.dumps(figures))
    else:
        report(figures)
    return figures


if __name__ == "__main__":
    main()
