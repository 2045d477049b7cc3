"""MLX on CPU with and without OpenBLAS: prepare time, prefill, decode, batch decode.

Each BLAS configuration runs in a fresh process (the BLAS is chosen once, before
``mlx.core`` loads).  Prints a Markdown table for ``bench/RESULTS.md``::

    python bench/bench_mlx_blas.py [--decode-tokens 128] [--batch 16] [--prepare]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date

CONFIGS = {
    "openblas, 2 threads": {"OPENBLAS_NUM_THREADS": "2"},
    "openblas, 1 thread": {"OPENBLAS_NUM_THREADS": "1"},
    "reference BLAS": {"KASPER_BLAS": "reference"},
}
TOPICS = ["the moon", "rivers", "numerology", "tarot", "journaling", "the sea", "stars", "dreams"]


def _no_eos(eos_ids):
    """A logits processor that bans EOS so every run decodes exactly the requested tokens."""

    def ban(tokens, logits):
        for eos in eos_ids:
            logits[:, eos] = -float("inf")
        return logits

    return ban


def _worker(decode_tokens: int, batch: int) -> dict:
    from kasper.agents.runtime import model_store
    from kasper.agents.runtime.blas import blas_info
    from mlx_lm import batch_generate, stream_generate

    started = time.perf_counter()
    model, tok = model_store.load(model_store.resolve_model_dir())
    out = {"blas": str(blas_info()), "load_s": time.perf_counter() - started}
    chat = [{"role": "user", "content": "Write a long essay about the moon and the tides. " * 12}]
    prompt = tok.apply_chat_template(chat, add_generation_prompt=True)
    stream_generate_args = dict(max_tokens=decode_tokens, logits_processors=[_no_eos(tok.eos_token_ids)])
    for _ in stream_generate(model, tok, prompt[:32], max_tokens=4):  # warm-up
        pass
    for last in stream_generate(model, tok, prompt, **stream_generate_args):
        pass
    out |= {"prompt_tokens": last.prompt_tokens, "prefill_tps": last.prompt_tps,
            "decode_tokens": last.generation_tokens, "decode_tps": last.generation_tps}  # fmt: skip
    if batch:
        prompts = [
            tok.apply_chat_template([{"role": "user", "content": f"Write about {t}, part {i}."}],
                                    add_generation_prompt=True)  # fmt: skip
            for i, t in zip(range(batch), TOPICS * batch)
        ]
        res = batch_generate(model, tok, prompts, max_tokens=decode_tokens)
        out |= {"batch": batch, "batch_tokens": res.stats.generation_tokens,
                "batch_decode_tps": res.stats.generation_tps}  # fmt: skip
    return out


def _prepare_time() -> float:
    from kasper.agents.runtime import model_store
    from kasper.streams.settings import ModelSettings

    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        model_store.prepare(ModelSettings(cache_dir=cache))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--prepare", action="store_true", help="also time prepare() in a fresh cache")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.decode_tokens, args.batch)))
        return
    print(f"{date.today()} {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    if args.prepare:
        print(f"prepare (fresh cache): {_prepare_time():.1f} s")
    print("| config | prefill tok/s | decode tok/s | batch | batch decode tok/s | load s |")
    print("|---|---|---|---|---|---|")
    for name, env in CONFIGS.items():
        cmd = [sys.executable, __file__, "--worker", "--decode-tokens", str(args.decode_tokens),
               "--batch", str(args.batch)]  # fmt: skip
        proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"| {name} | failed: {proc.stderr.strip()[-300:]} |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['prefill_tps']:.0f} ({r['prompt_tokens']} tok) | {r['decode_tps']:.1f} "
              f"| {r.get('batch', '-')} | {r.get('batch_decode_tps', 0):.1f} | {r['load_s']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
