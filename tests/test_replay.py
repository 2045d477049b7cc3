# Long: each replay mode (ranges, live groups, windows, re-grading) needs its own topics and readers.
"""``kasper replay`` on the real embedded broker: ranges, live groups, windows, re-grading.

Each test writes to topics of its own (or scopes by time), so records of other
tests in the session never enter its ranges.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from click.testing import CliRunner

from kasper.agents.quality.rubric import GRADER_VERSION, Rubric
from kasper.schemas import Codec
from kasper.streams import topics
from kasper.streams.admin import create_topics, describe_topics
from kasper.streams.cli.main import main
from kasper.streams.errors import BrokerUnavailable
from kasper.streams.producer import Producer
from kasper.streams.replay import (ALL, Range, RangeError, ReadStats, parse_offsets, parse_time,
                                   read_range)
from kasper.streams.settings import KafkaSettings, get_settings
from kasper.streams.synthetic_prompts import synthetic_prompts
from kasper.trainer.config import TrainerConfig, WindowPolicy
from kasper.trainer.synthetic_records import synthetic_approved
from kasper.trainer.window_loop import run_windows


# --- no broker ------------------------------------------------------------------------------

def test_offsets_and_times_parse_and_bad_ranges_are_refused():
    assert parse_offsets(["5"]) == {ALL: 5}
    assert parse_offsets(["0:5,1:7", "3:0"]) == {0: 5, 1: 7, 3: 0}
    assert parse_time("1764064800000") == 1764064800000
    assert parse_time("2026-11-25T10:00:00Z") == parse_time("2026-11-25T10:00:00")
    assert parse_time("2026-11-25T10:00:00+01:00") == parse_time("2026-11-25T09:00:00Z")
    assert abs(parse_time("2h") - (time.time() - 7200) * 1000) < 5000
    for bad in (["x"], ["0:-1"], ["a:3"]):
        with pytest.raises(RangeError):
            parse_offsets(bad)
    with pytest.raises(RangeError):
        parse_time("yesterday-ish")
    with pytest.raises(RangeError, match="after --to-offset"):
        Range(from_offsets={0: 9}, to_offsets={ALL: 3})
    with pytest.raises(RangeError, match="not both"):
        Range(from_offsets={ALL: 1}, since_ms=5)
    with pytest.raises(RangeError, match="before --until"):
        Range(since_ms=10, until_ms=10)
    result = CliRunner().invoke(main, ["replay", "dump", "t", "--from-offset", "0:9", "--to-offset", "0:2"])
    assert result.exit_code == 2 and "--from-offset 9 is after --to-offset 2" in result.output
    result = CliRunner().invoke(main, ["replay", "regrade", "no spaces"])
    assert result.exit_code == 2 and "bad replay name" in result.output


def test_a_broker_outage_is_broker_unavailable():
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")

    async def run():
        return [r async for r in read_range(kafka, Codec(), "any", Range())]
    with pytest.raises(BrokerUnavailable):
        asyncio.run(run())


# --- helpers --------------------------------------------------------------------------------

def private_topic(base: topics.TopicSpec, partitions: int = 2) -> topics.TopicSpec:
    spec = dataclasses.replace(base, name=f"test.replay.{uuid.uuid4().hex[:10]}", partitions=partitions)
    asyncio.run(create_topics(get_settings().kafka, [spec]))
    return spec


async def send(spec: topics.TopicSpec, records=(), raw=()) -> None:
    async with Producer(get_settings()) as producer:
        for record in records:
            await producer.send(spec, record)
        for value in raw:
            await producer.send_raw(spec.name, value, b"poison")


def replay(topic: str, request: Range = Range(), **kwargs) -> tuple[list, ReadStats]:
    stats = ReadStats()

    async def run():
        return [r async for r in read_range(get_settings().kafka, Codec(), topic, request,
                                            idle_timeout_s=1.0, stats=stats, **kwargs)]
    return asyncio.run(run()), stats


def now_ms() -> int:
    return int(time.time() * 1000)


async def commit(group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(**get_settings().kafka.client_kwargs(), group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def committed(group: str, tps) -> dict[TopicPartition, int | None]:
    consumer = AIOKafkaConsumer(**get_settings().kafka.client_kwargs(), group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()


def ids(received) -> list[str]:
    return sorted(r.record["prompt_id"] for r in received if r.record is not None)


# --- ranges ---------------------------------------------------------------------------------

@pytest.mark.broker
def test_time_and_offset_ranges_select_exactly_their_records(broker):
    spec = private_topic(topics.PROMPTS)
    batches = [list(synthetic_prompts(8, seed=int(uuid.uuid4().int % 10**6))) for _ in range(3)]
    marks = []
    for batch in batches:
        marks.append(now_ms())
        asyncio.run(send(spec, batch))
        time.sleep(1.1)  # distinct timestamps between batches
    everything, stats = replay(spec.name)
    assert ids(everything) == sorted(p["prompt_id"] for b in batches for p in b)
    assert stats.undecodable == 0 and stats.read == 24

    middle, _ = replay(spec.name, Range(since_ms=marks[1], until_ms=marks[2]))
    assert ids(middle) == sorted(p["prompt_id"] for p in batches[1])
    tail, _ = replay(spec.name, Range(since_ms=marks[2]))
    assert ids(tail) == sorted(p["prompt_id"] for p in batches[2])

    by_partition = {}
    for r in everything:
        by_partition.setdefault(r.where.partition, []).append(r.where.offset)
    partition = max(by_partition, key=lambda p: len(by_partition[p]))
    offsets = sorted(by_partition[partition])
    assert len(offsets) >= 3
    lo, hi = offsets[1], offsets[-2]
    window, stats = replay(spec.name, Range(from_offsets={partition: lo}, to_offsets={partition: hi},
                                            partitions=(partition,)))
    assert [(r.where.partition, r.where.offset) for r in window] == [(partition, o) for o in range(lo, hi + 1)]
    assert [p.as_dict() for p in stats.plans] == [
        {"partition": partition, "start": lo, "stop": hi, "first": lo, "last": hi, "read": hi - lo + 1}]

    # The same middle range from the command line, as JSON lines.
    since = f"{marks[1]}"
    until = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(marks[2] / 1000)) + f".{marks[2] % 1000:03d}Z"
    result = CliRunner().invoke(main, ["replay", "dump", spec.name, "--since", since, "--until", until])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(line["value"]["prompt_id"] for line in lines) == ids(middle)
    assert {line["schema"] for line in lines} == {"PromptEvent"}
    assert "replayed 8 record(s)" in result.stderr

    gone = CliRunner().invoke(main, ["replay", "dump", spec.name, "--partition", "7"])
    assert gone.exit_code == 2 and "not 7" in gone.output


@pytest.mark.broker
def test_a_record_that_does_not_decode_is_reported_with_its_offset(broker):
    spec = private_topic(topics.PROMPTS, partitions=1)
    good = list(synthetic_prompts(3, seed=7))
    asyncio.run(send(spec, good[:2], raw=[b"not avro"]))
    asyncio.run(send(spec, good[2:]))
    result = CliRunner().invoke(main, ["replay", "dump", spec.name, "--idle-timeout", "1"])
    assert result.exit_code == 1
    assert f"undecodable {spec.name}[0]@2: " in result.stderr
    assert "1 record(s) of" in result.stderr and "could not be decoded" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["offset"] for line in lines] == [0, 1, 2, 3]  # nothing skipped
    assert lines[2]["error"].startswith("UnknownFormatError") and lines[2]["value_base64"] == "bm90IGF2cm8="
    assert lines[3]["value"]["prompt_id"] == good[2]["prompt_id"]
    short = CliRunner().invoke(main, ["replay", "dump", spec.name, "--from-offset", "3",
                                      "--to-offset", "0:10", "--idle-timeout", "1"])
    assert short.exit_code == 0, short.output
    assert [json.loads(line)["offset"] for line in short.stdout.splitlines()] == [3]
    assert f"note: {spec.name}[0] ended at offset 3, before 10" in short.stderr


@pytest.mark.broker
def test_replay_never_commits_in_a_live_group_and_refuses_to_use_one(broker):
    spec = private_topic(topics.PROMPTS)
    asyncio.run(send(spec, synthetic_prompts(12, seed=11)))
    tps = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
    live = f"live-{uuid.uuid4().hex[:8]}"
    asyncio.run(commit(live, {tp: 1 for tp in tps}))
    before = asyncio.run(committed(live, tps))
    assert before == {tp: 1 for tp in tps}

    everything, _ = replay(spec.name)
    assert len(everything) == 12
    refused = CliRunner().invoke(main, ["replay", "dump", spec.name, "--group", live])
    assert refused.exit_code == 2 and f"group {live} has committed offsets" in refused.output
    assert asyncio.run(committed(live, tps)) == before

    fresh = f"replay-{uuid.uuid4().hex[:8]}"
    records, stats = replay(spec.name, group=fresh)
    assert len(records) == 12 and stats.committed_group == fresh
    ends = {TopicPartition(spec.name, p.partition): p.last + 1 for p in stats.plans if p.last is not None}
    assert asyncio.run(committed(fresh, list(ends))) == ends  # a fresh group records what it read
    assert asyncio.run(committed(live, tps)) == before


# --- windows --------------------------------------------------------------------------------

async def run_trainer_windows(config: TrainerConfig, expected: int, timeout_s: float = 60) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_windows(get_settings(), config, stop))
    try:
        for _ in range(int(timeout_s / 0.25)):
            dirs = list(config.windows_dir.glob("standard-*")) if config.windows_dir.exists() else []
            if task.done() or len(dirs) >= expected:
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(1.0)  # let the last TrainingWindow event go out
    finally:
        stop.set()
        await task


async def position_at_end(group: str, names: list[str]) -> None:
    records = {}
    for name in names:
        found, _ = await asyncio.to_thread(replay, name)
        for r in found:
            tp = TopicPartition(name, r.where.partition)
            records[tp] = max(records.get(tp, 0), r.where.offset + 1)
    if records:
        await commit(group, records)


def window_lines(result) -> tuple[dict[str, dict], dict]:
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {line["window_id"]: line for line in lines if "window_id" in line}, lines[-1]["summary"]


@pytest.mark.broker
def test_rebuild_all_windows_identical_then_a_changed_file_is_a_mismatch(broker, tmp_path):
    config = TrainerConfig(windows_dir=tmp_path / "windows", adapters_dir=tmp_path / "adapters",
                           window=WindowPolicy(approved_count=10, max_age_s=600, feedback_wait_s=1),
                           windows_group=f"test-replay-{uuid.uuid4().hex[:8]}", tick_s=0.2)
    asyncio.run(position_at_end(config.windows_group, [topics.APPROVED.name, topics.FEEDBACK.name]))
    started = now_ms()
    seed = int(uuid.uuid4().int % 10**6)
    asyncio.run(send(topics.APPROVED, synthetic_approved(20, seed=seed, tier="standard", score=0.9)))
    asyncio.run(run_trainer_windows(config, expected=2))
    originals = sorted(d for d in config.windows_dir.glob("standard-*"))
    assert len(originals) == 2

    out = tmp_path / "rebuilt"
    result = CliRunner().invoke(main, ["replay", "windows", "--since", str(started), "--out", str(out)])
    assert result.exit_code == 0, result.output
    checks, summary = window_lines(result)
    assert set(checks) == {d.name for d in originals}
    assert {c["status"] for c in checks.values()} == {"identical"}
    assert summary == {"identical": 2, "mismatched": 0, "gone": 0, "failed": 0, "undecodable": 0}
    for original in originals:
        names = sorted(p.name for p in original.iterdir())
        assert names == sorted(p.name for p in (out / original.name).iterdir())
        for name in names:
            assert (out / original.name / name).read_bytes() == (original / name).read_bytes(), name

    changed = originals[0] / "approved.avro"
    changed.write_bytes(changed.read_bytes() + b"\0")
    result = CliRunner().invoke(main, ["replay", "windows", "--since", str(started)])
    assert result.exit_code == 1
    checks, summary = window_lines(result)
    assert checks[originals[0].name]["status"] == "mismatched"
    assert checks[originals[0].name]["mismatched"] == ["approved.avro"]
    assert checks[originals[1].name]["status"] == "identical"
    assert summary["mismatched"] == 1 and summary["identical"] == 1
    assert "1 window(s) mismatched" in result.stderr

    # A window whose directory is gone is rebuilt from the event alone and must match its sha256s.
    moved = tmp_path / "moved"
    originals[1].rename(moved)
    again = tmp_path / "again"
    result = CliRunner().invoke(main, ["replay", "windows", "--since", str(started), "--out", str(again),
                                       "--window", originals[1].name])
    checks, summary = window_lines(result)
    assert result.exit_code == 0, result.output
    assert list(checks) == [originals[1].name] and summary["identical"] == 1
    assert "is gone" in checks[originals[1].name]["detail"]
    assert (again / originals[1].name / "approved.avro").read_bytes() == (moved / "approved.avro").read_bytes()
    moved.rename(originals[1])

    # `kasper replay window DIR` is the single-window command (shared with `kasper windows replay`).
    single = CliRunner().invoke(main, ["replay", "window", str(originals[1])])
    assert single.exit_code == 0 and json.loads(single.stdout)["identical"] is True


# --- re-grading -----------------------------------------------------------------------------

@pytest.mark.broker
def test_regrade_sends_one_grade_per_insight_with_the_new_version_and_compares(broker):
    insights_spec = private_topic(topics.INSIGHTS, partitions=2)
    grades_spec = private_topic(topics.GRADES, partitions=2)
    seed = int(uuid.uuid4().int % 10**6)
    insights = [a["insight"] for a in synthetic_approved(6, seed=seed)]
    originals = []
    for insight in insights[:4]:  # an older rubric graded the first four: all A, all passed
        grade = Rubric().grade(insight["text"])
        originals.append({"insight_id": insight["insight_id"], "prompt_id": insight["prompt_id"],
                          "scores": grade.scores, "final_score": 0.99, "letter": "A", "passed": True,
                          "gate_failures": [], "recommendations": [], "grader_version": "rubric-0.9",
                          "word_count": grade.word_count, "created_at": now_ms(), "insight": None})
    asyncio.run(send(insights_spec, insights + [insights[0]], raw=[b"\xc3\x01garbage!"]))
    asyncio.run(send(grades_spec, originals))
    name = f"t{seed}"
    result = CliRunner().invoke(main, ["replay", "regrade", name, "--topic", insights_spec.name,
                                       "--grades-topic", grades_spec.name, "--idle-timeout", "1",
                                       "--rubric", GRADER_VERSION])
    assert result.exit_code == 1, result.output  # the poison record
    poison = [r for r in replay(insights_spec.name)[0] if r.error is not None]
    assert len(poison) == 1
    assert f"undecodable {poison[0].where}: " in result.stderr
    summary = json.loads(result.stdout)
    assert summary["topic"] == f"kasper.grades.replay.{name}"
    assert (summary["insights"], summary["graded"], summary["duplicates"], summary["undecodable"]) == (7, 6, 1, 1)

    regraded, stats = replay(summary["topic"])
    assert stats.undecodable == 0
    assert sorted(r.record["insight_id"] for r in regraded) == sorted(i["insight_id"] for i in insights)
    assert {r.record["grader_version"] for r in regraded} == {GRADER_VERSION}
    assert all(r.record["insight"]["text"] for r in regraded)
    state = asyncio.run(describe_topics(get_settings().kafka, [summary["topic"]]))[summary["topic"]]
    assert state.partitions == topics.GRADES.partitions

    # The rubric the command grades with: the model layers by the grade setting (on by default).
    rubric = Rubric(semantic=get_settings().grade.semantic_gate)
    expected = {i["insight_id"]: rubric.grade(i["text"], i["domain"]) for i in insights}
    assert summary["original"]["matched"] == 4
    assert summary["original"]["grader_versions"] == {"rubric-0.9": 4}
    assert summary["original"]["pass_rate"] == 1.0 and summary["original"]["mean_score"] == 0.99
    changes = {}
    for insight in insights[:4]:
        letter = expected[insight["insight_id"]].letter
        if letter != "A":
            changes[f"A->{letter}"] = changes.get(f"A->{letter}", 0) + 1
    assert summary["letter_changes"] == changes
    fails = sum(not expected[i["insight_id"]].passed for i in insights[:4])
    assert summary["pass_changes"] == ({"pass->fail": fails} if fails else {})
    mean = sum(g.final_score for g in expected.values()) / len(expected)
    assert summary["new"]["mean_score"] == pytest.approx(mean, abs=1e-4)
    # The summary rounds its rates to four places; the texts are drawn anew each run, so
    # 5 of 6 (0.8333) is as likely as 6 of 6.
    assert summary["new"]["pass_rate"] == pytest.approx(sum(g.passed for g in expected.values()) / 6, abs=1e-4)
