"""The router's decisions, as plain functions."""

from __future__ import annotations

import random

import pytest

from datetime import datetime, timedelta, timezone

from kasper.agents.route import ROUTER_PREFIX, RouteError, TopFraction, decision_of, route
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics

CODEC = Codec()


def verdict(decision: str, attempt: int = 0, overall: float = 8.0) -> dict:
    record = sample_record("Verdict")
    record["recommendation"], record["overall"] = decision, overall
    record["grade"]["insight"]["prompt"]["attempt"] = attempt
    return record


def test_approve_emits_a_valid_approved_insight_with_each_part_once():
    [(spec, out)] = route(verdict("APPROVE"))
    assert spec is topics.APPROVED
    CODEC.validate("ApprovedInsight", out)
    assert out["insight"]["prompt"] is None and out["grade"]["insight"] is None
    assert out["verdict"]["grade"] is None and out["prompt"]["prompt_id"] == out["insight"]["prompt_id"]


def test_route_is_a_function_of_the_verdict():
    v = verdict("APPROVE")
    assert route(v) == route(v)


def test_revise_resends_the_prompt_with_attempt_plus_one_and_the_notes():
    v = verdict("REVISE", attempt=0)
    v["revise_notes"] = "Name one practice for tonight."
    [(spec, prompt)] = route(v)
    assert spec is topics.PROMPTS and prompt["attempt"] == 1
    assert prompt["revise_notes"] == "Name one practice for tonight."
    assert prompt["prompt_id"] == v["grade"]["insight"]["prompt"]["prompt_id"]
    CODEC.validate("PromptEvent", prompt)


def test_the_revise_loop_ends_in_a_reject_after_max_attempts():
    v, outcomes = verdict("REVISE"), []
    for _ in range(10):
        [(spec, out)] = route(v, max_attempts=3)
        outcomes.append(spec.name)
        if spec is not topics.PROMPTS:
            break
        v["grade"]["insight"]["prompt"] = out
    assert outcomes == [topics.PROMPTS.name] * 2 + [topics.VERDICTS.name]
    assert out["recommendation"] == "REJECT" and out["rationale"].startswith(ROUTER_PREFIX)
    assert route(out) == []  # read back from the verdicts topic: nothing more


def test_reject_stays_on_the_verdicts_topic():
    assert route(verdict("REJECT")) == []


@pytest.mark.parametrize("path", ["grade", "insight", "prompt"])
def test_missing_carried_state_is_a_route_error_naming_it(path):
    v = verdict("APPROVE")
    if path == "grade":
        v["grade"] = None
    elif path == "insight":
        v["grade"]["insight"] = None
    else:
        v["grade"]["insight"]["prompt"] = None
    with pytest.raises(RouteError, match=path):
        route(v)


def test_top_fraction_admits_about_the_top_share_of_recent_scores():
    top, rng = TopFraction(0.15, window=200), random.Random(1)
    scores = [rng.uniform(5, 10) for _ in range(2000)]
    admitted = [s for s in scores if top.admit(s)]
    assert 0.10 < len(admitted) / len(scores) < 0.20
    assert min(admitted[200:]) > 8.5 - 0.3  # only the high end of U(5, 10) gets through


def test_approve_outside_the_top_fraction_becomes_reject():
    top = TopFraction(0.5, window=10)
    for score in [9.0] * 10:
        top.admit(score)
    [(spec, out)] = route(verdict("APPROVE", overall=7.0), top=top)
    assert spec is topics.VERDICTS and out["recommendation"] == "REJECT"
    assert "top 50%" in out["rationale"]


def test_a_verdict_seen_again_gets_its_first_decision_and_is_counted_once():
    top = TopFraction(0.5, window=4)
    first = [top.admit(score, key=f"v{i}") for i, score in enumerate([5.0, 6.0, 7.0, 8.0])]
    # v0..v3 again, many times: same answers, and the window still holds one copy each.
    for _ in range(3):
        assert [top.admit(score, key=f"v{i}") for i, score in enumerate([5.0, 6.0, 7.0, 8.0])] == first
    assert top.admit(7.5, key="v4") is True  # 7.5 beats 6, 7 in a window of 6, 7, 8, 7.5
    unkeyed = TopFraction(0.5, window=4)
    for _ in range(4):
        unkeyed.admit(8.0)  # without keys, repeats of one verdict fill the window
    assert unkeyed.admit(7.5) is False


def test_route_counts_a_redelivered_approve_once():
    top = TopFraction(0.5, window=10)
    for ident, score in (("low-1", 5.0), ("low-2", 6.0)):
        route(verdict("APPROVE", overall=score) | {"insight_id": ident}, top=top)
    approve = verdict("APPROVE", overall=9.0)
    outputs = [route(approve, top=top) for _ in range(5)]
    assert all(out == outputs[0] for out in outputs) and outputs[0][0][0] is topics.APPROVED
    # Window 5, 6, 9, 8: 8 is in the top half. Had the 9 counted five times, it would not be.
    assert route(verdict("APPROVE", overall=8.0) | {"insight_id": "other"}, top=top)[0][0] is topics.APPROVED


T0 = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)


def approve_at(ident: str, score: float, seconds: int) -> dict:
    return verdict("APPROVE", overall=score) | {"insight_id": ident, "created_at": T0 + timedelta(seconds=seconds)}


def test_a_verdict_is_ranked_among_the_scores_decided_before_it():
    top = TopFraction(0.5, window=10)
    assert top.admit(9.0, "a", 10_000) and not top.admit(8.0, "b", 20_000)
    assert not top.admit(6.0, "late", 30_000)  # after 9 and 8: not in the top half
    assert top.admit(6.0, "early", 5_000)  # before either: the first of its window
    assert top.admit(6.0, "early", 40_000)  # and a repeat keeps that answer


def test_a_gate_rebuilt_from_the_routers_outputs_decides_as_the_first_one():
    first, rebuilt = TopFraction(0.5, window=4), TopFraction(0.5, window=4)
    verdicts = [approve_at(f"v{i}", score, 10 * i) for i, score in enumerate([7.0, 9.0, 6.0, 8.0, 5.0, 8.5])]
    outputs = {v["insight_id"]: route(v, top=first) for v in verdicts}
    for [(spec, out)] in outputs.values():  # what the follower reads back from Kafka
        CODEC.validate(spec.record, out)
        rebuilt.record(*decision_of(CODEC.decode(CODEC.encode(spec.record, out)).record))
    assert len(rebuilt) == len(verdicts)
    for v in verdicts:  # redelivered after a restart: the same records
        assert route(v, top=rebuilt) == outputs[v["insight_id"]]
    later = approve_at("v9", 8.2, 100)
    assert route(later, top=rebuilt) == route(later, top=first)


def test_only_the_gates_own_decisions_are_read_back():
    assert decision_of(verdict("REJECT")) is None
    [(_, max_attempts)] = route(verdict("REVISE", attempt=2))
    assert decision_of(max_attempts) is None


def test_an_output_already_sent_or_read_back_is_not_sent_again():
    from kasper.agents.route import Sent, output_key

    sent = Sent(capacity=100)
    approve, revise = verdict("APPROVE"), verdict("REVISE", attempt=0)
    first = sent.fresh(route(approve)) + sent.fresh(route(revise))
    assert [spec for spec, _ in first] == [topics.APPROVED, topics.PROMPTS]
    assert sent.fresh(route(approve)) == [] and sent.fresh(route(revise)) == []  # redelivered
    # A restarted router learns them from Kafka: the records it reads back.
    restarted = Sent(capacity=100)
    for spec, record in first:
        restarted.add(output_key(spec, CODEC.decode(CODEC.encode(spec.record, record)).record))
    assert restarted.fresh(route(approve)) == [] and restarted.fresh(route(revise)) == []
    # Upstream records are not router outputs: an attempt-0 prompt, a judge's own REJECT.
    assert output_key(topics.PROMPTS, revise["grade"]["insight"]["prompt"]) is None
    assert output_key(topics.VERDICTS, verdict("REJECT")) is None
    final = route(verdict("REVISE", attempt=2))
    assert sent.fresh(final) == final and sent.fresh(final) == []


def test_sent_keeps_the_newest_keys():
    from kasper.agents.route import Sent

    sent = Sent(capacity=2)
    for key in ("a", "b", "c"):
        sent.add(("approved", key))
    assert ("approved", "a") not in sent and ("approved", "c") in sent
