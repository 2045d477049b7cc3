"""Worker lifecycle: SIGTERM stops a worker in bounded time, with or without its broker; a start failure is one line.

Each test runs its own embedded broker (one of them kills it), so the session
broker of the other tests is never disturbed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests import chaos
from tests.helpers import KASPER, free_port
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.broker import EmbeddedBroker
from kasper.streams.consumer import read
from kasper.streams.producer import Producer
from kasper.streams.settings import Settings
from kasper.streams.shutdown import EXIT_FORCED

pytestmark = pytest.mark.broker


def start_worker(address: str, tmp_path: Path, roles: str = "grade",
                 timeout_s: float = 5) -> tuple[subprocess.Popen, Path]:
    env = {**os.environ, "KASPER_BOOTSTRAP_SERVERS": address, "KASPER_WEB_PORT": str(free_port()),
           "KASPER_METRICS_PORT": str(free_port()), "KASPER_WORKER_SHUTDOWN_TIMEOUT_S": str(timeout_s),
           "KASPER_REBALANCE_TIMEOUT_S": "3", "KASPER_SESSION_TIMEOUT_S": "6"}
    log = tmp_path / "worker.log"
    proc = subprocess.Popen([KASPER, "worker", "--agents", roles], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    return proc, log


def insights(n: int) -> list[dict]:
    run = uuid.uuid4().hex[:6]
    out = []
    for i in range(n):
        record = sample_record("Insight")
        record.update(insight_id=f"shut-{run}-{i}", prompt_id=f"shut-{run}-p{i}")
        out.append(record)
    return out


async def produce(settings: Settings, records: list[dict]) -> None:
    async with Producer(settings) as producer:
        for record in records:
            await producer.send(topics.INSIGHTS, record)


async def graded_ids(settings: Settings) -> set[str]:
    return {r.record["insight_id"] async for r in read(settings.kafka, Codec(), topics.GRADES.name,
                                                        from_beginning=True, idle_timeout_s=1.0)}


def kill_broker_once_ready(worker: subprocess.Popen, log: Path, broker: EmbeddedBroker) -> None:
    """Wait for the worker to be ready, then kill the broker under it."""
    deadline = time.monotonic() + 90
    while "Worker ready" not in log.read_text():
        assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    broker.process.kill()
    broker.process.wait()
    time.sleep(3)  # the worker notices: its fetches and heartbeats fail


def test_sigterm_commits_what_was_processed_and_exits_zero(own_broker, tmp_path):
    address = own_broker.address
    settings = Settings()
    worker, log = start_worker(address, tmp_path)
    try:
        records = insights(20)
        asyncio.run(produce(settings, records))
        wanted, deadline = {r["insight_id"] for r in records}, time.monotonic() + 120
        while not wanted <= asyncio.run(graded_ids(settings)):
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0, log.read_text()[-3000:]
    assert time.monotonic() - started < 15
    # Every graded insight is committed: a restarted worker would not grade it again.
    assert asyncio.run(chaos.committed(address, "kasper-grade", topics.INSIGHTS.name)) == len(records)


def test_sigterm_with_the_broker_gone_exits_within_the_bound_and_says_why(own_broker, tmp_path):
    address, broker = own_broker.address, own_broker
    worker, log = start_worker(address, tmp_path, roles="grade,route", timeout_s=5)
    try:
        kill_broker_once_ready(worker, log, broker)
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    elapsed = time.monotonic() - started
    assert code in (0, EXIT_FORCED), log.read_text()[-3000:]
    assert elapsed < 5 + 5, f"took {elapsed:.1f}s"
    if code == EXIT_FORCED:
        assert "shutdown did not finish within 5 s of SIGTERM" in log.read_text()


def test_a_second_signal_while_stopping_exits_at_once(own_broker, tmp_path):
    address, broker = own_broker.address, own_broker
    worker, log = start_worker(address, tmp_path, timeout_s=120)
    try:
        kill_broker_once_ready(worker, log, broker)
        worker.send_signal(signal.SIGTERM)
        time.sleep(2)
        started = time.monotonic()
        worker.send_signal(signal.SIGINT)
        code = worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert time.monotonic() - started < 5
    assert code in (0, EXIT_FORCED), log.read_text()[-3000:]
    if code == EXIT_FORCED:
        assert "second SIGINT while stopping" in log.read_text()


def test_a_metrics_port_in_use_is_one_clear_line_not_a_traceback(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "KASPER_METRICS_PORT": str(port), "KASPER_WEB_PORT": str(free_port())}
        proc = subprocess.run([KASPER, "worker", "--agents", "grade"], env=env, capture_output=True,
                              text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in proc.stderr and "KASPER_METRICS_PORT" in proc.stderr
    assert "Traceback" not in proc.stderr
