"""Crash test where decisions are close: texts at the pass threshold, three attempts, the
originality memory warm and the top-fraction gate on, a worker SIGKILLed at seeded
random moments.

The crash test in tests/test_crash.py runs texts far above the threshold with one
attempt, so a redelivered insight decided differently the second time (its own
approval in the originality memory, a gate window that starts empty) could not show.
Here the pass threshold is the median score of the first attempts (graded against the
same warm memory the worker reads), so a 0.01 loss flips a decision; the judge sends
some texts back (REVISE), so prompts come back for attempts 2 and 3; a scripted
generator in the test (deterministic: text and id from the prompt id and attempt)
answers every revise request, as a real generate worker would, again for a repeated
one. A ``grade,judge,route`` worker is SIGKILLed four times and restarted.

Checked: every prompt ends exactly one way (approved, rejected or dead-lettered); no
prompt is approved under two insight ids, no insight with two contents; no prompt
attempt is both approved and sent back. Identical repeats on ``kasper.approved``
(an output sent again after a kill) are allowed: consumers dedupe by id.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from kasper.agents.grade import grade_insight, remember
from kasper.agents.quality.rubric import Rubric
from kasper.agents.route import NOT_TOP, ROUTER_PREFIX
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics

from tests import chaos
from tests.helpers import fresh_broker
from tests.judge_fault_server import FaultServer

pytestmark = [pytest.mark.broker]
SEED = 20261203
PROMPTS = 30
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
POOL = [r for r in map(json.loads, chaos.LABELED.read_text().splitlines()) if r["label"] in ("good", "generic")]


def insight_for(prompt: dict, index: int) -> dict:
    """The scripted generator: the same prompt id and attempt always give the same insight."""
    attempt = prompt["attempt"]
    row = POOL[(index * 7 + attempt * 3) % len(POOL)]
    insight = sample_record("Insight")
    insight.update(insight_id=f"{prompt['prompt_id']}-a{attempt}", prompt_id=prompt["prompt_id"],
                   attempt=attempt, text=row["text"], domain=row["domain"],
                   created_at=prompt["created_at"] + timedelta(seconds=1), prompt=prompt)
    return insight


def first_prompts() -> list[dict]:
    prompts = []
    for i in range(PROMPTS):
        prompt = sample_record("PromptEvent")
        row = POOL[(i * 7) % len(POOL)]
        prompt.update(prompt_id=f"thr-{SEED}-{i:03d}", attempt=0, domain=row["domain"], context={},
                      revise_notes=None, created_at=T0 + timedelta(seconds=i))
        prompts.append(prompt)
    return prompts


def warm_memory() -> list[dict]:
    """Approved copies of a third of the pool, approved before any prompt was written."""
    approved = []
    for i, row in enumerate(POOL[::3]):
        insight = sample_record("Insight") | {"insight_id": f"warm-{i}", "prompt_id": f"warm-{i}-p",
                                              "text": row["text"], "domain": row["domain"]}
        record = sample_record("ApprovedInsight")
        record.update(insight_id=insight["insight_id"], approved_at=T0 - timedelta(minutes=10 - i),
                      insight={**insight, "prompt": None})
        # Judge scores around the fault judge's: its 7.8 APPROVEs get into the top fraction
        # from the first one, its 7.0 ones mostly do not (the gate decides both ways). All
        # above 7.8, every APPROVE was gated until six had been: a run with few of them
        # (the kills shift the judge's answer cycle) approved nothing.
        record["verdict"]["overall"] = round(7.0 + 0.2 * i, 1)
        record["prompt"]["prompt_id"] = insight["prompt_id"]
        approved.append(record)
    return approved


def threshold(prompts: list[dict], warm: list[dict]) -> float:
    """The median score of the first attempts, graded as the worker will grade them."""
    rubric = Rubric()
    for record in warm:
        remember(rubric, Codec().decode(Codec().encode("ApprovedInsight", record)).record)
    scores = [grade_insight(rubric, insight_for(p, i))["final_score"] for i, p in enumerate(prompts)]
    return statistics.median(scores)


class ScriptedGenerator:
    """Answers every revise request on kasper.prompts with :func:`insight_for`, in a thread."""

    def __init__(self, address: str, index: dict[str, int]) -> None:
        self.address, self.index, self.answered = address, index, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        codec = Codec()
        consumer = AIOKafkaConsumer(bootstrap_servers=self.address, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        consumer.assign([TopicPartition(topics.PROMPTS.name, p) for p in range(topics.PROMPTS.partitions)])
        try:
            while not self.stop.is_set():
                batch = await consumer.getmany(timeout_ms=300)
                revised = [codec.decode(m.value).record for ms in batch.values() for m in ms]
                revised = [p for p in revised if p["attempt"] >= 1]
                if revised:
                    await asyncio.to_thread(chaos.produce, self.address, topics.INSIGHTS,
                                            [insight_for(p, self.index[p["prompt_id"]]) for p in revised])
                    self.answered += len(revised)
        finally:
            await consumer.stop()


def test_near_the_threshold_with_three_attempts_every_prompt_ends_once(tmp_path):
    rng = random.Random(SEED)
    prompts, warm = first_prompts(), warm_memory()
    index = {p["prompt_id"]: i for i, p in enumerate(prompts)}
    wanted = set(index)
    pass_threshold = threshold(prompts, warm)
    with fresh_broker() as broker, FaultServer() as judge:
        address = broker.address
        # Slow answers keep work pending through the kills; "low" sends a text back (REVISE);
        # "ok:7,..." approves at 7.0, which the top-fraction gate mostly turns down.
        judge.cycle("slow:0.8", "low", "ok:7,7,7,7,7", "slow:0.8", "reject", "low")
        env = chaos.base_env(address, tmp_path / "cache", judge.base_url, KASPER_JUDGE_CONCURRENCY="1",
                             KASPER_JUDGE_SCORE_MODE="text")
        worker = chaos.Worker(env, tmp_path, roles="grade,judge,route", args=(
            "--max-attempts", "3", "--pass-threshold", f"{pass_threshold:.4f}",
            "--approve-top-fraction", "0.6"))
        generator = ScriptedGenerator(address, index)
        chaos.produce(address, topics.APPROVED, warm)
        with chaos.running(worker):
            generator.thread.start()
            worker.start()
            chaos.produce(address, topics.INSIGHTS, [insight_for(p, i) for i, p in enumerate(prompts)])
            pending_at_kill: list[int] = []
            delays = chaos.chaos_kills(
                worker, rng, kills=4, low_s=0.5, high_s=6, after_ready=True,
                done=lambda: chaos.outcomes_of(address, wanted) == wanted,
                on_kill=lambda: pending_at_kill.append(len(wanted - chaos.outcomes_of(address, wanted))))
            final = chaos.wait_for_outcomes(address, wanted, [worker], timeout_s=240)
            # The last restart may find nothing left to do: let it start before stopping it.
            chaos.wait_until("the last run's partitions", worker.working, 120, [worker], poll_s=0.2)
            assert worker.stop() == 0, worker.tail()
            worker_repeats = worker.text().count("output already sent, not sent again")
            generator.stop.set()
            generator.thread.join(timeout=10)

    # The kills interrupted real work, or the test proves nothing.
    assert len(delays) >= 3 and sum(1 for p in pending_at_kill if p) >= 2, (delays, pending_at_kill)
    outcomes = {p: o for p, o in chaos.final_outcomes(final).items() if p in wanted}  # not the warm ones
    assert set(outcomes) == wanted
    assert not {p: o for p, o in outcomes.items() if len(o) != 1}, "a prompt ended two ways"
    assert not chaos.approved_conflicts(final)
    approved = final.of(topics.APPROVED)
    ids_per_prompt: dict[str, set[str]] = {}
    for a in approved:
        if a["prompt"]["prompt_id"] in wanted:
            ids_per_prompt.setdefault(a["prompt"]["prompt_id"], set()).add(a["insight_id"])
    assert all(len(ids) == 1 for ids in ids_per_prompt.values()), "a prompt approved twice"
    approved_attempts = {(a["prompt"]["prompt_id"], a["insight"]["attempt"]) for a in approved}
    sent_back = {(p["prompt_id"], p["attempt"] - 1) for p in final.of(topics.PROMPTS) if p["attempt"] >= 1}
    assert not approved_attempts & sent_back, "an attempt both approved and sent back"
    kinds = Counter(next(iter(o)) for o in outcomes.values())
    attempts = Counter(p["attempt"] for p in final.of(topics.PROMPTS))
    assert kinds["approved"] and kinds["rejected"] and attempts[2], (kinds, attempts)
    gated = [v for v in final.of(topics.VERDICTS) if v["rationale"].startswith(ROUTER_PREFIX + NOT_TOP)]
    assert gated, "the top-fraction gate turned no APPROVE down"
    mine = [a for a in approved if a["prompt"]["prompt_id"] in wanted]
    repeats = len(mine) - len({a["insight_id"] for a in mine})
    revise_asks = Counter((p["prompt_id"], p["attempt"]) for p in final.of(topics.PROMPTS) if p["attempt"])
    final_rejects = Counter(v["insight_id"] for v in final.of(topics.VERDICTS)
                            if v["recommendation"] == "REJECT" and v["rationale"].startswith("router: "))
    assert repeats == 0, "an insight approved twice on kasper.approved"
    assert max(revise_asks.values()) == 1 and max(final_rejects.values()) == 1, (revise_asks, final_rejects)
    print(f"\nthreshold {pass_threshold:.4f}; kills after {delays}s (pending then: {pending_at_kill}); "
          f"outcomes {dict(kinds)}; revise requests by attempt {dict(attempts)}; "
          f"answered by the generator {generator.answered}; repeats not sent again {worker_repeats}")
