"""The prefill judge (agents/judging/local.py, prefill.py) on the real shipped SmolLM2-135M.

Scores come from the score tokens' probabilities after a cached rubric prefix; the
verdict is the same record, decided by the same policy, as the server path's.  The
model tests share one scorer (loaded on this thread, which is the only one using it);
the async tests each start a :class:`LocalJudge` of their own (it owns its MLX thread).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kasper.agents.judge import JudgeRole, judge_until_answered, llm_verdict
from kasper.agents.judging.client import JudgeClient
from kasper.agents.judging.decision import with_reason
from kasper.agents.judging.errors import JudgeRequestError, JudgeUnavailable
from kasper.agents.judging.local import ENGINE_VERSION, LocalJudge
from kasper.agents.judging.prefill import PrefillScorer, expected_score
from kasper.agents.judging.request import CRITERIA, SAFETY_FLAGS, JudgeRequest
from kasper.schemas import Codec, validate
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.consumer import read
from kasper.streams.producer import Producer
from kasper.streams.settings import JudgeSettings, ModelSettings, get_settings

from tests.helpers import cache_holding, free_port

GOOD = [
    JudgeRequest("Your Pisces sun and Cancer moon make you feel everything twice. This week, before answering a "
                 "hard message, breathe slowly for one minute and name the feeling out loud.", "astrology",
                 {"sun_sign": "Pisces", "moon_sign": "Cancer"}),
    JudgeRequest("As a Life Path 7 you learn by questioning. Tonight, write three questions you are afraid to ask "
                 "about your work, and answer one of them honestly.", "numerology", {"life_path": "7"}),
    JudgeRequest("The Tower card is not a punishment. When plans collapse, list what still stands, and choose one "
                 "small thing to rebuild on Saturday morning.", "tarot", {"card": "The Tower"}),
]
SALAD = [
    JudgeRequest("Crystal vibration Saturn lantern essence the align of moon chakra purple seven seven whisper "
                 "fork energy the the karmic toaster retrograde.", "astrology", {"sun_sign": "Leo"}),
    JudgeRequest("Numbers frequency divine blue seven door because aura cosmic window path path life spoon "
                 "manifest vibration of the universe spiral.", "numerology", {"life_path": "3"}),
    JudgeRequest("Tower card moon heart sky river the card card upright mirror energy seven ocean tomorrow "
                 "crystal the whisper of of tarot.", "tarot", {"card": "The Tower"}),
]


@pytest.fixture(scope="module")
def model_settings(tmp_path_factory, shipped_model) -> ModelSettings:
    return ModelSettings(cache_dir=cache_holding(tmp_path_factory.mktemp("prefill-cache"), shipped_model),
                         model=None)


@pytest.fixture(scope="module")
def scorer(shipped_model) -> PrefillScorer:
    from kasper.agents.runtime import model_store

    return PrefillScorer(*model_store.load(shipped_model))


def judge_settings(**overrides) -> JudgeSettings:
    return JudgeSettings(**{"base_url": None, "persist_cache": False, **overrides})


# --- no model -----------------------------------------------------------------------


def test_the_expected_score_splits_one_into_one_and_ten():
    assert expected_score({7: 1.0}) == (7.0, 1.0)
    value, mass = expected_score({1: 0.4, 9: 0.4}, p_zero_after_one=0.5)  # "1" then "0" half the time
    assert value == pytest.approx((0.2 * 1 + 0.2 * 10 + 0.4 * 9) / 0.8) and mass == pytest.approx(0.8)
    value, _ = expected_score({s: 0.01 for s in range(1, 10)} | {10: 0.91})  # 10 as one token: no split
    assert value > 9.0


def test_with_no_base_url_the_role_uses_the_prefill_judge_and_a_base_url_the_client():
    async def clients():
        local, remote = JudgeRole(judge_settings()), JudgeRole(judge_settings(base_url="http://127.0.0.1:9/v1"))
        try:
            return await local.client(), await remote.client()
        finally:
            await local.aclose()
            await remote.aclose()
    local, remote = asyncio.run(clients())
    assert isinstance(local, LocalJudge) and isinstance(remote, JudgeClient)


def test_a_missing_model_is_an_outage_the_role_holds_not_bad_input(tmp_path):
    missing = ModelSettings(model=tmp_path / "no-model", cache_dir=tmp_path)

    async def ask(timeout_s: float):
        role = JudgeRole(judge_settings(), missing)
        try:
            return await asyncio.wait_for(judge_until_answered(role.judge, GOOD[0], 0.05, 0.05), timeout_s)
        finally:
            await role.aclose()
    with pytest.raises(asyncio.TimeoutError):  # held (asked again and again), never dead-lettered
        asyncio.run(ask(1.0))

    async def once():
        async with LocalJudge(judge_settings(), missing) as judge:
            return await judge.judge(GOOD[0])
    with pytest.raises(JudgeUnavailable) as caught:
        asyncio.run(once())
    assert caught.value.reason == "embedded_start" and "KASPER_MODEL" in str(caught.value)


# --- the model ----------------------------------------------------------------------


@pytest.mark.model
def test_scores_are_in_range_deterministic_and_do_not_depend_on_the_batch(scorer):
    batch = scorer.score(GOOD + SALAD)
    again = scorer.score(GOOD + SALAD)
    alone = [scorer.score([r])[0] for r in (GOOD[0], SALAD[2])]
    for scored in batch:
        assert set(scored.scores) == set(CRITERIA)
        assert all(1.0 <= v <= 10.0 for v in scored.scores.values())
        assert all(0.5 < m <= 1.0 for m in scored.score_mass.values())  # the model does want a score there
        assert scored.safety in SAFETY_FLAGS and sum(scored.safety_p.values()) == pytest.approx(1.0)
    assert [s.scores for s in again] == [s.scores for s in batch]
    for one, in_batch in zip(alone, (batch[0], batch[5])):  # float rounding of other matmul shapes only
        assert all(abs(one.scores[c] - in_batch.scores[c]) < 0.02 for c in CRITERIA)
    # The insight reaches the scores: not one prior for every text.
    assert len({round(s.scores["clarity"], 3) for s in batch}) > 3
    stats = scorer.last_stats
    assert stats.rows == 1 and 20 < stats.prefill_tokens < 120 and stats.branch_tokens < 80


@pytest.mark.model
def test_one_pass_for_every_criterion_reads_what_separate_passes_read(scorer):
    assert scorer.together  # the shipped model's layers take a mask: the branches share one pass
    try:
        scorer.together = False
        apart = scorer.score([GOOD[0], SALAD[0]])
    finally:
        scorer.together = True
    together = scorer.score([GOOD[0], SALAD[0]])
    first = CRITERIA[0]  # the first branch sits where it would alone: the block mask hides the rest
    for one, other in zip(apart, together):
        assert one.scores[first] == pytest.approx(other.scores[first], abs=1e-3)
        # The later ones sit a few positions further from the insight: close, not equal.
        assert all(abs(one.scores[c] - other.scores[c]) < 0.5 for c in CRITERIA)
        assert one.safety_p["none"] == pytest.approx(other.safety_p["none"], abs=0.05)


@pytest.mark.model
def test_the_rubric_prefix_read_once_per_batch_gives_what_a_copy_per_row_gives(scorer):
    assert scorer.grouped  # the shipped model's attention takes the shared-prefix cache
    try:
        scorer.grouped = False
        copied = scorer.score(GOOD + SALAD)
    finally:
        scorer.grouped = True
    shared = scorer.score(GOOD + SALAD)
    for one, other in zip(copied, shared):  # float rounding only
        assert all(one.scores[c] == pytest.approx(other.scores[c], abs=1e-3) for c in CRITERIA)
        assert all(one.safety_p[f] == pytest.approx(other.safety_p[f], abs=1e-3) for f in SAFETY_FLAGS)


@pytest.mark.model
def test_good_texts_against_word_salad(scorer):
    """What the 135M model can tell apart in a prefill (bench/RESULTS.md has the corpus figures)."""
    good = [statistics.fmean(s.scores.values()) for s in scorer.score(GOOD)]
    salad = [statistics.fmean(s.scores.values()) for s in scorer.score(SALAD)]
    gap = statistics.fmean(good) - statistics.fmean(salad)
    # The 135M model cannot tell them apart this way (the gap measured here was about 0; on
    # the development corpus, docs/judge.md). What holds: its scores stay mid-scale, so at the
    # production threshold it approves no salad; a judge that separates them fails this
    # test and should replace it with the direction.
    assert max(good + salad) < 7.0
    assert abs(gap) < 0.5


@pytest.mark.model
def test_verdicts_validate_and_the_policy_decides(model_settings):
    grade = sample_record("Grade")

    async def run():
        async with LocalJudge(judge_settings(concurrency=4, approve_threshold=4.0), model_settings) as judge:
            first = await asyncio.gather(*(judge.judge(r) for r in GOOD + SALAD[:1]))
            cached = await judge.judge(GOOD[0])
            return first, cached, judge.model
    results, cached, model = asyncio.run(run())
    assert model.endswith(f":{ENGINE_VERSION}")
    for result in results:
        result = with_reason(result, 4.0)
        verdict = llm_verdict(grade["insight_id"], grade["prompt_id"], result, grade)
        validate("Verdict", verdict)
        Codec().encode("Verdict", verdict)
        assert verdict["judge_model"] == model and verdict["score_mode"] == "logprobs"
        assert verdict["cost_usd"] == 0 and verdict["usage"]["completion_tokens"] == 0
        assert 20 < verdict["usage"]["prompt_tokens"] < 200  # the insight and the branches, not the rubric
        assert result.answer.recommendation is None and "model gave no recommendation" in result.decision_reason
        if result.recommendation != "APPROVE":  # the policy's notes: the two weakest criteria
            assert result.revise_notes.startswith("Improve ")
    assert cached.cached and cached.answer == results[0].answer and cached.prompt_tokens == 0


@pytest.mark.model
def test_an_insight_that_fails_alone_is_dead_lettered_and_its_batch_is_not(model_settings, monkeypatch):
    bad = JudgeRequest("this one breaks the scorer")

    async def run():
        async with LocalJudge(judge_settings(concurrency=4), model_settings) as judge:
            await judge.start()
            real = judge._scorer.score

            def score(requests):  # a fault in MLX for one insight, whatever batch it is in
                if bad in requests:
                    raise RuntimeError("injected MLX failure")
                return real(requests)
            monkeypatch.setattr(judge._scorer, "score", score)
            return await asyncio.gather(*(judge.judge(r) for r in (GOOD[0], bad, GOOD[1])), return_exceptions=True)
    good_one, failed, good_two = asyncio.run(run())
    assert isinstance(failed, JudgeRequestError) and failed.reason == "local_error"
    assert "injected MLX failure" in str(failed)
    assert good_one.answer.score_mode == good_two.answer.score_mode == "logprobs"


# --- the role on the broker -----------------------------------------------------------


async def _feed(prefix: str, count: int) -> None:
    async with Producer() as producer:
        for i in range(count):
            grade = sample_record("Grade")
            grade["insight_id"] = grade["insight"]["insight_id"] = f"{prefix}{i}"
            grade["insight"]["text"] = (GOOD + SALAD)[i % 6].text
            grade["passed"] = True
            await producer.send(topics.GRADES, grade)


def _verdicts(prefix: str, until: int, timeout_s: float = 180) -> dict[str, dict]:
    async def run():
        found, deadline = {}, time.monotonic() + timeout_s
        while len(found) < until and time.monotonic() < deadline:
            async for r in read(get_settings().kafka, Codec(), topics.VERDICTS.name, from_beginning=True,
                                idle_timeout_s=1.0):
                if (r.record or {}).get("insight_id", "").startswith(prefix):
                    found[r.record["insight_id"]] = r.record
        return found
    return asyncio.run(run())


@pytest.mark.broker
@pytest.mark.model
def test_the_judge_role_on_the_broker_judges_with_the_prefill_engine(broker, shipped_model, tmp_path):
    prefix, count = f"judge-prefill-{uuid.uuid4().hex[:8]}-", 6
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASPER_JUDGE_")}
    env.update(KASPER_MODEL=str(shipped_model), KASPER_CACHE_DIR=str(tmp_path / "cache"),
               KASPER_WEB_PORT=str(free_port()), KASPER_METRICS_PORT=str(free_port()))
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen([str(Path(sys.executable).with_name("kasper")), "worker", "--agents", "judge"],
                                  stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        asyncio.run(_feed(prefix, count))
        verdicts = _verdicts(prefix, count)
        assert sorted(verdicts) == sorted(f"{prefix}{i}" for i in range(count)), log_path.read_text()[-3000:]
        for verdict in verdicts.values():
            assert verdict["judge_model"] == f"{shipped_model.name}:{ENGINE_VERSION}"
            assert verdict["score_mode"] == "logprobs" and verdict["usage"]["completion_tokens"] == 0
            assert verdict["grade"]["insight_id"] == verdict["insight_id"]
        assert worker.poll() is None, "the worker died"
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    assert code == 0, log_path.read_text()[-3000:]
    assert "mlx_lm.server" not in log_path.read_text()


@pytest.mark.model
def test_the_judge_and_the_generator_share_one_copy_of_the_model_and_use_it_at_once(shipped_model):
    from kasper.agents.runtime.backend import GenRequest, Sampling
    from kasper.agents.runtime.mlx_backend import MLXBackend
    from kasper.streams.settings import GenerateSettings

    models = ModelSettings(model=shipped_model)
    greedy = Sampling(temperature=0.0, top_p=1.0, max_tokens=24)
    requests = [GenRequest([{"role": "user", "content": f"Give one tip for a calm evening, number {i}."}],
                           "lite", greedy, seed=i) for i in range(4)]

    async def run():
        backend = MLXBackend(models, GenerateSettings(max_tokens=24))
        await backend.start()
        try:
            async with LocalJudge(judge_settings(concurrency=4), models) as judge:
                alone_text = [r.text for r in await backend.generate(requests)]
                alone_scores = [(await judge.judge(r)).answer.scores for r in GOOD]
                shared = judge._scorer.model is backend._tiers["lite"].engine.model
            # A second judge (its verdict cache empty) and the generator, on the same weights
            # from their two MLX threads at the same time.
            async with LocalJudge(judge_settings(concurrency=4), models) as judge:
                texts, *verdicts = await asyncio.gather(backend.generate(requests),
                                                        *(judge.judge(r) for r in GOOD))
                shared = shared and judge._scorer.model is backend._tiers["lite"].engine.model
            return alone_text, alone_scores, [r.text for r in texts], [v.answer.scores for v in verdicts], shared
        finally:
            await backend.close()

    alone_text, alone_scores, texts, scores, shared = asyncio.run(run())
    assert shared  # one copy of the weights in the worker
    assert texts == alone_text and all(len(t) > 10 for t in texts)
    for one, other in zip(alone_scores, scores):  # a batch of another size: float rounding only
        assert all(one[c] == pytest.approx(other[c], abs=0.02) for c in CRITERIA)
