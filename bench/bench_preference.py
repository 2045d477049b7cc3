"""Preference training tokens/s: our DPO and KTO against our SFT path and mlx-lm-lora's DPO.

The same data for every side: ``--pairs`` synthetic prompts (the generator's template), each
with a liked insight and a disliked one (another draft for the same prompt with a cliché
added). SFT trains on the liked texts (``train.jsonl``), DPO on the pairs
(``preference.jsonl``), KTO on both as thumbs (``thumbs.jsonl``: every liked and disliked
text, so twice the examples). The same config: the standard tier's defaults (rank 8,
8 layers, scale 20, batch 4, max 512 tokens, Adam, learning rate 1e-4), beta 0.1,
``--iters`` steps, no validation.

- ``sft``, ``dpo``, ``kto``: :func:`kasper.trainer.lora.train_adapter` with that objective;
- ``anchor-dpo``: ``mlx_lm_lora.train`` (``--train-mode dpo``) from a separate virtualenv
  (``--anchor-python``: a throwaway virtualenv with ``pip install mlx-lm-lora mlx-cpu``; it
  pins its own mlx-lm and transformers, so it is kept out of the project's), given the same
  OpenBLAS first like ours (without
  it MLX runs on the reference BLAS and the ratio would flatter us ~10x). Version 5.10.2
  stops on CPU Linux before its first step (``mx.device_info()`` has no
  ``max_recommended_working_set_size`` there, a Metal-only key); the wrapper supplies the
  key (0) and says so (``shimmed``), nothing else of it is changed.

Each side is a fresh subprocess, run once. Measured the same way for every side: the
wall time of the training call (model loading excluded; for ours the reference pass
before the first step is *included*, since that is part of the cost of DPO/KTO), and
**answer tokens per second** = answer tokens of the rows trained on / that time, where
a DPO step trains chosen and rejected rows, a KTO step its examples (the mismatched KL
rows are a forward pass and not counted), an SFT step its examples. Each side's own
tok/s figure is reported too (mlx-lm-lora counts prompt tokens as well).

    python bench/bench_preference.py [--pairs 32] [--iters 12] [--anchor-python PATH] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLICHES = (" Remember, everything happens for a reason.",
           " Trust the universe, because it always has a plan for you.",
           " Just stay positive and good vibes will follow.")

ANCHOR = r"""
import ctypes, json, os, sys, time
# The very OpenBLAS ours runs on, loaded before mlx.core as kasper.agents.runtime.blas does.
ctypes.CDLL(os.environ["BENCH_OPENBLAS"], mode=ctypes.RTLD_GLOBAL)
import mlx.core as mx
# mlx-lm-lora 5.10.2's train_dpo calls mx.set_wired_limit(mx.device_info()[
# "max_recommended_working_set_size"]): a Metal-only key, so on CPU Linux it stops with a
# KeyError before the first step. The shim supplies 0 (the wired limit means nothing on CPU).
shimmed = "max_recommended_working_set_size" not in mx.device_info()
if shimmed:
    info = mx.device_info
    mx.device_info = lambda *a, **k: {**info(*a, **k), "max_recommended_working_set_size": 0}
import mlx_lm_lora.train as cli
from mlx_lm.tuner.callbacks import TrainingCallback

class Recorder(TrainingCallback):
    reports = []
    def on_train_loss_report(self, info):
        self.reports.append([info["iteration"], info.get("trained_tokens"), info.get("tokens_per_second")])
    def on_val_loss_report(self, info):
        pass

original = cli.train_dpo
def timed(*args, **kwargs):
    kwargs["training_callback"] = recorder = Recorder()
    started = time.perf_counter()
    original(*args, **kwargs)
    print("BENCH " + json.dumps({"wall": time.perf_counter() - started, "reports": recorder.reports,
                                 "shimmed": shimmed}))
cli.train_dpo = timed
sys.argv = ["mlx_lm_lora.train", *sys.argv[1:]]
cli.main()
"""


def make_data(root: Path, pairs: int) -> tuple[Path, Path]:
    """Our window-format files and mlx-lm-lora's DPO files, from the same texts."""
    import random

    from kasper.agents.quality.prompts import build_messages
    from kasper.trainer.synthetic_records import insight_text, synthetic_approved

    ours, anchor = root / "ours", root / "anchor"
    ours.mkdir(parents=True)
    anchor.mkdir()
    sft, dpo, kto, theirs = [], [], [], []
    for i, record in enumerate(synthetic_approved(pairs, seed=2026, tier="standard", score=0.9)):
        messages = build_messages(record["prompt"])
        liked = record["insight"]["text"]
        disliked = insight_text(record["prompt"], random.Random(f"other:{i}")) + CLICHES[i % 3]
        answer = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
        sft.append({"messages": [*messages, *answer(liked)]})
        dpo.append({"prompt": messages, "chosen": answer(liked), "rejected": answer(disliked)})
        kto += [{"prompt": messages, "completion": answer(liked), "label": True},
                {"prompt": messages, "completion": answer(disliked), "label": False}]
        theirs.append({"system": messages[0]["content"], "prompt": messages[1]["content"],
                       "chosen": liked, "rejected": disliked})
    for path, rows in ((ours / "train.jsonl", sft), (ours / "preference.jsonl", dpo),
                       (ours / "thumbs.jsonl", kto), (anchor / "train.jsonl", theirs)):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ours, anchor


def params(iters: int, objective: str):
    from kasper.trainer.config import TrainerConfig

    return dataclasses.replace(TrainerConfig.from_settings().tier("standard"), iters=iters,
                               objective=objective, steps_per_report=max(1, iters // 3))


def child_ours(data: Path, iters: int, objective: str, work: Path) -> None:
    from kasper.agents.runtime.model_store import resolve_model_dir
    from kasper.trainer import lora

    model_dir = resolve_model_dir()
    load = lora.model_store.load
    timing = {}

    def timed_load(*args, **kwargs):  # the clock starts when the model is in memory
        loaded = load(*args, **kwargs)
        timing["loaded"] = time.perf_counter()
        return loaded

    lora.model_store.load = timed_load
    result = lora.train_adapter(model_dir, data, work, params(iters, objective), tier="standard")
    wall = time.perf_counter() - timing["loaded"]
    print("BENCH " + json.dumps({"wall": wall, "train_call": result.wall_seconds, "tokens": result.tokens,
                                 "own_tok_s": result.tokens_per_second, "objective": result.objective}))


def anchor_config(model_dir: Path, data: Path, iters: int, adapters: Path) -> dict:
    p = params(iters, "dpo")
    return {
        "model": str(model_dir), "train": True, "train_mode": "dpo", "data": str(data),
        "train_type": "lora", "optimizer": "adam", "num_layers": p.num_layers,
        "batch_size": p.batch_size, "iters": p.iters, "val_batches": 1,
        "learning_rate": p.learning_rate, "steps_per_report": p.steps_per_report,
        "steps_per_eval": 10**9, "save_every": 10**9, "adapter_path": str(adapters),
        "max_seq_length": p.max_seq_length, "seed": p.seed, "lora_parameters": p.lora_parameters(),
        "beta": p.beta, "dpo_cpo_loss_type": "sigmoid", "fuse": False, "mask_prompt": False,
    }


def answer_tokens(data: Path, objective: str) -> float:
    """Mean answer tokens of one trained example of ``objective`` (a DPO pair counts both rows)."""
    from kasper.agents.runtime.model_store import resolve_model_dir
    from transformers import AutoTokenizer

    from kasper.trainer.preference import encode, read_rows

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model_dir()))
    if objective == "dpo":
        rows = read_rows(data, "preference.jsonl", ("train",))
        sizes = [sum(len(t) - o for t, o in (encode(tokenizer, r["prompt"], r[k]) for k in ("chosen", "rejected")))
                 for r in rows]
    elif objective == "kto":
        rows = read_rows(data, "thumbs.jsonl", ("train",))
        sizes = [len(t) - o for t, o in (encode(tokenizer, r["prompt"], r["completion"]) for r in rows)]
    else:
        rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
        sizes = [len(t) - o for t, o in (encode(tokenizer, r["messages"][:-1], r["messages"][-1:]) for r in rows)]
    return sum(sizes) / len(sizes)


def run_side(side: str, ours: Path, anchor: Path, iters: int, scratch: Path, anchor_python: str | None) -> dict:
    from kasper.agents.runtime.model_store import resolve_model_dir

    work = Path(tempfile.mkdtemp(dir=scratch))
    from kasper.agents.runtime.blas import blas_info

    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"),
               BENCH_OPENBLAS=blas_info().path or "")
    if side == "anchor-dpo":
        if not anchor_python:
            return {"side": side, "error": "no --anchor-python given"}
        config = work / "dpo.yaml"  # JSON is YAML
        config.write_text(json.dumps(anchor_config(resolve_model_dir(), anchor, iters, work / "adapters")))
        cmd = [anchor_python, "-c", ANCHOR, "-c", str(config)]
    else:
        cmd = [sys.executable, __file__, "child", str(ours), "--iters", str(iters),
               "--objective", side, "--work", str(work)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        return {"side": side, "error": f"exit {proc.returncode}: " + (proc.stderr + proc.stdout)[-3000:]}
    out = {"side": side, **json.loads(line[6:])}
    if side == "anchor-dpo":
        reports = out.pop("reports")
        out["own_tok_s"] = reports[-1][2] if reports else None  # prompt tokens included
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    child = sub.add_parser("child")
    child.add_argument("data", type=Path)
    child.add_argument("--iters", type=int, required=True)
    child.add_argument("--objective", required=True)
    child.add_argument("--work", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--iters", type=int, default=12)
    parser.add_argument("--sides", default="sft,dpo,kto,anchor-dpo")
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.cmd == "child":
        child_ours(args.data, args.iters, args.objective, args.work)
        return
    with tempfile.TemporaryDirectory() as scratch:
        ours, anchor = make_data(Path(scratch) / "data", args.pairs)
        batch = params(args.iters, "sft").batch_size
        results = []
        for side in args.sides.split(","):
            result = run_side(side, ours, anchor, args.iters, Path(scratch), args.anchor_python)
            if "error" not in result:
                objective = "dpo" if side == "anchor-dpo" else side
                tokens = args.iters * batch * answer_tokens(ours, objective)
                result["answer_tok_s"] = tokens / result["wall"]
                result["steps_per_s"] = args.iters / result["wall"]
            results.append(result)
            print(json.dumps(result) if args.json else _line(result), flush=True)


def _line(r: dict) -> str:
    if "error" in r:
        return f"{r['side']:>11}: failed: {r['error'][-400:]}"
    own = f"{r['own_tok_s']:.1f}" if r.get("own_tok_s") else "-"
    return (f"{r['side']:>11}: {r['wall']:.1f} s, {r['steps_per_s']:.3f} steps/s, "
            f"{r['answer_tok_s']:.1f} answer tok/s (own measure {own})")


if __name__ == "__main__":
    main()
