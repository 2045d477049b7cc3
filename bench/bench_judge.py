"""Judge throughput vs. concurrency against the embedded mlx_lm.server, in one run.

    python bench/bench_judge.py [--requests 16] [--levels 1,2,4,8] [--score-mode logprobs]

Starts one embedded judge server (the prepared SmolLM2-135M, same fast-CPU setup as
the pipeline), then, for each concurrency level, judges ``--requests`` distinct
insights through :class:`JudgeClient` (no verdict cache) and prints verdicts/s,
completion tokens/s, latency, and each level's throughput relative to concurrency 1.
mlx_lm.server batches concurrent requests (``BatchGenerator``), so throughput should
grow with concurrency until the CPU is saturated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone

from kasper.agents.runtime.blas import blas_info  # first: OpenBLAS before mlx.core
from kasper.agents.judging.client import JudgeClient
from kasper.agents.judging.errors import JudgeError
from kasper.agents.judging.request import JudgeRequest
from kasper.agents.judging.server import EMBEDDED_MAX_TOKENS, EmbeddedJudgeServer
from kasper.agents.runtime.model_store import resolve_model_dir
from kasper.streams.settings import JudgeSettings

BASE_TEXTS = [
    "Your Pisces sun and Cancer moon make you feel everything twice. This week, before answering a "
    "hard message, breathe slowly for one minute and name the feeling out loud.",
    "As a Life Path 7 you learn by questioning. Tonight, write three questions you are afraid to ask "
    "about your work, and answer one of them honestly.",
    "The Tower card is not a punishment. When plans collapse, list what still stands, and choose one "
    "small thing to rebuild on Saturday morning.",
    "With the moon waning, let go of one commitment that drains you. Write it on paper, read it aloud, "
    "and decide by Friday whether to end it or change it.",
]


def texts(level: int, count: int) -> list[str]:
    # Distinct per level and request: neither our cache nor the server's prompt cache helps.
    return [f"{BASE_TEXTS[i % len(BASE_TEXTS)]} (Note {level}-{i}.)" for i in range(count)]


async def run_level(config: JudgeSettings, level: int, count: int) -> dict[str, float]:
    slots = asyncio.Semaphore(level)  # ours, so that latency excludes time queued for a slot

    async def one(client: JudgeClient, text: str):
        async with slots:
            started = time.perf_counter()
            try:
                result = await client.judge(JudgeRequest(text, "astrology"))
            except JudgeError:
                return None, time.perf_counter() - started
            return result, time.perf_counter() - started

    async with JudgeClient(config.updated(concurrency=level)) as client:
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one(client, t) for t in texts(level, count)))
        wall = time.perf_counter() - started
    done = [r for r, _ in outcomes if r is not None]
    return {"level": level, "wall_s": wall, "verdicts_per_s": len(done) / wall,
            "tokens_per_s": sum(r.completion_tokens for r in done) / wall,
            "p50_s": statistics.median(s for _, s in outcomes), "failed": count - len(done),
            "logprob_share": sum(r.answer.score_mode == "logprobs" for r in done) / max(1, len(done)),
            "overall": [r.overall for r in done], "approved": sum(r.recommendation == "APPROVE" for r in done)}


async def bench(args: argparse.Namespace) -> list[dict[str, float]]:
    server = EmbeddedJudgeServer(resolve_model_dir())
    await server.astart()
    try:
        config = server.judge_settings(JudgeSettings(cache_path=None, cache_size=1, timeout_s=600,
                                                     score_mode=args.score_mode))
        config = config.updated(max_tokens=args.max_tokens)
        rows = []
        for level in args.levels:
            rows.append(await run_level(config, level, args.requests))
            print(f"  concurrency {level}: {rows[-1]['verdicts_per_s']:.3f} verdicts/s", file=sys.stderr)
        return rows
    finally:
        await server.astop()


def report(rows: list[dict[str, float]], args: argparse.Namespace) -> None:
    base = rows[0]["verdicts_per_s"] or float("nan")
    print(f"# judge throughput vs concurrency ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
          f"blas={blas_info().name}; model SmolLM2-135M (embedded mlx_lm.server)")
    print(f"# {args.requests} requests per level, max_tokens={args.max_tokens}, score_mode={args.score_mode}")
    print("| concurrency | verdicts/s | completion tok/s | p50 latency s | failed | logprob share | x vs c=1 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['level']} | {r['verdicts_per_s']:.3f} | {r['tokens_per_s']:.1f} | {r['p50_s']:.2f} | "
              f"{r['failed']} | {r['logprob_share']:.2f} | {r['verdicts_per_s'] / base:.2f} |")
    overall = [o for r in rows for o in r["overall"]]
    if overall:  # how the weak local judge scores: what an approve threshold would let through
        print(f"# overall scores: min {min(overall):.2f}, mean {statistics.mean(overall):.2f}, "
              f"max {max(overall):.2f}; APPROVE at 7.0: {sum(r['approved'] for r in rows)}/{len(overall)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16, help="verdicts per concurrency level")
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8])
    parser.add_argument("--max-tokens", type=int, default=EMBEDDED_MAX_TOKENS)
    parser.add_argument("--score-mode", choices=("logprobs", "text"), default="logprobs")
    args = parser.parse_args()
    report(asyncio.run(bench(args)), args)


if __name__ == "__main__":
    main()
