"""The judge client and role against a real HTTP server on loopback that injects faults."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from kasper.agents.judge import JudgeRole, judge_until_answered
from kasper.agents.judging.client import JudgeClient
from kasper.agents.judging.errors import JudgeRefused, JudgeRequestError, JudgeUnavailable, JudgeUnparseable
from kasper.agents.judging.request import JudgeRequest
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.settings import JudgeSettings
from kasper.streams.stage import Stage

from tests.judge_fault_server import FaultServer

KEY = "sk-test-0123456789abcdefSECRET"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def config(server: FaultServer, **overrides) -> JudgeSettings:
    values = dict(base_url=server.base_url, model="fault-model", api_key=KEY, timeout_s=0.5,
                  backoff_base_s=0.01, backoff_max_s=0.05, max_retries=4, cache_path=None)
    return JudgeSettings(**{**values, **overrides})


def judge(server: FaultServer, *texts: str, **overrides):
    """Judge each text in turn; returns a result or the exception for each."""
    async def run():
        out = []
        async with JudgeClient(config(server, **overrides)) as client:
            for text in texts:
                try:
                    out.append(await client.judge(JudgeRequest(text)))
                except Exception as exc:  # the test inspects it
                    out.append(exc)
        return out
    return asyncio.run(run())


@pytest.mark.parametrize("fault,reason", [
    ("429:0.05", "rate_limited"), ("429ms:50", "rate_limited"), ("status:500", "server_error"),
    ("status:503", "server_error"), ("garbage", "bad_response"), ("close", "connection"),
    ("slow:1.5", "timeout"),
])
def test_transient_faults_are_retried_and_counted(server, fault, reason):
    retries = metric("kasper_judge_retries_total", reason=reason)
    errors = metric("kasper_judge_errors_total", reason=reason)
    server.script(fault, fault, "ok")
    [result] = judge(server, "a text")
    assert result.recommendation == "APPROVE" and len(server.requests) == 3
    assert metric("kasper_judge_retries_total", reason=reason) - retries == 2
    assert metric("kasper_judge_errors_total", reason=reason) - errors == 2


def test_retry_after_is_honoured(server):
    server.script("429:0.6", "ok")
    started = time.monotonic()
    judge(server, "a text")
    assert time.monotonic() - started >= 0.6


def test_retries_exhausted_raise_unavailable(server):
    server.cycle("status:503")
    [error] = judge(server, "a text", max_retries=2)
    assert isinstance(error, JudgeUnavailable) and error.reason == "server_error"
    assert len(server.requests) == 3


@pytest.mark.parametrize("fault,reason", [("prose", "no_scores"), ("empty", "empty"), ("null", "empty"),
                                          ("range", "out_of_range")])
def test_unusable_answers_are_asked_again_then_given_up(server, fault, reason):
    errors = metric("kasper_judge_errors_total", reason=reason)
    server.script(fault, fault, "ok")
    [result] = judge(server, "first")
    assert result.recommendation == "APPROVE"
    assert (result.prompt_tokens, result.completion_tokens) == (1800, 180)  # every call is billed
    assert [r["body"]["temperature"] for r in server.requests] == [0.0, 0.7, 0.7]
    server.cycle(fault)
    [error] = judge(server, "second", parse_retries=1)
    assert isinstance(error, JudgeUnparseable) and error.reason == reason
    assert metric("kasper_judge_errors_total", reason=reason) - errors == 4


@pytest.mark.parametrize("fault", ["refusal", "refusal_text", "filter"])
def test_refusals_are_not_asked_again(server, fault):
    server.script(fault)
    [error] = judge(server, "a text")
    assert isinstance(error, JudgeRefused) and len(server.requests) == 1


def test_other_client_errors_are_the_requests_fault(server):
    server.script("status:400", "status:422")
    errors = judge(server, "one", "two")
    assert all(isinstance(e, JudgeRequestError) for e in errors) and len(server.requests) == 2


@pytest.mark.parametrize("param,check", [
    ("response_format", lambda body: "response_format" not in body),
    ("logprobs", lambda body: "logprobs" not in body and "top_logprobs" not in body),
    ("temperature", lambda body: "temperature" not in body),
    ("max_tokens", lambda body: "max_tokens" not in body and body["max_completion_tokens"] == 1024),
])
def test_unsupported_parameters_are_dropped_for_good(server, param, check):
    server.script(f"unsupported:{param}")
    results = judge(server, "one", "two")
    assert all(r.recommendation == "APPROVE" for r in results)
    assert [check(r["body"]) for r in server.requests] == [False, True, True]
    if param == "logprobs":
        assert all(r.answer.score_mode == "text" for r in results)


def test_answer_variants_parse_and_logprobs_weight_the_scores(server):
    server.script("fenced", "strings", "clamp", "ok")
    fenced, strings, clamp, plain = judge(server, "a", "b", "c", "d")
    assert fenced.answer.scores["clarity"] == pytest.approx(7.9, abs=0.1)  # 8 spread over 7..9
    assert strings.recommendation == "APPROVE" and strings.answer.score_mode == "logprobs"
    assert clamp.answer.scores["authenticity"] == 1.0 and clamp.answer.scores["practical_wisdom"] == 10.0
    assert plain.answer.score_mode == "logprobs" and plain.cost_usd == 0.0


def test_usage_and_cost_come_with_every_verdict_and_cache_hits_are_free(server, tmp_path):
    prices = dict(input_usd_per_mtok=1.25, output_usd_per_mtok=10.0, cache_path=tmp_path / "v.sqlite")
    first, again = judge(server, "same", "same", **prices)
    assert first.cost_usd == pytest.approx((600 * 1.25 + 60 * 10.0) / 1e6) and not first.cached
    assert again.cached and again.cost_usd == 0 and again.prompt_tokens == 0
    [replayed] = judge(server, "same", **prices)  # a new process: the sqlite file answers
    assert replayed.cached and len(server.requests) == 1


def test_concurrency_is_bounded_and_duplicates_in_flight_share_one_call(server):
    server.cycle("slow:0.3")

    async def run():
        async with JudgeClient(config(server, concurrency=2, timeout_s=5)) as client:
            texts = ["a", "b", "c", "d", "a", "a"]
            return await asyncio.gather(*(client.judge(JudgeRequest(t)) for t in texts))
    results = asyncio.run(run())
    assert server.max_active == 2 and len(server.requests) == 4
    assert sum(r.cached for r in results) == 2


def test_rate_limit_paces_the_calls(server):
    started = time.monotonic()
    judge(server, *"abcdefgh", requests_per_minute=240)  # 4/s, a bucket of 4
    assert time.monotonic() - started >= 0.9


def test_the_api_key_never_shows_in_logs_or_errors(server, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # openai and httpx debug logs included
    server.script("echo_auth:500", "echo_auth:500", "echo_auth", "status:400")
    errors = judge(server, "one", "two")
    assert isinstance(errors[0], JudgeUnavailable) and isinstance(errors[1], JudgeRequestError)
    texts = [caplog.text, *capsys.readouterr(), repr(config(server))]
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    assert "Bearer ***" in str(errors[0])
    for text in texts:
        assert KEY not in text and KEY[-12:] not in text


def test_an_outage_holds_the_record_until_the_judge_is_back(server):
    waits = metric("kasper_judge_outage_waits_total")
    server.script(*["status:503"] * 5)  # two client calls of (1 + 1 retry) fail, then it recovers

    async def run():
        async with JudgeClient(config(server, max_retries=1)) as client:
            return await judge_until_answered(client.judge, JudgeRequest("held"), max_wait_s=0.1,
                                              first_wait_s=0.02)
    result = asyncio.run(run())
    assert result.recommendation == "APPROVE"
    assert metric("kasper_judge_outage_waits_total") - waits == 2
    assert metric("kasper_judge_held_records") == 0


def test_a_judge_failing_one_request_in_three_loses_no_insight(server):
    """The judge stage over 30 grades while every third HTTP call fails with a 500."""
    server.cycle("ok", "ok", "status:500")
    codec, sent = Codec(), []

    async def send(topic, value, key):
        sent.append((topic, codec.decode(value).record))

    grades = []
    for i in range(30):
        grade = sample_record("Grade")
        grade["insight_id"] = f"one-in-three-{i}"
        grade["insight"]["text"] += f" Variation {i}."  # distinct texts: no cache hits
        grade["passed"] = i % 5 != 0
        grades.append(grade)
    events = [SimpleNamespace(value=codec.encode("Grade", g), key=g["insight_id"].encode(),
                              message=SimpleNamespace(topic=topics.GRADES.name, partition=0, offset=n))
              for n, g in enumerate(grades)]
    retries = metric("kasper_judge_retries_total", reason="server_error")
    gave_up = metric("kasper_judge_errors_total", reason="unavailable")
    role = JudgeRole(config(server, concurrency=4))
    stage = Stage("judge", topics.GRADES, codec, send)

    async def run():
        try:
            await stage.handle_events(events, role.process, concurrency=4)
        finally:
            await role.aclose()
    asyncio.run(run())
    verdicts = {r["insight_id"]: r for t, r in sent if t == topics.VERDICTS.name}
    assert set(verdicts) == {g["insight_id"] for g in grades}
    assert not [t for t, _ in sent if t == topics.DLQ.name]
    assert {v["judge_model"] for k, v in verdicts.items() if k.endswith(("-0", "-5", "-10"))} == {"rubric"}
    llm_calls = len(server.requests)
    # Every failed call was retried, except where a record met its fifth failure in a row
    # (concurrent calls can take several 500s of the cycle): that one is held, then asked again.
    failed_calls = (metric("kasper_judge_retries_total", reason="server_error") - retries
                    + metric("kasper_judge_errors_total", reason="unavailable") - gave_up)
    assert failed_calls == llm_calls - 24 > 0
    assert all(v["grade"]["insight_id"] == k for k, v in verdicts.items())


def test_an_embedded_judge_that_cannot_start_is_an_outage_not_bad_input(tmp_path):
    from kasper.streams.settings import ModelSettings

    role = JudgeRole(JudgeSettings(base_url=None, cache_path=None), ModelSettings(model=tmp_path, cache_dir=tmp_path))
    with pytest.raises(JudgeUnavailable) as caught:  # held by the role, never dead-lettered
        asyncio.run(role.judge(JudgeRequest("a text")))
    assert caught.value.reason == "embedded_start" and "KASPER_MODEL" in str(caught.value)
