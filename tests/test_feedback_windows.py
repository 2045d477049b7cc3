"""Feedback in the main job, on the real embedded broker: the simulator's thumbs reach a
window's preference data, the per-user cap holds, no user hash is written to training
files, and every kind of bad feedback is dead-lettered or redacted, with its reason, counted.

Fixed record ids (seed 4711): the simulated thumbs are drawn from the insight ids, so the
test is deterministic; every test positions its own consumer group at the topics' end.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import time
from datetime import timedelta
from pathlib import Path

import fastavro
import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY

from kasper.schemas import Codec
from kasper.schemas.codec import standalone_schema
from kasper.streams import topics
from kasper.streams.cli.main import main
from kasper.streams.consumer import read
from kasper.streams.feedback_sim import SimStats, Simulation, simulate
from kasper.streams.producer import Producer
from kasper.streams.settings import get_settings
from kasper.streams.simulated_users import thumbs_up_rate, user_set
from kasper.trainer.files import verify_window
from kasper.trainer.rebuild import replay_window
from kasper.trainer.synthetic_records import synthetic_approved
from tests.test_windows_kafka import (SOURCES, committed, dead_letters, events_for, make_config,
                                     position_at_end, produce, run_until, true_ends, window_records)

pytestmark = pytest.mark.broker
CONTEXT = {"focus": "gratitude", "mood": "tired"}
LIKED = ("You are tired today. Tonight, write one line of gratitude for your tea in the notebook "
         "by your bed, then sleep.")
DISLIKED = ("Embrace the journey of the universe, for its sacred energy will align your soul with "
            "abundance. Trust the process and let your higher self manifest divine blessings as "
            "the cosmic path unfolds before you in every vibration of this moment of being.")


def approved_set(seed: int, count: int, tier: str = "standard") -> list[dict]:
    """``count`` approved insights for equivalent prompts (journal, gratitude), half of them
    written to the users' taste and half against it."""
    records = synthetic_approved(count, seed=seed, tier=tier, score=0.95)
    for i, record in enumerate(records):
        record["prompt"]["domain"] = record["insight"]["domain"] = "journal"
        record["prompt"]["context"] = dict(CONTEXT)
        record["insight"]["text"] = LIKED if i % 2 == 0 else DISLIKED
    return records


@pytest.fixture
def per_user_cap(monkeypatch):
    monkeypatch.setenv("KASPER_TRAINER_FEEDBACK_PER_USER", "3")
    get_settings.cache_clear()
    yield 3
    monkeypatch.delenv("KASPER_TRAINER_FEEDBACK_PER_USER")
    get_settings.cache_clear()


def window_dirs(windows_dir: Path) -> list[Path]:
    return sorted(d for d in windows_dir.glob("standard-*")) if windows_dir.exists() else []


def lines(directory: Path, name: str) -> list[dict]:
    path = directory / name
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_simulated_feedback_reaches_a_windows_preference_data(broker, tmp_path):
    assert thumbs_up_rate(LIKED, CONTEXT) > 0.7 > 0.2 > thumbs_up_rate(DISLIKED, CONTEXT)
    config = make_config(tmp_path, approved_count=100, max_age_s=3.0, feedback_wait_s=30.0)
    asyncio.run(position_at_end(config.windows_group, SOURCES))
    approved = approved_set(4711, 12)
    sim = Simulation(seed=9, rate=1.0, comment_rate=0.0)
    stats = SimStats()

    async def users_read_the_approved_topic() -> None:
        settings, stop, ready = get_settings(), asyncio.Event(), asyncio.Event()
        async with Producer(settings) as producer:
            task = asyncio.create_task(simulate(settings, producer, sim, stop, stats=stats, ready=ready))
            await asyncio.wait_for(ready.wait(), 30)
            await produce(approved)
            for _ in range(120):
                if stats.read >= len(approved) or task.done():
                    break
                await asyncio.sleep(0.25)
            stop.set()
            await task

    asyncio.run(users_read_the_approved_topic())
    # The module's broker may hold approved records of earlier tests: they are read too.
    assert stats.read == stats.sent >= 12 and stats.up >= 3 and stats.down >= 3, stats

    def finished() -> bool:
        return sum(len(window_records(d, "feedback.avro")) for d in window_dirs(config.windows_dir)) >= 12

    asyncio.run(run_until(config, finished))
    dirs = window_dirs(config.windows_dir)
    feedback = [r for d in dirs for r in window_records(d, "feedback.avro")]
    assert len(feedback) == 12
    pairs = [p for d in dirs for p in lines(d, "preference.jsonl")]
    assert pairs, "no preference pair from the simulated thumbs"
    for pair in pairs:
        assert pair["chosen"][0]["content"] == LIKED and pair["rejected"][0]["content"] == DISLIKED
    events = events_for(config.windows_dir)
    assert sum(e["counts"]["feedback"] for e in events) == 12
    assert sum(e["counts"]["preference_pairs"] for e in events) == len(pairs)
    for event in events:  # built through window_content: a replay is still byte-identical
        report = asyncio.run(replay_window(get_settings(), Path(event["directory"])))
        assert report.identical, report.mismatched


def test_per_user_cap_holds_and_no_user_hash_reaches_training_files(broker, tmp_path, per_user_cap):
    config = make_config(tmp_path, approved_count=100, max_age_s=3.0, feedback_wait_s=30.0)
    asyncio.run(position_at_end(config.windows_group, SOURCES))
    approved = approved_set(4712, 10)
    heavy, light = user_set(9)[0].user_hash, user_set(9)[1].user_hash
    feedback = [{"feedback_id": f"cap-4712-{i}", "insight_id": a["insight_id"],
                 "user_hash": heavy if i < 8 else light, "rating": "up" if i % 2 == 0 else "down",
                 "stars": None, "comment": None, "created_at": a["approved_at"] + timedelta(minutes=1)}
                for i, a in enumerate(approved)]
    asyncio.run(produce(approved, feedback))
    started = asyncio.run(true_ends(SOURCES))

    asyncio.run(run_until(config, lambda: bool(window_dirs(config.windows_dir))))
    [event] = events_for(config.windows_dir)
    assert event["counts"]["feedback"] == per_user_cap + 2  # 3 of the heavy user's 8, both light ones
    assert event["counts"]["feedback_over_user_cap"] == 8 - per_user_cap
    directory = Path(event["directory"])
    verify_window(directory)
    kept = window_records(directory, "feedback.avro")
    assert len(kept) == per_user_cap + 2 and {r["user_hash"] for r in kept} == {""}
    prompt_hashes = {a["prompt"]["user_hash"] for a in approved} - {None}
    assert prompt_hashes
    for path in directory.iterdir():
        data = path.read_bytes()
        for user_hash in {heavy, light} | prompt_hashes:
            assert user_hash.encode() not in data, f"{user_hash} in {path.name}"
    # Nothing is held back: the left-out records are committed past, like the rest.
    assert asyncio.run(committed(config.windows_group, started)) == started


def _thumbs_out_of_range(record: dict) -> bytes:
    """A Feedback whose rating is symbol 6 of an enum the schema knows 3 symbols of."""
    header = Codec().encode("Feedback", record)[:10]  # single-object magic + fingerprint
    schema = copy.deepcopy(standalone_schema("Feedback"))
    rating = next(f for f in schema["fields"] if f["name"] == "rating")
    rating["type"]["symbols"] = ["up", "down", "none", "meh", "so_so", "huh", "sideways"]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema, named_schemas={}),
                               dict(record, rating="sideways"))
    return header + body.getvalue()


def test_every_kind_of_bad_feedback_is_dead_lettered_or_redacted_with_a_reason(broker, tmp_path):
    config = make_config(tmp_path, approved_count=100, max_age_s=3.0, feedback_wait_s=2.0)
    asyncio.run(position_at_end(config.windows_group, SOURCES))
    approved = approved_set(4713, 4)
    at = approved[0]["approved_at"] + timedelta(minutes=1)
    base = {"user_hash": user_set(9)[2].user_hash, "rating": "up", "stars": None, "comment": None,
            "created_at": at}
    good = dict(base, feedback_id="bad-4713-good", insight_id=approved[0]["insight_id"])
    unknown = dict(base, feedback_id="bad-4713-unknown", insight_id="never-approved-4713")
    reused = dict(base, feedback_id="bad-4713-good", insight_id=approved[1]["insight_id"], rating="down")
    stars = dict(base, feedback_id="bad-4713-stars", insight_id=approved[2]["insight_id"], stars=9)
    email = dict(base, feedback_id="bad-4713-email", insight_id=approved[3]["insight_id"],
                 comment="Loved it. Email me at robin.42@example.com")
    sideways = _thumbs_out_of_range(dict(base, feedback_id="bad-4713-sideways",
                                         insight_id=approved[1]["insight_id"]))
    before = {kind: REGISTRY.get_sample_value("kasper_dead_letters_total",
                                              {"stage": "train", "error_type": kind}) or 0.0
              for kind in ("UnknownInsightError", "DuplicateFeedbackError", "InvalidFeedbackError",
                           "GarbageBytesError")}
    asyncio.run(produce(approved, [good, unknown, reused, stars, email],
                        raw=[(topics.FEEDBACK.name, sideways)]))
    ends = asyncio.run(true_ends(SOURCES))
    ids = {"bad-4713-unknown", "bad-4713-good", "bad-4713-stars"}

    def ours() -> dict[str, dict]:
        codec, out = Codec(), {}
        for letter in dead_letters():
            if letter["original_bytes"] == sideways:
                out["sideways"] = letter
                continue
            try:
                record = codec.decode(letter["original_bytes"]).record
            except Exception:  # other tests' undecodable letters
                continue
            if record.get("feedback_id") in ids and letter["original_topic"] == topics.FEEDBACK.name:
                out[record["feedback_id"] if record["feedback_id"] != "bad-4713-good"
                    else "reused"] = letter
        return out

    started = time.monotonic()

    def finished() -> bool:  # the unknown insight's feedback waits 2 s, then is dead-lettered
        return bool(window_dirs(config.windows_dir)) and time.monotonic() - started > 5.0

    asyncio.run(run_until(config, finished))
    letters = ours()
    assert letters["bad-4713-unknown"]["error_type"] == "UnknownInsightError"
    assert "never-approved-4713" in letters["bad-4713-unknown"]["reason"]
    assert letters["reused"]["error_type"] == "DuplicateFeedbackError"
    assert "already used by the record at" in letters["reused"]["reason"]
    assert letters["bad-4713-stars"]["error_type"] == "InvalidFeedbackError"
    assert "stars 9 outside 1-5" in letters["bad-4713-stars"]["reason"]
    assert letters["sideways"]["error_type"] == "GarbageBytesError"
    assert "Feedback" in letters["sideways"]["reason"]
    for kind, value in before.items():  # each counted, by error type
        after = REGISTRY.get_sample_value("kasper_dead_letters_total", {"stage": "train", "error_type": kind})
        assert after == value + 1, kind
    [event] = events_for(config.windows_dir)
    assert event["counts"]["feedback"] == 2 and event["counts"]["feedback_comments_redacted"] == 1
    directory = Path(event["directory"])
    comments = [r["comment"] for r in window_records(directory, "feedback.avro") if r["comment"]]
    assert len(comments) == 1 and "robin.42@example.com" not in comments[0] and "Loved it." in comments[0]
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["personal_data_redacted"].get("email address") == 1
    # Nothing lost: every offset is windowed or dead-lettered, and committed.
    assert asyncio.run(committed(config.windows_group, ends)) == ends


def test_a_thumbs_value_out_of_range_in_a_file_is_dead_lettered_at_the_door(broker, tmp_path):
    source = tmp_path / "feedback.jsonl"
    source.write_text(json.dumps({"insight_id": "door-4714", "user_hash": "u", "rating": "up"}) + "\n"
                      + json.dumps({"insight_id": "door-4714", "user_hash": "u", "rating": "sideways"}) + "\n")
    refused = CliRunner().invoke(main, ["produce", "feedback", str(source)])
    assert refused.exit_code != 0 and "sideways" in refused.output
    sent = CliRunner().invoke(main, ["produce", "feedback", "--skip-invalid", str(source)])
    assert sent.exit_code == 0, sent.output
    assert "sent 1" in sent.output and "dead-lettered 1" in sent.output

    async def letters():
        return [r.record async for r in read(get_settings().kafka, Codec(), topics.DLQ.name,
                                             from_beginning=True, idle_timeout_s=1.0)]
    door = [d for d in asyncio.run(letters()) if d and b"door-4714" in d["original_bytes"]]
    assert len(door) == 1 and door[0]["stage"] == "produce" and "sideways" in door[0]["reason"]


def test_produce_feedback_synthetic_reads_the_approved_topic_and_sends_its_users_thumbs(broker, tmp_path):
    approved = approved_set(4715, 6)
    asyncio.run(produce(approved))
    result = CliRunner().invoke(main, ["produce", "feedback", "--synthetic", "4", "--rate", "1.0",
                                       "--seed", "9", "--idle-timeout", "3"])
    assert result.exit_code == 0, result.output
    assert "sent 4 synthetic feedback events to kasper.feedback" in result.output
    refused = CliRunner().invoke(main, ["produce", "feedback"])
    assert refused.exit_code == 2 and "--synthetic" in refused.output
