"""Soak run: the pipeline under kills, faults and bad input, with the figures that matter.

One fresh embedded broker, the loopback fault judge, a ``grade,judge,route`` worker
fed pre-made insights (tests/data/insights_labeled.jsonl texts; see
tests/test_crash.py for why not ``generate``) and a ``train`` worker (tiny LoRA
runs). While the insights flow, in seeded random order:

- the pipeline worker is SIGKILLed ``--kills`` times and restarted, the trainer once;
- the judge serves a stretch of 429 / 500 / 503 / timeout / closed-connection answers at
  the start and once more later (only the faults actually served are counted);
- the broker is frozen with SIGSTOP for ``--freeze-s`` seconds, then SIGCONT;
- ``--bad`` bad records (garbage bytes, truncated Avro, a Grade on the insights topic,
  empty values, invalid UTF-8 in a JSON look-alike) are sent among the good ones.

Then it prints: prompts processed, kills survived, faults injected, bad inputs tried
(and dead-lettered), records lost (prompts with no final outcome + bad records not
dead-lettered: must be 0), records duplicated in windows (records in two windows:
must be 0), prompts that ended two ways and insight ids twice on kasper.approved
(must be 0). Exit 1 if any is not 0, or an insight was approved with two contents.

``--near-threshold`` runs the decisions that can flip on a redelivery (issue 14):
first-attempt texts whose pass threshold is their median rubric score (graded against
a warm originality memory: approved copies of a third of the texts, approved before
any prompt), ``--max-attempts 3`` with a scripted generator answering every revise
request (text and id from prompt id and attempt, as in
tests/test_crash_threshold.py), the top-fraction gate on (0.6), and a judge that
answers each text by its hash (``chaos.KeyedJudge``), slowly.

Run from the repo root::

    .venv/bin/python bench/soak.py [-n 120] [--kills 4] [--bad 200] [--seed 7] [--near-threshold] [--json]

Shared helpers come from the test suite's ``tests`` package (tests/chaos.py, the
crash and fault tests use the same ones; tests/judge_fault_server.py), so the repo
root goes first on ``sys.path``: a script's own directory is all Python adds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from datetime import timedelta
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import chaos  # noqa: E402
from tests.helpers import fresh_broker  # noqa: E402
from tests.judge_fault_server import FaultServer  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402
from kasper.schemas import Codec  # noqa: E402
from kasper.schemas.samples import sample_record  # noqa: E402
from kasper.streams import topics  # noqa: E402
from tests.test_crash_threshold import (  # noqa: E402
    POOL, T0, ScriptedGenerator, insight_for, threshold, warm_memory)

FAULTS = ["429:0.2"] * 3 + ["status:500"] * 3 + ["slow:3"] * 2 + ["close"] * 3 + ["status:503"] * 3


def bad_values(n: int, rng: random.Random) -> list[tuple[bytes, bytes]]:
    """``n`` (key, value) pairs no stage can use, of several kinds."""
    codec, good = Codec(), Codec().encode("Insight", sample_record("Insight"))
    grade = codec.encode("Grade", sample_record("Grade"))
    makers = [lambda: rng.randbytes(rng.randint(1, 400)),
              lambda: good[: rng.randint(1, len(good) - 1)],
              lambda: grade,
              lambda: b"",
              lambda: b'{"insight_id": "\xff\xfe", "text": "\x00"}']
    return [(f"bad-{i:05d}".encode(), makers[i % len(makers)]()) for i in range(n)]


async def send_bad(address: str, pairs: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=address)
    await producer.start()
    try:
        for key, value in pairs:
            await producer.send(topics.INSIGHTS.name, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def near_threshold_input(n: int, seed: int) -> tuple[list[dict], list[dict], float, dict[str, int]]:
    """(first-attempt insights, warm approvals, pass threshold, prompt id -> index) for
    ``--near-threshold``: the threshold is the median score of the first attempts."""
    prompts = []
    for i in range(n):
        row = POOL[(i * 7) % len(POOL)]  # insight_for's first attempt of prompt i uses this row
        prompt = sample_record("PromptEvent") | {
            "prompt_id": f"soak-{seed}-{i:04d}", "attempt": 0, "domain": row["domain"], "context": {},
            "revise_notes": None, "created_at": T0 + timedelta(seconds=i)}
        prompts.append(prompt)
    warm = warm_memory()
    index = {p["prompt_id"]: i for i, p in enumerate(prompts)}
    return [insight_for(p, i) for i, p in enumerate(prompts)], warm, threshold(prompts, warm), index


def repeats(final, wanted: set[str]) -> dict:
    """What a redelivery must not repeat: approvals, revise requests, final rejections."""
    approved = [a for a in final.of(topics.APPROVED) if a["prompt"]["prompt_id"] in wanted]
    per_prompt: dict[str, set[str]] = {}
    for a in approved:
        per_prompt.setdefault(a["prompt"]["prompt_id"], set()).add(a["insight_id"])
    asks = Counter((p["prompt_id"], p["attempt"]) for p in final.of(topics.PROMPTS)
                   if p["attempt"] and p["prompt_id"] in wanted)
    rejects = Counter(v["insight_id"] for v in final.of(topics.VERDICTS) if v["prompt_id"] in wanted
                      and v["recommendation"] == "REJECT" and v["rationale"].startswith("router: "))
    return {"duplicate_approved_insight_ids": len(approved) - len({a["insight_id"] for a in approved}),
            "prompts_approved_under_two_ids": sum(1 for ids in per_prompt.values() if len(ids) > 1),
            "revise_requests_twice": sum(1 for c in asks.values() if c > 1),
            "final_rejections_twice": sum(1 for c in rejects.values() if c > 1),
            "revise_requests": len(asks)}


def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kasper-soak-"))
    cache = work / "cache"
    worker_args: tuple[str, ...] = ("--max-attempts", "1")
    if args.near_threshold:
        insights, warm, pass_threshold, index = near_threshold_input(args.n, args.seed)
        worker_args = ("--max-attempts", "3", "--pass-threshold", f"{pass_threshold:.4f}",
                       "--approve-top-fraction", "0.6")
    else:
        insights = chaos.premade_insights(args.n, f"soak-{args.seed}")
    wanted = {i["prompt_id"] for i in insights}
    bad = bad_values(args.bad, rng)
    started = time.monotonic()
    figures: dict = {"work_dir": str(work), "seed": args.seed, "near_threshold": args.near_threshold}
    # A text's answer by its hash in --near-threshold (a revise request gets a new text); slow
    # enough either way that the events land mid-run.
    judging = chaos.KeyedJudge("slow:0.5", "low", "slow:0.5", "reject") if args.near_threshold else FaultServer()
    with fresh_broker() as broker, judging as judge:
        if not args.near_threshold:
            judge.cycle("slow:0.5", "slow:0.5", "reject")
        judge.script(*FAULTS)  # the first judge calls fail: served for sure, while work is pending
        env = chaos.base_env(broker.address, cache, judge.base_url, KASPER_JUDGE_CONCURRENCY="1",
                             KASPER_JUDGE_TIMEOUT_S="1", KASPER_JUDGE_MAX_RETRIES="2",
                             KASPER_JUDGE_BACKOFF_BASE_S="0.1", KASPER_JUDGE_BACKOFF_MAX_S="0.5",
                             KASPER_JUDGE_OUTAGE_BACKOFF_MAX_S="1", KASPER_REQUEST_TIMEOUT_MS="5000",
                             KASPER_TRAINER_APPROVED_COUNT=str(max(6, args.n // 6)),
                             KASPER_TRAINER_MIN_SCORE="0.6", KASPER_TRAINER_PROBE_COUNT="0",
                             **({"KASPER_MODEL": args.model} if args.model else {}))
        pipeline = chaos.Worker(env, work / "pipeline", roles="grade,judge,route", args=worker_args)
        trainer = chaos.trainer_worker(env, work / "trainer", iters=3)
        generator = None
        if args.near_threshold:
            figures["pass_threshold"] = round(pass_threshold, 4)
            chaos.produce(broker.address, topics.APPROVED, warm)  # the originality memory, warm
            generator = ScriptedGenerator(broker.address, index)
            generator.thread.start()
        with chaos.running(pipeline, trainer):
            pipeline.start()
            trainer.start()
            half = len(insights) // 2
            chaos.produce(broker.address, topics.INSIGHTS, insights[:half])
            asyncio.run(send_bad(broker.address, bad[: len(bad) // 2]))

            # Faults and kills in a seeded order, the rest of the input in the middle.
            events = ["judge", "freeze", "trainer"] + ["kill"] * args.kills
            rng.shuffle(events)
            faults, trainer_kills, pending = 0, 0, []
            for n, event in enumerate(events):
                if n == len(events) // 2:
                    chaos.produce(broker.address, topics.INSIGHTS, insights[half:])
                    asyncio.run(send_bad(broker.address, bad[len(bad) // 2:]))
                time.sleep(rng.uniform(1, 4))
                pending.append((event, len(wanted - chaos.outcomes_of(broker.address, wanted))))
                if event == "kill":
                    chaos.chaos_kills(pipeline, rng, 1, lambda: False, low_s=0.5, high_s=5, after_ready=True)
                elif event == "trainer":
                    trainer.kill()
                    trainer.start()
                    trainer_kills += 1
                elif event == "judge":
                    faults += len(FAULTS) - len(judge._script)  # what the first stretch served
                    judge.script(*FAULTS)
                else:
                    broker.process.send_signal(signal.SIGSTOP)
                    time.sleep(args.freeze_s)
                    broker.process.send_signal(signal.SIGCONT)
                    faults += 1
            final = chaos.wait_for_outcomes(broker.address, wanted, [pipeline, trainer], timeout_s=600)
            faults += len(FAULTS) - len(judge._script)  # what the second stretch served
            # Let the trainer announce and train what closed (bounded: the figures do not need it).
            deadline = time.monotonic() + args.train_wait_s
            while time.monotonic() < deadline:
                snap = chaos.snapshot(broker.address, chaos.TRAINING)
                tally = snap.tally()
                if not tally.windows_pending():
                    break
                time.sleep(2)
            judge_errors = pipeline.metric("kasper_judge_errors_total")  # since the last restart
            log = pipeline.text()  # every start appends: the whole run
            codes = (pipeline.stop(), trainer.stop())
            if generator is not None:
                generator.stop.set()
                generator.thread.join(timeout=10)
        training = chaos.snapshot(broker.address, chaos.TRAINING)
    shutil.rmtree(cache / "models", ignore_errors=True)  # a prepared model copy (~600 MB); logs stay
    outcomes = chaos.final_outcomes(final)
    bad_keys = {k for k, _ in bad}
    dead_bad = {l["original_key"] for l in final.of(topics.DLQ) if l["original_key"] in bad_keys}
    windows = chaos.window_records(cache / "windows")
    tally = training.tally()
    figures.update({
        "prompts_processed": len(set(outcomes) & wanted),
        "prompts_sent": len(wanted),
        "outcomes": {k: sum(1 for p in wanted if k in outcomes.get(p, ()))
                     for k in ("approved", "rejected", "dead-lettered")},
        "prompts_ended_twice": sum(1 for p in wanted if len(outcomes.get(p, ())) > 1),
        "approved_conflicts": len(chaos.approved_conflicts(final)),
        "kills_survived": pipeline.kills + trainer_kills,
        "faults_injected": faults,
        "prompts_pending_at_each_event": pending,
        "judge_errors_in_metrics_since_last_restart": judge_errors,
        "judge_retries_logged": log.count("judge call failed, retrying"),
        "judge_outage_holds_logged": log.count("judge unavailable: holding the record"),
        "bad_inputs_tried": len(bad),
        "bad_inputs_dead_lettered": len(dead_bad),
        "records_lost": len(wanted - set(outcomes)) + len(bad_keys - dead_bad),
        "windows": len(windows),
        "windows_announced": len(training.of(topics.TRAINING_WINDOWS)),
        "windows_trained": len(tally.versions),
        "records_in_windows": sum(len([r for r in rows if r[0] == "insight"]) for rows in windows.values()),
        "records_duplicated_in_windows": chaos.duplicated_in_windows(cache / "windows"),
        **repeats(final, wanted),
        "router_outputs_not_sent_again": log.count("output already sent, not sent again"),
        "revise_requests_answered": generator.answered if generator is not None else 0,
        "worker_exit_codes": list(codes),
        "seconds": round(time.monotonic() - started, 1),
    })
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=120, help="insights (each with its own prompt id)")
    parser.add_argument("--kills", type=int, default=4, help="SIGKILLs of the pipeline worker")
    parser.add_argument("--bad", type=int, default=200, help="bad records among the good ones")
    parser.add_argument("--freeze-s", type=float, default=12.0, help="how long the broker is frozen")
    parser.add_argument("--train-wait-s", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", help="an mlx-lm model directory (default: the shipped one, prepared)")
    parser.add_argument("--near-threshold", action="store_true",
                        help="texts at the pass threshold, 3 attempts, warm originality memory, gate on")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        shown = ("prompts_processed", "kills_survived", "faults_injected", "bad_inputs_tried", "records_lost",
                 "records_duplicated_in_windows", "prompts_ended_twice", "duplicate_approved_insight_ids")
        for key in shown:
            print(f"{key.replace('_', ' ')}: {figures[key]}")
        print(json.dumps({k: v for k, v in figures.items() if k not in shown}))
    bad = (figures["records_lost"] or figures["records_duplicated_in_windows"]
           or figures["prompts_ended_twice"] or figures["approved_conflicts"]
           or figures["duplicate_approved_insight_ids"] or figures["prompts_approved_under_two_ids"]
           or figures["revise_requests_twice"] or figures["final_rejections_twice"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
