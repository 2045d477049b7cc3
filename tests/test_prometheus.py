"""A real Prometheus scrapes the worker of a whole ``kasper up`` run (every role) while
real records flow through it; every alert rule and every dashboard query is then asked
of it.

The run is the session's ``pipeline_run`` (tests/pipeline_run.py, shared with
tests/test_up.py): the worker generates with the shipped model (MLX), judges against a
real OpenAI-compatible server on loopback (``judge_fault_server``: one call in three
fails, so retries and errors have data), and trains a tiny lite window on synthetic
approved records and feedback until an adapter is promoted and the generator swaps it in.
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid

import pytest

from kasper.schemas import Codec
from kasper.streams import topics
from kasper.streams.producer import Producer
from kasper.streams.settings import KafkaSettings, Settings

from tests.pipeline_run import PROMPTS, RATE_INTERVAL_S
from tests.prometheus_setup import alert_rules, dashboard_queries, substitute

# The shared kasper up run (pipeline_run) is set up inside the first test that asks for it.
pytestmark = [pytest.mark.broker, pytest.mark.timeout(1200)]


def finite_values(result: list[dict]) -> list[float]:
    values = [float(v) for series in result for _, v in series.get("values", [series.get("value")])]
    return [v for v in values if math.isfinite(v)]


@pytest.mark.model
def test_every_alert_rule_parses_and_evaluates_without_error(pipeline_run):
    prom, start, end = pipeline_run.prom, pipeline_run.start, pipeline_run.end
    for rule in alert_rules():
        answer = prom.api("query", query=rule["expr"])
        assert answer["status"] == "success", (rule["alert"], answer.get("error"))
    loaded = [r for g in prom.api("rules")["data"]["groups"] for r in g["rules"]]
    assert sorted(r["name"] for r in loaded) == sorted(r["alert"] for r in alert_rules())
    assert all(r["health"] == "ok" for r in loaded), [(r["name"], r.get("lastError")) for r in loaded]
    # A healthy run: the worker was up and nothing stayed broken long enough to fire. Asked
    # of the run's range: once the run is over, its worker is down for good.
    firing = prom.api("query_range", query='ALERTS{alertstate="firing"}', start=start, end=end, step=1)
    assert firing["status"] == "success" and not firing["data"]["result"], firing


@pytest.mark.model
def test_every_dashboard_query_parses_and_returns_data(pipeline_run):
    prom, start, end = pipeline_run.prom, pipeline_run.start, pipeline_run.end
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


@pytest.mark.model
def test_the_funnel_and_trainer_panels_show_what_happened(pipeline_run):
    """Not just data: the numbers the run must have produced."""
    prom, start, end = pipeline_run.prom, pipeline_run.start, pipeline_run.end

    def last(expr: str) -> float:
        query = substitute(expr, RATE_INTERVAL_S, range_s=int(end - start) + 1)
        result = prom.api("query", query=query, time=end)["data"]["result"]
        return sum(float(r["value"][1]) for r in result)

    assert last('max(kasper_records_in_total{stage="generate"})') >= PROMPTS + 1  # kasper up's + the refused one
    assert last('sum(kasper_dead_letters_total{stage="grade"})') >= 1  # the garbage insight
    assert last('sum(kasper_routed_total{outcome="approved"})') >= 1
    # Our lite window is promoted whatever its loss. kasper up's own approvals may make more
    # windows (one arriving after ours has closed makes a second, promoted too), and one
    # decided after ``end`` is not in this reading: at least ours, never more than the run's
    # report counts (every tier).
    promoted = last('sum(kasper_trainer_runs_total{tier="lite",outcome="promoted"})')
    assert 1 <= promoted <= last('sum(kasper_trainer_runs_total{outcome="promoted"})') <= pipeline_run.report["promoted"]
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

    kafka, group = KafkaSettings(bootstrap_servers=own_broker.address), f"lag-{uuid.uuid4().hex[:8]}"
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
