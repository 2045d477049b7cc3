"""Rubric grader throughput, in process, one core.

Grades the labeled insights (tests/data/insights_labeled.jsonl) round-robin for
``--seconds`` and prints grades/s. Goal: >= 5,000 grades/s per core.

Anchor: in the same run, a baseline that only tokenizes and counts words of the same
texts (the least any grader must do). The grader/anchor ratio is much less sensitive
to the machine and to its load than grades/s alone, so compare ratios across runs.
Rates are per CPU-second of this process (the per-core figure); wall-clock grades/s is
printed too and is lower when other processes share the cores.

The originality memory is filled first with ``--memory`` texts recombined from the
labeled sentences (seeded), so that LSH lookups find real candidates, as they would
against a store of recently approved insights on similar topics.

    python bench/bench_grader.py [--seconds 3] [--memory 1000] [--json]
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

from kasper.agents.quality.rubric import GRADER_VERSION, Rubric

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
    rate, anchor_rate = grades / grade_cpu, anchors / anchor_cpu
    return {
        "bench": "grader", "grader_version": GRADER_VERSION, "texts": len(items),
        "memory": len(rubric.originality), "seconds": round(grade_s, 3),
        "cpu_seconds": round(grade_cpu, 3), "grades": grades, "grades_per_cpu_s": round(rate, 1),
        "grades_per_wall_s": round(grades / grade_s, 1),
        "us_per_grade": round(1e6 / rate, 1), "anchor": "tokenize+count words",
        "anchor_per_cpu_s": round(anchor_rate, 1), "anchor_ratio": round(anchor_rate / rate, 1),
        "goal_grades_per_s": 5000, "meets_goal": rate >= 5000,
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def report(f: dict) -> None:
    """Print the figures for people."""
    print(f"grader {f['grader_version']}: {f['grades_per_cpu_s']:,.0f} grades per CPU-second "
          f"({f['us_per_grade']:.0f} us/grade), {f['grades_per_wall_s']:,.0f} per wall-second, "
          f"over {f['seconds']:.1f} s; {f['texts']} texts, originality memory {f['memory']}")
    print(f"anchor (tokenize + count words): {f['anchor_per_cpu_s']:,.0f} texts per CPU-second; "
          f"the grader costs {f['anchor_ratio']}x the anchor")
    print(f"goal >= 5,000 grades/s per core: {'met' if f['meets_goal'] else 'NOT met'} "
          f"(load average {f['loadavg_1m']} on {f['cpus']} cpus)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent grading (default 3)")
    parser.add_argument("--memory", type=int, default=1000,
                        help="texts remembered before timing (default 1000)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    figures = measure(args.seconds, args.memory)
    if args.json:
        print(json.dumps(figures))
    else:
        report(figures)
    return figures


if __name__ == "__main__":
    main()
