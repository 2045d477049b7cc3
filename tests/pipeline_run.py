"""One end-to-end run of the whole pipeline, shared by the tests that need one.

``kasper up`` runs as a user runs it: a real process that starts its own embedded
broker, prepares the shipped model from the wheel (a fresh cache), runs every role
in one ``kasper worker`` and the trainer, feeds its synthetic prompts, waits for
their outcomes and for every window to be trained, writes its report and stops
everything. A real Prometheus scrapes that worker for the whole run.

Running it once costs minutes on 2 cores, so tests/test_up.py (the run and its
report) and tests/test_prometheus.py (every alert rule and dashboard query against
what was scraped) assert on the same run. To give every panel data, the run also
gets what ``kasper up`` alone never produces, sent to its broker once it follows its topics:

- the judge is the loopback fault server (one call in three answers 500, so
  retries and errors have data; its answers cost money at the configured prices);
- a prompt the generator refuses and an undecodable insight (dead letters);
- insights and passed grades for grade, judge and route;
- 24 approved lite records and feedback on four of them: one trainer window,
  promoted whatever its loss, which the generator then swaps in.

The window goes in first: ``kasper up`` waits for every window it sees to be
trained, so the run stays up until the promotion and the swap the Prometheus
checks need. Everything sent here has a prompt id of its own (or none), so the
report's outcomes split exactly into ``kasper up``'s prompts and ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.cli.progress import prompt_id_of
from kasper.streams.processes import terminate
from kasper.streams.producer import Producer
from kasper.streams.settings import KafkaSettings, Settings
from kasper.streams.synthetic_prompts import synthetic_prompts
from kasper.trainer.synthetic_records import synthetic_approved, synthetic_feedback

from tests import chaos
from tests.helpers import KASPER, clean_env, free_port
from tests.judge_fault_server import FaultServer
from tests.prometheus_setup import ALERTS, Prometheus, prometheus_tools

PROMPTS, SEED = 4, 7  # kasper up's own: seed 7 gets approvals at 110 tokens and PASS_THRESHOLD
MAX_TOKENS = 110  # long enough for some insights to pass the rubric and reach the judge
PASS_THRESHOLD = 0.3
APPROVED = 24  # synthetic lite records: one window
RATE_INTERVAL_S = 10  # what Grafana's $__rate_interval is for a 1 s scrape interval, rounded up
LABELED = Path(__file__).parent / "data" / "insights_labeled.jsonl"


@dataclass
class PipelineRun:
    """What the tests read: ``kasper up``'s exit, output and run dir, and the Prometheus that watched."""

    returncode: int
    output: str
    run_dir: Path
    report: dict[str, Any]
    prom: Prometheus
    start: float  # epoch seconds: the run's range in Prometheus
    end: float
    bootstrap: str
    # Prompt id -> final outcome of every prompt we sent (not kasper up's), read from
    # the broker while it ran; and the insights and grades we sent.
    injected_outcomes: dict[str, str] = field(default_factory=dict)
    injected_insights: int = 0
    injected_grades: int = 0

    def own_outcomes(self) -> dict[str, int]:
        """The report's outcome counts minus ours: what kasper up's own prompts ended as."""
        ours: dict[str, int] = {}
        for outcome in self.injected_outcomes.values():
            ours[outcome] = ours.get(outcome, 0) + 1
        return {k: n - ours.get(k, 0) for k, n in self.report.get("outcomes", {}).items()}


def up_env(tmp: Path, judge_url: str, metrics_port: int) -> dict[str, str]:
    return clean_env(
        KASPER_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}", KASPER_CACHE_DIR=str(tmp / "cache"),
        KASPER_WEB_PORT=str(free_port()), KASPER_METRICS_HOST="127.0.0.1", KASPER_METRICS_PORT=str(metrics_port),
        KASPER_REBALANCE_TIMEOUT_S="3", KASPER_SESSION_TIMEOUT_S="6",
        KASPER_GENERATE_MAX_TOKENS=str(MAX_TOKENS), KASPER_GENERATE_BATCH_SIZE="8",
        KASPER_GENERATE_BATCH_WINDOW_S="0.5", KASPER_GENERATE_MODELS_WAIT_S="5",
        KASPER_JUDGE_BASE_URL=judge_url, KASPER_JUDGE_MODEL="fault-model", KASPER_JUDGE_API_KEY="sk-test",
        KASPER_JUDGE_BACKOFF_BASE_S="0.05", KASPER_JUDGE_INPUT_USD_PER_MTOK="1.25",
        KASPER_JUDGE_OUTPUT_USD_PER_MTOK="10",
        # One window of our APPROVED lite records, 4 steps, 1 golden answer (the dashboard's
        # probe panel reads it), 4 golden examples, promoted whatever its loss.
        KASPER_TRAINER_APPROVED_COUNT=str(APPROVED), KASPER_TRAINER_ITERS="4",
        KASPER_TRAINER_PROBE_COUNT="1", KASPER_TRAINER_MIN_IMPROVEMENT="-1000",
        KASPER_TRAINER_GOLDEN_COUNT="4", KASPER_TRAINER_MIN_EVAL_EXAMPLES="1",
        KASPER_TRAINER_PROBE_TOLERANCE="1000",
        # The run's own simulated users and a KTO pass on the injected thumbs would add
        # minutes of waiting and training that no assertion here reads (test_feedback_up.py
        # covers them); windows close 15 s after their last record, so up ends soon after.
        KASPER_FEEDBACK_RATE="0", KASPER_TRAINER_OBJECTIVE="sft", KASPER_TRAINER_IDLE_S="15",
        # The 135M model's drafts seldom reach rubric v2's 0.6 (docs/quality.md); this run is
        # about the plumbing, so a lower bar sends some of kasper up's own insights to the judge.
        KASPER_GRADE_PASS_THRESHOLD=str(PASS_THRESHOLD))


def prometheus_config(path: Path, metrics_port: int) -> Path:
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(ALERTS)],
              "scrape_configs": [{"job_name": "kasper", "static_configs": [
                  {"targets": [f"127.0.0.1:{metrics_port}"],
                   "labels": {"role": "generate,grade,judge,route,train"}}]}]}
    path.write_text(yaml.safe_dump(config))
    return path


async def send(broker: str, messages: list[tuple[topics.TopicSpec, dict]], raw=()) -> None:
    async with Producer(Settings(kafka=KafkaSettings(bootstrap_servers=broker)), Codec()) as producer:
        for spec, record in messages:
            await producer.send(spec, record)
        for topic, value, key in raw:
            await producer.send_raw(topic, value, key=key)


def window_records() -> list[tuple[topics.TopicSpec, dict]]:
    """The trainer's window: APPROVED lite records and feedback on four of them."""
    # Seed 5: the window's split has 4 validation examples, a full batch (validation loss).
    approved = synthetic_approved(APPROVED, seed=5, tier="lite", score=0.9)
    return ([(topics.APPROVED, r) for r in approved]
            + [(topics.FEEDBACK, f) for f in synthetic_feedback(approved[:4], seed=3)])


def stage_records(run: str) -> tuple[list[tuple[topics.TopicSpec, dict]], list[tuple[str, bytes, bytes]]]:
    """A prompt the generator refuses, insights for grade and grades for judge; a poison insight."""
    refused = next(iter(synthetic_prompts(1, seed=11))) | {"prompt_id": f"{run}-refused", "domain": "other"}
    out: list[tuple[topics.TopicSpec, dict]] = [(topics.PROMPTS, refused)]
    for i, line in enumerate(LABELED.read_text().splitlines()):
        labeled = json.loads(line)
        if labeled["expect_pass"] and len(out) < 4:  # passes the rubric: approved, no revision
            insight = sample_record("Insight") | {"insight_id": f"{run}-i{i}", "prompt_id": f"{run}-ip{i}",
                                                  "text": labeled["text"], "domain": labeled["domain"]}
            # Written for its domain alone: no sample context for rubric v2 to grade it against.
            insight["prompt"] = insight["prompt"] | {"prompt_id": insight["prompt_id"], "domain": labeled["domain"],
                                                     "context": {}}
            out.append((topics.INSIGHTS, insight))
    for i in range(3):
        grade = sample_record("Grade")
        grade.update(insight_id=f"{run}-g{i}", prompt_id=f"{run}-gp{i}", passed=True)
        grade["insight"].update(insight_id=grade["insight_id"], prompt_id=grade["prompt_id"],
                                text=grade["insight"]["text"] + f" ({i})")
        grade["insight"]["prompt"] = grade["insight"]["prompt"] | {"prompt_id": grade["prompt_id"]}
        out.append((topics.GRADES, grade))
    return out, [(topics.INSIGHTS.name, b"\xc3\x01garbage", b"poison")]


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(port: int, proc: subprocess.Popen, log: Path, timeout_s: float, also=lambda: True,
             **wanted) -> str:
    """Until every ``name=(labels, at_least)`` holds on the worker's /metrics and ``also()``; the last text."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, f"kasper up exited {proc.returncode}: {log.read_text()[-4000:]}"
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        except httpx.TransportError:  # the worker is still starting
            text = ""
        missing = {n: w for n, (labels, w) in wanted.items() if metric(text, n, **labels) < w}
        if not missing and also():
            return text
        assert time.monotonic() < deadline, f"never reached {missing or 'also()'}; log: {log.read_text()[-3000:]}"
        time.sleep(1)


def wait_for_line(log: Path, proc: subprocess.Popen, needle: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while needle not in (text := log.read_text(errors="replace")):
        assert proc.poll() is None and time.monotonic() < deadline, text[-4000:]
        time.sleep(0.5)
    return text


def last_scrape_up(prom: Prometheus, start: float) -> float:
    """The last moment Prometheus saw the worker up (epoch seconds)."""
    result = prom.api("query_range", query='up{job="kasper"} == 1', start=start, end=time.time(), step=1)
    stamps = [float(t) for series in result["data"]["result"] for t, _ in series["values"]]
    assert stamps, result
    return max(stamps)


@contextlib.contextmanager
def run_pipeline(tmp: Path) -> Iterator[PipelineRun]:
    """``kasper up`` once, watched by Prometheus; Prometheus keeps its data until the end."""
    prometheus_bin = prometheus_tools()[0]
    metrics_port, run = free_port(), "e2e"
    config = prometheus_config(tmp / "prometheus.yml", metrics_port)
    run_dir, log = tmp / "run", tmp / "up.out"
    with Prometheus(prometheus_bin, config, tmp / "data", free_port()) as prom:
        with FaultServer() as judge:
            judge.cycle("ok:9,9,8,9,9", "ok:9,8,9,9,9", "status:500")
            env = up_env(tmp, judge.base_url, metrics_port)
            address = env["KASPER_BOOTSTRAP_SERVERS"]
            start = time.time()
            with log.open("w") as out:
                proc = subprocess.Popen([KASPER, "up", "-n", str(PROMPTS), "--seed", str(SEED),
                                         "--run-dir", str(run_dir)], env=env, stdout=out,
                                        stderr=subprocess.STDOUT, text=True)
            try:
                # Sent once kasper up follows every topic from its end (it reads nothing
                # older): then the broker is up and the report counts all of our records.
                wait_for_line(log, proc, "synthetic prompt events", timeout_s=300)
                staged, poison = stage_records(run)
                window = window_records()
                asyncio.run(send(address, window + staged, poison))
                injected = {prompt_id_of(Codec(), spec.name, r) for spec, r in window + staged
                            if spec in (topics.PROMPTS, topics.INSIGHTS, topics.GRADES, topics.APPROVED)}
                outcomes: dict[str, str] = {}

                def ours_ended() -> bool:
                    outcomes.update(chaos.snapshot(address).tally().outcomes)
                    return injected <= set(outcomes)

                text = wait_for(metrics_port, proc, log, timeout_s=600, also=ours_ended,
                                kasper_routed_total=({"outcome": "approved"}, 4),
                                kasper_trainer_runs_total=({"outcome": "promoted"}, 1),
                                kasper_generate_model_swaps_total=({"outcome": "swapped"}, 1),
                                kasper_feedback_agreement_total=({}, 1),
                                kasper_judge_retries_total=({}, 1),
                                kasper_dead_letters_total=({"stage": "grade"}, 1))
                changed = time.time()
                # The lag probe reports every 10 s once a group has committed.
                if "kasper_consumer_lag{" not in text:
                    text = wait_for(metrics_port, proc, log, timeout_s=30,
                                    also=lambda: "kasper_consumer_lag{" in httpx.get(
                                        f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text)
                up_then = prom.api("query", query='up{job="kasper"}', time=changed)["data"]["result"]
                proc.wait(timeout=900)  # kasper up ends by itself once its prompts and the window are done
            finally:
                terminate(proc, 90)
        output = log.read_text(errors="replace")
        # The last changes in a full rate window, while the worker was still scraped.
        end = min(changed + 2 * RATE_INTERVAL_S, last_scrape_up(prom, start))
        assert end >= changed + 2, f"the worker stopped {changed - end:.0f} s before the run's last change"
        assert [float(r["value"][1]) for r in up_then] == [1.0], up_then
        report_path = run_dir / "report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        insights = sum(1 for spec, _ in staged if spec is topics.INSIGHTS)
        yield PipelineRun(proc.returncode, output, run_dir, report, prom, start, end, address,
                          {pid: outcomes[pid] for pid in injected}, insights, len(staged) - 1 - insights)


def children_of_run(output: str, run_dir: Path) -> list[int]:
    """The worker's pid (from up's output) and the judge server's (from the worker log)."""
    pids = [int(m) for m in re.findall(r"started worker pid (\d+)", output)]
    log = run_dir / "worker.log"
    if log.exists():
        pids += [int(m) for m in re.findall(r"[\"']pid[\"']: (\d+), [\"']url", log.read_text())]
    return pids
