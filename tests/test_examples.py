"""The README's downstream consumer example, run as a user runs it, on its own broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kasper.streams import topics
from kasper.streams.producer import Producer
from kasper.streams.settings import Settings
from kasper.trainer.synthetic_records import synthetic_approved

pytestmark = pytest.mark.broker
EXAMPLE = Path(__file__).parents[1] / "examples" / "approved_consumer.py"


def test_the_approved_consumer_prints_every_insight_and_reports_a_bad_record(own_broker):
    # Its own broker: the session broker's kasper.approved holds other tests' records.
    address = own_broker.address
    settings = Settings()
    approved = synthetic_approved(3, seed=11)

    async def produce() -> None:
        async with Producer(settings) as producer:
            await producer.send(topics.APPROVED, approved[0])
            await producer.send_raw(topics.APPROVED.name, b"\x00garbage", b"poison")
            for record in approved[1:]:
                await producer.send(topics.APPROVED, record)

    asyncio.run(produce())
    env = {**os.environ, "KASPER_BOOTSTRAP_SERVERS": address}
    first = consume(env, limit=4)
    assert first.returncode == 0, first.stderr[-2000:]
    for record in approved:
        assert record["insight_id"] in first.stdout and record["insight"]["text"] in first.stdout
    assert "skipping kasper.approved[" in first.stdout and "@" in first.stdout
    # Committed after each record: the group resumes after what it handled.
    asyncio.run(_send_one(settings, synthetic_approved(1, seed=12)[0]))
    second = consume(env, limit=1)
    assert second.returncode == 0, second.stderr[-2000:]
    assert approved[0]["insight_id"] not in second.stdout and second.stdout.count("\n") == 1


def consume(env: dict[str, str], limit: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLE), "--group", "example-app", "--limit", str(limit)],
                          env=env, capture_output=True, text=True, timeout=120)


async def _send_one(settings: Settings, record: dict) -> None:
    async with Producer(settings) as producer:
        await producer.send(topics.APPROVED, record)
