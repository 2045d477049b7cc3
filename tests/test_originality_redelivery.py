"""Same record, same grade: the originality memory as of an insight's creation.

An insight delivered twice (a crash between its grade and the commit) used to be
compared the second time with its own approved copy, lose about 0.1 and flip from
pass to fail near the threshold. Here the memory is warm, the insight's approved
copy and later approvals arrive between the two deliveries, and both grades must
be identical.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kasper.agents.grade import grade_insight, remember
from kasper.agents.quality.originality import Originality
from kasper.agents.quality.rubric import Rubric
from kasper.schemas.samples import sample_record

LABELED = Path(__file__).parent / "data" / "insights_labeled.jsonl"
ROWS = [json.loads(line) for line in LABELED.read_text("utf-8").splitlines() if line.strip()]
T0 = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)


def _insight(ident: str, text: str, domain: str, created: datetime) -> dict:
    insight = sample_record("Insight")
    insight.update(insight_id=ident, prompt_id=f"{ident}-p", text=text, domain=domain, created_at=created)
    insight["prompt"].update(prompt_id=f"{ident}-p", domain=domain, context={},
                             created_at=created - timedelta(seconds=1))
    return insight


def _approved(insight: dict, at: datetime) -> dict:
    return {"insight_id": insight["insight_id"], "insight": dict(insight), "approved_at": at}


def _comparable(grade: dict) -> dict:
    return {k: v for k, v in grade.items() if k not in ("created_at", "insight")}


def _warm_rubric(threshold: float = 0.6) -> tuple[Rubric, list[dict]]:
    good = [r for r in ROWS if r["label"] == "good"]
    rubric = Rubric(pass_threshold=threshold)
    earlier = [_insight(f"old-{i}", r["text"], r["domain"], T0 - timedelta(minutes=60 - i))
               for i, r in enumerate(good[1:])]
    for i, old in enumerate(earlier):
        assert remember(rubric, _approved(old, T0 - timedelta(minutes=59 - i)))
    return rubric, good


def test_an_insight_graded_again_after_its_approval_gets_the_same_grade():
    rubric, good = _warm_rubric()
    insight = _insight("new-1", good[0]["text"], good[0]["domain"], T0)
    first = grade_insight(rubric, insight)
    # Set the threshold at its score: the smallest loss would now flip the decision.
    rubric.pass_threshold = first["final_score"]
    first = grade_insight(rubric, insight)
    assert first["passed"]
    # Between the deliveries: its own approved copy, a duplicate approval of it, and a
    # later insight with the same text approved after it.
    assert remember(rubric, _approved(insight, T0 + timedelta(seconds=5)))
    assert not remember(rubric, _approved(insight, T0 + timedelta(seconds=9)))
    copycat = _insight("new-2", good[0]["text"], good[0]["domain"], T0 + timedelta(seconds=6))
    assert remember(rubric, _approved(copycat, T0 + timedelta(seconds=8)))
    second = grade_insight(rubric, insight)
    assert _comparable(second) == _comparable(first)
    # Without the view the memory holds two copies of the text: it would be a near-duplicate.
    plain = rubric.grade(insight["text"], insight["domain"], {})
    assert plain.scores["originality"] < first["scores"]["originality"]
    assert not plain.passed


def test_a_regenerated_copy_of_the_insight_gets_the_same_grade():
    """The prompt redelivered to generate: same id and text, a later created_at, and
    meanwhile a near-copy of the text was approved for another prompt."""
    rubric, good = _warm_rubric()
    insight = _insight("new-1", good[0]["text"], good[0]["domain"], T0)
    first = grade_insight(rubric, insight)
    other = _insight("other-1", good[0]["text"] + " Today.", good[0]["domain"], T0 + timedelta(seconds=2))
    assert remember(rubric, _approved(other, T0 + timedelta(seconds=4)))
    again = {**insight, "created_at": T0 + timedelta(seconds=30)}
    assert _comparable(grade_insight(rubric, again)) == _comparable(first)
    fresh_prompt = {**again, "prompt": {**insight["prompt"], "created_at": T0 + timedelta(seconds=29)}}
    assert grade_insight(rubric, fresh_prompt)["scores"]["originality"] < first["scores"]["originality"]


def test_a_later_insight_still_sees_the_earlier_approval():
    rubric, good = _warm_rubric()
    insight = _insight("new-1", good[0]["text"], good[0]["domain"], T0)
    remember(rubric, _approved(insight, T0 + timedelta(seconds=5)))
    again = _insight("new-3", good[0]["text"], good[0]["domain"], T0 + timedelta(seconds=30))
    fresh = grade_insight(rubric, insight)
    repeat = grade_insight(rubric, again)
    assert repeat["scores"]["originality"] < 0.1 < fresh["scores"]["originality"]


def test_the_view_equals_a_memory_of_only_what_came_before():
    """As of (key, stamp), the memory scores exactly like one that only ever held the texts
    stamped up to then, other than that key: near-duplicates and the cliché counts alike."""
    texts = [r["text"] for r in ROWS[:40]]
    memory = Originality()
    for i, text in enumerate(texts):
        memory.add(text, key=f"k{i}", stamp=1000 + i)
    for cut in (0, 7, 20, 39):
        earlier = Originality()
        for i, text in enumerate(texts[:cut]):
            earlier.add(text, key=f"k{i}", stamp=1000 + i)
        for text in texts[::3]:
            assert memory.explain(text, exclude=f"k{cut}", before=1000 + cut) == earlier.explain(text)
    assert memory.explain(texts[5])[0] < 0.05  # the full memory does see it


def test_keys_and_stamps_survive_the_state_round_trip():
    memory = Originality(capacity=4)
    for i, row in enumerate(ROWS[:5]):
        memory.add(row["text"], key=f"k{i}", stamp=100 * i)
    restored = Originality.from_state(json.loads(json.dumps(memory.state())))
    for row in ROWS[:6]:
        for kwargs in ({}, {"exclude": "k3"}, {"before": 250}, {"exclude": "k4", "before": 400}):
            assert restored.explain(row["text"], **kwargs) == memory.explain(row["text"], **kwargs)
    assert not restored.add("anything", key="k4") and restored.add("anything", key="k0")  # k0 evicted
