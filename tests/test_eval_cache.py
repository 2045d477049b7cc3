"""The incumbent's evaluation numbers kept between windows (trainer/eval_cache.py).

The file tests need no model; the model tests evaluate the real shipped model
twice and check the second evaluation reuses what the first computed, and
computes exactly what is new.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from kasper.agents.runtime.blas import mx  # noqa: F401  (OpenBLAS before mlx.core)
from kasper.agents.runtime import model_store
from kasper.trainer import evaluate, probes
from kasper.trainer.config import PromotionPolicy, TierTraining
from kasper.trainer.eval_cache import IncumbentCache, example_key, model_key, probes_key
from kasper.trainer.eval_set import golden_examples
from kasper.trainer.probes import probe_prompts

PARAMS = TierTraining(batch_size=4, max_seq_length=352)
POLICY = PromotionPolicy(probe_count=2, probe_max_tokens=16)


def test_a_cache_of_another_model_is_empty_and_is_replaced(tmp_path):
    first = IncumbentCache(tmp_path, "standard", "model-a")
    first.losses = {"x": [1.5, 3], "y": [2.0, 4]}
    first.probes = {"p": ["an answer"]}
    first.save(["x"])  # only this evaluation's examples are kept
    again = IncumbentCache(tmp_path, "standard", "model-a")
    assert again.losses == {"x": [1.5, 3]} and again.probes == {"p": ["an answer"]}
    other = IncumbentCache(tmp_path, "standard", "model-b")
    assert other.losses == {} and other.probes == {}
    other.save([])
    assert json.loads(first.path.read_text())["model"] == "model-b"
    assert not list(first.path.parent.glob("*.tmp"))
    assert IncumbentCache(tmp_path, "lite", "model-a").losses == {}  # no file of that model


def test_a_tiers_first_evaluation_takes_what_another_tier_measured_on_the_same_model(tmp_path):
    standard = IncumbentCache(tmp_path, "standard", "base")
    standard.losses = {"golden-1": [1.5, 3], "golden-2": [2.5, 5]}
    standard.probes = {"p": ["an answer"]}
    standard.save(["golden-1", "golden-2"])
    promoted = IncumbentCache(tmp_path, "pro", "pro-adapter")  # another model: not taken
    promoted.losses = {"golden-1": [9.0, 3]}
    promoted.save(["golden-1"])
    candidate = IncumbentCache(tmp_path, "lite", "base", role="candidate")
    candidate.losses = {"golden-3": [7.0, 1]}
    candidate.save(["golden-3"])  # a candidate's file is no incumbent's
    lite = IncumbentCache(tmp_path, "lite", "base")
    assert lite.losses == {"golden-1": [1.5, 3], "golden-2": [2.5, 5]} and lite.probes == {"p": ["an answer"]}
    assert IncumbentCache(tmp_path, "lite", "other").losses == {}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"model": "m", "losses": {"x": 3}}'])
def test_a_damaged_cache_file_is_read_as_empty(tmp_path, content):
    cache = IncumbentCache(tmp_path, "standard", "m")
    cache.path.parent.mkdir(parents=True)
    cache.path.write_text(content)
    assert IncumbentCache(tmp_path, "standard", "m").losses == {}


def test_an_unsafe_tier_name_is_refused(tmp_path):
    with pytest.raises(Exception, match="tier"):
        IncumbentCache(tmp_path, "../elsewhere", "m")


def test_the_keys_change_with_what_the_numbers_depend_on(tmp_path):
    messages = golden_examples(count=1)[0].messages
    key = example_key(messages, 352, True)
    assert key == example_key(list(messages), 352, True)
    assert key != example_key(messages, 512, True) != example_key(messages, 352, False)
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"weights")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapters.safetensors").write_bytes(b"lora-1")
    (adapter / "adapter_config.json").write_text("{}")
    with_adapter = model_key(base, adapter)
    assert model_key(base, None) != with_adapter
    (adapter / "adapters.safetensors").write_bytes(b"lora-2")
    assert model_key(base, adapter) != with_adapter


def test_a_cache_that_cannot_be_written_is_skipped_and_the_evaluation_goes_on(tmp_path):
    # The cache's folder is taken by a file: mkdir fails with an OSError.
    blocked = tmp_path / "adapters"
    blocked.write_text("not a folder")
    cache = IncumbentCache(blocked, "standard", "model-a")
    cache.losses = {"x": [1.5, 3]}
    cache.save(["x"])  # logged, not raised: the numbers are recomputed next time
    assert blocked.read_text() == "not a folder"
    assert IncumbentCache(blocked, "standard", "model-a").losses == {}


@pytest.mark.model
def test_golden_answers_are_what_the_generate_stage_serves_for_the_same_prompts(shipped_model):
    import asyncio

    from kasper.agents.generation import Generator
    from kasper.agents.runtime.mlx_backend import MLXBackend
    from kasper.streams.settings import GenerateSettings, ModelSettings

    settings = GenerateSettings(max_tokens=24)
    prompts = probe_prompts(4, "standard")
    requests = probes.probe_requests(prompts, settings)
    generator = Generator(None, settings)  # only its chat and sampling are used, no backend
    for prompt, request in zip(prompts, requests):
        # The generator's own chat (template + the package's exemplars) and tier sampling.
        assert request.messages == generator.chat(prompt)[2] and len(request.messages) == 6
        assert request.sampling == generator.sampling["standard"] and request.sampling.loop_ngram
    assert len({r.seed for r in requests}) == 4

    async def served():
        backend = MLXBackend(ModelSettings(model=shipped_model), settings)
        await backend.start()
        try:
            return [r.text for r in await backend.generate(requests)]
        finally:
            await backend.close()

    model, tokenizer = model_store.load(shipped_model)
    answers = probes.answer_probes(model, tokenizer, requests)
    assert answers == asyncio.run(served())
    assert all(a.strip() for a in answers)
    # A cap shortens them; the cache key tells the two sets apart.
    capped = probes.probe_requests(prompts, settings, max_tokens=8)
    assert all(r.sampling.max_tokens == 8 for r in capped)
    assert probes_key(capped) != probes_key(requests) == probes_key(probes.probe_requests(prompts, settings))


@pytest.mark.model
def test_the_second_evaluation_reuses_the_first_and_computes_only_what_is_new(shipped_model, tmp_path,
                                                                               monkeypatch):
    loads = []
    real_load = model_store.load
    monkeypatch.setattr(model_store, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    examples = golden_examples(count=6)
    key = model_key(shipped_model, None)
    fresh = evaluate.evaluate_model(shipped_model, None, examples[:5], PARAMS, POLICY, "standard")
    cache = IncumbentCache(tmp_path, "standard", key)
    first = evaluate.evaluate_model(shipped_model, None, examples[:5], PARAMS, POLICY, "standard", cache=cache)
    assert (cache.hits, cache.misses) == (0, 5) and len(loads) == 2
    cache = IncumbentCache(tmp_path, "standard", key)
    second = evaluate.evaluate_model(shipped_model, None, examples[:5], PARAMS, POLICY, "standard", cache=cache)
    assert (cache.hits, cache.misses) == (5, 0) and len(loads) == 2  # the model was not loaded
    assert second == first
    for a, b in ((fresh, first),):
        assert a.tokens == b.tokens and a.thumbs == b.thumbs and a.rubric == b.rubric
        assert a.losses == pytest.approx(b.losses, rel=1e-4)
    # One new example: the model is loaded for it alone; the rest comes from the cache.
    cache = IncumbentCache(tmp_path, "standard", key)
    third = evaluate.evaluate_model(shipped_model, None, examples, PARAMS, POLICY, "standard", cache=cache)
    assert (cache.hits, cache.misses) == (5, 1) and len(loads) == 3
    assert third.losses[:5] == first.losses and third.tokens[5] > 0
    # Another probe length is another set of answers.
    longer = dataclasses.replace(POLICY, probe_max_tokens=24)
    cache = IncumbentCache(tmp_path, "standard", key)
    evaluate.evaluate_model(shipped_model, None, examples, PARAMS, longer, "standard", cache=cache)
    assert len(loads) == 4 and len(cache.probes) == 2


@pytest.mark.model
def test_a_second_look_answers_only_the_new_samples_and_scores_every_answer(shipped_model, tmp_path,
                                                                             monkeypatch):
    from kasper.streams.simulated_users import thumbs_up_rate

    policy = dataclasses.replace(POLICY, probe_samples=1, probe_extra_samples=1)
    asked = []
    real_answer = probes.answer_probes
    monkeypatch.setattr(evaluate, "answer_probes",
                        lambda model, tokenizer, requests: asked.append(list(requests))
                        or real_answer(model, tokenizer, requests))
    examples, key = golden_examples(count=2), model_key(shipped_model, None)
    first = evaluate.evaluate_model(shipped_model, None, examples, PARAMS, policy, "standard",
                                    cache=IncumbentCache(tmp_path, "standard", key))
    cache = IncumbentCache(tmp_path, "standard", key)
    second = evaluate.evaluate_model(shipped_model, None, examples, PARAMS, policy, "standard", cache=cache,
                                     second_look=True)
    # Two prompts, one answer each; then one new answer each, with seeds of their own.
    assert [len(batch) for batch in asked] == [2, 2]
    assert {r.seed for r in asked[0]}.isdisjoint({r.seed for r in asked[1]})
    assert [r.messages for r in asked[0]] == [r.messages for r in asked[1]]
    assert (cache.hits, cache.misses) == (2, 0) and second.losses == first.losses
    assert (first.answers, second.answers) == (2, 4)
    # Each prompt's rate is the mean over its first answer and its new one.
    new_texts = cache.probes[probes_key(asked[1])]
    for prompt, before, after, text in zip(probe_prompts(2, "standard"), first.thumbs, second.thumbs, new_texts):
        assert after == pytest.approx((before + thumbs_up_rate(text, prompt["context"])) / 2)
    # Asked again, a second look computes nothing.
    again = evaluate.evaluate_model(shipped_model, None, examples, PARAMS, policy, "standard",
                                    cache=IncumbentCache(tmp_path, "standard", key), second_look=True)
    assert len(asked) == 2 and again == second


def test_each_golden_prompt_gets_its_own_seeded_samples_and_one_averaged_score():
    from kasper.streams.settings import GenerateSettings
    from kasper.streams.simulated_users import thumbs_up_rate

    prompts = probe_prompts(3, "standard")
    requests = probes.probe_requests(prompts, GenerateSettings(), samples=2)
    assert len(requests) == 6 and len({r.seed for r in requests}) == 6
    assert [r.messages for r in requests[:2]] == [requests[0].messages] * 2  # a prompt's samples in a row
    assert probes.probe_requests(prompts, GenerateSettings(), samples=2) == requests  # seeded by id
    short, long_ = "You did one thing today. Write it down.", " ".join(["You walk to the kitchen."] * 30)
    texts = [short, long_] * 3
    thumbs, scores, passed = probes.score_probes(texts, prompts, samples=2)
    assert len(thumbs) == len(scores) == len(passed) == 3
    for p, value in zip(prompts, thumbs):
        expected = (thumbs_up_rate(short, p["context"]) + thumbs_up_rate(long_, p["context"])) / 2
        assert value == pytest.approx(expected)
    assert all(0.0 <= x <= 1.0 for x in passed)


def test_a_promoted_candidates_numbers_become_the_incumbents(tmp_path):
    old = IncumbentCache(tmp_path, "standard", "model-a")
    old.losses = {"x": [1.5, 3]}
    old.save(["x"])
    candidate = IncumbentCache(tmp_path, "standard", "model-b", role="candidate")
    assert candidate.losses == {} and candidate.path != old.path
    candidate.losses, candidate.probes = {"x": [1.2, 3], "y": [2.0, 4]}, {"p": ["an answer"]}
    candidate.save(["x", "y"])
    assert IncumbentCache(tmp_path, "standard", "model-a").losses == {"x": [1.5, 3]}  # not yet
    candidate.promote()
    now = IncumbentCache(tmp_path, "standard", "model-b")
    assert now.losses == {"x": [1.2, 3], "y": [2.0, 4]} and now.probes == {"p": ["an answer"]}
    assert not candidate.path.exists()
    candidate.promote()  # nothing to move: logged, not raised
