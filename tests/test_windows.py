"""Window content and the windower, without Kafka or a model: pure functions and sqlite."""

from __future__ import annotations

import dataclasses
import io
import json
import types
from pathlib import Path

import fastavro
import pytest

from kasper.agents.quality.prompts import build_messages
from kasper.schemas import Codec
from kasper.trainer.config import WindowPolicy
from kasper.trainer.dataset import Source, build_window, feedback_value, split_of
from kasper.trainer.errors import CorruptDatasetError, InvalidFeedbackError
from kasper.trainer.files import remove_leftovers, verify_window, write_window
from kasper.trainer.state import TrainerState
from kasper.trainer.synthetic_records import synthetic_approved, synthetic_feedback
from kasper.trainer.windows import Windower

APPROVED, FEEDBACK = "kasper.approved", "kasper.feedback"
POLICY = WindowPolicy()
CODEC = Codec()


def approved_sources(records, partitions=2, start=0):
    return [Source(APPROVED, i % partitions, start + i // partitions, "approved", r,
                   CODEC.encode("ApprovedInsight", r)) for i, r in enumerate(records)]


def feedback_sources(records, start=0):
    return [Source(FEEDBACK, 0, start + i, "feedback", r, CODEC.encode("Feedback", r))
            for i, r in enumerate(records)]


def lines(content, name):
    return [json.loads(line) for line in content.files[name].decode().splitlines()]


# --- the pure content -----------------------------------------------------------------


def test_same_records_in_any_order_give_identical_bytes_and_id():
    sources = approved_sources(synthetic_approved(30, tier="standard", score=0.9))
    sources += feedback_sources(list(synthetic_feedback([s.record for s in sources[:10]])))
    a = build_window("standard", sources, POLICY)
    b = build_window("standard", list(reversed(sources)) + sources[:5], POLICY)  # read twice
    assert a.window_id == b.window_id and a.window_id.startswith("standard-")
    assert a.files == b.files


def test_a_record_produced_twice_counts_once_and_the_first_wins():
    records = synthetic_approved(3, tier="standard", score=0.9)
    again = dict(records[0], insight={**records[0]["insight"], "text": records[1]["insight"]["text"]})
    content = build_window("standard", approved_sources(records + [again], partitions=1), POLICY)
    assert content.counts["approved"] == 3 and content.manifest["excluded"]["duplicate"] == 1
    archived = list(fastavro.reader(io.BytesIO(content.files["approved.avro"])))
    assert [r["insight"]["text"] for r in archived] == [r["insight"]["text"] for r in records]


def test_sft_records_are_mlx_chat_records_built_by_the_generator_prompts():
    records = synthetic_approved(20, tier="pro", score=0.95)
    content = build_window("pro", approved_sources(records), POLICY)
    by_text = {r["insight"]["text"]: r for r in records}
    rows = [row for split in ("train", "valid", "test") if f"{split}.jsonl" in content.files
            for row in lines(content, f"{split}.jsonl")]
    assert len(rows) == 20
    for row in rows:
        system, user, answer = row["messages"]
        record = by_text[answer["content"]]
        assert [system, user] == build_messages(record["prompt"])
        assert answer["role"] == "assistant"
        assert split_of(record["insight_id"], POLICY.split) in ("train", "valid", "test")


def test_tier_minimum_negative_feedback_and_personal_data_exclude_examples():
    records = synthetic_approved(12, tier="standard", score=0.9)
    records[0]["grade"]["final_score"] = 0.79  # below the standard minimum (0.8)
    records[1]["insight"]["text"] += " Email me at jo.doe@example.com."
    records[2]["prompt"]["context"]["journal_snippet"] = "Call me on 555-123-4567 tonight."
    down = {"feedback_id": "f-down", "insight_id": records[3]["insight_id"], "user_hash": "u",
            "rating": "down", "stars": None, "comment": None, "created_at": records[3]["approved_at"]}
    content = build_window("standard", approved_sources(records) + feedback_sources([down]), POLICY)
    excluded = content.manifest["excluded"]
    assert (excluded["below_min_score"], excluded["personal_data"], excluded["negative_feedback"]) == (1, 1, 1)
    assert content.counts["sft_train"] + content.counts["sft_valid"] + content.counts["sft_test"] == 9
    everything = b"".join(content.files.values())
    assert b"jo.doe@example.com" not in everything and b"555-123-4567" not in everything
    assert content.manifest["personal_data_redacted"] == {"email address": 1, "phone number": 1}
    archived = list(fastavro.reader(io.BytesIO(content.files["approved.avro"])))
    by_id = {r["insight_id"]: r for r in archived}
    assert len(by_id) == 12
    assert "[PHONE]" in by_id[records[2]["insight_id"]]["prompt"]["context"]["journal_snippet"]


def test_liked_and_disliked_insights_of_equivalent_prompts_make_preference_pairs():
    records = synthetic_approved(4, tier="lite", score=0.9)
    for r in records:  # the same domain and focus: equivalent prompts
        r["prompt"]["domain"], r["prompt"]["context"]["focus"] = "career", "a new job"
    ratings = ["up", "down", "up", "none"]
    fb = [{"feedback_id": f"f{i}", "insight_id": r["insight_id"], "user_hash": "u",
           "rating": rating, "stars": 3 if rating == "none" else None, "comment": None,
           "created_at": r["approved_at"]} for i, (r, rating) in enumerate(zip(records, ratings))]
    content = build_window("lite", approved_sources(records) + feedback_sources(fb), POLICY)
    (pair,) = lines(content, "preference.jsonl")
    assert pair["chosen_insight_id"] == records[0]["insight_id"]
    assert pair["rejected_insight_id"] == records[1]["insight_id"]
    assert pair["prompt"] == build_messages(records[0]["prompt"])
    assert pair["rejected"][0]["content"] == records[1]["insight"]["text"]
    assert [feedback_value(f) for f in fb] == [1, -1, 1, 0]


def test_records_of_other_tiers_and_unjoined_feedback_are_left_out():
    lite = synthetic_approved(3, seed=1, tier="lite", score=0.9)
    pro = synthetic_approved(2, seed=2, tier="pro", score=0.95)
    stray = {"feedback_id": "stray", "insight_id": "nobody", "user_hash": "u", "rating": "up",
             "stars": None, "comment": None, "created_at": lite[0]["approved_at"]}
    content = build_window("lite", approved_sources(lite + pro) + feedback_sources([stray]), POLICY)
    assert content.counts["approved"] == 3
    assert content.manifest["excluded"]["other_tier"] == 2
    assert content.manifest["excluded"]["unjoined_feedback"] == 1


def test_ranges_are_exact_and_the_manifest_lists_every_file_with_its_hash(tmp_path):
    sources = approved_sources(synthetic_approved(6, tier="standard", score=0.9), partitions=1)
    sources = [s for s in sources if s.offset != 3]  # a gap: offset 3 belongs elsewhere
    content = build_window("standard", sources, POLICY)
    assert content.ranges == [
        {"topic": APPROVED, "partition": 0, "start_offset": 0, "end_offset": 2},
        {"topic": APPROVED, "partition": 0, "start_offset": 4, "end_offset": 5}]
    directory = write_window(content, tmp_path)
    manifest = verify_window(directory)
    assert {f["name"] for f in manifest["files"]} == set(content.files) - {"manifest.json"}
    (directory / "train.jsonl").write_bytes(b'{"messages": []}\n')
    with pytest.raises(CorruptDatasetError, match="train.jsonl: sha256"):
        verify_window(directory)


def test_mlx_lm_loads_the_window_directory(tmp_path):
    from mlx_lm.tuner.datasets import ChatDataset, load_dataset

    content = build_window("standard", approved_sources(synthetic_approved(40, score=0.97, tier="standard")),
                           POLICY)
    directory = write_window(content, tmp_path)
    args = types.SimpleNamespace(data=str(directory), train=True, test=True, mask_prompt=True)
    tokenizer = types.SimpleNamespace()  # the loaders only keep a reference
    train, valid, test = load_dataset(args, tokenizer)
    assert isinstance(train, ChatDataset)
    assert (len(train), len(valid), len(test)) == (
        content.counts["sft_train"], content.counts["sft_valid"], content.counts["sft_test"])


def test_leftovers_are_cleaned_and_unknown_windows_moved_aside(tmp_path):
    content = build_window("lite", approved_sources(synthetic_approved(3, tier="lite", score=0.9)), POLICY)
    write_window(content, tmp_path)
    (tmp_path / ".tmp-x-1").mkdir()
    assert remove_leftovers(tmp_path, known=set()) == [content.window_id]
    assert not (tmp_path / ".tmp-x-1").exists()
    assert (tmp_path / ".orphans" / content.window_id / "manifest.json").exists()


# --- the windower -------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def windower(tmp_path):
    state = TrainerState(tmp_path / "state.sqlite")
    clock = Clock()
    policy = dataclasses.replace(POLICY, approved_count=5, feedback_count=3, max_age_s=60,
                                 feedback_wait_s=30)
    w = Windower(policy, state, lambda value, where: CODEC.decode(value, where=where).record, clock)
    w.clock = clock
    yield w
    state.close()


def record_closed(w, closed):
    w.state.record_window(closed.content.window_id, closed.content.tier, "dir", b"event",
                          closed.approved, closed.feedback_ids, 0)
    w.release(closed)


def test_a_window_closes_on_count_and_its_offsets_are_held_until_released(windower):
    sources = approved_sources(synthetic_approved(7, tier="standard", score=0.9), partitions=1)
    for s in sources[:5]:
        assert windower.offer(s) == "held"
    assert windower.due() == [("standard", "count")]
    assert windower.commit_offsets() == {(APPROVED, 0): 0}
    closed = windower.close("standard", "count")
    assert closed.content.counts["approved"] == 5
    windower.offer(sources[5])
    assert windower.commit_offsets() == {(APPROVED, 0): 0}  # still held by the closed window
    record_closed(windower, closed)
    assert windower.commit_offsets() == {(APPROVED, 0): 5}  # offset 5 is in the next window
    assert windower.offer(sources[0]) == "duplicate"  # a redelivery after a crash


def test_a_window_closes_on_feedback_and_on_time(windower):
    records = synthetic_approved(2, tier="lite", score=0.9)
    for s in approved_sources(records):
        windower.offer(s)
    assert windower.due() == []
    windower.clock.now += 61
    assert windower.due() == [("lite", "time")]
    record_closed(windower, windower.close("lite", "time"))
    feedback = list(synthetic_feedback(records, per_insight=2))
    for s in feedback_sources(feedback[:3]):
        assert windower.offer(s) == "held"  # joined through the state store
    assert windower.due() == [("lite", "feedback")]
    closed = windower.close("lite", "feedback")
    assert closed.content.counts["feedback"] == 3
    assert closed.content.counts["approved"] == 2  # the earlier insights come as sources
    assert closed.approved == []  # ... but they are not this window's own records


def test_joined_thumbs_are_counted_against_the_grade_and_the_verdict(windower):
    from kasper.trainer.metrics import FEEDBACK_AGREEMENT

    [record] = synthetic_approved(1, tier="lite", score=0.9)
    grade, verdict = record["grade"], record["verdict"]
    feedback = list(synthetic_feedback([record], per_insight=3))
    labels = lambda rating: FEEDBACK_AGREEMENT.labels(  # noqa: E731
        grade["grader_version"], grade["letter"], str(int(verdict["overall"])), rating)
    before = {r: labels(r)._value.get() for r in ("up", "down")}
    windower.offer(approved_sources([record])[0])
    for source in feedback_sources(feedback):
        windower.offer(source)
    thumbs = [f["rating"] for f in feedback if f["rating"] in ("up", "down")]
    assert thumbs, feedback  # the synthetic feedback gives thumbs
    for rating in ("up", "down"):
        assert labels(rating)._value.get() - before[rating] == thumbs.count(rating)


def test_feedback_waits_for_its_insight_then_is_dead_lettered(windower):
    early, late = synthetic_approved(2, tier="pro", score=0.95)
    fb = list(synthetic_feedback([early, late]))
    assert windower.offer(feedback_sources(fb)[0]) == "waiting"
    windower.offer(approved_sources([early])[0])  # the insight arrives: the feedback joins
    assert windower.windows["pro"].feedback_ids == {fb[0]["feedback_id"]}
    assert windower.offer(feedback_sources(fb, start=1)[1]) == "waiting"
    assert windower.commit_offsets()[(FEEDBACK, 0)] == 0
    windower.clock.now += 31
    ((source, error),) = windower.expire()
    assert source.record["feedback_id"] == fb[1]["feedback_id"]
    assert "no approved insight" in str(error)


def test_invalid_feedback_is_refused(windower):
    (record,) = synthetic_feedback(synthetic_approved(1))
    with pytest.raises(InvalidFeedbackError, match="stars 9 outside 1-5"):
        windower.offer(feedback_sources([{**record, "stars": 9}])[0])
    with pytest.raises(InvalidFeedbackError, match="no rating, stars or comment"):
        windower.offer(feedback_sources([{**record, "rating": "none", "stars": None}])[0])


def test_the_state_store_survives_a_reopen(tmp_path):
    state = TrainerState(tmp_path / "s.sqlite")
    sources = approved_sources(synthetic_approved(2, tier="lite", score=0.9))
    state.record_window("w1", "lite", "d", b"ev", sources, ["f1"], 0)
    state.close()
    state = TrainerState(tmp_path / "s.sqlite")
    assert state.insight(sources[0].record["insight_id"]).value == sources[0].value
    assert state.has_feedback("f1") and state.unpublished() == [("w1", b"ev")]
    state.mark_published("w1")
    assert state.unpublished() == []
    assert state.prune(before_ms=2**62) == 2 and state.insight(sources[0].record["insight_id"]).value is None
    state.close()


def test_window_files_are_written_atomically(tmp_path, monkeypatch):
    content = build_window("lite", approved_sources(synthetic_approved(3, tier="lite", score=0.9)), POLICY)
    import kasper.trainer.files as files

    def broken(path: Path, data: bytes) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files, "_write_synced", broken)
    with pytest.raises(OSError):
        write_window(content, tmp_path)
    assert not (tmp_path / content.window_id).exists()
