"""The feedback loop, measured: rounds of generate, simulated thumbs, train, decide.

Everything in process, on the shipped model and the trainer's own code, one tier
(``--tier``, standard by default). Each round:

1. the serving model (the base model, then whatever was promoted) writes first drafts
   for ``--prompts`` new synthetic prompts (the generate stage's Generator and defaults);
2. rubric v2 grades them; the drafts that pass become ApprovedInsight records (the
   judge is left out: the embedded one does not discriminate, docs/judge.md);
3. the simulated users react to every approved insight (rate 1: the main job's sparse
   default would need many more prompts per round for the same signal);
4. the trainer builds the window of those records (``build_window``: the same files
   the trainer role writes) and trains and decides on it (``train_window``, the
   configured objective and promotion rule: by default KTO on the thumbs, decided on
   the users' predicted thumbs-up of its answers to the golden prompts, which are not
   the prompts measured here).

Before the first round and after each one, the candidate version answers the same
``--eval-prompts`` fixed prompts (their own seed, never trained on; sampled with
seeds derived from the prompt ids, so every version meets the same draws). The
figure is the simulated users' predicted thumbs-up rate of those answers
(:func:`kasper.streams.simulated_users.thumbs_up_rate`) with a bootstrap 95%
interval, and the paired difference against the base model with its interval.
Only a promoted version serves the next round; the thumbs of a round whose candidate
was not promoted are carried into the next round's training (:mod:`kasper.trainer.carry`,
as in the trainer role). ``--plot`` writes the curve as SVG. Each row also gives the
mean words of the answers, the seconds of each phase, and ``loop_minutes``: the loop's
own time so far (drafts, training, decisions), without this bench's evaluations.

    python bench/bench_loop.py [--rounds 3] [--prompts 64] [--eval-prompts 144] [--seed 7]
                               [--out FILE.json] [--plot FILE.svg]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

APPROVED_TOPIC, FEEDBACK_TOPIC = "kasper.approved", "kasper.feedback"


def bootstrap(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The 95% percentile interval of the mean of ``values``."""
    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=float)
    means = data[rng.integers(0, len(data), (resamples, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def prompts_for(count: int, seed: int, tier: str) -> list[dict[str, Any]]:
    from kasper.streams.synthetic_prompts import synthetic_prompt

    return [synthetic_prompt(i, seed) | {"tier": tier} for i in range(count)]


async def generate(model_dir: Path, version: dict[str, Any] | None, prompts: list[dict[str, Any]]) -> list[dict]:
    """The insights ``version`` (None: the base model) writes for ``prompts``."""
    from kasper.agents.generation import Generator
    from kasper.agents.runtime.mlx_backend import MLXBackend
    from kasper.streams.settings import GenerateSettings, ModelSettings

    backend = MLXBackend(ModelSettings(model=model_dir), GenerateSettings())
    await backend.start()
    try:
        if version is not None:
            await backend.apply_version(version)
        outcomes = await Generator(backend).run(prompts)
    finally:
        await backend.close()
    return [o.insight for o in outcomes if o.insight is not None]


def approved_records(insights: list[dict], at: datetime) -> list[dict[str, Any]]:
    """The drafts rubric v2 passes, as ApprovedInsight records."""
    from kasper.agents.quality.rubric import Rubric
    from kasper.schemas.samples import sample_record

    rubric, out = Rubric(), []
    for i, insight in enumerate(insights):
        grade = rubric.grade(insight["text"], insight["domain"], insight["prompt"]["context"])
        if not grade.passed:
            continue
        record = copy.deepcopy(sample_record("ApprovedInsight"))
        ids = {"insight_id": insight["insight_id"], "prompt_id": insight["prompt_id"]}
        record.update(insight_id=ids["insight_id"], prompt=insight["prompt"], insight=insight,
                      approved_at=at + timedelta(seconds=i))
        record["grade"].update(ids, final_score=grade.final_score, word_count=len(insight["text"].split()))
        record["verdict"].update(ids)
        out.append(record)
    return out


def window_sources(approved: list[dict], feedback: list[dict], offset: int) -> list:
    from kasper.trainer.dataset import Source

    return ([Source(APPROVED_TOPIC, 0, offset + i, "approved", r) for i, r in enumerate(approved)]
            + [Source(FEEDBACK_TOPIC, 0, offset + i, "feedback", f) for i, f in enumerate(feedback)])


def rates(insights: list[dict], prompts: list[dict]) -> dict[str, float]:
    """Predicted thumbs-up rate per prompt id (a prompt with no text counts 0)."""
    from kasper.streams.simulated_users import thumbs_up_rate

    by_prompt = {i["prompt_id"]: thumbs_up_rate(i["text"], i["prompt"]["context"]) for i in insights}
    return {p["prompt_id"]: by_prompt.get(p["prompt_id"], 0.0) for p in prompts}


def mean_words(insights: list[dict]) -> float:
    return round(statistics.fmean(len(i["text"].split()) for i in insights), 1)


def summary(label: str, scores: dict[str, float], base: dict[str, float], entry: dict | None) -> dict[str, Any]:
    ids = sorted(base)
    mine = [scores[i] for i in ids]
    diff = [scores[i] - base[i] for i in ids]
    return {"version": label, "promoted": None if entry is None else entry["promoted"],
            "objective": None if entry is None else entry.get("objective"),
            "reason": None if entry is None else entry["reason"],
            "thumbs_up_rate": round(statistics.fmean(mine), 4),
            "ci95": [round(v, 4) for v in bootstrap(mine)],
            "vs_base": round(statistics.fmean(diff), 4),
            "vs_base_ci95": [round(v, 4) for v in bootstrap(diff)], "n": len(ids)}


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    from kasper.agents.runtime.model_store import resolve_model_dir
    from kasper.streams.settings import ModelSettings
    from kasper.streams.simulated_users import feedback_for, user_set

    model_dir = resolve_model_dir(ModelSettings())
    # The trainer's files go under a scratch cache; the model stays where it is.
    os.environ.update(KASPER_MODEL=str(model_dir), KASPER_CACHE_DIR=str(root))
    from kasper.trainer.config import TrainerConfig, with_tier
    from kasper.trainer.dataset import build_window
    from kasper.trainer.pipeline import train_window

    config = TrainerConfig.from_settings()
    if args.iters:
        config = with_tier(config, args.tier, iters=args.iters)
    # Approved means rubric v2 passed it here: the window trains on every approved draft.
    window_policy = dataclasses.replace(config.window, min_score={args.tier: 0.0})
    users = user_set(args.seed)
    evals = prompts_for(args.eval_prompts, 10_000 + args.seed, args.tier)
    started = time.perf_counter()
    base_texts = await generate(model_dir, None, evals)
    base = rates(base_texts, evals)
    rows = [summary("base", base, base, None)]
    rows[-1]["mean_words"] = mean_words(base_texts)
    print(_line(rows[-1]), flush=True)
    serving: dict[str, Any] | None = None
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    loop_s = 0.0  # the loop's own time: drafts, training and decisions, not this bench's evaluations
    for round_no in range(1, args.rounds + 1):
        batch = prompts_for(args.prompts, args.seed * 100 + round_no, args.tier)
        for p in batch:
            p["prompt_id"] = f"r{round_no}-{p['prompt_id']}"
        clock = time.perf_counter()
        drafts = await generate(model_dir, serving, batch)
        generate_s = time.perf_counter() - clock
        approved = approved_records(drafts, at + timedelta(hours=round_no))
        feedback = [f for f in (feedback_for(a, seed=args.seed, users=users, rate=1.0,
                                             now=a["approved_at"] + timedelta(minutes=5)) for a in approved) if f]
        content = build_window(args.tier, window_sources(approved, feedback, round_no * 10_000), window_policy)
        window_dir = root / "windows" / content.window_id
        window_dir.mkdir(parents=True)
        for name, data in content.files.items():
            (window_dir / name).write_bytes(data)
        clock = time.perf_counter()
        entry = train_window(window_dir, config, model_dir, tier=args.tier)
        train_s = time.perf_counter() - clock
        loop_s += generate_s + train_s
        candidate = {"tier": args.tier, "version": entry["version"], "adapter_path": entry.get("adapter_path"),
                     "adapter_sha256": entry.get("adapter_sha256")}
        clock = time.perf_counter()
        texts = await generate(model_dir, candidate, evals) if entry.get("adapter_path") else None
        scores = rates(texts, evals) if texts is not None else base
        row = summary(entry["version"], scores, base, entry)
        row["seconds"] = {"drafts": round(generate_s), "train_and_decide": round(train_s),
                          "train": round(entry.get("metrics", {}).get("train_seconds", 0.0)),
                          "decide": round(entry.get("metrics", {}).get("eval_seconds", 0.0)),
                          "bench_eval": round(time.perf_counter() - clock)}
        if texts:
            row["mean_words"] = mean_words(texts)
        row.update(round=round_no, drafts=len(drafts), approved=len(approved),
                   thumbs_up=sum(f["rating"] == "up" for f in feedback), thumbs=len(feedback),
                   window_counts=content.counts, minutes=round((time.perf_counter() - started) / 60, 1),
                   loop_minutes=round(loop_s / 60, 1))
        rows.append(row)
        print(_line(row), flush=True)
        if entry["promoted"]:
            serving = candidate
    return {"date": datetime.now(timezone.utc).date().isoformat(), "tier": args.tier, "seed": args.seed,
            "prompts_per_round": args.prompts, "eval_prompts": args.eval_prompts,
            "objective": config.tier(args.tier).objective,
            "minutes": round((time.perf_counter() - started) / 60, 1), "loop_minutes": round(loop_s / 60, 1),
            "versions": rows,
            "command": " ".join(["python", *sys.argv])}


def _line(r: dict[str, Any]) -> str:
    decided = "" if r["promoted"] is None else (" promoted" if r["promoted"] else " not promoted")
    return (f"{r['version']:<28} thumbs-up {r['thumbs_up_rate']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
            f"  vs base {r['vs_base']:+.3f} [{r['vs_base_ci95'][0]:+.3f}, {r['vs_base_ci95'][1]:+.3f}]{decided}"
            + (f"  ({r['reason']})" if r.get("reason") else "")
            + (f"  [loop {r['loop_minutes']} min]" if "loop_minutes" in r else ""))


def plot(result: dict[str, Any], path: Path) -> None:
    """The thumbs-up rate per version with its interval, as a small SVG (no plotting library)."""
    rows = result["versions"]
    width, height, pad = max(640, 120 + 110 * len(rows)), 320, 50
    lows = [r["ci95"][0] for r in rows]
    highs = [r["ci95"][1] for r in rows]
    lo, hi = min(lows) - 0.02, max(highs) + 0.02
    y = lambda v: height - pad - (v - lo) / (hi - lo) * (height - 2 * pad)  # noqa: E731
    x = lambda i: pad + 40 + i * 110  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{pad}" y="20" font-size="13">Simulated users\' thumbs-up rate per model version '
             f'({result["eval_prompts"]} fixed prompts, 95% bootstrap interval)</text>']
    for tick in np.linspace(lo, hi, 5):
        parts.append(f'<line x1="{pad}" x2="{width - 20}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
                     f'<text x="5" y="{y(tick) + 4:.1f}">{tick:.3f}</text>')
    for i, r in enumerate(rows):
        colour = "#2a7" if r["promoted"] else "#888" if r["promoted"] is False else "#27a"
        parts.append(f'<line x1="{x(i)}" x2="{x(i)}" y1="{y(r["ci95"][0]):.1f}" y2="{y(r["ci95"][1]):.1f}" '
                     f'stroke="{colour}" stroke-width="2"/><circle cx="{x(i)}" cy="{y(r["thumbs_up_rate"]):.1f}" '
                     f'r="4" fill="{colour}"/><text x="{x(i) - 40}" y="{height - 20}">{r["version"][:18]}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=64, help="new prompts per round")
    # 144: the interval of a gain of about 0.07 clears zero (on 48 it reached below it).
    parser.add_argument("--eval-prompts", type=int, default=144)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tier", default="standard", choices=("lite", "standard", "pro"))
    parser.add_argument("--iters", type=int, default=0, help="training steps per window (0: the tier's)")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    parser.add_argument("--plot", type=Path, help="write the curve as SVG here")
    args = parser.parse_args()
    random.seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="kasper-bench-loop-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if args.plot:
        plot(result, args.plot)
    print(json.dumps({k: v for k, v in result.items() if k != "versions"}))


if __name__ == "__main__":
    main()
