"""The windower's feedback rules without Kafka: the per-user cap on both ways in (on arrival
and while waiting for the insight), reused feedback ids, and comments with personal data."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from kasper.trainer.dataset import build_window
from kasper.trainer.state import TrainerState
from kasper.trainer.synthetic_records import synthetic_approved
from kasper.trainer.windows import DuplicateFeedbackError, Windower, window_content
from tests.test_windows import CODEC, FEEDBACK, POLICY, Clock, approved_sources, feedback_sources


@pytest.fixture
def capped(tmp_path):
    state = TrainerState(tmp_path / "state.sqlite")
    policy = dataclasses.replace(POLICY, approved_count=50, feedback_count=50, max_age_s=60,
                                 feedback_wait_s=30)
    w = Windower(policy, state, lambda value, where: CODEC.decode(value, where=where).record, Clock(),
                 feedback_per_user=2)
    yield w
    state.close()


def _feedback(approved, user, start=0, comment=None):
    return [{"feedback_id": f"cap-{start + i}", "insight_id": a["insight_id"], "user_hash": user,
             "rating": "up", "stars": None, "comment": comment,
             "created_at": a["approved_at"] + timedelta(minutes=1)} for i, a in enumerate(approved)]


def test_the_cap_holds_on_arrival_and_for_feedback_that_waited_for_its_insight(capped):
    records = synthetic_approved(6, tier="lite", score=0.9)
    early = feedback_sources(_feedback(records[:3], "heavy"))  # before their insights
    late = feedback_sources(_feedback(records[3:], "heavy", start=3), start=3)
    other = feedback_sources(_feedback(records[:1], "light", start=9), start=6)
    assert [capped.offer(s) for s in early] == ["waiting"] * 3
    assert capped.commit_offsets() == {(FEEDBACK, 0): 0}  # waiting feedback is held
    for s in approved_sources(records, partitions=1):
        assert capped.offer(s) == "held"
    assert len(capped.capped) == 1  # the third waiting one found the user at the cap
    assert [capped.offer(s) for s in late] == ["over_user_cap"] * 3
    assert capped.offer(other[0]) == "held"  # another user is not affected
    closed = capped.close("lite", "time")
    assert closed.content.counts["feedback"] == 3 and closed.over_cap == 4
    # The left-out records are not held: once the window is released, everything commits.
    capped.state.record_window(closed.content.window_id, "lite", "dir", b"event", closed.approved,
                               closed.feedback_ids, 0)
    capped.release(closed)
    assert capped.commit_offsets()[(FEEDBACK, 0)] == 7


def test_a_reused_feedback_id_is_refused_but_a_redelivery_is_not(capped):
    records = synthetic_approved(2, tier="lite", score=0.9)
    for s in approved_sources(records, partitions=1):
        capped.offer(s)
    [first] = feedback_sources(_feedback(records[:1], "u"))
    again = dataclasses.replace(first, offset=5, record={**first.record, "insight_id": records[1]["insight_id"]})
    assert capped.offer(first) == "held"
    with pytest.raises(DuplicateFeedbackError, match=r"cap-0 at kasper.feedback\[0\]@5 is already used "
                                                     r"by the record at kasper.feedback\[0\]@0"):
        capped.offer(again)
    capped.reset()  # a rebalance: the same records come again, at the same positions
    for s in approved_sources(records, partitions=1):
        capped.offer(s)
    assert capped.offer(first) == "held"


def test_comments_with_personal_data_are_counted_and_no_user_hash_is_built_into_files(capped):
    records = synthetic_approved(2, tier="lite", score=0.9)
    sources = approved_sources(records, partitions=1) + feedback_sources(
        _feedback(records[:1], "hash-of-user-seven", comment="call me on 07700 900123")
        + _feedback(records[1:], "hash-of-user-eight", start=1, comment="spot on"))
    assert [capped.offer(s) for s in sources] == ["held"] * 4
    closed = capped.close("lite", "time")
    assert closed.comments_redacted == 1
    hashes = ({r["prompt"]["user_hash"] for r in records} - {None}) | {"hash-of-user-seven", "hash-of-user-eight"}
    assert len(hashes) == 4
    for name, data in closed.content.files.items():
        for user_hash in hashes:
            assert user_hash.encode() not in data, (user_hash, name)
    assert b"07700 900123" not in closed.content.files["feedback.avro"]
    # Built without window_content, the same sources do carry them.
    direct = build_window("lite", sources, capped.policy)
    assert b"hash-of-user-seven" in direct.files["feedback.avro"]


def test_with_idle_s_a_window_also_closes_that_long_after_its_last_record(tmp_path):
    state = TrainerState(tmp_path / "state.sqlite")
    clock = Clock()
    policy = dataclasses.replace(POLICY, approved_count=50, max_age_s=600)
    w = Windower(policy, state, lambda value, where: CODEC.decode(value, where=where).record, clock,
                 idle_s=120)
    first, second = approved_sources(synthetic_approved(2, tier="pro", score=0.95), partitions=1)
    w.offer(first)
    clock.now += 100
    w.offer(second)
    clock.now += 100  # 200 s after the first record, 100 s after the last
    assert w.due() == []
    clock.now += 20
    assert w.due() == [("pro", "time")]
    with pytest.raises(ValueError, match="idle_s"):
        Windower(policy, state, lambda value, where: {}, clock, idle_s=0)
    state.close()
