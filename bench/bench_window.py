"""A window's phases as the `kasper up` worker runs them: plan, training steps, evaluation.

Each window given is trained and decided by :func:`kasper.trainer.pipeline.train_window`
with the demo's trainer knobs (``kasper up``'s: 12 golden examples, 2 probe prompts,
6 steps or 2 passes) and an empty trainer state in a temporary directory (no kept
reference values, incumbent numbers or adapters), one after another as the train role
takes them, so the first window pays for the base model's numbers and the later ones
reuse them, as in a run. Printed per window: the seconds of the whole call, of the plan
(the reference passes), of the steps and of the evaluation, and the functions inside
the evaluation (held-out loss, golden answers) with their seconds per call.

No anchor: compare a commit with the one before in the same session (a worktree of
each, the same windows), as bench/RESULTS.md does.

    python bench/bench_window.py ~/.cache/kasper/windows/lite-... ~/.cache/kasper/windows/standard-...
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import tempfile
import time
from pathlib import Path

from kasper.streams.cli.up_worker import demo_trainer_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("windows", nargs="+", type=Path, help="window directories (a `kasper up` run's)")
    args = parser.parse_args()
    for name, value in demo_trainer_env(24).items():
        os.environ.setdefault(name, value)
    # After the knobs: the settings are read when these load.
    from kasper.agents.runtime import model_store
    from kasper.streams.settings import ModelSettings
    from kasper.trainer import evaluate, pipeline
    from kasper.trainer.config import TrainerConfig

    calls: dict[str, list[float]] = {}
    for module, name in ((evaluate, "per_example_loss"), (evaluate, "answer_probes")):
        setattr(module, name, _timed(getattr(module, name), name, calls))
    model_dir = model_store.resolve_model_dir(ModelSettings())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = dataclasses.replace(TrainerConfig.from_settings(), windows_dir=root / "windows",
                                     adapters_dir=root / "adapters")
        for window in args.windows:
            calls.clear()
            started = time.perf_counter()
            entry = pipeline.train_window(window, config, model_dir)
            m = entry["metrics"]
            print(f"{window.name}: {time.perf_counter() - started:.1f} s: plan {m.get('plan_seconds', 0):.1f}, "
                  f"steps {m.get('train_seconds', 0):.1f}, evaluation {m.get('eval_seconds', 0):.1f}; "
                  f"reference rows computed {m.get('reference_rows_computed', 0):.0f}; "
                  f"loss {m.get('test_loss', float('nan')):.4f} vs {m.get('current_test_loss', float('nan')):.4f}",
                  flush=True)
            for name, seconds in calls.items():
                print(f"    {name}: {', '.join(f'{s:.2f}' for s in seconds)} s", flush=True)


def _timed(fn, name: str, calls: dict[str, list[float]]):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            calls.setdefault(name, []).append(time.perf_counter() - started)
    return wrapper


if __name__ == "__main__":
    main()
