"""BLAS threads for generation: ``auto`` (agents/runtime/cores.py) against fixed counts.

Each leg is ``bench_drafts.py`` (the generate stage's Generator on the same synthetic
prompts, rubric v2 on its drafts) in a fresh process with ``KASPER_BLAS_THREADS`` set
to the policy (OpenBLAS reads its thread count when it loads). The legs take turns
within each round, so a change in the machine's load falls on every policy alike.
With ``--neighbour`` every leg runs again beside a CPU-bound process holding one core
(a stand-in for the trainer, a test run or another job on the machine): the case a
fixed second thread loses badly and ``auto`` must not.

Prints tok/s per policy (median over rounds) and each policy's ratio to one thread.

    python bench/bench_threads.py [--policies auto,1,2] [--rounds 2] [--prompts 64]
                                  [--variant combined] [--neighbour] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

DRAFTS = Path(__file__).resolve().parent / "bench_drafts.py"
BUSY = "import time\nend = time.monotonic() + 3600\nwhile time.monotonic() < end: pass\n"


def leg(policy: str, variant: str, prompts: int, neighbour: bool) -> dict:
    """One bench_drafts run under ``policy``: its figures for ``variant``."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["KASPER_BLAS_THREADS"] = policy
    busy = subprocess.Popen([sys.executable, "-c", BUSY]) if neighbour else None
    try:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run([sys.executable, str(DRAFTS), "--prompts", str(prompts), "--variants", variant,
                            "--out", out.name], env=env, check=True, stdout=subprocess.DEVNULL)
            result = json.loads(Path(out.name).read_text())[0]
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    return {k: result[k] for k in ("tokens_per_s", "seconds_per_insight", "pass_rate", "mean_tokens")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", default="auto,1,2", help="KASPER_BLAS_THREADS values, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--variant", default="combined", help="a bench_drafts variant (combined: the defaults)")
    parser.add_argument("--neighbour", action="store_true", help="also every leg beside a process holding a core")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    policies = args.policies.split(",")
    if "1" not in policies:
        raise SystemExit("--policies must include 1: the ratios are against one thread")
    settings = [False, True] if args.neighbour else [False]
    runs: dict[tuple[str, bool], list[dict]] = {}
    for round_no in range(args.rounds):
        for neighbour in settings:
            for policy in policies:
                r = leg(policy, args.variant, args.prompts, neighbour)
                runs.setdefault((policy, neighbour), []).append(r)
                print(f"round {round_no + 1} {'beside a busy core ' if neighbour else ''}{policy:>4}: "
                      f"{r['tokens_per_s']:.1f} tok/s, {r['seconds_per_insight']} s/insight", flush=True)
    rows = []
    for neighbour in settings:
        one = statistics.median(r["tokens_per_s"] for r in runs[("1", neighbour)])
        for policy in policies:
            rate = statistics.median(r["tokens_per_s"] for r in runs[(policy, neighbour)])
            rows.append({"policy": policy, "neighbour": neighbour, "tokens_per_s": round(rate, 2),
                         "vs_one_thread": round(rate / one, 3),
                         "rounds": [r["tokens_per_s"] for r in runs[(policy, neighbour)]]})
            print(f"{'beside a busy core' if neighbour else 'alone':<18} {policy:>4}: {rate:7.2f} tok/s  "
                  f"x{rate / one:.2f} one thread")
    result = {"date": datetime.now(timezone.utc).date().isoformat(), "variant": args.variant,
              "prompts": args.prompts, "rows": rows, "command": " ".join(["python", *sys.argv])}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
