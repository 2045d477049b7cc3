"""Crash tests: workers SIGKILLed at seeded random moments, restarted, and nothing lost or doubled.

Real processes on a real embedded broker of the test's own (helpers in tests/chaos.py).

1. A ``grade,judge,route`` worker fed pre-made insights (texts from
   tests/data/insights_labeled.jsonl) is SIGKILLed three times at seeded random
   moments (0.5-5 s after each run got its partitions, so every kill lands mid-work)
   and restarted. Pre-made insights rather than ``generate``: on these 2 cores
   the shipped MLX model needed ~13 s to load at every restart and ~35 s for 8 prompts
   at 32 tokens, and texts that short all failed the rubric, so the approved path
   (the one that can duplicate) would not have been exercised within the time budget.
   tests/test_scaling.py runs generate end to end. The judge is the loopback fault
   server answering slowly with one request at a time, so the kills land mid-run.
2. The train role: killed right after a window's files are written (before its state
   row and event: the ``files`` failpoint, an ``os._exit`` as abrupt as SIGKILL), and
   SIGKILLed while a LoRA run is in progress (a checkpoint on disk). Afterwards every
   window is announced once, holds unique records, and has a ModelVersion; the
   interrupted run resumed from its checkpoint.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests import chaos
from tests.helpers import fresh_broker
from tests.judge_fault_server import FaultServer
from kasper.streams import topics
from kasper.trainer.synthetic_records import synthetic_approved

pytestmark = [pytest.mark.broker]
SEED = 20261202


def test_a_worker_killed_at_random_moments_ends_every_prompt_once(tmp_path):
    rng = random.Random(SEED)
    insights = chaos.premade_insights(60, f"crash-{SEED}")
    wanted = {i["prompt_id"] for i in insights}
    with fresh_broker() as broker, FaultServer() as judge:
        # Most insights fail the rubric and end at once, and repeated texts hit the verdict
        # cache: the judge's slow answers are what keep work pending through all three kills
        # (at 0.6 s the backlog once drained before the third, on a loaded machine).
        judge.cycle("slow:1.5", "slow:1.5", "reject")
        env = chaos.base_env(broker.address, tmp_path / "cache", judge.base_url,
                             KASPER_JUDGE_CONCURRENCY="1")
        worker = chaos.Worker(env, tmp_path, roles="grade,judge,route", args=("--max-attempts", "1"))
        with chaos.running(worker):
            worker.start()
            chaos.produce(broker.address, topics.INSIGHTS, insights)
            pending_at_kill: list[int] = []
            delays = chaos.chaos_kills(
                worker, rng, kills=3, low_s=0.5, high_s=5, after_ready=True,
                done=lambda: chaos.outcomes_of(broker.address, wanted) == wanted,
                on_kill=lambda: pending_at_kill.append(
                    len(wanted - chaos.outcomes_of(broker.address, wanted))))
            final = chaos.wait_for_outcomes(broker.address, wanted, [worker], timeout_s=150)
            assert worker.stop() == 0, worker.tail()

    # The kills interrupted real work, or the test proves nothing.
    assert len(delays) == 3 and sum(1 for p in pending_at_kill if p) >= 2, (delays, pending_at_kill)
    outcomes = chaos.final_outcomes(final)
    assert set(outcomes) == wanted
    assert not {p: o for p, o in outcomes.items() if len(o) != 1}, "a prompt ended two ways"
    assert not chaos.approved_conflicts(final)
    kinds = Counter(next(iter(o)) for o in outcomes.values())
    assert kinds["approved"] and kinds["rejected"], kinds  # both paths ran
    repeats = len(final.of(topics.APPROVED)) - len({a["insight_id"] for a in final.of(topics.APPROVED)})
    print(f"\nkills after {delays}s (pending then: {pending_at_kill}); outcomes {dict(kinds)}; "
          f"approved repeated by redelivery (same content): {repeats}")


PER_WINDOW = 6


def trainer_env(address: str, cache: Path, model_dir: Path) -> dict[str, str]:
    return chaos.base_env(address, cache, "http://127.0.0.1:9/v1", KASPER_MODEL=str(model_dir),
                          KASPER_TRAINER_APPROVED_COUNT=str(PER_WINDOW), KASPER_TRAINER_MIN_SCORE="0.6")


def windows_and_versions(address: str) -> tuple[list[str], dict[str, dict]]:
    snap = chaos.snapshot(address, chaos.TRAINING)
    announced = [w["window_id"] for w in snap.of(topics.TRAINING_WINDOWS)]
    return announced, {v["window_id"]: v for v in snap.of(topics.MODELS) if v["window_id"]}


@pytest.mark.model
def test_the_trainer_killed_mid_window_and_mid_training_loses_and_doubles_nothing(tmp_path, shipped_model):
    cache = tmp_path / "cache"
    windows_dir = cache / "windows"
    with fresh_broker() as broker:
        env = trainer_env(broker.address, cache, shipped_model)
        worker = chaos.trainer_worker(env, tmp_path, iters=6)
        first = synthetic_approved(PER_WINDOW, seed=SEED, tier="standard", score=0.9)
        second = synthetic_approved(PER_WINDOW, seed=SEED + 1, tier="standard", score=0.9)
        with chaos.running(worker):
            # 1. Mid-window: the process dies right after the window's files are written.
            worker.start(CHAOS_CRASH_AFTER="files")
            chaos.produce(broker.address, topics.APPROVED, first)
            worker.proc.wait(timeout=120)
            assert worker.proc.returncode == 70, worker.tail()
            assert "failpoint: exiting after files" in worker.text()
            written = [p for p in windows_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
            assert len(written) == 1 and windows_and_versions(broker.address) == ([], {})

            # 2. Mid-training: SIGKILL once the LoRA run has checkpointed a step or two.
            worker.start()
            chaos.wait_until("a LoRA checkpoint", lambda: chaos.checkpoint_step(cache) >= 2, 150,
                             [worker], poll_s=0.2)
            worker.kill()
            step = chaos.checkpoint_step(cache)  # what the killed run left on disk
            announced, versions = windows_and_versions(broker.address)
            assert len(announced) == 1 and not versions  # killed before its version existed
            assert (windows_dir / ".orphans" / written[0].name).is_dir()  # moved aside, rebuilt

            # 3. Restart: the run resumes, the second window follows.
            worker.start()
            chaos.produce(broker.address, topics.APPROVED, second)
            chaos.wait_until("a ModelVersion for both windows",
                             lambda: len(windows_and_versions(broker.address)[1]) >= 2, 600, [worker],
                             poll_s=1.0)
            time.sleep(2)
            announced, versions = windows_and_versions(broker.address)
            assert worker.stop() == 0, worker.tail()

    assert len(announced) == 2 and len(set(announced)) == 2, announced  # each announced once
    assert set(versions) == set(announced)
    assert versions[announced[0]]["metrics"]["resumed_from"] == step, versions[announced[0]]
    assert versions[announced[1]]["metrics"]["resumed_from"] == 0
    records = chaos.window_records(windows_dir)
    assert set(records) == set(announced)
    assert chaos.duplicated_in_windows(windows_dir) == 0
    ids = [r[1] for rows in records.values() for r in rows if r[0] == "insight"]
    assert sorted(ids) == sorted(a["insight_id"] for a in first + second)  # every record, once
    print(f"\nkilled after files, then at LoRA step {step}; windows {announced}; "
          f"resumed_from {versions[announced[0]]['metrics']['resumed_from']}")


def test_the_checks_catch_a_doubled_record_and_a_prompt_that_ended_twice(tmp_path):
    """The crash checks themselves: each must fail on the fault it exists for."""
    from kasper.schemas.samples import sample_record
    from kasper.trainer.config import WindowPolicy
    from kasper.trainer.dataset import Source, build_window
    from kasper.trainer.files import write_window

    records = synthetic_approved(4, seed=3, tier="standard", score=0.9)
    sources = [Source(topics.APPROVED.name, 0, i, "approved", r) for i, r in enumerate(records)]
    write_window(build_window("standard", sources[:3], WindowPolicy()), tmp_path)
    assert chaos.duplicated_in_windows(tmp_path) == 0
    write_window(build_window("standard", sources[2:], WindowPolicy()), tmp_path)  # record 2 again
    assert chaos.duplicated_in_windows(tmp_path) == 2  # by its offset and by its insight id

    approved = dict(records[0])
    rejected = sample_record("Verdict")
    rejected.update(prompt_id=approved["prompt"]["prompt_id"], recommendation="REJECT")
    changed = {**approved, "insight": {**approved["insight"], "text": "another text"}}
    snap = chaos.Snapshot({topics.APPROVED.name: [(0, 0, approved), (0, 1, changed)],
                           topics.VERDICTS.name: [(0, 0, rejected)]})
    assert chaos.final_outcomes(snap) == {approved["prompt"]["prompt_id"]: {"approved", "rejected"}}
    assert set(chaos.approved_conflicts(snap)) == {approved["insight_id"]}
