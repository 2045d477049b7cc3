"""A real judge's score of the golden answers beside a promotion decision
(``trainer/judge_probe.py``), against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import json

import pytest

from kasper.streams.settings import JudgeSettings, Settings
from kasper.trainer.config import TrainerConfig
from kasper.trainer.judge_probe import judge_metrics, judged_means

from tests.judge_fault_server import FaultServer

PROMPTS = [{"domain": "tarot", "context": {"card": "The Star"}},
           {"domain": "numerology", "context": {"life_path": "7"}},
           {"domain": "journal", "context": {}}]


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def settings_for(server: FaultServer, **overrides) -> JudgeSettings:
    values = dict(base_url=server.base_url, model="judge-model", timeout_s=2.0, max_retries=0,
                  backoff_base_s=0.01, backoff_max_s=0.02, cache_path=None)
    return JudgeSettings(**{**values, **overrides})


def test_each_prompt_gets_the_mean_of_its_answers_in_order(server):
    # Two answers per prompt, judged one at a time in the order given.
    answers = ("ok:9,9,9,9,9", "ok:7,7,7,7,7", "ok:4,4,4,4,4", "ok:6,6,6,6,6", "ok:8,8,8,8,8", "ok:3,3,3,3,3")
    server.script(*answers)
    means = judged_means(settings_for(server), [f"answer {i}" for i in range(6)], PROMPTS, per_prompt=2)
    sent = [json.dumps(r["body"]) for r in server.requests]
    # Each answer alone (the judge's overall weighs its scores by their probabilities):
    server.script(*answers)
    alone = judged_means(settings_for(server), [f"answer {i}" for i in range(6)],
                         [p for p in PROMPTS for _ in range(2)], per_prompt=1)
    assert means == pytest.approx([(alone[0] + alone[1]) / 2, (alone[2] + alone[3]) / 2,
                                   (alone[4] + alone[5]) / 2])
    assert alone[0] > alone[1] > alone[3] > alone[2] and means[0] > means[2] > means[1]
    assert [f"answer {i}" in body for i, body in enumerate(sent)] == [True] * 6
    assert "The Star" in sent[0] and "numerology" in sent[2]


def test_a_candidate_the_judge_prefers_shows_a_positive_paired_improvement(server):
    new, current = ["new a", "new b", "new c"], ["old a", "old b", "old c"]
    server.script("ok:9,9,9,9,9", "ok:8,8,8,8,8", "ok:9,8,9,8,9", "ok:6,6,6,6,6", "ok:6,5,6,5,6", "ok:7,7,7,7,7")
    m = judge_metrics(settings_for(server), new, current, PROMPTS, per_prompt=1, tier="standard")
    assert m["judge_overall"] > m["current_judge_overall"] > 5
    assert m["judge_improvement"] == pytest.approx(m["judge_overall"] / m["current_judge_overall"] - 1, abs=1e-4)
    assert m["judge_ci_low"] > 0 and m["judge_n"] == 3 and m["judge_seconds"] >= 0
    assert [r["body"]["messages"][-1]["content"].endswith(t) for r, t in zip(server.requests, new + current)] \
        == [True] * 6


def test_a_failing_judge_costs_the_metric_not_the_decision(server, capsys):
    server.cycle("status:500")
    m = judge_metrics(settings_for(server), ["a"], ["b"], PROMPTS[:1], per_prompt=1, tier="lite")
    assert m == {} and server.requests
    logged = capsys.readouterr().out
    assert "judge's score of the golden answers is missing" in logged and "HTTP 500" in logged


def test_nothing_is_sent_when_the_answers_do_not_pair_up(server):
    assert judge_metrics(settings_for(server), ["a", "b"], ["c"], PROMPTS[:1], per_prompt=1, tier="pro") == {}
    assert judge_metrics(settings_for(server), [], [], [], per_prompt=1, tier="pro") == {}
    assert server.requests == []


def test_only_a_real_judge_is_asked():
    assert TrainerConfig.from_settings(Settings()).judge is None  # the embedded judge: never
    real = Settings(judge=JudgeSettings(base_url="https://judge.example/v1", model="m"))
    assert TrainerConfig.from_settings(real).judge == real.judge
