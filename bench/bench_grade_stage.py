"""The grade stage through the embedded broker vs. the same grading in process.

Anchor: the rubric grading the same insight texts in this process (no Kafka).
Figure: a real `kasper worker --agents grade` consuming N pre-produced insights
and producing N grades (decode, grade, encode, produce), timed by the grades'
own Kafka timestamps from first to last, so start-up and our reading lag do not
count. Goal: the broker path >= 0.40x the in-process rate.

    python bench/bench_grade_stage.py [-n 5000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from kasper.agents.quality.rubric import Rubric
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.admin import create_topics
from kasper.streams.broker import EmbeddedBroker
from kasper.streams.consumer import read
from kasper.streams.producer import Producer
from kasper.streams.settings import KafkaSettings

LABELED = Path(__file__).parents[1] / "tests" / "data" / "insights_labeled.jsonl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def insights(count: int) -> list[dict]:
    texts = [json.loads(line)["text"] for line in LABELED.read_text().splitlines()]
    out = []
    for i in range(count):
        insight = sample_record("Insight")
        # Vary each text a little so originality is not one cached answer.
        insight.update(insight_id=f"b-{i}", text=f"{texts[i % len(texts)]} ({i})")
        out.append(insight)
    return out


def in_process_rate(records: list[dict], seconds: float = 3.0) -> float:
    rubric, done, started = Rubric(), 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for record in records[:1000]:
            rubric.grade(record["text"], record["domain"])
        done += min(1000, len(records))
    return done / (time.perf_counter() - started)


async def produce(records: list[dict]) -> None:
    async with Producer() as producer:
        for record in records:
            await producer.send(topics.INSIGHTS, record)


async def stage_rate(count: int) -> float:
    stamps: list[int] = []
    deadline = time.monotonic() + 600
    async for received in read(KafkaSettings(), Codec(), topics.GRADES.name, from_beginning=True):
        stamps.append(received.timestamp_ms)
        if len(stamps) >= count or time.monotonic() > deadline:
            break
    return (len(stamps) - 1) / max(1e-3, (max(stamps) - min(stamps)) / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "KASPER_BOOTSTRAP_SERVERS": address, "KASPER_LOG_LEVEL": "WARNING",
           "KASPER_WEB_PORT": str(free_port()), "KASPER_METRICS_PORT": str(free_port()),
           "KASPER_REBALANCE_TIMEOUT_S": "3", "KASPER_SESSION_TIMEOUT_S": "6"}
    os.environ.update(env)
    records = insights(args.n)
    anchor = in_process_rate(records)
    with EmbeddedBroker(address):
        asyncio.run(create_topics(KafkaSettings()))
        asyncio.run(produce(records))
        worker = subprocess.Popen([str(Path(sys.executable).parent / "kasper"), "worker",
                                   "--agents", "grade"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            rate = asyncio.run(stage_rate(args.n))
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    result = {"insights": args.n, "in_process_grades_per_s": round(anchor),
              "broker_stage_grades_per_s": round(rate), "ratio": round(rate / anchor, 3)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"in process (rubric only):             {result['in_process_grades_per_s']:>7,} grades/s")
    print(f"grade stage through the broker (1 worker): {result['broker_stage_grades_per_s']:>7,} grades/s")
    print(f"ratio broker/in-process: {result['ratio']:.2f}  (goal >= 0.40)")


if __name__ == "__main__":
    main()
