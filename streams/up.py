"""``kasper up``: the main job on the embedded default, or against external services.

Starts the embedded broker when nothing answers at the (loopback) bootstrap
address, creates the topics, feeds synthetic prompt events, follows them
through the pipeline and stops everything it started, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kasper.streams import topics
from kasper.streams.admin import create_topics
from kasper.streams.broker import EmbeddedBroker, ping, split_address
from kasper.streams.consumer import read
from kasper.streams.errors import BrokerUnavailable
from kasper.streams.producer import Producer
from kasper.streams.settings import Settings
from kasper.streams.synthetic import synthetic_prompts

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class UpReport:
    prompts_sent: int = 0
    prompts_read: int = 0
    undecodable: int = 0
    seconds: float = 0.0
    embedded_broker: bool = False


@contextlib.contextmanager
def broker_for(settings: Settings, say: Callable[[str], None]) -> Iterator[bool]:
    """Use the broker at the bootstrap address, or start the embedded one there.

    Yields whether the broker is ours (and so stopped on exit).
    """
    address = settings.kafka.bootstrap_servers
    try:
        ping(address)
        say(f"using the Kafka broker at {address}")
        yield False
        return
    except BrokerUnavailable:
        if split_address(address)[0] not in _LOOPBACK:
            raise
    with EmbeddedBroker(address, settings.broker) as broker:
        say(f"started the embedded broker at {address} (log {broker.log_path})")
        yield True
    say("stopped the embedded broker")


async def _feed_and_follow(settings: Settings, count: int, seed: int, report: UpReport,
                           say: Callable[[str], None]) -> None:
    created = await create_topics(settings.kafka)
    say(f"topics ready: {sum(v == 'created' for v in created.values())} created, "
        f"{sum(v == 'exists' for v in created.values())} existed")
    async with Producer(settings) as producer:
        for record in synthetic_prompts(count, seed=seed):
            await producer.send(topics.PROMPTS, record)
            report.prompts_sent += 1
    say(f"sent {report.prompts_sent} synthetic prompt events to {topics.PROMPTS.name}")
    wanted = {f"syn-{seed}-{i:07d}" for i in range(count)}
    async for received in read(settings.kafka, producer.codec, topics.PROMPTS.name,
                               from_beginning=True, idle_timeout_s=5.0):
        if received.error is not None:
            report.undecodable += 1
        elif received.record["prompt_id"] in wanted:
            report.prompts_read += 1
    say(f"read back {report.prompts_read} of them from {topics.PROMPTS.name}")


def run(settings: Settings, count: int, seed: int, say: Callable[[str], None]) -> UpReport:
    """Run the main job end to end and return what happened."""
    report = UpReport()
    started = time.monotonic()
    with broker_for(settings, say) as ours:
        report.embedded_broker = ours
        asyncio.run(_feed_and_follow(settings, count, seed, report, say))
    report.seconds = time.monotonic() - started
    return report
