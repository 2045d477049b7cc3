"""``kasper worker --agents judge`` on the real broker, judging against a faulty judge server.

Checked when issue 4 lands: a judge server that fails one request in three loses no
insight, and the retries show in the worker's metrics.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.consumer import read
from kasper.streams.producer import Producer
from kasper.streams.settings import get_settings

from tests.helpers import free_port
from tests.judge_fault_server import FaultServer

pytestmark = pytest.mark.broker
KEY = "sk-worker-test-SECRET-0123456789"


def _read(topic: str, prefix: str, until: int, timeout_s: float = 90) -> dict[str, dict]:
    async def run():
        found, deadline = {}, time.monotonic() + timeout_s
        while len(found) < until and time.monotonic() < deadline:
            async for r in read(get_settings().kafka, Codec(), topic, from_beginning=True, idle_timeout_s=1.0):
                key = (r.record or {}).get("insight_id") or (r.record or {}).get("original_key") or b""
                key = key.decode() if isinstance(key, bytes) else key
                if key.startswith(prefix):
                    found[key] = r.record
        return found
    return asyncio.run(run())


async def _feed(prefix: str, count: int) -> None:
    async with Producer() as producer:
        for i in range(count):
            grade = sample_record("Grade")
            grade["insight_id"] = f"{prefix}{i}"
            grade["insight"]["insight_id"] = grade["insight_id"]
            grade["insight"]["text"] += f" ({i})"
            grade["passed"] = i % 5 != 4
            await producer.send(topics.GRADES, grade)


def _metric(text: str, name: str, **labels: str) -> float:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{inner}\}} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_worker_judges_everything_while_one_call_in_three_fails(broker, tmp_path):
    prefix, count = f"judge-worker-{uuid.uuid4().hex[:8]}-", 20
    metrics_port = free_port()
    with FaultServer() as judge_server:
        judge_server.cycle("ok", "ok", "status:500")
        env = {**os.environ, "KASPER_JUDGE_BASE_URL": judge_server.base_url, "KASPER_JUDGE_MODEL": "fault-model",
               "KASPER_JUDGE_API_KEY": KEY, "KASPER_CACHE_DIR": str(tmp_path / "cache"),
               "KASPER_WEB_PORT": str(free_port()), "KASPER_METRICS_PORT": str(metrics_port)}
        log_path = tmp_path / "worker.log"
        kasper = Path(sys.executable).with_name("kasper")
        with log_path.open("w") as log:
            worker = subprocess.Popen([str(kasper), "worker", "--agents", "judge"], stdout=log,
                                      stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        try:
            asyncio.run(_feed(prefix, count))
            verdicts = _read(topics.VERDICTS.name, prefix, until=count)
            assert sorted(verdicts) == sorted(f"{prefix}{i}" for i in range(count))
            by_judge = {i: v["judge_model"] for i, v in ((int(k[len(prefix):]), v) for k, v in verdicts.items())}
            assert {i for i, j in by_judge.items() if j == "rubric"} == {4, 9, 14, 19}
            assert all(v["grade"]["insight_id"] == k for k, v in verdicts.items())
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
            assert _metric(metrics, "kasper_judge_retries_total", reason="server_error") >= 4
            assert _metric(metrics, "kasper_judge_requests_total", outcome="ok") >= 16
            assert worker.poll() is None, "the worker died"
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
    assert not _read(topics.DLQ.name, prefix, until=1, timeout_s=2)
    assert code == 0, log_path.read_text()[-3000:]
    assert KEY not in log_path.read_text()
