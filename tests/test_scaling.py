# Long: two multi-process scenarios, with the worker and snapshot plumbing only they use.
"""Scaling by role: ``kasper worker --agents ...`` processes sharing work through consumer groups.

Real processes on real embedded brokers. Each scenario starts its own broker on a
fresh port, so its topics and consumer groups start empty and every count is exact.

1. The same synthetic run through ONE worker with every pipeline role and through
   TWO workers with disjoint roles (``generate`` / ``grade,judge,route``) ends the
   same: every prompt gets the same final outcome, the same insights (ids and
   texts) are approved, every topic holds the same number of records.

   That comparison needs deterministic generation. The MLX engine samples each
   row with noise keyed by ``(seed, step)`` and the seed is derived from the
   insight id, so a text does not depend on the other rows of its batch. Checked
   on the shipped model before relying on it (texts of 64-96 tokens, temperature
   0.7): prompts generated alone (full prefill), in batches of 3, 4, 8 and 12 (with
   and without the cached shared prefix, with left padding, with revise notes)
   gave byte-identical texts. So the real MLX path runs here with its default
   micro-batching, and the batches can differ between the two runs (they depend
   on timing). The judge is the loopback OpenAI-compatible fault server answering
   APPROVE to everything: deterministic, and fast.

2. Two workers with the SAME roles (``grade,judge,route`` fed pre-made insights,
   no model) split the partitions of one group; one is SIGKILLed mid-run and the
   survivor takes over its partitions after the session timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kasper.agents.route import ROUTER_PREFIX
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.producer import Producer
from kasper.streams.settings import KafkaSettings, Settings
from kasper.streams.synthetic_prompts import record_id

from tests import chaos
from tests.helpers import KASPER, free_port, fresh_broker
from tests.judge_fault_server import FaultServer

pytestmark = [pytest.mark.broker]
LABELED = Path(__file__).parent / "data" / "insights_labeled.jsonl"
PIPELINE = chaos.PIPELINE


# --- real parts: a fresh broker, worker processes, a snapshot of the topics ----


@dataclass
class Worker:
    """One ``kasper worker`` process, its log and its metrics port."""

    roles: str
    proc: subprocess.Popen
    log: Path
    metrics_port: int

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        return urllib.request.urlopen(url, timeout=5).read().decode()

    def records_in(self) -> dict[str, float]:
        """``kasper_records_in_total`` per stage."""
        found: Counter = Counter()
        for stage, value in re.findall(r'^kasper_records_in_total\{stage="([^"]+)",[^}]*\} ([0-9.e+]+)$',
                                       self.metrics(), re.M):
            found[stage] += float(value)
        return dict(found)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def workers(env: dict[str, str], run_dir: Path, *roles: str, args: tuple[str, ...] = ()) -> Iterator[list[Worker]]:
    """Start one worker per entry of ``roles``; SIGTERM them on exit and check they stop cleanly."""
    run_dir.mkdir(parents=True, exist_ok=True)
    started: list[Worker] = []
    try:
        for n, role_set in enumerate(roles):
            port = free_port()
            log = run_dir / f"worker-{n}-{role_set.replace(',', '-')}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [KASPER, "worker", "--agents", role_set, *args], stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, cwd=run_dir,
                    env={**env, "KASPER_WEB_PORT": str(free_port()), "KASPER_METRICS_PORT": str(port)})
            started.append(Worker(role_set, proc, log, port))
        yield started
        stopping = [w for w in started if w.proc.poll() is None]
        for w in stopping:
            w.proc.send_signal(signal.SIGTERM)
        for w in stopping:
            assert w.proc.wait(timeout=90) == 0, w.tail()
    finally:
        for w in started:
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()


Snapshot = chaos.Snapshot


def snapshot(address: str) -> Snapshot:
    """Every pipeline record so far; these runs write no bad bytes, so all must decode."""
    snap = chaos.snapshot(address, PIPELINE)
    assert snap.undecodable == 0, f"{snap.undecodable} undecodable records"
    return snap


def wait_for_outcomes(address: str, wanted: set[str], live: list[Worker], timeout_s: float) -> Snapshot:
    """Poll the topics until every prompt in ``wanted`` has a final outcome, then until nothing moves."""
    deadline, said = time.monotonic() + timeout_s, 0.0
    while True:
        snap = snapshot(address)
        done = set(snap.tally().outcomes) & wanted
        if done == wanted:
            break
        if time.monotonic() - said > 15:  # shows with -s: where a slow run is
            said = time.monotonic()
            print(f"{len(done)}/{len(wanted)} done: {snap.tally().funnel()}", flush=True)
        for w in live:
            assert w.proc.poll() is None, f"worker {w.roles} exited {w.proc.returncode}: {w.tail()}"
        assert time.monotonic() < deadline, (
            f"{len(done)}/{len(wanted)} prompts done after {timeout_s}s: {snap.tally().funnel()}\n"
            + "\n".join(w.tail()[-1500:] for w in live))
        time.sleep(1.0)
    # Every outcome is in: nothing may follow it, so the counts must be final. Check they are.
    time.sleep(3.0)
    again = snapshot(address)
    assert again.counts() == snap.counts(), (snap.counts(), again.counts())
    return again


# --- 1. one worker with every role vs two workers with disjoint roles --------

N_PROMPTS, SEED, MAX_TOKENS = 8, 20261202, 64


def run_synthetic(tmp: Path, model_dir: Path, *role_sets: str) -> tuple[Snapshot, list[dict]]:
    """The synthetic run on a fresh broker through workers with ``role_sets``; (snapshot, records_in)."""
    with fresh_broker() as broker, FaultServer() as judge:
        address = broker.address
        # The 135M model's 64-token drafts seldom reach rubric v2's 0.6: a lower bar lets some
        # reach the judge and be approved, so the comparison has approvals to compare.
        env = chaos.base_env(address, tmp / "cache", judge.base_url, KASPER_MODEL=str(model_dir),
                             KASPER_GENERATE_MAX_TOKENS=str(MAX_TOKENS), KASPER_GRADE_PASS_THRESHOLD="0.3")
        with workers(env, tmp, *role_sets, args=("--max-attempts", "2")) as started:
            produced = subprocess.run([KASPER, "produce", "prompts", "--synthetic", str(N_PROMPTS),
                                       "--seed", str(SEED)], env=env, capture_output=True, text=True,
                                      timeout=120)
            assert produced.returncode == 0, produced.stderr
            wanted = {record_id(SEED, i) for i in range(N_PROMPTS)}
            snap = wait_for_outcomes(address, wanted, started, timeout_s=600)
            seen = [w.records_in() for w in started]
        return snap, seen


def summary(snap: Snapshot) -> dict:
    """What must not depend on how the roles are spread over workers."""
    tally = snap.tally()
    return {
        "outcomes": dict(sorted(tally.outcomes.items())),
        "approved": sorted((a["insight_id"], a["prompt"]["prompt_id"], a["insight"]["text"])
                           for a in snap.of(topics.APPROVED)),
        "insights": sorted((i["insight_id"], i["prompt_id"], i["attempt"], i["text"])
                           for i in snap.of(topics.INSIGHTS)),
        "verdicts": sorted((v["insight_id"], v["recommendation"], v["judge_model"])
                           for v in snap.of(topics.VERDICTS)),
        "prompts": sorted((p["prompt_id"], p["attempt"], p["revise_notes"] or "")
                          for p in snap.of(topics.PROMPTS)),
        "counts": snap.counts(),
    }


@pytest.mark.model
def test_two_workers_with_disjoint_roles_end_the_run_as_one_worker_does(tmp_path, shipped_model):
    started = time.monotonic()
    one, one_seen = run_synthetic(tmp_path / "one", shipped_model, "generate,grade,judge,route")
    two, two_seen = run_synthetic(tmp_path / "two", shipped_model, "generate", "grade,judge,route")
    a, b = summary(one), summary(two)

    assert len(a["outcomes"]) == N_PROMPTS, a["outcomes"]
    assert a["approved"], "the run approved nothing: the comparison would be vacuous"
    for key in ("outcomes", "approved", "insights", "verdicts", "prompts", "counts"):
        assert a[key] == b[key], f"{key} differ:\none worker:  {a[key]}\ntwo workers: {b[key]}"
    # The generate worker consumed prompts only; the other never touched a prompt.
    gen, rest = two_seen
    assert set(gen) == {"generate"} and gen["generate"] == a["counts"][topics.PROMPTS.name], two_seen
    assert set(rest) == {"grade", "judge", "route"}, two_seen
    assert rest["grade"] == a["counts"][topics.INSIGHTS.name], two_seen
    assert one_seen[0] == gen | rest, (one_seen, two_seen)
    print(f"\n{N_PROMPTS} prompts, {time.monotonic() - started:.0f}s for both runs: {one.tally().funnel()}")


# --- 2. two workers with the same roles; one is SIGKILLed mid-run -------------

ROLES = "grade,judge,route"
COPIES = 3  # insights per labeled text: enough backlog that every partition is busy at the kill


def assigned(worker: Worker, topic: str) -> set[int] | None:
    """Partitions of ``topic`` in the worker's latest group assignment (from aiokafka's log line)."""
    lines = [ln for ln in worker.log.read_text(errors="replace").splitlines()
             if "Setting newly assigned partitions" in ln]
    if not lines:
        return None
    return {int(p) for p in re.findall(rf"topic='{re.escape(topic)}', partition=(\d+)", lines[-1])}


def wait_until(what: str, check, timeout_s: float, live: list[Worker]):
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        for w in live:
            assert w.proc.poll() is None, f"worker exited {w.proc.returncode}: {w.tail()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + "\n".join(w.tail() for w in live)
        time.sleep(0.3)
    return found


def feed_insights(address: str) -> list[dict]:
    labeled = [json.loads(line) for line in LABELED.read_text().splitlines()]
    insights = []
    for copy in range(COPIES):
        for n, row in enumerate(labeled):
            insight = sample_record("Insight")
            ident = f"kill-{copy}-{n:02d}"
            insight.update(insight_id=ident, prompt_id=f"{ident}-p", text=row["text"], domain=row["domain"])
            # The labeled texts were written for their domain alone, not the sample context.
            insight["prompt"].update(prompt_id=f"{ident}-p", domain=row["domain"], context={})
            insights.append(insight)

    async def send() -> None:
        async with Producer(Settings(kafka=KafkaSettings(bootstrap_servers=address))) as producer:
            for insight in insights:
                await producer.send(topics.INSIGHTS, insight)
    asyncio.run(send())
    return insights


def outcomes_by_id(snap: Snapshot) -> dict[str, set[str]]:
    """insight id -> the final outcomes recorded for it (approved / rejected)."""
    found: dict[str, set[str]] = {}
    for a in snap.of(topics.APPROVED):
        found.setdefault(a["insight_id"], set()).add("approved")
    for v in snap.of(topics.VERDICTS):
        if v["recommendation"] == "REJECT":
            found.setdefault(v["insight_id"], set()).add("rejected")
    return found


def test_a_killed_worker_hands_its_partitions_to_the_other_and_every_record_ends_once(tmp_path):
    """Two ``grade,judge,route`` workers on one machine (same cache dir), one group.

    The judge answers APPROVE after 1 s, one request at a time per worker, so the run
    lasts long enough to SIGKILL one worker while every partition still has work.
    With ``--max-attempts 1`` each insight ends approved (rubric passed, judge approved)
    or rejected (rubric REVISE -> router REJECT), never revised.

    Asserted: the workers split the insights partitions before the kill; after it the
    survivor's assignment holds all of them and every insight ends with exactly ONE
    kind of outcome. Redelivery (the victim's uncommitted offsets) may repeat records:
    accepted only when the repeats are the same insight id with the same text, prompt,
    rubric pass/fail and judge recommendation (timestamps and latencies may differ).
    """
    with fresh_broker() as broker, FaultServer() as judge:
        address = broker.address
        judge.cycle("slow:1")
        env = chaos.base_env(address, tmp_path / "cache", judge.base_url, KASPER_JUDGE_CONCURRENCY="1")
        with workers(env, tmp_path, ROLES, ROLES, args=("--max-attempts", "1")) as (victim, survivor):
            both = [victim, survivor]
            parts = topics.INSIGHTS.partitions

            def split() -> bool:
                mine, theirs = assigned(victim, topics.INSIGHTS.name), assigned(survivor, topics.INSIGHTS.name)
                return bool(mine and theirs) and not mine & theirs and len(mine | theirs) == parts
            wait_until("both workers to share the group", split, 90, both)

            insights = feed_insights(address)
            ids = {i["insight_id"] for i in insights}
            wait_until("a few approvals from both workers",
                       lambda: len(snapshot(address).of(topics.APPROVED)) >= 3
                       and all(w.records_in().get("judge", 0) > 0 for w in both), 120, both)
            victim.proc.kill()
            victim.proc.wait()
            killed_at = time.monotonic()
            victim_parts = assigned(victim, topics.INSIGHTS.name)  # its last assignment
            at_kill = snapshot(address)
            partition_of = {r["insight_id"]: p for p, _, r in at_kill.records[topics.INSIGHTS.name]}
            pending = {partition_of[i] for i in ids - set(outcomes_by_id(at_kill))}
            # The victim's partitions still had work: only a takeover can finish it.
            assert pending & victim_parts, (pending, victim_parts)

            stages = (topics.INSIGHTS, topics.GRADES, topics.VERDICTS)
            wait_until("the survivor to take over every partition",
                       lambda: all(assigned(survivor, s.name) == set(range(s.partitions)) for s in stages),
                       60, [survivor])
            takeover_s = time.monotonic() - killed_at
            final = wait_for_outcomes_by_id(address, ids, survivor)

    outcomes = outcomes_by_id(final)
    assert set(outcomes) == ids
    conflicting = {i: o for i, o in outcomes.items() if len(o) != 1}
    assert not conflicting, conflicting
    approved = [o for o in outcomes.values() if o == {"approved"}]
    assert approved and len(approved) < len(ids)  # both kinds of outcome occurred
    for spec, content in ((topics.APPROVED, approved_content), (topics.GRADES, grade_content),
                          (topics.VERDICTS, verdict_content)):
        seen: dict[tuple, set] = {}
        for record in final.of(spec):
            seen.setdefault(record_key(record), set()).add(content(record))
        differing = {i: c for i, c in seen.items() if len(c) > 1}
        assert not differing, f"{spec.name}: repeats with different content: {differing}"
    repeats = {spec.name: len(final.of(spec)) - len({record_key(r) for r in final.of(spec)})
               for spec in (topics.GRADES, topics.VERDICTS, topics.APPROVED)}
    print(f"\nkilled a worker owning insights partitions {sorted(victim_parts)} (pending there: "
          f"{sorted(pending & victim_parts)}); survivor assigned all after {takeover_s:.1f}s; "
          f"{len(approved)}/{len(ids)} approved; repeats from redelivery: {repeats}")


def record_key(record: dict) -> tuple[str, bool]:
    """What a record is about: its insight id (the router's own final REJECT shares the
    insight id with the REVISE verdict it follows, so it counts apart)."""
    return record["insight_id"], (record.get("rationale") or "").startswith(ROUTER_PREFIX)


def approved_content(a: dict) -> tuple:
    return (a["prompt"]["prompt_id"], a["insight"]["text"], a["grade"]["passed"],
            a["verdict"]["recommendation"], a["verdict"]["overall"])


def grade_content(g: dict) -> tuple:
    return (g["prompt_id"], g["insight"]["text"], g["passed"])


def verdict_content(v: dict) -> tuple:
    return (v["prompt_id"], v["recommendation"], v["judge_model"], v["overall"])


def wait_for_outcomes_by_id(address: str, ids: set[str], survivor: Worker, timeout_s: float = 180) -> Snapshot:
    deadline = time.monotonic() + timeout_s
    while not ids <= set(outcomes_by_id(snap := snapshot(address))):
        assert survivor.proc.poll() is None, survivor.tail()
        assert time.monotonic() < deadline, (
            f"{len(ids & set(outcomes_by_id(snap)))}/{len(ids)} insights ended\n{survivor.tail()}")
        time.sleep(1.0)
    time.sleep(3.0)  # anything still in flight (repeats) lands before the last look
    return snapshot(address)
