"""A Faust worker built by our app factory, on the real broker: poison goes to the DLQ."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.admin import create_topics
from kasper.streams.consumer import read
from kasper.streams.producer import Producer
from kasper.streams.settings import get_settings

from tests.helpers import free_port
from tests.faust_echo_app import SINK, SOURCE

pytestmark = pytest.mark.broker
APP = Path(__file__).with_name("faust_echo_app.py")


def _read_all(topic: str, until: int, timeout_s: float = 90) -> list:
    async def run():
        got, deadline = [], time.monotonic() + timeout_s
        while len(got) < until and time.monotonic() < deadline:
            got = [r async for r in read(get_settings().kafka, Codec(), topic,
                                         from_beginning=True, idle_timeout_s=1.0)]
        return got
    return asyncio.run(run())


async def _feed(good: int) -> list[str]:
    ids = []
    async with Producer() as producer:
        for i in range(good):
            record = sample_record("PromptEvent")
            record["prompt_id"] = f"echo-{i}"
            if i in (7, 30):
                record["context"] = {"reject": f"poison {i}"}
            else:
                ids.append(record["prompt_id"])
            await producer.send(SOURCE, record)
            if i == 10:
                await producer.send_raw(SOURCE.name, b"not avro at all", key=b"junk")
                await producer.send_raw(SOURCE.name, b"\xc3\x01\x00\x01", key=b"cut")
                wrong = producer.codec.encode("Feedback", sample_record("Feedback"))
                await producer.send_raw(SOURCE.name, wrong, key=b"wrong-type")
    return ids


def _start_worker(tmp_path: Path, **env: str) -> subprocess.Popen:
    env = {**os.environ, "KASPER_WEB_PORT": str(free_port()), "PYTHONPATH": str(APP.parent), **env}
    log = (tmp_path / "worker.log").open("a")
    return subprocess.Popen([sys.executable, str(APP), "worker", "-l", "info"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)


def test_worker_routes_good_records_and_dead_letters_poison(broker, tmp_path):
    asyncio.run(create_topics(get_settings().kafka, [SOURCE, SINK]))
    worker = _start_worker(tmp_path)
    try:
        expected = asyncio.run(_feed(40))
        out = [r for r in _read_all(SINK.name, until=len(expected))
               if r.record["prompt_id"].startswith("echo-")]
        assert sorted(r.record["prompt_id"] for r in out) == sorted(expected)
        letters = [r.record for r in _read_all(topics.DLQ.name, until=5)
                   if r.record and r.record["stage"] == "echo"]
        assert len(letters) == 5
        by_type = sorted(letter["error_type"] for letter in letters)
        assert by_type == ["KasperError", "KasperError", "TruncatedRecordError",
                           "UnknownFormatError", "WrongRecordError"]
        for letter in letters:
            assert letter["original_topic"] == SOURCE.name
            assert letter["original_offset"] is not None and letter["reason"]
        assert {l["original_bytes"] for l in letters} >= {b"not avro at all"}
        assert worker.poll() is None, "the worker died on bad input"
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    assert code == 0


async def _feed_crash_batch() -> list[str]:
    async with Producer() as producer:
        ids = []
        for i in range(20):
            record = sample_record("PromptEvent") | {"prompt_id": f"crash-{i}"}
            if i == 5:
                record["context"] = {"crash": "yes"}
            await producer.send(SOURCE, record)
            ids.append(record["prompt_id"])
    return ids


def test_an_unexpected_error_exits_without_commit_and_loses_nothing(broker, tmp_path):
    asyncio.run(create_topics(get_settings().kafka, [SOURCE, SINK]))
    ids = asyncio.run(_feed_crash_batch())
    worker = _start_worker(tmp_path)
    assert worker.wait(timeout=90) == 70, (tmp_path / "worker.log").read_text()[-2000:]
    assert "unexpected error, exiting without commit" in (tmp_path / "worker.log").read_text()
    fixed = _start_worker(tmp_path, ECHO_FIXED="1")
    try:
        out = [r.record["prompt_id"] for r in _read_all(SINK.name, until=10_000, timeout_s=20)
               if r.record["prompt_id"].startswith("crash-")]
        assert set(out) == set(ids)
    finally:
        fixed.send_signal(signal.SIGTERM)
        assert fixed.wait(timeout=60) == 0


# --- producer guarantees: settings reach Faust's producer; outputs acked before offsets ----


def _committed(group: str, topic: str) -> int:
    from tests.chaos import committed
    return asyncio.run(committed(get_settings().kafka.bootstrap_servers, group, topic))


def test_idempotence_from_the_settings_reaches_the_faust_producer(own_broker, tmp_path):
    """The embedded broker refuses InitProducerId: a worker whose Faust producer asks for
    idempotence (KASPER_ENABLE_IDEMPOTENCE) cannot start, and processes nothing."""
    asyncio.run(create_topics(get_settings().kafka, [SOURCE, SINK]))
    asyncio.run(_feed(3))
    worker = _start_worker(tmp_path, KASPER_ENABLE_IDEMPOTENCE="true")
    code = worker.wait(timeout=90)
    log = (tmp_path / "worker.log").read_text()
    assert code != 0, log[-2000:]
    assert "InitProducerIdRequest" in log, log[-2000:]
    assert _read_all(SINK.name, until=1, timeout_s=3) == []
    assert _committed("kasper-test-echo", SOURCE.name) == 0


async def _feed_records(*contexts: dict) -> list[str]:
    ids = []
    async with Producer() as producer:
        for context in contexts:
            record = sample_record("PromptEvent") | {"prompt_id": f"send-{len(ids)}", "context": context}
            await producer.send(SOURCE, record)
            ids.append(record["prompt_id"])
    return ids


def test_an_output_the_broker_never_acks_stops_the_worker_without_commit(own_broker, tmp_path):
    """The broker freezes while a record's output is due: the send expires (2 s request
    timeout), is sent once more, expires again, and the worker exits 70 with the input
    uncommitted; restarted, it sends every output."""
    asyncio.run(create_topics(get_settings().kafka, [SOURCE, SINK]))
    env = dict(KASPER_REQUEST_TIMEOUT_MS="2000", KASPER_SEND_RETRIES="1")
    worker = _start_worker(tmp_path, **env)
    log = tmp_path / "worker.log"
    try:
        first = asyncio.run(_feed_records({}))
        assert len(_read_all(SINK.name, until=1)) == 1, log.read_text()[-2000:]
        deadline = time.monotonic() + 30
        while _committed("kasper-test-echo", SOURCE.name) < 1:
            assert time.monotonic() < deadline, "the first record was never committed"
            time.sleep(0.5)
        rest = asyncio.run(_feed_records({"slow": "3"}, {}, {}))
        deadline = time.monotonic() + 30
        while "slow record" not in log.read_text():
            assert time.monotonic() < deadline and worker.poll() is None, log.read_text()[-2000:]
            time.sleep(0.05)
        own_broker.process.send_signal(signal.SIGSTOP)
        try:
            code = worker.wait(timeout=40)
        finally:
            own_broker.process.send_signal(signal.SIGCONT)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    text = log.read_text()
    assert code == 70, text[-3000:]
    assert "outputs not acknowledged, sending them again" in text
    assert "unexpected error, exiting without commit" in text and "SendFailed" in text
    assert _committed("kasper-test-echo", SOURCE.name) == 1  # only the first record's offset
    again = _start_worker(tmp_path)
    try:
        # The frozen broker may still have taken the sends it held once it thawed, so
        # the outputs alone do not show the restart did the work; its commits do.
        deadline = time.monotonic() + 60
        while _committed("kasper-test-echo", SOURCE.name) < 4:
            assert time.monotonic() < deadline and again.poll() is None, log.read_text()[-2000:]
            time.sleep(0.5)
        got = {r.record["prompt_id"] for r in _read_all(SINK.name, until=4, timeout_s=60)}
        assert got >= set(first + rest), got
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=60) == 0


def test_the_embedded_broker_refuses_idempotent_and_transactional_producers(broker):
    """Why the pipeline runs at least once on the embedded broker (docs/reliability.md): Tansu
    answers InitProducerId with UnknownError, so neither idempotence nor Kafka transactions
    (Faust's exactly_once) can start. If this fails, the broker learned them: measure again."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import UnknownError

    async def start(**options) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all", enable_idempotence=True,
                                    request_timeout_ms=5000, **options)
        try:
            await producer.start()
            await producer.send_and_wait(SINK.name, b"probe")
        finally:
            await producer.stop()

    for options in ({}, {"transactional_id": "kasper-probe"}):
        with pytest.raises(UnknownError):
            asyncio.run(start(**options))
