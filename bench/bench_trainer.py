"""Trainer benchmarks: LoRA tokens/s vs. ``mlx_lm.lora``, and window close -> ModelVersion.

``train``: the same window (200 synthetic approved records, standard tier) and
the same settings (the standard tier's defaults: rank 8, 8 layers, batch 4,
max 512 tokens, prompt masked) trained by

- ours: :func:`kasper.trainer.lora.train_adapter` (checkpoints, metrics, NaN checks included);
- the anchor: ``mlx_lm.lora``'s own ``main()`` (its CLI code path) with a YAML config.

Each run is a fresh subprocess, interleaved ours/anchor, ``--rounds`` times.
The anchor also gets the fast-CPU setup (OpenBLAS loaded before mlx): without it
mlx-lm runs on the reference BLAS and the ratio would flatter us ~10x. Both
sides are measured the same way: a passive callback records mlx-lm's training
reports (tokens / step time); "steady" leaves out the first report (it holds
the compile), "wall" divides all tokens by the whole ``train()`` call (compile,
validation and our checkpoints included). Goal: ours >= 0.95x the anchor.

``latency``: an embedded broker, the window loop and the training loop in this
process (as in ``kasper worker --agents train``), 200 approved records produced;
reports the seconds from the window closing (its ``closed_at``) to the
ModelVersion arriving on the models topic, with the training/evaluation split.

    python bench/bench_trainer.py train [--rounds 2] [--iters 40] [--json]
    python bench/bench_trainer.py latency [--iters 60] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECORDS = 200

ANCHOR = r"""
import json, sys, time
import kasper.agents.runtime.blas  # OpenBLAS before mlx.core, as for ours
import mlx_lm.lora as lora
from mlx_lm.tuner.callbacks import TrainingCallback

class Recorder(TrainingCallback):
    reports = []
    def on_train_loss_report(self, info):
        self.reports.append([info["iteration"], info["trained_tokens"], info["tokens_per_second"]])

original = lora.train
def timed(*args, **kwargs):
    kwargs["training_callback"] = recorder = Recorder()
    started = time.perf_counter()
    original(*args, **kwargs)
    print("BENCH " + json.dumps({"wall": time.perf_counter() - started, "reports": recorder.reports}))
lora.train = timed
sys.argv = ["mlx_lm.lora", *sys.argv[1:]]
lora.main()
"""


def make_window(directory: Path) -> Path:
    from kasper.trainer.config import WindowPolicy
    from kasper.trainer.dataset import Source, build_window
    from kasper.trainer.files import write_window
    from kasper.trainer.synthetic_records import synthetic_approved

    records = synthetic_approved(RECORDS, seed=2026, tier="standard", score=0.9)
    sources = [Source("kasper.approved", i % 8, i // 8, "approved", r) for i, r in enumerate(records)]
    return write_window(build_window("standard", sources, WindowPolicy()), directory)


def tier_params(iters: int):
    from kasper.trainer.config import TrainerConfig

    return dataclasses.replace(TrainerConfig.from_settings().tier("standard"), iters=iters)


def child_ours(data: Path, iters: int, work: Path) -> None:
    from kasper.agents.runtime.model_store import resolve_model_dir
    from kasper.trainer.lora import train_adapter

    reports = []
    result = train_adapter(resolve_model_dir(), data, work, tier_params(iters), tier="standard",
                           progress=lambda step, info: reports.append(
                               [step, info["trained_tokens"], info["tokens_per_second"]]))
    # wall_seconds times the train() call only, like the anchor's wrapper.
    print("BENCH " + json.dumps({"wall": result.wall_seconds, "reports": reports}))


def anchor_config(model_dir: Path, data: Path, iters: int, adapters: Path) -> dict:
    p = tier_params(iters)
    return {
        "model": str(model_dir), "train": True, "data": str(data), "fine_tune_type": "lora",
        "optimizer": "adam", "mask_prompt": p.mask_prompt, "num_layers": p.num_layers,
        "batch_size": p.batch_size, "iters": p.iters, "val_batches": p.val_batches,
        "learning_rate": p.learning_rate, "steps_per_report": p.steps_per_report,
        "steps_per_eval": p.steps_per_eval, "save_every": 10**9, "adapter_path": str(adapters),
        "max_seq_length": p.max_seq_length, "seed": p.seed, "lora_parameters": p.lora_parameters(),
    }


def run_side(side: str, data: Path, iters: int, scratch: Path) -> dict:
    from kasper.agents.runtime.model_store import resolve_model_dir

    work = Path(tempfile.mkdtemp(dir=scratch))
    if side == "ours":
        cmd = [sys.executable, __file__, "child", str(data), "--iters", str(iters), "--work", str(work)]
    else:
        config = work / "lora.yaml"  # JSON is YAML
        config.write_text(json.dumps(anchor_config(resolve_model_dir(), data, iters, work / "adapters")))
        cmd = [sys.executable, "-c", ANCHOR, "-c", str(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"{side} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return summarize(json.loads(line[6:]))


def summarize(run: dict) -> dict:
    """Tokens/s from mlx-lm's reports: per report, tokens = delta of the total, time = tokens / rate."""
    total, rows = 0, []
    for _, cumulative, rate in run["reports"]:
        rows.append((cumulative - total, (cumulative - total) / rate if rate else 0.0))
        total = cumulative
    steady = rows[1:] or rows
    return {"steady": sum(t for t, _ in steady) / sum(s for _, s in steady),
            "wall": total / run["wall"], "tokens": total, "seconds": run["wall"]}


def bench_train(rounds: int, iters: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="kasper-bench-") as tmp:
        data = make_window(Path(tmp) / "windows")
        results: dict[str, list[dict]] = {"ours": [], "mlx_lm.lora": []}
        for r in range(rounds):
            for side in ("ours", "mlx_lm.lora"):
                results[side].append(run_side(side, data, iters, Path(tmp)))
                print(f"round {r + 1} {side}: {results[side][-1]}", file=sys.stderr)
    med = {side: {k: statistics.median(x[k] for x in runs) for k in ("steady", "wall")}
           for side, runs in results.items()}
    return {"benchmark": "train", "iters": iters, "rounds": rounds, "records": RECORDS,
            "ours": med["ours"], "anchor": med["mlx_lm.lora"],
            "ratio_steady": med["ours"]["steady"] / med["mlx_lm.lora"]["steady"],
            "ratio_wall": med["ours"]["wall"] / med["mlx_lm.lora"]["wall"], "runs": results}


async def _latency(iters: int) -> dict:
    from kasper.agents.runtime.model_store import resolve_model_dir
    from kasper.schemas import Codec
    from kasper.streams import topics
    from kasper.streams.admin import create_topics
    from kasper.streams.broker import EmbeddedBroker
    from kasper.streams.consumer import read
    from kasper.streams.producer import Producer
    from kasper.streams.settings import KafkaSettings, Settings
    from kasper.trainer.config import TrainerConfig, WindowPolicy, with_tier
    from kasper.trainer.synthetic_records import synthetic_approved
    from kasper.trainer.train_loop import run_training
    from kasper.trainer.window_loop import run_windows

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    kafka = KafkaSettings(bootstrap_servers=address, session_timeout_s=6, rebalance_timeout_s=3)
    settings = Settings(kafka=kafka)
    with EmbeddedBroker(address), tempfile.TemporaryDirectory(prefix="kasper-bench-") as tmp:
        await create_topics(kafka)
        config = TrainerConfig(windows_dir=Path(tmp) / "windows", adapters_dir=Path(tmp) / "adapters",
                               window=WindowPolicy(approved_count=RECORDS), tick_s=0.5)
        config = with_tier(config, "standard", iters=iters)
        stop = asyncio.Event()
        model_dir = resolve_model_dir(settings.model)
        loops = [asyncio.create_task(run_windows(settings, config, stop)),
                 asyncio.create_task(run_training(settings, config, stop, model_dir))]
        async with Producer(settings) as producer:
            for record in synthetic_approved(RECORDS, seed=7, tier="standard", score=0.9):
                await producer.send(topics.APPROVED, record)
        version = None
        while version is None:
            await asyncio.sleep(1)
            for task in loops:
                if task.done():
                    task.result()
            found = [r async for r in read(kafka, Codec(), topics.MODELS.name, from_beginning=True,
                                           idle_timeout_s=0.5)]
            version = found[0].record if found else None
        arrived = time.time()
        window = [r async for r in read(kafka, Codec(), topics.TRAINING_WINDOWS.name,
                                        from_beginning=True, idle_timeout_s=0.5)][0].record
        stop.set()
        await asyncio.gather(*loops)
    closed = window["closed_at"].timestamp()
    m = version["metrics"]
    return {"benchmark": "latency", "records": RECORDS, "iters": iters,
            "close_to_model_version_s": arrived - closed,
            "train_s": m.get("train_seconds"), "promoted": version["promoted"],
            "reason": version["reason"], "window_counts": window["counts"],
            "metrics": m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["train", "latency", "child"])
    parser.add_argument("data", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iters", type=int, default=None,
                        help="training steps (train: 40, one epoch of the window; latency: tier default)")
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    os.environ.setdefault("KASPER_LOG_JSON", "false")
    if args.what == "child":
        child_ours(Path(args.data), args.iters, Path(args.work))
        return
    if args.what == "train":
        result = bench_train(args.rounds, args.iters or 40)
    else:
        from kasper.trainer.config import TrainerConfig

        result = asyncio.run(_latency(args.iters or TrainerConfig.from_settings().tier("standard").iters))
    print(json.dumps(result, indent=2, default=str) if args.json else _text(result))


def _text(result: dict) -> str:
    if result["benchmark"] == "train":
        o, a = result["ours"], result["anchor"]
        return (f"LoRA training, {result['records']}-record window, {result['iters']} steps, "
                f"median of {result['rounds']}:\n"
                f"  ours        steady {o['steady']:.1f} tok/s   wall {o['wall']:.1f} tok/s\n"
                f"  mlx_lm.lora steady {a['steady']:.1f} tok/s   wall {a['wall']:.1f} tok/s\n"
                f"  ratio       steady {result['ratio_steady']:.3f}x   wall {result['ratio_wall']:.3f}x")
    return (f"window of {result['records']} closed -> ModelVersion: "
            f"{result['close_to_model_version_s']:.1f} s (training {result['train_s']:.1f} s, "
            f"{result['iters']} steps); promoted={result['promoted']}: {result['reason']}")


if __name__ == "__main__":
    main()
