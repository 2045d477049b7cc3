"""PromptEvents through the embedded broker: our codec + Producer vs. a raw aiokafka loop.

Both sides send the same number of messages of the same sizes to the same
broker in the same run, so the ratio (ours / raw) is what to compare across
machines, not the absolute rates. Goal: ours >= 0.5x raw.

    python bench/bench_produce.py [-n 50000] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import time

from aiokafka import AIOKafkaProducer

from kasper.streams import topics
from kasper.streams.admin import create_topics
from kasper.streams.broker import EmbeddedBroker
from kasper.streams.producer import Producer, message_key
from kasper.streams.settings import KafkaSettings, Settings
from kasper.streams.synthetic_prompts import synthetic_prompt

LINGER_MS = 5


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def ours(settings: Settings, records: list[dict]) -> float:
    async with Producer(settings, linger_ms=LINGER_MS, acks=1) as producer:
        started = time.perf_counter()
        for record in records:
            await producer.send(topics.PROMPTS, record)
        await producer.flush()
        return time.perf_counter() - started


async def raw(kafka: KafkaSettings, payloads: list[tuple[bytes | None, bytes]]) -> float:
    producer = AIOKafkaProducer(**kafka.client_kwargs(), linger_ms=LINGER_MS, acks=1,
                                enable_idempotence=False)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topics.PROMPTS.name, value, key=key)
                   for key, value in payloads]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def bench(count: int, rounds: int) -> dict:
    settings = Settings()
    records = [synthetic_prompt(i, seed=7) for i in range(count)]
    async with Producer(settings) as probe:  # encode once so raw sends identical bytes
        payloads = [(message_key(topics.PROMPTS, r), probe.encode(topics.PROMPTS, r))
                    for r in records]
    ours_s, raw_s = [], []
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits both
        raw_s.append(await raw(settings.kafka, payloads))
        ours_s.append(await ours(settings, records))
    ours_rate, raw_rate = count / statistics.median(ours_s), count / statistics.median(raw_s)
    return {
        "messages": count, "rounds": rounds,
        "mean_value_bytes": round(sum(len(v) for _, v in payloads) / count, 1),
        "ours_msgs_per_s": round(ours_rate), "raw_msgs_per_s": round(raw_rate),
        "ratio": round(ours_rate / raw_rate, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    address = free_address()
    os.environ["KASPER_BOOTSTRAP_SERVERS"] = address
    with EmbeddedBroker(address):
        asyncio.run(create_topics(KafkaSettings()))
        result = asyncio.run(bench(args.n, args.rounds))
    if args.json:
        print(json.dumps(result))
        return
    print(f"messages: {result['messages']} PromptEvents, mean value {result['mean_value_bytes']} B, "
          f"median of {result['rounds']} rounds")
    print(f"ours (validate + encode + key + produce): {result['ours_msgs_per_s']:>9,} msg/s")
    print(f"raw aiokafka loop (pre-encoded bytes):    {result['raw_msgs_per_s']:>9,} msg/s")
    print(f"ratio ours/raw: {result['ratio']:.2f}  (goal >= 0.50)")


if __name__ == "__main__":
    main()
