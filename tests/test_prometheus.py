"""A real Prometheus scrapes a running ``kasper worker`` (every role) while real records
flow through it; every alert rule and every dashboard query is then asked of it.

The worker generates with the shipped model (MLX), judges against a real
OpenAI-compatible server on loopback (``judge_fault_server``: one call in three fails,
so retries and errors have data), and trains a tiny lite window on synthetic approved
records and feedback until an adapter is promoted and the generator swaps it in.

The test runs its own embedded broker rather than the session one: a worker with
every role reads every topic from the earliest offset, and the session broker holds
other tests' records (model versions pointing at deleted adapters, prompts...).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.producer import Producer
from kasper.streams.settings import KafkaSettings, ModelSettings, Settings
from kasper.streams.synthetic_prompts import synthetic_prompts
from kasper.trainer.synthetic_records import synthetic_approved, synthetic_feedback

from conftest import free_port
from judge_fault_server import FaultServer
from prometheus_setup import ALERTS, Prometheus, alert_rules, dashboard_queries, ensure_prometheus, substitute

pytestmark = [pytest.mark.broker, pytest.mark.model]
KASPER = str(Path(sys.executable).parent / "kasper")
RATE_INTERVAL_S = 10  # what Grafana's $__rate_interval is for a 1 s scrape interval, rounded up
APPROVED = 24  # synthetic lite records: one window
LABELED = Path(__file__).parent / "data" / "insights_labeled.jsonl"


def worker_env(broker: str, tmp_path: Path, model_dir: Path, judge_url: str, metrics_port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASPER_")}
    return {**env, "KASPER_BOOTSTRAP_SERVERS": broker, "KASPER_CACHE_DIR": str(tmp_path / "cache"),
            "KASPER_MODEL": str(model_dir), "KASPER_METRICS_HOST": "127.0.0.1",
            "KASPER_METRICS_PORT": str(metrics_port), "KASPER_WEB_PORT": str(free_port()),
            "KASPER_REBALANCE_TIMEOUT_S": "3", "KASPER_SESSION_TIMEOUT_S": "6",
            "KASPER_GENERATE_MAX_TOKENS": "100", "KASPER_GENERATE_BATCH_SIZE": "8",
            "KASPER_GENERATE_BATCH_WINDOW_S": "0.5", "KASPER_GENERATE_MODELS_WAIT_S": "5",
            "KASPER_JUDGE_BASE_URL": judge_url, "KASPER_JUDGE_MODEL": "fault-model",
            "KASPER_JUDGE_API_KEY": "sk-test", "KASPER_JUDGE_BACKOFF_BASE_S": "0.05",
            "KASPER_JUDGE_INPUT_USD_PER_MTOK": "1.25", "KASPER_JUDGE_OUTPUT_USD_PER_MTOK": "10",
            "KASPER_TRAINER_APPROVED_COUNT": str(APPROVED), "KASPER_TRAINER_ITERS": "4",
            "KASPER_TRAINER_PROBE_COUNT": "1", "KASPER_TRAINER_MIN_IMPROVEMENT": "-1000"}


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


def first_wave(run: str) -> tuple[list, list]:
    """Prompts (one the generator refuses) and a poison insight."""
    # Standard tier: their approved insights must not join the lite window, whose
    # split (and so its validation loss) the second wave fixes.
    prompts = [p | {"prompt_id": f"{run}-p{i}", "tier": "standard"}
               for i, p in enumerate(synthetic_prompts(6, seed=11))]
    refused = prompts[0] | {"prompt_id": f"{run}-refused", "domain": "other"}
    return [(topics.PROMPTS, p) for p in [*prompts, refused]], [(topics.INSIGHTS.name, b"\xc3\x01garbage", b"poison")]


def second_wave(run: str) -> list:
    """Records for grade, judge and route again, once their labeled series exist (a rate
    needs two samples, and a series first scraped with its first increment has one);
    then the trainer's window, sent last because training holds the CPU (and MLX)."""
    out = []
    for i, line in enumerate(LABELED.read_text().splitlines()):
        labeled = json.loads(line)
        if labeled["expect_pass"] and len(out) < 3:
            insight = sample_record("Insight") | {"insight_id": f"{run}-i{i}", "text": labeled["text"]}
            out.append((topics.INSIGHTS, insight))
    for i in range(3):
        grade = sample_record("Grade")
        grade.update(insight_id=f"{run}-g{i}", passed=True)
        grade["insight"].update(insight_id=grade["insight_id"], text=grade["insight"]["text"] + f" ({i})")
        out.append((topics.GRADES, grade))
    # Seed 5: the window's split has 4 validation examples, a full batch (validation loss).
    approved = synthetic_approved(APPROVED, seed=5, tier="lite", score=0.9)
    out += [(topics.APPROVED, r) for r in approved]
    return out + [(topics.FEEDBACK, f) for f in synthetic_feedback(approved[:4], seed=3)]


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(port: int, proc: subprocess.Popen, log: Path, timeout_s: float, **wanted) -> None:
    """Until every ``name=(labels, at_least)`` holds on the worker's /metrics."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, log.read_text()[-4000:]
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        except httpx.ConnectError:  # the worker is still starting
            text = ""
        missing = {n: w for n, (labels, w) in wanted.items() if metric(text, n, **labels) < w}
        if not missing:
            return
        assert time.monotonic() < deadline, f"never reached {missing}; log: {log.read_text()[-3000:]}"
        time.sleep(1)


@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    return ensure_prometheus()[0]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    from kasper.agents.runtime import model_store
    return model_store.prepare(ModelSettings(model=None))


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory):
    from kasper.streams.admin import create_topics
    from kasper.streams.broker import EmbeddedBroker

    address = f"127.0.0.1:{free_port()}"
    with EmbeddedBroker(address) as running:
        asyncio.run(create_topics(KafkaSettings(bootstrap_servers=address)))
        yield running.address


@pytest.fixture(scope="module")
def scraped(prometheus_bin, model_dir, own_broker, tmp_path_factory):
    """Prometheus that scraped a worker through a whole run: (prometheus, start, end)."""
    tmp = tmp_path_factory.mktemp("prometheus-run")
    metrics_port, run = free_port(), uuid.uuid4().hex[:8]
    config = prometheus_config(tmp / "prometheus.yml", metrics_port)
    with FaultServer() as judge, Prometheus(prometheus_bin, config, tmp / "data", free_port()) as prom:
        judge.cycle("ok:9,9,8,9,9", "ok:9,8,9,9,9", "status:500")
        env = worker_env(own_broker, tmp, model_dir, judge.base_url, metrics_port)
        log = tmp / "worker.log"
        start = time.time()
        with log.open("wb") as out:
            proc = subprocess.Popen([KASPER, "worker", "--pass-threshold", "0.3", "--max-attempts", "2"],
                                    stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
        try:
            messages, raw = first_wave(run)
            asyncio.run(send(own_broker, messages, raw))
            wait_for(metrics_port, proc, log, timeout_s=180, kasper_routed_total=({}, 1))
            asyncio.run(send(own_broker, second_wave(run)))
            wait_for(metrics_port, proc, log, timeout_s=240,
                     kasper_routed_total=({"outcome": "approved"}, 4),
                     kasper_trainer_runs_total=({"outcome": "promoted"}, 1),
                     kasper_generate_model_swaps_total=({"outcome": "swapped"}, 1),
                     kasper_feedback_agreement_total=({}, 1),
                     kasper_judge_retries_total=({}, 1),
                     kasper_consumer_lag=({}, 0))
            assert "kasper_consumer_lag{" in httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            time.sleep(2 * RATE_INTERVAL_S)  # the last changes are in a full rate window
            end = time.time()
            up = prom.api("query", query='up{job="kasper"}')["data"]["result"]
            assert [float(r["value"][1]) for r in up] == [1.0], up
            yield prom, start, end
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                assert proc.wait(timeout=90) == 0, log.read_text()[-3000:]
            finally:
                if proc.poll() is None:
                    proc.kill()


def finite_values(result: list[dict]) -> list[float]:
    values = [float(v) for series in result for _, v in series.get("values", [series.get("value")])]
    return [v for v in values if math.isfinite(v)]


def test_every_alert_rule_parses_and_evaluates_without_error(scraped):
    prom, _start, _end = scraped
    for rule in alert_rules():
        answer = prom.api("query", query=rule["expr"])
        assert answer["status"] == "success", (rule["alert"], answer.get("error"))
    loaded = [r for g in prom.api("rules")["data"]["groups"] for r in g["rules"]]
    assert sorted(r["name"] for r in loaded) == sorted(r["alert"] for r in alert_rules())
    assert all(r["health"] == "ok" for r in loaded), [(r["name"], r.get("lastError")) for r in loaded]
    # A healthy run: the worker was up and nothing stayed broken long enough to fire.
    firing = [a for a in prom.api("alerts")["data"]["alerts"] if a["state"] == "firing"]
    assert not firing, firing


def test_every_dashboard_query_parses_and_returns_data(scraped):
    prom, start, end = scraped
    queries = dashboard_queries()
    assert len(queries) > 50
    empty = []
    for dashboard, title, expr in queries:
        query = substitute(expr, RATE_INTERVAL_S, range_s=int(end - start) + 1)
        answer = prom.api("query_range", query=query, start=start, end=end, step=2)
        assert answer["status"] == "success", (dashboard, title, query, answer.get("error"))
        if not finite_values(answer["data"]["result"]):
            empty.append((title, query))
    assert not empty, "\n".join(f"{t}: {q}" for t, q in empty)


def test_the_funnel_and_trainer_panels_show_what_happened(scraped):
    """Not just data: the numbers the run must have produced."""
    prom, start, end = scraped

    def last(expr: str) -> float:
        query = substitute(expr, RATE_INTERVAL_S, range_s=int(end - start) + 1)
        result = prom.api("query", query=query, time=end)["data"]["result"]
        return sum(float(r["value"][1]) for r in result)

    assert last('max(kasper_records_in_total{stage="generate"})') >= 7  # 6 prompts + 1 refused
    assert last('sum(kasper_dead_letters_total{stage="grade"})') >= 1  # the garbage insight
    assert last('sum(kasper_routed_total{outcome="approved"})') >= 1
    assert last('sum(kasper_trainer_runs_total{tier="lite",outcome="promoted"})') == 1
    age = last('time() - max by (tier) (kasper_trainer_last_promotion_timestamp_seconds{tier="lite"})')
    assert 0 <= age < end - start + 60
    assert last("sum(kasper_judge_cost_usd_total)") > 0
    assert re.fullmatch(r"lite-\d{4}", next(
        r["metric"]["adapter_version"] for r in prom.api("query", query='kasper_generate_model_version{tier="lite"} == 1',
                                                          time=end)["data"]["result"]))


def test_lag_probe_measures_committed_offsets_against_the_log_end(own_broker):
    """kasper_consumer_lag's source: per partition, log end minus the group's commit."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from kasper.streams.admin import LagProbe

    kafka, group = KafkaSettings(bootstrap_servers=own_broker), f"lag-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topics.TRAINING_WINDOWS.name, 0)  # one partition: every record lands there

    async def run() -> tuple[dict, dict, dict, int]:
        probe = LagProbe(kafka)
        try:
            before = await probe.measure(group)  # nothing committed yet: not reported
            async with Producer(Settings(kafka=kafka), Codec(), linger_ms=0) as producer:
                for i in range(5):
                    await producer.send_raw(tp.topic, b"x%d" % i, key=b"k")
                    await producer.flush()
            consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=group, enable_auto_commit=False)
            await consumer.start()
            try:
                end = (await consumer.end_offsets([tp]))[tp]
                consumer.assign([tp])
                await consumer.commit({tp: end - 2})
                behind = await probe.measure(group)
                await consumer.commit({tp: end})
                caught_up = await probe.measure(group)
            finally:
                await consumer.stop()
            return before, behind, caught_up, end
        finally:
            await probe.close()

    before, behind, caught_up, end = asyncio.run(run())
    assert before == {} and end >= 2
    assert behind == {(tp.topic, 0): 2}
    assert caught_up == {(tp.topic, 0): 0}
