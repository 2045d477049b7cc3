"""`kasper worker` with the grade and route roles, on the real embedded broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.producer import Producer

from tests.helpers import KASPER, free_port, read_until

pytestmark = pytest.mark.broker
LABELED = Path(__file__).parent / "data" / "insights_labeled.jsonl"


async def _feed(insights: list[dict], verdicts: list[dict]) -> None:
    async with Producer() as producer:
        for insight in insights:
            await producer.send(topics.INSIGHTS, insight)
        await producer.send_raw(topics.INSIGHTS.name, b"\xc3\x01garbage", key=b"bad")
        for verdict in verdicts:
            await producer.send(topics.VERDICTS, verdict)


def _insights() -> list[dict]:
    out = []
    for i, line in enumerate(LABELED.read_text().splitlines()):
        labeled = json.loads(line)
        insight = sample_record("Insight")
        insight.update(insight_id=f"w-{i}", text=labeled["text"], domain=labeled["domain"])
        # The labeled texts were written for their domain alone, not for the sample's context
        # (rubric v2 grades against the context the insight carries).
        insight["prompt"] = insight["prompt"] | {"domain": labeled["domain"], "context": {}}
        out.append((insight, labeled["expect_pass"]))
    return out


@pytest.fixture
def worker(broker, tmp_path):
    metrics_port = free_port()
    env = {**os.environ, "KASPER_WEB_PORT": str(free_port()),
           "KASPER_METRICS_PORT": str(metrics_port)}
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen([KASPER, "worker", "--agents", "grade,route", "--max-attempts", "2"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    yield proc, metrics_port
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_grade_and_route_roles_move_records_and_dead_letter_garbage(worker):
    proc, metrics_port = worker
    labeled = _insights()
    approve = sample_record("Verdict") | {"insight_id": "w-approve", "recommendation": "APPROVE"}
    revise = sample_record("Verdict") | {"insight_id": "w-revise", "recommendation": "REVISE"}
    revise["grade"]["insight"]["prompt"]["prompt_id"] = "w-revise-prompt"
    asyncio.run(_feed([i for i, _ in labeled], [approve, revise]))

    grades = read_until(topics.GRADES.name, lambda g: g["insight_id"].startswith("w-"), len(labeled))
    by_id = {g["insight_id"]: g for g in grades}
    assert len(by_id) == len(labeled)
    for insight, expect_pass in labeled:
        grade = by_id[insight["insight_id"]]
        assert grade["passed"] is expect_pass and grade["insight"]["text"] == insight["text"]

    [approved] = read_until(topics.APPROVED.name, lambda a: a["insight_id"] == "w-approve", 1)
    assert approved["prompt"]["prompt_id"] == approve["grade"]["insight"]["prompt"]["prompt_id"]
    [again] = read_until(topics.PROMPTS.name, lambda p: p["prompt_id"] == "w-revise-prompt", 1)
    assert again["attempt"] == 1

    [letter] = read_until(topics.DLQ.name, lambda d: d["stage"] == "grade", 1)
    assert letter["original_bytes"] == b"\xc3\x01garbage" and letter["original_topic"] == topics.INSIGHTS.name
    assert proc.poll() is None
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    assert 'kasper_routed_total{outcome="approved"}' in body
    assert 'kasper_records_out_total{stage="grade",topic="kasper.grades"}' in body
