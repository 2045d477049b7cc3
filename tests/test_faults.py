"""Fault injection on real processes: a failing judge, a broker that stops answering, a full disk.

Each test runs its own embedded broker (helpers in tests/chaos.py).

- The judge: the loopback fault server (tests/judge_fault_server.py) answers a stretch
  of 429s, 500s, timeouts and closed connections, then is healthy. Every grade gets a
  verdict, nothing is dead-lettered, and the failures show in the worker's /metrics
  and log.
- The broker: Tansu 0.6.0 as shipped offers only memory, postgres:// and s3:// storage
  (``sqlite://`` says the ``libsql`` feature is not compiled in, ``file://`` is
  unsupported), so a restarted embedded broker would start empty. Instead the broker
  process is frozen with SIGSTOP for longer than the session timeout, then SIGCONT: the
  worker's requests and heartbeats go unanswered, and it must resume by itself.
- The disk: the trainer's windows directory is a 256 KiB tmpfs, filled up before a
  window closes. The window loop must not commit the offsets of records it could not
  write; the worker stops with the error in its log (the designed behaviour, see
  trainer/files.py); once space is back a restart writes the window once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests import chaos
from tests.helpers import fresh_broker
from tests.judge_fault_server import FaultServer
from kasper.streams import topics
from kasper.trainer.synthetic_records import synthetic_approved

pytestmark = [pytest.mark.broker]


def judged_everything(final: chaos.Snapshot) -> None:
    """Every grade has a verdict; every rubric pass was judged by the LLM; the DLQ is empty."""
    grades = {g["insight_id"]: g for g in final.of(topics.GRADES)}
    verdicts: dict[str, set[str]] = {}
    for v in final.of(topics.VERDICTS):
        verdicts.setdefault(v["insight_id"], set()).add(v["judge_model"])
    assert set(verdicts) == set(grades)
    passed = {i for i, g in grades.items() if g["passed"]}
    assert passed and all("fault-model" in verdicts[i] for i in passed)
    assert final.of(topics.DLQ) == []


def test_a_failing_judge_holds_records_and_every_grade_gets_a_verdict(tmp_path):
    insights = chaos.premade_insights(24, "judge-fault")
    wanted = {i["prompt_id"] for i in insights}
    stretch = ["429:0.2"] * 4 + ["status:500"] * 4 + ["slow:3"] * 3 + ["close"] * 4 + ["status:503"] * 3
    with fresh_broker() as broker, FaultServer() as judge:
        judge.script(*stretch)
        env = chaos.base_env(broker.address, tmp_path / "cache", judge.base_url,
                             KASPER_JUDGE_CONCURRENCY="1", KASPER_JUDGE_TIMEOUT_S="1",
                             KASPER_JUDGE_MAX_RETRIES="2", KASPER_JUDGE_BACKOFF_BASE_S="0.1",
                             KASPER_JUDGE_BACKOFF_MAX_S="0.5", KASPER_JUDGE_OUTAGE_BACKOFF_MAX_S="1")
        worker = chaos.Worker(env, tmp_path, roles="grade,judge,route", args=("--max-attempts", "1"))
        with chaos.running(worker):
            worker.start()
            chaos.produce(broker.address, topics.INSIGHTS, insights)
            final = chaos.wait_for_outcomes(broker.address, wanted, [worker], timeout_s=120)
            errors = {r: worker.metric("kasper_judge_errors_total", reason=r)
                      for r in ("rate_limited", "server_error", "timeout", "connection", "unavailable")}
            waits = worker.metric("kasper_judge_outage_waits_total")
            held = worker.metric("kasper_judge_held_records")
            ok = worker.metric("kasper_judge_requests_total", outcome="ok")
            assert worker.stop() == 0, worker.tail()

    assert len(judge.requests) >= len(stretch)  # the whole stretch of faults was served
    judged_everything(final)
    assert set(chaos.final_outcomes(final)) == wanted
    assert all(n > 0 for n in errors.values()), errors
    assert waits > 0 and held == 0 and ok > 0, (waits, held, ok)
    log = worker.text()
    assert "judge call failed, retrying" in log and "judge unavailable: holding the record" in log
    print(f"\njudge errors by reason {errors}; outage waits {waits}; {len(judge.requests)} requests")


def test_a_frozen_broker_comes_back_and_the_worker_resumes_by_itself(tmp_path):
    insights = chaos.premade_insights(30, "broker-fault")
    wanted = {i["prompt_id"] for i in insights}
    with fresh_broker() as broker, FaultServer() as judge:
        judge.cycle("slow:1", "slow:1", "reject")  # slow: the freeze must come mid-run
        # Requests time out (5 s) during the 15 s freeze, as they would with a broker gone.
        env = chaos.base_env(broker.address, tmp_path / "cache", judge.base_url,
                             KASPER_JUDGE_CONCURRENCY="1", KASPER_REQUEST_TIMEOUT_MS="5000")
        worker = chaos.Worker(env, tmp_path, roles="grade,judge,route", args=("--max-attempts", "1"))
        with chaos.running(worker):
            worker.start()
            chaos.produce(broker.address, topics.INSIGHTS, insights)
            chaos.wait_until("some outcomes", lambda: len(chaos.outcomes_of(broker.address, wanted)) >= 3,
                             90, [worker])
            done_before = len(chaos.outcomes_of(broker.address, wanted))
            broker.process.send_signal(signal.SIGSTOP)
            try:
                time.sleep(15)  # > the 6 s session timeout and the 10 s lag interval
                assert worker.alive(), worker.tail()
                during = worker.metrics()  # an operator still sees the worker while Kafka is away
            finally:
                broker.process.send_signal(signal.SIGCONT)
            final = chaos.wait_for_outcomes(broker.address, wanted, [worker], timeout_s=150)
            assert worker.alive(), worker.tail()  # it resumed by itself: no restart
            lag_zero = chaos.wait_until(
                "the consumer lag gauge back at 0",
                lambda: (worker.metric("kasper_consumer_lag", group="kasper-grade-judge-route") == 0
                         and "kasper_consumer_lag{" in worker.metrics()), 40, [worker])
            assert worker.stop() == 0, worker.tail()

    assert done_before < len(wanted), "the outage came after the work: nothing was tested"
    assert "kasper_records_in_total" in during and lag_zero
    outcomes = chaos.final_outcomes(final)
    assert set(outcomes) == wanted and all(len(o) == 1 for o in outcomes.values())
    assert not chaos.approved_conflicts(final)
    judged_everything(final)
    log = worker.text()
    assert "consumer lag not measured" in log, "the outage left no trace in the log"


@contextlib.contextmanager
def tiny_disk(path: Path, size: str = "256k"):
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs (needs root): {mounted.stderr}"
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Fill the filesystem of ``path`` to the last byte; returns the filler file."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    assert os.statvfs(path).f_bavail == 0
    return filler


PER_WINDOW = 6


def test_a_full_disk_commits_nothing_unwritten_and_the_window_is_written_once_space_is_back(tmp_path):
    cache = tmp_path / "cache"
    records = synthetic_approved(PER_WINDOW, seed=4242, tier="lite", score=0.9)
    with fresh_broker() as broker, tiny_disk(cache / "windows") as windows_dir:
        # No model: the training loop only loads one when a window is announced,
        # and this test stops before training matters.
        env = chaos.base_env(broker.address, cache, "http://127.0.0.1:9/v1",
                             KASPER_TRAINER_APPROVED_COUNT=str(PER_WINDOW), KASPER_TRAINER_MIN_SCORE="0.6")
        worker = chaos.trainer_worker(env, tmp_path)
        with chaos.running(worker):
            worker.start()
            chaos.wait_until("the state store", lambda: (windows_dir / "state.sqlite").exists()
                             and "Worker ready" in worker.text(), 90, [worker])
            filler = fill(windows_dir)
            chaos.produce(broker.address, topics.APPROVED, records)
            code = worker.proc.wait(timeout=90)  # the trainer stops the worker on an OS error
            first_run = worker.text()
            partial = sorted(p.name for p in windows_dir.iterdir() if p.name.startswith(".tmp-"))
            lost_commit = asyncio.run(chaos.committed(broker.address, "kasper-trainer-windows", topics.APPROVED.name))
            announced = chaos.snapshot(broker.address, chaos.TRAINING).of(topics.TRAINING_WINDOWS)

            filler.unlink()  # space is back
            worker.start()
            chaos.wait_until("the window", lambda: chaos.snapshot(broker.address, chaos.TRAINING)
                             .of(topics.TRAINING_WINDOWS), 90, [worker])
            chaos.wait_until("the offsets committed", lambda: asyncio.run(chaos.committed(
                broker.address, "kasper-trainer-windows", topics.APPROVED.name)) == PER_WINDOW, 30, [worker])
            time.sleep(2)
            windows = chaos.snapshot(broker.address, chaos.TRAINING).of(topics.TRAINING_WINDOWS)
            records_by_window = chaos.window_records(windows_dir)
            leftovers = sorted(p.name for p in windows_dir.iterdir() if p.name.startswith(".tmp-"))
            worker.stop()

    assert worker.starts == 2 and "No space left on device" in first_run, first_run[-3000:]
    assert "trainer failed; stopping the worker" in first_run and code != 0  # a supervisor restarts it
    assert "window files not written; its offsets stay uncommitted" in first_run
    assert partial == []  # the failed write freed what it had taken
    assert lost_commit == 0 and announced == []  # nothing committed or announced for unwritten records
    assert [w["window_id"] for w in windows] == list(records_by_window)  # one window, announced once
    ids = [r[1] for rows in records_by_window.values() for r in rows if r[0] == "insight"]
    assert sorted(ids) == sorted(r["insight_id"] for r in records)
    assert chaos.duplicated_in_windows(windows_dir) == 0 and leftovers == []
