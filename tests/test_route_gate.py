"""The top-fraction gate across a crash, on the embedded broker with a real route worker.

The gate's decisions are read back from Kafka (kasper.approved and the router's own
not-in-the-top REJECTs on kasper.verdicts), so a router SIGKILLed and restarted
ranks new verdicts against the scores it decided before, and answers redelivered
or repeated verdicts as it did the first time (and, those answers being on Kafka
already, does not send them again). With its window in memory only, the
restarted router would approve the low score below.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from kasper.agents.route import NOT_TOP, ROUTER_PREFIX
from kasper.schemas.samples import sample_record
from kasper.streams import topics

from tests import chaos
from tests.helpers import fresh_broker

pytestmark = pytest.mark.broker
T0 = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)


def approve(ident: str, score: float, seconds: int) -> dict:
    record = sample_record("Verdict") | {"insight_id": ident, "recommendation": "APPROVE",
                                         "overall": score, "created_at": T0 + timedelta(seconds=seconds)}
    record["grade"]["insight_id"] = record["grade"]["insight"]["insight_id"] = ident
    record["grade"]["insight"]["prompt"]["prompt_id"] = record["grade"]["insight"]["prompt_id"] = f"{ident}-p"
    return record


def decisions(address: str) -> dict[str, list[str]]:
    snap = chaos.snapshot(address, (topics.VERDICTS, topics.APPROVED))
    out: dict[str, list[str]] = {}
    for record in snap.of(topics.APPROVED):
        out.setdefault(record["insight_id"], []).append("approved")
    for record in snap.of(topics.VERDICTS):
        if record["rationale"].startswith(ROUTER_PREFIX + NOT_TOP):
            out.setdefault(record["insight_id"], []).append("not-top")
    return out


def test_a_restarted_router_keeps_its_gate_and_answers_redeliveries_the_same(tmp_path):
    with fresh_broker() as broker:
        address = broker.address
        env = chaos.base_env(address, tmp_path / "cache", "http://127.0.0.1:9/v1")
        worker = chaos.Worker(env, tmp_path, roles="route", args=("--approve-top-fraction", "0.5"))
        with chaos.running(worker):
            worker.start()
            # One at a time: across partitions the router meets verdicts in no set order.
            chaos.produce(address, topics.VERDICTS, [approve("high", 9.0, 10)])
            chaos.wait_until("high decided", lambda: "high" in decisions(address), 90, [worker])
            chaos.produce(address, topics.VERDICTS, [approve("mid", 8.0, 20)])
            first = chaos.wait_until("mid decided", lambda: "mid" in (d := decisions(address)) and d,
                                     90, [worker])
            # Committed first, so nothing is redelivered: the restarted router has only
            # what it reads back to rank the next verdict against.
            chaos.wait_until("both committed", lambda: asyncio.run(
                chaos.committed(address, "kasper-route", topics.VERDICTS.name)) >= 2, 60, [worker])
            worker.kill()
            worker.start()
            chaos.produce(address, topics.VERDICTS, [approve("low", 7.0, 30)])
            chaos.wait_until("low decided", lambda: "low" in decisions(address), 90, [worker])
            # Then a repeat of the first two (an upstream redelivery).
            chaos.produce(address, topics.VERDICTS, [approve("high", 9.0, 10), approve("mid", 8.0, 20)])
            chaos.wait_until("the repeats handled", lambda: worker.text().count(
                "output already sent, not sent again") >= 2, 90, [worker])
            final = decisions(address)
            assert worker.stop() == 0, worker.tail()
    assert first["high"] == ["approved"] and first["mid"] == ["not-top"]
    # The repeats got their first decisions, which were already on Kafka: not sent again.
    assert final["high"] == ["approved"] and final["mid"] == ["not-top"]
    assert final["low"] == ["not-top"], final  # a router with an empty window would approve it
    assert "topic tail read" in worker.text()
