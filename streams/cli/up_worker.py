"""The worker of ``kasper up``: its environment (the demo's judge threshold and trainer
knobs) and the child process that runs every role.

Error policy: :func:`worker_process` stops the worker whatever happens (SIGTERM, then
SIGKILL after 60 s); the rest are pure functions of their inputs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from kasper.streams.cli.up_feedback import DEMO_IDLE_S
from kasper.streams.processes import die_with_parent, terminate
from kasper.streams.settings import Settings

Say = Callable[[str], None]


# The embedded 135M judge barely discriminates: its overall scores clustered at
# 5.8-6.9 (median 6.3) over 34 verdicts of a `kasper up` run, so at the production
# threshold (7.0) it approves nothing. A real judge keeps the configured threshold.
EMBEDDED_JUDGE_APPROVE_THRESHOLD = 6.3
# Read from probabilities in a prefill (KASPER_JUDGE_ENGINE=prefill, the default) its scores
# sit lower still, 4.5-5.8 (median 4.74) over 100 development-corpus texts (docs/judge.md):
# the median again approves about half.
PREFILL_JUDGE_APPROVE_THRESHOLD = 4.7


def demo_trainer_env(count: int) -> dict[str, str]:
    """Trainer knobs that let a run of ``count`` prompts close windows and train them.

    The production defaults (a window per 200 approved records, 40-100 steps) would
    never close a window in a ten-minute run. Here each tier's window closes when the
    run's prompts are all done (``kasper up`` asks the trainer then), so a default run
    trains one larger window per tier instead of several small ones, each paying its
    own plan and evaluation; a long run (``-n 200``) still closes a tier's window at
    ``count // 2`` approved records or ten minutes after its first. A window trains six
    steps with a loss report at each and is evaluated on two probe prompts; every
    approved record may train (the rubric's pass threshold, not the tiers' stricter
    minimums). A window also closes two minutes after its last record, should the
    request not come (the run stopped early).
    """
    return {"KASPER_TRAINER_APPROVED_COUNT": str(max(8, count // 2)),
            "KASPER_TRAINER_MAX_AGE_S": "600",
            "KASPER_TRAINER_IDLE_S": f"{DEMO_IDLE_S:g}",
            "KASPER_TRAINER_ITERS": "6", "KASPER_TRAINER_STEPS_PER_REPORT": "1",
            "KASPER_TRAINER_PROBE_COUNT": "2", "KASPER_TRAINER_MIN_SCORE": "0.6",
            # 12 golden examples (one forward pass each per model), and decisions on 12 or more.
            "KASPER_TRAINER_GOLDEN_COUNT": "12", "KASPER_TRAINER_MIN_EVAL_EXAMPLES": "12"}


def worker_env(settings: Settings, count: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: ours, plus the demo's knobs for what we did not set.

    The demo threshold applies to the embedded judge only; a real judge keeps its own.
    """
    env = dict(os.environ if environ is None else environ)
    if settings.judge.base_url is None:
        prefill = settings.judge.engine == "prefill"
        threshold = PREFILL_JUDGE_APPROVE_THRESHOLD if prefill else EMBEDDED_JUDGE_APPROVE_THRESHOLD
        env.setdefault("KASPER_JUDGE_APPROVE_THRESHOLD", str(threshold))
    for name, value in demo_trainer_env(count).items():
        env.setdefault(name, value)
    return env


@contextlib.contextmanager
def worker_process(settings: Settings, run_dir: Path, say: Say, roles: str,
                   env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """``kasper worker`` with ``roles`` as a child; SIGTERM (then SIGKILL) on exit."""
    log_path = run_dir / "worker.log"
    kasper = str(Path(sys.executable).parent / "kasper")
    with log_path.open("ab") as log:
        # Its own session: a Ctrl-C reaches us only, and we stop the worker before the
        # broker. Tied to this thread: a killed `kasper up` leaves no worker behind.
        proc = subprocess.Popen([kasper, "worker", "--agents", roles], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True,
                                preexec_fn=die_with_parent())
    say(f"started worker pid {proc.pid} ({roles}); log {log_path}")
    try:
        yield proc
    finally:
        if terminate(proc, 60):
            say("worker did not stop in 60 s: killing it")
        say(f"worker exited with code {proc.returncode}")
