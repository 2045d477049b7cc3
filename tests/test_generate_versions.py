"""Model versions swapped into the generate stage, and the stage as a Faust worker.

On the real shipped model: a tier swaps to a promoted adapter between batches, bad
versions keep the current model and are dead-lettered; then ``kasper worker --agents
generate`` on the embedded broker generates, streams tokens, swaps adapters from
``kasper.models`` and dead-letters bad input.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid

import pytest

from kasper.agents.runtime.blas import mx  # noqa: F401  (OpenBLAS before mlx.core)
from kasper.agents.generation import Generator, insight_id
from kasper.agents.runtime.hot_swap import SWAPS, VersionSwitcher
from kasper.streams.settings import ModelSettings

from tests.generation_helpers import (  # noqa: F401  (backend, settings: fixtures)
    MAX_TOKENS, backend, make_adapter, model_version, prompts, settings)
from tests.helpers import KASPER, free_port, read_until

pytestmark = pytest.mark.model


def test_model_versions_swap_a_tier_between_batches_and_bad_ones_keep_the_current(
        backend, settings, shipped_model, tmp_path):
    sha = make_adapter(shipped_model, tmp_path / "pro-0001")
    letters: list[tuple] = []

    async def dead_letter(exc, value, key, where):
        letters.append((exc, value, key, where))

    switcher = VersionSwitcher(backend, dead_letter)
    switcher.ready.set()  # the backend fixture has started (the agent sets this after start())
    pro = prompts(2, seed=13, tier="pro")
    generator = Generator(backend, settings)
    [before, _] = asyncio.run(generator.run(pro))

    switcher.offer(model_version("pro", "pro-0001", tmp_path / "pro-0001", sha), b"v1", b"pro", None)
    switcher.offer(model_version("lite", "lite-0009", tmp_path / "missing", "00"), b"bad", b"lite", None)
    switcher.offer(model_version("standard", "standard-0002", None, None, promoted=False), b"n", b"s", None)
    failed = SWAPS.labels("lite", "failed")._value.get()
    asyncio.run(switcher.apply())

    assert backend.serving("pro").adapter_version == "pro-0001"
    assert backend.serving("lite").adapter_version is None  # kept the base model
    assert backend.serving("standard").adapter_version is None  # not promoted: ignored
    assert SWAPS.labels("lite", "failed")._value.get() == failed + 1
    [(error, value, key, _)] = letters
    assert (value, key) == (b"bad", b"lite") and "no adapters.safetensors" in str(error)

    [after, _] = asyncio.run(generator.run(pro))
    assert after.insight["adapter_version"] == "pro-0001" and before.insight["adapter_version"] is None
    # Same prompt attempt, same id across the swap (a redelivery after a hot swap dedupes).
    assert after.insight["insight_id"] == before.insight["insight_id"] == insight_id(pro[0]["prompt_id"], 0)
    assert after.insight["text"] != before.insight["text"]  # the adapter changed the weights

    # A wrong checksum is refused: the tier keeps the adapter it has.
    switcher.offer(model_version("pro", "pro-0002", tmp_path / "pro-0001", "ab" * 32), b"v2", b"pro", None)
    asyncio.run(switcher.apply())
    assert backend.serving("pro").adapter_version == "pro-0001"
    assert "does not match" in str(letters[-1][0])
    # Back to the base model for the other tests of this module.
    switcher.offer(model_version("pro", "pro-base", None, None), b"v3", b"pro", None)
    asyncio.run(switcher.apply())
    assert backend.serving("pro").adapter_version is None


# --- the worker on the embedded broker ---------------------------------------


def _read(topic: str, want, count: int, timeout_s: float = 120) -> list[dict]:
    return read_until(topic, want, count, timeout_s, idle_s=0.5)


async def _skip_backlog(group: str = "kasper-generate") -> None:
    """Commit the group's offsets at the end of the prompts topic: other tests' prompts stay unread."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from kasper.streams import topics
    from kasper.streams.settings import get_settings

    kafka = get_settings().kafka
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topics.PROMPTS.name, p) for p in range(topics.PROMPTS.partitions)]
        consumer.assign(tps)
        await consumer.commit(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def _send(records: list[tuple], raw: list[tuple] = ()) -> None:
    from kasper.streams.producer import Producer

    async with Producer() as producer:
        for spec, record in records:
            await producer.send(spec, record)
        for topic, value, key in raw:
            await producer.send_raw(topic, value, key=key)


def _metric(port: int, line_start: str) -> float:
    import urllib.request

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(line_start))


def _wait_metric(port: int, line_start: str, at_least: float, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _metric(port, line_start) >= at_least:
            return
        time.sleep(0.3)
    raise AssertionError(f"{line_start} never reached {at_least}")


@pytest.fixture
def worker(broker, shipped_model, tmp_path):
    asyncio.run(_skip_backlog())
    metrics_port = free_port()
    env = {**os.environ, "KASPER_WEB_PORT": str(free_port()), "KASPER_METRICS_PORT": str(metrics_port),
           "KASPER_MODEL": str(shipped_model), "KASPER_GENERATE_MAX_TOKENS": str(MAX_TOKENS),
           "KASPER_GENERATE_BATCH_SIZE": "8", "KASPER_GENERATE_BATCH_WINDOW_S": "0.5",
           "KASPER_GENERATE_STREAM_TOKENS": "true", "KASPER_GENERATE_MODELS_WAIT_S": "15"}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([KASPER, "worker", "--agents", "generate"], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    yield proc, metrics_port
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.broker
def test_worker_generates_streams_tokens_swaps_adapters_and_dead_letters(worker, shipped_model, tmp_path):
    from kasper.streams import topics

    proc, metrics_port = worker
    run = uuid.uuid4().hex[:8]
    first = [p | {"prompt_id": f"{run}-a{i}", "tier": "lite"} for i, p in enumerate(prompts(6, seed=21))]
    rejected = [first[0] | {"prompt_id": f"{run}-bad0", "domain": "other"},
                first[1] | {"prompt_id": f"{run}-bad1", "context": {}}]
    garbage = (topics.PROMPTS.name, b"\xc3\x01garbage", f"{run}-junk".encode())
    asyncio.run(_send([(topics.PROMPTS, p) for p in first[:3] + rejected + first[3:]], [garbage]))
    mine = lambda r: r["prompt_id"].startswith(run)  # noqa: E731
    insights = _read(topics.INSIGHTS.name, mine, len(first))

    # Swap lite to an adapter mid-stream; a broken pro version is dead-lettered, pro keeps its model.
    # Under the worker's adapters directory: the generator loads adapters from there only.
    adapter = ModelSettings().adapters_dir / "lite" / f"lite-{run}"
    sha = make_adapter(shipped_model, adapter)
    swapped = _metric(metrics_port, 'kasper_generate_model_swaps_total{outcome="swapped",tier="lite"}')
    asyncio.run(_send([(topics.MODELS, model_version("lite", f"lite-{run}", adapter, sha)),
                       (topics.MODELS, model_version("pro", f"pro-{run}", tmp_path / "nope", None))]))
    _wait_metric(metrics_port, 'kasper_generate_model_swaps_total{outcome="swapped",tier="lite"}',
                 swapped + 1)
    second = [p | {"prompt_id": f"{run}-b{i}", "tier": "lite"} for i, p in enumerate(prompts(4, seed=22))]
    asyncio.run(_send([(topics.PROMPTS, p) for p in second]))
    insights = _read(topics.INSIGHTS.name, mine, len(first) + len(second))

    by_prompt = {}
    for insight in insights:
        by_prompt.setdefault(insight["prompt_id"], []).append(insight)
    assert sorted(by_prompt) == sorted(p["prompt_id"] for p in first + second)
    assert all(len(found) == 1 for found in by_prompt.values()), "duplicate insights"
    for prompt in second:
        [insight] = by_prompt[prompt["prompt_id"]]
        assert insight["adapter_version"] == f"lite-{run}"
        assert insight["insight_id"] == insight_id(prompt["prompt_id"], 0)
    for insight in insights:
        assert insight["text"] and insight["prompt"]["prompt_id"] == insight["prompt_id"]
        assert insight["sampling"]["max_tokens"] == MAX_TOKENS and insight["completion_tokens"] > 0

    ids = {i["insight_id"]: i["text"] for i in insights}
    deltas = _read(topics.TOKENS.name, lambda d: d["insight_id"] in ids and d["done"], len(ids))
    assert len(deltas) == len(ids)
    every = _read(topics.TOKENS.name, lambda d: d["insight_id"] in ids, 0, timeout_s=5)
    for ident, text in ids.items():
        parts = sorted((d["index"], d["delta"]) for d in every if d["insight_id"] == ident)
        # What streamed is what the model wrote; the Insight ends at its last whole sentence.
        assert "".join(p for _, p in parts).strip().startswith(text)

    letters = _read(topics.DLQ.name, lambda d: d["stage"] == "generate" and (
        (d["original_key"] or b"").startswith(run.encode()) or d["original_key"] == b"pro"), 4)
    by_key = {d["original_key"]: d for d in letters}
    assert by_key[f"{run}-bad0".encode()]["reason"].startswith("domain:")
    assert by_key[f"{run}-bad1".encode()]["reason"].startswith("context:")
    assert by_key[f"{run}-junk".encode()]["original_bytes"] == b"\xc3\x01garbage"
    assert by_key[b"pro"]["original_topic"] == topics.MODELS.name
    assert proc.poll() is None
    assert _metric(metrics_port, 'kasper_generate_tokens_total{backend="mlx",kind="completion"}') > 0
    assert _metric(metrics_port, 'kasper_generate_model_version{adapter_version="lite-') == 1
