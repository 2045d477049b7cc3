"""Embedded judge throughput vs. concurrency, per engine, in one run: prefill vs mlx_lm.server.

    python bench/bench_judge.py [--requests 16] [--levels 1,2,4,8] [--engines prefill,server]
                                [--score-mode logprobs] [--server-threads N]

Starts the engines asked for on the prepared SmolLM2-135M (same fast-CPU setup as the
pipeline): ``server``, the embedded ``mlx_lm.server`` reached through
:class:`JudgeClient` (it batches concurrent requests with ``BatchGenerator``), and
``prefill``, the in-process :class:`LocalJudge` (concurrent verdicts share a prefill
batch).  Then, for each concurrency level, each engine in turn judges ``--requests``
distinct insights (no verdict cache) and the table gives verdicts/s, seconds per
verdict, prompt and completion tokens per verdict, latency, each row against the
same engine at the first level, and prefill against the server at the same level.
Engines alternate within a level, so load from other processes falls on both alike.
Threads: the prefill judge follows the process's setting (``KASPER_BLAS_THREADS=auto``
by default: every core the machine leaves free, as in a worker); the server gets
``--server-threads`` (default: every core).
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
from kasper.agents.judging.local import LocalJudge
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


async def run_level(judge_for, engine: str, level: int, count: int) -> dict:
    """``count`` verdicts at ``level`` in flight through the judge ``judge_for(level)`` opens."""
    slots = asyncio.Semaphore(level)  # ours, so that latency excludes time queued for a slot

    async def one(judge, text: str):
        async with slots:
            started = time.perf_counter()
            try:
                result = await judge.judge(JudgeRequest(text, "astrology"))
            except JudgeError:
                return None, time.perf_counter() - started
            return result, time.perf_counter() - started

    async with judge_for(level) as judge:
        if isinstance(judge, LocalJudge):
            await judge.start()  # loading the model is not a verdict (the server is warm too)
            # Warm as in a running worker: its core watch has read the machine before the
            # first batch (the server's leg just before would otherwise count as busy).
            await asyncio.sleep(0.6)
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one(judge, t) for t in texts(level, count)))
        wall = time.perf_counter() - started
    done = [r for r, _ in outcomes if r is not None]
    return {"engine": engine, "level": level, "wall_s": wall, "verdicts_per_s": len(done) / wall,
            "s_per_verdict": wall / max(1, len(done)),
            "prompt_tokens": statistics.fmean(r.prompt_tokens for r in done) if done else float("nan"),
            "completion_tokens": statistics.fmean(r.completion_tokens for r in done) if done else float("nan"),
            "p50_s": statistics.median(s for _, s in outcomes), "failed": count - len(done),
            "logprob_share": sum(r.answer.score_mode == "logprobs" for r in done) / max(1, len(done)),
            "overall": [r.overall for r in done], "approved": sum(r.recommendation == "APPROVE" for r in done)}


async def bench(args: argparse.Namespace) -> list[dict]:
    model_dir = resolve_model_dir()
    base = JudgeSettings(cache_path=None, persist_cache=False, cache_size=1, timeout_s=600,
                         score_mode=args.score_mode)
    server = EmbeddedJudgeServer(model_dir, blas_threads=args.server_threads) if "server" in args.engines else None
    if server is not None:
        await server.astart()
    try:
        openers = {}
        if server is not None:
            config = server.judge_settings(base).updated(max_tokens=args.max_tokens)
            openers["server"] = lambda level: JudgeClient(config.updated(concurrency=level))
        if "prefill" in args.engines:
            openers["prefill"] = lambda level: LocalJudge(base.updated(concurrency=level))
        rows = []
        for level in args.levels:
            for engine in args.engines:
                rows.append(await run_level(openers[engine], engine, level, args.requests))
                print(f"  {engine} concurrency {level}: {rows[-1]['verdicts_per_s']:.3f} verdicts/s",
                      file=sys.stderr)
        return rows
    finally:
        if server is not None:
            await server.astop()


def report(rows: list[dict], args: argparse.Namespace) -> None:
    first = {}
    for r in rows:
        first.setdefault(r["engine"], r["verdicts_per_s"] or float("nan"))
    server = {r["level"]: r["verdicts_per_s"] for r in rows if r["engine"] == "server"}
    print(f"# embedded judge throughput vs concurrency ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
          f"blas={blas_info().name}; model SmolLM2-135M; engines {','.join(args.engines)}")
    print(f"# BLAS threads: prefill KASPER_BLAS_THREADS={os.environ.get('KASPER_BLAS_THREADS', '-')} "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')}; server {args.server_threads}")
    print(f"# {args.requests} requests per level and engine; server: max_tokens={args.max_tokens}, "
          f"score_mode={args.score_mode}")
    print("| engine | concurrency | verdicts/s | s/verdict | prompt tok/verdict | completion tok/verdict | "
          "p50 latency s | failed | logprob share | x vs its first level | x vs server |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        versus = r["verdicts_per_s"] / server[r["level"]] if server.get(r["level"]) else float("nan")
        print(f"| {r['engine']} | {r['level']} | {r['verdicts_per_s']:.3f} | {r['s_per_verdict']:.2f} | "
              f"{r['prompt_tokens']:.0f} | {r['completion_tokens']:.0f} | {r['p50_s']:.2f} | {r['failed']} | "
              f"{r['logprob_share']:.2f} | {r['verdicts_per_s'] / first[r['engine']]:.2f} | {versus:.2f} |")
    for engine in args.engines:  # how the weak local judge scores: what an approve threshold would let through
        overall = [o for r in rows if r["engine"] == engine for o in r["overall"]]
        if overall:
            print(f"# {engine} overall scores: min {min(overall):.2f}, mean {statistics.fmean(overall):.2f}, "
                  f"max {max(overall):.2f}; APPROVE at 7.0: "
                  f"{sum(r['approved'] for r in rows if r['engine'] == engine)}/{len(overall)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16, help="verdicts per concurrency level")
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8])
    parser.add_argument("--max-tokens", type=int, default=EMBEDDED_MAX_TOKENS)
    # The anchor at its best: mlx_lm.server on every core (its batched decode gains from
    # a second thread on an idle machine; bench/RESULTS.md).
    parser.add_argument("--server-threads", type=int, default=os.cpu_count() or 1,
                        help="OpenBLAS threads of the mlx_lm.server anchor")
    parser.add_argument("--engines", type=lambda s: [e for e in s.split(",") if e], default=["prefill", "server"],
                        help="engines to compare, in turn within each level: prefill, server")
    parser.add_argument("--score-mode", choices=("logprobs", "text"), default="logprobs",
                        help="the server engine's score mode (prefill always reads probabilities)")
    args = parser.parse_args()
    unknown = set(args.engines) - {"prefill", "server"}
    if unknown or not args.engines:
        parser.error(f"--engines: prefill and/or server, not {','.join(sorted(unknown)) or 'nothing'}")
    report(asyncio.run(bench(args)), args)


if __name__ == "__main__":
    main()
