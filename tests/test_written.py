"""The generate role's memory of written insights (agents/written.py) on the embedded broker:
read back from kasper.insights before ``ready``, bounded per partition, followed after
that, and a prompt attempt already written is not handed to the generator again."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from kasper.agents.generate import handle_batch
from kasper.agents.generation import Outcome, insight_id
from kasper.agents.written import Written, follow_written
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.producer import Producer
from kasper.streams.settings import KafkaSettings, Settings
from kasper.streams.stage import Stage

from tests import chaos


def prompt_for(prompt_id: str, attempt: int = 0) -> dict:
    return sample_record("PromptEvent") | {"prompt_id": prompt_id, "attempt": attempt}


def insight_for(prompt_id: str, attempt: int = 0) -> dict:
    return sample_record("Insight") | {"insight_id": insight_id(prompt_id, attempt), "prompt_id": prompt_id,
                                       "attempt": attempt, "prompt": prompt_for(prompt_id, attempt)}


def context(address: str) -> SimpleNamespace:
    return SimpleNamespace(settings=Settings(kafka=KafkaSettings(bootstrap_servers=address)), codec=Codec())


def skipped() -> float:
    return REGISTRY.get_sample_value("kasper_generate_skipped_total") or 0.0


async def until_ready(ctx: SimpleNamespace, written: Written) -> asyncio.Task:
    assert not written.ready.is_set()
    task = asyncio.create_task(follow_written(ctx, written))
    await asyncio.wait_for(written.ready.wait(), 30)
    return task


def test_the_memory_keeps_the_newest_ids_up_to_its_capacity():
    written = Written(2)
    for ident in ("a", "b", "a", "c"):
        written.add(ident)
    assert len(written) == 2 and "a" not in written and {"b", "c"} <= {i for i in "abc" if i in written}
    with pytest.raises(ValueError, match="at least one id"):
        Written(0)


@pytest.mark.broker
def test_ready_means_the_topics_tail_is_in_and_new_insights_follow(own_broker):
    address = own_broker.address
    old = [insight_for(f"old-{i}")["insight_id"] for i in range(40)]
    chaos.produce(address, topics.INSIGHTS, [insight_for(f"old-{i}") for i in range(40)])
    late = insight_for("late")

    async def run() -> tuple[int, int, int, bool]:
        ample, small = Written(100), Written(16)
        tasks = [await until_ready(context(address), ample), await until_ready(context(address), small)]
        try:
            known = (sum(i in ample for i in old), sum(i in small for i in old), len(small))
            async with Producer(Settings(kafka=KafkaSettings(bootstrap_servers=address))) as producer:
                await producer.send(topics.INSIGHTS, late)
            deadline = time.monotonic() + 20
            while late["insight_id"] not in ample and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            return *known, late["insight_id"] in ample
        finally:
            for task in tasks:
                task.cancel()

    in_ample, in_small, small_size, followed = asyncio.run(run())
    assert in_ample == 40  # ready: everything on the topic at start-up is in
    # Bounded: about capacity/8 per partition are read back (more on Tansu, whose end
    # offsets are short), and the memory keeps its capacity.
    assert in_small == small_size == 16
    assert followed


class ScriptedGenerator:
    """Stands in for the model: records what it was asked to generate."""

    def __init__(self) -> None:
        self.asked: list[list[tuple[str, int]]] = []

    async def run(self, prompts: list[dict], on_delta=None, on_insight=None) -> list[Outcome]:
        self.asked.append([(p["prompt_id"], p["attempt"]) for p in prompts])
        return [Outcome(p, insight=insight_for(p["prompt_id"], p["attempt"])) for p in prompts]


class EarlyGenerator:
    """Stands in for the model in two pipelined batches: the first waits for ``release``
    and hands its insight over at the end (a row drawn again); the second hands its own
    over early (a row done at once). Both write the same prompt attempt (a redelivery)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    async def run(self, prompts: list[dict], on_delta=None, on_insight=None) -> list[Outcome]:
        self.calls += 1
        outcomes = [Outcome(p, insight=insight_for(p["prompt_id"], p["attempt"])) for p in prompts]
        if self.calls == 1:
            await self.release.wait()
            return outcomes
        for outcome in outcomes:
            outcome.early = True
            on_insight(outcome)
        self.release.set()
        return outcomes


def test_a_prompt_attempt_in_two_batches_in_flight_is_sent_once_when_the_later_sends_early():
    codec, sent = Codec(), []

    async def send(topic: str, value: bytes, key: bytes | None) -> None:
        sent.append((topic, codec.decode(value).record["insight_id"]))

    prompt = prompt_for("twice")
    events = [SimpleNamespace(value=codec.encode("PromptEvent", prompt), key=b"twice",
                              message=SimpleNamespace(topic=topics.PROMPTS.name, partition=0, offset=n))
              for n in range(2)]
    generator, written = EarlyGenerator(), Written(100)
    stage = Stage("generate", topics.PROMPTS, codec, send)

    async def run() -> None:
        first = asyncio.ensure_future(handle_batch(stage, generator, events[:1], written=written))
        await asyncio.sleep(0)  # the first batch is generating when the second starts
        await handle_batch(stage, generator, events[1:], written=written, previous=first)
        await first

    asyncio.run(run())
    assert sent == [(topics.INSIGHTS.name, insight_id("twice", 0))]


@pytest.mark.broker
def test_a_prompt_attempt_already_written_is_not_generated_again(own_broker):
    address = own_broker.address
    chaos.produce(address, topics.INSIGHTS, [insight_for("written-before")])
    codec, sent = Codec(), []

    async def send(topic: str, value: bytes, key: bytes | None) -> None:
        sent.append((topic, codec.decode(value).record))

    # Read back from the topic; a new prompt; the same attempt again in the batch; the
    # written prompt's next attempt (another insight id).
    batch = [prompt_for("written-before"), prompt_for("new"), prompt_for("new"), prompt_for("written-before", 1)]
    events = [SimpleNamespace(value=codec.encode("PromptEvent", p), key=p["prompt_id"].encode(),
                              message=SimpleNamespace(topic=topics.PROMPTS.name, partition=0, offset=n))
              for n, p in enumerate(batch)]
    generator = ScriptedGenerator()
    stage = Stage("generate", topics.PROMPTS, codec, send)
    before = skipped()

    async def run() -> tuple[int, list, float]:
        written = Written(100)
        task = await until_ready(context(address), written)
        try:
            await handle_batch(stage, generator, events, written=written)
            first = (len(sent), list(generator.asked), skipped())
            # The whole batch delivered again (a worker killed before its commit).
            await handle_batch(stage, generator, events, written=written)
            return first
        finally:
            task.cancel()

    first_sent, first_asked, first_skipped = asyncio.run(run())
    assert first_asked == [[("new", 0), ("written-before", 1)]]
    assert first_skipped - before == 2
    insights = [r["insight_id"] for t, r in sent if t == topics.INSIGHTS.name]
    assert insights == [insight_id("new", 0), insight_id("written-before", 1)] and first_sent == 2
    assert generator.asked[-1] == [] and len(sent) == 2  # the redelivery: nothing generated, nothing sent
    assert skipped() - before == 2 + len(batch)
