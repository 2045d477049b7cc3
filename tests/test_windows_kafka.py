"""The window loop on the real embedded broker: windows, DLQ, replay, and crashes.

Every test uses its own consumer group positioned at the current end of the
topics, so records produced by other tests of the session never reach it.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import fastavro
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from click.testing import CliRunner

from kasper.schemas import Codec
from kasper.streams import topics
from kasper.streams.cli.main import main
from kasper.streams.cli.report import windows_closed_on_request
from kasper.streams.consumer import read
from kasper.streams.producer import Producer
from kasper.streams.settings import get_settings
from kasper.trainer.config import TrainerConfig, WindowPolicy
from kasper.trainer.files import verify_window
from kasper.trainer.rebuild import replay_window
from kasper.trainer.synthetic_records import synthetic_approved, synthetic_feedback
from kasper.trainer.window_loop import run_windows

pytestmark = pytest.mark.broker
SOURCES = [topics.APPROVED.name, topics.FEEDBACK.name]


async def true_ends(names: list[str]) -> dict[TopicPartition, int]:
    """End offsets by reading: Tansu 0.6 answers ListOffsets(latest) with the last batch's
    base offset + 1, not the high watermark, so ``end_offsets``/``seek_to_end`` are wrong."""
    kafka = get_settings().kafka
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(n, p) for n in names for p in sorted(consumer.partitions_for_topic(n) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = dict.fromkeys(tps, 0)
        while batch := await consumer.getmany(timeout_ms=1000, max_records=5000):
            for tp, messages in batch.items():
                ends[tp] = messages[-1].offset + 1
        return ends
    finally:
        await consumer.stop()


async def position_at_end(group: str, names: list[str]) -> dict[TopicPartition, int]:
    """Commit the current end offsets for ``group``: it starts with records produced from now."""
    ends = await true_ends(names)
    kafka = get_settings().kafka
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.commit(ends)
        return ends
    finally:
        await consumer.stop()


async def committed(group: str, tps) -> dict[TopicPartition, int]:
    kafka = get_settings().kafka
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()


async def produce(approved=(), feedback=(), raw=()) -> None:
    async with Producer(get_settings()) as producer:
        for record in approved:
            await producer.send(topics.APPROVED, record)
        for record in feedback:
            await producer.send(topics.FEEDBACK, record)
        for topic, value in raw:
            await producer.send_raw(topic, value, b"poison")


def events_for(windows_dir: Path) -> list[dict]:
    async def run():
        return [r async for r in read(get_settings().kafka, Codec(), topics.TRAINING_WINDOWS.name,
                                      from_beginning=True, idle_timeout_s=1.0)]
    return [r.record for r in asyncio.run(run())
            if r.record and Path(r.record["directory"]).parent == windows_dir]


def dead_letters() -> list[dict]:
    async def run():
        return [r async for r in read(get_settings().kafka, Codec(), topics.DLQ.name,
                                      from_beginning=True, idle_timeout_s=1.0)]
    return [r.record for r in asyncio.run(run()) if r.record and r.record["stage"] == "train"]


def window_records(directory: Path, name: str) -> list[dict]:
    path = directory / name
    return list(fastavro.reader(io.BytesIO(path.read_bytes()))) if path.exists() else []


def make_config(tmp_path: Path, **policy) -> TrainerConfig:
    return TrainerConfig(windows_dir=tmp_path / "windows", adapters_dir=tmp_path / "adapters",
                         window=WindowPolicy(**policy), windows_group=f"test-windows-{uuid.uuid4().hex[:8]}",
                         tick_s=0.2)


async def run_until(config: TrainerConfig, done, timeout_s: float = 60) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_windows(get_settings(), config, stop))
    try:
        for _ in range(int(timeout_s / 0.25)):
            if task.done() or done():
                break
            await asyncio.sleep(0.25)
    finally:
        stop.set()
        await task


def test_windows_close_on_count_and_time_and_replay_byte_for_byte(broker, tmp_path):
    config = make_config(tmp_path, approved_count=10, max_age_s=2.0, feedback_wait_s=2.0)
    asyncio.run(position_at_end(config.windows_group, SOURCES))
    seed = int(uuid.uuid4().int % 10**6)
    approved = synthetic_approved(25, seed=seed, tier="standard", score=0.9)
    feedback = list(synthetic_feedback(approved[:6], seed=seed))
    unknown = dict(feedback[0], feedback_id=f"stray-{seed}", insight_id=f"missing-{seed}")
    bad_stars = dict(feedback[1], feedback_id=f"bad-{seed}", stars=9)
    asyncio.run(produce(approved, feedback + [unknown, bad_stars],
                        raw=[(topics.APPROVED.name, b"not avro")]))
    windows_dir = config.windows_dir
    started = time.monotonic()

    def finished():
        if time.monotonic() - started < 4.0:  # the stray feedback's wait must run out first
            return False
        dirs = [d for d in windows_dir.glob("standard-*")] if windows_dir.exists() else []
        members = sum(len(window_records(d, "approved.avro")) for d in dirs)
        return members >= 25 and sum(len(window_records(d, "feedback.avro")) for d in dirs) >= 6

    asyncio.run(run_until(config, finished))
    events = events_for(windows_dir)
    reasons = Counter(e["close_reason"] for e in events)
    assert reasons["count"] == 2 and reasons["time"] >= 1, reasons
    for event in events:
        directory = Path(event["directory"])
        manifest = verify_window(directory)
        assert manifest["source_offsets"] == event["source_offsets"]
        report = asyncio.run(replay_window(get_settings(), directory))
        assert report.identical, report.mismatched
        assert report.rebuilt_id == event["window_id"]
    # The same check from the command line, on the first window.
    replayed = CliRunner().invoke(main, ["windows", "replay", events[0]["directory"]])
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.output)["identical"] is True
    # A window whose manifest does not match what its offsets rebuild: exit 1, naming the file.
    altered = tmp_path / "altered"
    shutil.copytree(events[0]["directory"], altered)
    manifest = json.loads((altered / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["name"] == "approved.avro")
    entry["sha256"] = "0" * 64
    (altered / "manifest.json").write_text(json.dumps(manifest))
    refused = CliRunner().invoke(main, ["windows", "replay", str(altered)])
    assert refused.exit_code == 1, refused.output
    assert "did not rebuild identically" in refused.output and "approved.avro" in refused.output
    letters = {(d["error_type"], d["original_bytes"]) for d in dead_letters()}
    assert ("UnknownFormatError", b"not avro") in letters
    assert {"InvalidFeedbackError", "UnknownInsightError"} <= {t for t, _ in letters}
    ends = asyncio.run(true_ends(SOURCES))
    assert asyncio.run(committed(config.windows_group, ends)) == ends  # everything handled


def test_a_close_on_request_takes_every_record_on_the_topics_when_it_came(broker, tmp_path):
    # No count, age or idle close could fire here: only the request closes the windows.
    config = make_config(tmp_path, approved_count=100, max_age_s=600.0, feedback_wait_s=600.0)
    asyncio.run(position_at_end(config.windows_group, SOURCES))
    seed = int(uuid.uuid4().int % 10**6)
    standard = synthetic_approved(7, seed=seed, tier="standard", score=0.9)
    lite = synthetic_approved(3, seed=seed + 1, tier="lite", score=0.9)
    feedback = list(synthetic_feedback(standard[:4] + lite[:1], seed=seed))
    later = synthetic_approved(2, seed=seed + 2, tier="standard", score=0.9)

    async def scenario() -> list[dict]:
        await produce(standard + lite, feedback)
        stop, close_now = asyncio.Event(), asyncio.Event()
        close_now.set()  # before the loop has its partitions: taken once it has them
        task = asyncio.create_task(run_windows(get_settings(), config, stop, close_now=close_now))
        try:
            for _ in range(240):
                await asyncio.sleep(0.25)
                if task.done() or len(await events_in(config.windows_dir)) >= 2:
                    break
            closed = await events_in(config.windows_dir)
            await produce(later)  # after the close: the next window's, which stays open
            await asyncio.sleep(2.0)
            assert len(await events_in(config.windows_dir)) == 2
        finally:
            stop.set()
            await task
        return closed

    closed = asyncio.run(scenario())
    assert {e["tier"] for e in closed} == {"standard", "lite"}, closed
    assert {e["close_reason"] for e in closed} == {"manual"}
    by_tier = {e["tier"]: Path(e["directory"]) for e in closed}
    ids = {t: {r["insight_id"] for r in window_records(d, "approved.avro")} for t, d in by_tier.items()}
    assert ids["standard"] == {r["insight_id"] for r in standard}
    assert ids["lite"] == {r["insight_id"] for r in lite}
    thumbs = sum(len(window_records(d, "feedback.avro")) for d in by_tier.values())
    assert thumbs == len(feedback)
    # The records after the close are neither lost nor committed: a restart reads them again.
    ends = asyncio.run(true_ends(SOURCES))
    done = asyncio.run(committed(config.windows_group, ends))
    approved_tp = [tp for tp in ends if tp.topic == topics.APPROVED.name]
    assert sum(ends[tp] - done[tp] for tp in approved_tp) == len(later)


def test_sigusr1_makes_the_train_role_close_its_windows_and_go_on(own_broker, tmp_path):
    import signal

    from tests.helpers import KASPER, clean_env, free_port

    cache = tmp_path / "cache"
    env = clean_env(KASPER_BOOTSTRAP_SERVERS=own_broker.address, KASPER_CACHE_DIR=str(cache),
                    KASPER_WEB_PORT=str(free_port()), KASPER_METRICS_PORT=str(free_port()),
                    KASPER_REBALANCE_TIMEOUT_S="3", KASPER_SESSION_TIMEOUT_S="6")
    # Below the trainer's minimum score: the window has nothing to train, so no model is needed.
    records = synthetic_approved(3, seed=5, tier="standard", score=0.1)
    log_path = tmp_path / "worker.log"
    worker = subprocess.Popen([KASPER, "worker", "--agents", "train"], env=env, cwd=tmp_path,
                              stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "SIGUSR1 closes every open window" not in log_path.read_text(errors="replace"):
            assert worker.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        asyncio.run(produce(records))
        worker.send_signal(signal.SIGUSR1)
        windows_dir = cache / "windows"
        while not asyncio.run(events_in(windows_dir)):
            assert worker.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(1)
        [event] = asyncio.run(events_in(windows_dir))
        assert event["close_reason"] == "manual" and event["counts"]["approved"] == 3
        time.sleep(2)
        # What `kasper up` waits for: the line naming every window the request closed.
        said = windows_closed_on_request(log_path.read_text(errors="replace").splitlines())
        assert said == [event["window_id"]], said
        assert worker.poll() is None, "the signal ended the worker"
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=90)
    assert code == 0, log_path.read_text()[-3000:]


async def events_in(windows_dir: Path) -> list[dict]:
    """The TrainingWindow events of windows written under ``windows_dir``."""
    return [r.record async for r in read(get_settings().kafka, Codec(), topics.TRAINING_WINDOWS.name,
                                         from_beginning=True, idle_timeout_s=0.5)
            if r.record and Path(r.record["directory"]).parent == windows_dir]


CHILD = """
import asyncio, json, sys
from pathlib import Path
from kasper.streams.settings import get_settings
from kasper.trainer.config import TrainerConfig, WindowPolicy
from kasper.trainer.window_loop import run_windows

args = json.loads(sys.argv[1])
config = TrainerConfig(windows_dir=Path(args["windows"]), adapters_dir=Path(args["windows"]),
                       window=WindowPolicy(**args["policy"]), windows_group=args["group"],
                       tick_s=0.2, crash_after=args["crash"])

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(args["seconds"], stop.set)
    await run_windows(get_settings(), config, stop)

asyncio.run(main())
"""


def run_child(config: TrainerConfig, crash: str | None, seconds: float = 30) -> int:
    args = {"windows": str(config.windows_dir), "group": config.windows_group, "crash": crash,
            "seconds": seconds, "policy": {"approved_count": 8, "max_age_s": 1.5}}
    # Short group timeouts: each crashed run leaves a member the next join waits out.
    env = {**os.environ, "KASPER_SESSION_TIMEOUT_S": "2", "KASPER_REBALANCE_TIMEOUT_S": "2"}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 70), proc.stderr[-3000:]
    if os.environ.get("KASPER_TEST_DEBUG"):
        print(crash, proc.stdout[-5000:], proc.stderr[-5000:])
    return proc.returncode


def test_a_crash_between_files_and_commit_loses_nothing_and_windows_nothing_twice(broker, tmp_path):
    config = make_config(tmp_path)
    asyncio.run(position_at_end(config.windows_group, SOURCES))
    seed = int(uuid.uuid4().int % 10**6)
    approved = synthetic_approved(20, seed=seed, tier="lite", score=0.9)
    feedback = list(synthetic_feedback(approved[:5], seed=seed))
    asyncio.run(produce(approved, feedback))
    for step in ("files", "state", "event"):  # each run dies right after this step
        assert run_child(config, step) == 70, step
    assert run_child(config, None, seconds=10) == 0
    events = events_for(config.windows_dir)
    by_id = {}
    for event in events:  # an event may come twice (crash before "published"), always the same
        assert by_id.setdefault(event["window_id"], event)["source_offsets"] == event["source_offsets"]
    published = {Path(e["directory"]).name for e in events}
    on_disk = {d.name for d in config.windows_dir.iterdir() if not d.name.startswith(".")
               and d.is_dir()}
    assert published == on_disk and len(published) >= 3
    feedback_seen = Counter(f["feedback_id"] for w in published
                            for f in window_records(config.windows_dir / w, "feedback.avro"))
    assert feedback_seen == Counter(f["feedback_id"] for f in feedback)  # each exactly once
    appearances: dict[str, list[bool]] = {}
    for w in published:
        records = window_records(config.windows_dir / w, "approved.avro")
        ids = [r["insight_id"] for r in records]
        assert len(ids) == len(set(ids))  # at most once in any window
        rated = {f["insight_id"] for f in window_records(config.windows_dir / w, "feedback.avro")}
        for i in ids:
            appearances.setdefault(i, []).append(i in rated)
    assert set(appearances) == {r["insight_id"] for r in approved}  # nothing lost
    for insight_id, rated in appearances.items():
        # A second appearance is only ever the join partner of feedback given later.
        assert len(rated) == 1 or sorted(rated) == [False, True], (insight_id, rated)
    ends = asyncio.run(true_ends(SOURCES))
    assert asyncio.run(committed(config.windows_group, ends)) == ends
