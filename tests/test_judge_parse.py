# Long: many short tests, one per parsing, scoring, decision, limit and cache behaviour of the judge's plain functions.
"""The judge's plain functions: answer parsing, G-Eval scores, decisions, limits, cache, records."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import time
from email.utils import formatdate

import pytest
from prometheus_client import REGISTRY

from kasper.agents.judge import (JudgeInputError, judge_request, rubric_verdict, verdict_record)
from kasper.agents.judging.client import JudgeClient, api_key
from kasper.agents.judging.decision import JudgeResult, decide, judge_decision, with_reason
from kasper.agents.judging.errors import JudgeRefused, JudgeUnparseable
from kasper.agents.judging.limits import RateLimiter, VerdictCache, backoff_delay, retry_after_s
from kasper.agents.judging.logprobs import _byte_decoder
from kasper.agents.judging.parse import JudgeAnswer, interpret, parse_answer, read_decision
from kasper.agents.judging.request import (CRITERIA, EXAMPLES, RESPONSE_FORMAT, RUBRIC_VERSION, SAFETY_FLAGS,
                                           SYSTEM_PROMPT, JudgeRequest)
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams.settings import JudgeSettings

GOOD = '{"authenticity": 8, "practical_wisdom": 7, "emotional_resonance": 9, "clarity": 8, "originality": 6, ' \
       '"recommendation": "APPROVE", "rationale": "Warm and specific.", "revise_notes": ""}'


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- parsing -------------------------------------------------------------------


@pytest.mark.parametrize("content", [
    GOOD,
    f"```json\n{GOOD}\n```\nLet me know if you need more.",
    f"Sure! Here is the verdict: {GOOD} -- judged carefully.",
    '{"scores": {"authenticity": 8, "practical_wisdom": 7, "emotional_resonance": 9, "clarity": 8, '
    '"originality": 6}, "recommendation": "APPROVE", "rationale": "Warm and specific."}',
    '{"Authenticity Score": "8", "practicality": "7/10", "Emotional-Resonance": 9, "CLARITY": "8 out of 10", '
    '"originality_rating": 6.0, "decision": "approved", "reason": "Warm and specific."}',
    "**Authenticity**: 8/10\n**Practical wisdom**: 7/10\n**Emotional resonance**: 9\n**Clarity**: 8\n"
    "**Originality**: 6\nRecommendation: APPROVE",
])
def test_answer_shapes_parse_to_the_same_scores(content):
    answer, offsets = parse_answer(content)
    assert answer.scores == {"authenticity": 8, "practical_wisdom": 7, "emotional_resonance": 9,
                             "clarity": 8, "originality": 6}
    assert answer.recommendation == "APPROVE"
    assert set(offsets) == set(CRITERIA)


def test_truncated_rambling_answer_of_a_small_model_parses():
    # What SmolLM2-135M writes when max_tokens cuts it off: no closing brace, keys repeated.
    content = ('{"authenticity": 3, "practical_wisdom": 2, "emotional_resonance": 4, "clarity": 7, '
               '"originality": 2, "recommendation": "REVISE", "rationale": "Generic reassurance with '
               'nothing to do.", "revise_notes": "End with one step.", "rationale": "Generic', )[0]
    answer, _ = parse_answer(content)
    assert answer.scores["clarity"] == 7 and answer.recommendation == "REVISE"
    assert answer.rationale == "Generic reassurance with nothing to do."
    assert answer.revise_notes == "End with one step."


def test_out_of_range_scores_are_clamped_near_the_scale_and_rejected_far_from_it():
    answer, offsets = parse_answer(GOOD.replace('"authenticity": 8', '"authenticity": 0')
                                   .replace('"clarity": 8', '"clarity": 11'))
    assert answer.scores["authenticity"] == 1 and answer.scores["clarity"] == 10
    assert "authenticity" not in offsets  # a clamped value is never probability-weighted
    for bad in ("42", "-3", "85"):
        with pytest.raises(JudgeUnparseable) as caught:
            parse_answer(GOOD.replace('"originality": 6', f'"originality": {bad}'))
        assert caught.value.reason == "out_of_range"


@pytest.mark.parametrize("content,reason", [
    ("", "empty"), ("   \n", "empty"), (None, "empty"),
    ("What a lovely, heartfelt insight. I enjoyed it.", "no_scores"),
    ('{"authenticity": 8, "clarity": 8}', "missing"),
])
def test_unusable_answers_say_why(content, reason):
    with pytest.raises(JudgeUnparseable) as caught:
        parse_answer(content)
    assert caught.value.reason == reason


def test_refusals_are_recognised():
    with pytest.raises(JudgeRefused):
        parse_answer("I'm sorry, but I can't evaluate this content.")
    with pytest.raises(JudgeRefused):
        interpret({"choices": [{"message": {"content": None, "refusal": "No."}}]}, want_logprobs=False)
    with pytest.raises(JudgeRefused):
        interpret({"choices": [{"finish_reason": "content_filter", "message": {"content": ""}}]}, False)


# --- G-Eval scores from logprobs ----------------------------------------------------


def _mlx_position(chosen: str, others: dict[str, float], p_chosen: float) -> dict:
    """mlx_lm.server's shape: byte-level BPE strings, unsorted top-k, 'token' = the first entry."""
    top = [{"id": i, "token": t, "logprob": lp} for i, (t, lp) in enumerate(others.items())]
    top.insert(len(top) // 2, {"id": 99, "token": chosen, "logprob": math.log(p_chosen)})
    return {**top[0], "top_logprobs": top}


def _mlx_body(pieces: list[tuple[str, dict[str, float], float]]) -> dict:
    decoder = _byte_decoder()
    content = b"".join(bytes(decoder[c] for c in tok) for tok, _, _ in pieces).decode()
    positions = [_mlx_position(tok, others, p) for tok, others, p in pieces]
    return {"choices": [{"message": {"content": content}, "logprobs": {"content": positions}}]}


def _score_tokens(key: str, digit: str, spread: dict[str, float], p: float = 0.6) -> list:
    return [('Ġ"' if key != "authenticity" else '{"', {"x": -9}, 0.99), (key, {"y": -9}, 0.99),
            ('":', {"z": -9}, 0.99), ("Ġ", {"Ġ-": -8}, 0.99), (digit, spread, p), (",", {"}": -5}, 0.9)]


def test_logprob_scores_renormalise_over_score_tokens_in_mlx_shaped_answers():
    pieces = []
    for key in CRITERIA:
        # The model's top-k mixes digits with words ("The", "ĠI"): only digits count.
        pieces += _score_tokens(key, "7", {"6": math.log(0.2), "The": math.log(0.1), "ĠI": -3.0})
    body = _mlx_body(pieces)
    answer = interpret(body, want_logprobs=True)
    assert answer.score_mode == "logprobs"
    assert answer.scores["clarity"] == pytest.approx((7 * 0.6 + 6 * 0.2) / 0.8, abs=1e-3)


def test_ten_written_as_two_digit_tokens_is_split_by_the_next_token():
    pieces = _score_tokens("authenticity", "1", {"9": math.log(0.3)}, p=0.6)
    pieces[-1] = ("0", {"Ġ": math.log(0.2)}, 0.8)  # after "1": "0" with p=0.8 -> 10
    pieces.append((",", {}, 0.9))
    for key in CRITERIA[1:]:
        pieces += _score_tokens(key, "5", {})
    answer = interpret(_mlx_body(pieces), want_logprobs=True)
    p10, p1, p9 = 0.6 * 0.8, 0.6 * 0.2, 0.3
    expected = (10 * p10 + 1 * p1 + 9 * p9) / (p10 + p1 + p9)
    assert answer.scores["authenticity"] == pytest.approx(expected, abs=1e-3)


def test_criteria_without_score_tokens_fall_back_to_their_text_value():
    before = metric("kasper_judge_logprob_fallbacks_total")
    content = GOOD
    words = [{"token": w, "logprob": -0.1, "top_logprobs": [{"token": w, "logprob": -0.1}]}
             for w in content.replace(" ", " \0").split("\0")]  # word-sized tokens: digits never alone
    answer = interpret({"choices": [{"message": {"content": content}, "logprobs": {"content": words}}]}, True)
    assert answer.score_mode == "text" and answer.scores["authenticity"] == 8
    assert metric("kasper_judge_logprob_fallbacks_total") - before == len(CRITERIA)


# --- decisions, backoff, rate limits ---------------------------------------------


def _answer(*scores: float, said: str | None = None, notes: str | None = None,
            safety: str = "none") -> JudgeAnswer:
    return JudgeAnswer(dict(zip(CRITERIA, scores)), said, "why", notes, safety=safety)


def _content(*scores: int, **fields: object) -> str:
    """A model's JSON answer with these scores and fields (None values left out)."""
    body = {**dict(zip(CRITERIA, scores)), **{k: v for k, v in fields.items() if v is not None}}
    return json.dumps(body)


def test_approve_at_threshold_when_the_model_agrees_else_revise_with_notes():
    assert decide(_answer(7, 7, 7, 7, 7, said="APPROVE"), 7.0)[1:] == ("APPROVE", None)
    overall, decision, notes = decide(_answer(6, 4, 7, 7, 7, said="APPROVE"), 7.0)
    assert (overall, decision) == (6.2, "REVISE") and "practical wisdom (4.0/10)" in notes
    assert decide(_answer(2, 2, 2, 2, 2, said="REJECT"), 7.0)[1] == "REJECT"
    assert decide(_answer(5, 5, 5, 5, 5), 4.5)[1] == "APPROVE"


@pytest.mark.parametrize("scores", [(9, 9, 9, 9, 9), (10, 10, 10, 10, 10), (9, 1, 9, 9, 9)])
def test_high_scores_never_turn_the_models_reject_into_an_approve(scores):
    content = _content(*scores, recommendation="REJECT", rationale="Dangerous: tells the reader to stop "
                       "their medication.")
    answer, _ = parse_answer(content)
    decision = judge_decision(answer, 7.0)
    assert decision.recommendation == "REJECT" and decision.reason.startswith("model recommended REJECT")
    assert decide(answer, 1.0)[1] == "REJECT"  # whatever the threshold


def test_the_brief_case_9_1_9_9_9_with_reject_dangerous_is_a_reject():
    answer, _ = parse_answer(_content(9, 1, 9, 9, 9, recommendation="REJECT: dangerous"))
    decision = judge_decision(answer, 7.0)
    assert (decision.overall, decision.recommendation) == (7.4, "REJECT")
    assert decision.reason == "model recommended REJECT"


def test_a_model_revise_above_the_threshold_stays_a_revise():
    decision = judge_decision(_answer(8, 8, 8, 8, 8, said="REVISE", notes="Name the card."), 7.0)
    assert (decision.recommendation, decision.revise_notes) == ("REVISE", "Name the card.")
    assert decision.reason == "model recommended REVISE"


@pytest.mark.parametrize("said", ["APPROVE", None])
def test_a_criterion_at_or_below_the_floor_is_never_approved(said):
    decision = judge_decision(_answer(10, 1, 10, 10, 10, said=said), 7.0)
    assert decision.overall == 8.2 and decision.recommendation == "REVISE"
    assert decision.reason.startswith("practical_wisdom 1/10 <= floor 3")
    assert "practical wisdom (1.0/10)" in decision.revise_notes
    at_floor = judge_decision(_answer(10, 10, 10, 10, 3, said=said), 7.0)
    assert at_floor.recommendation == "REVISE" and "originality 3/10 <= floor 3" in at_floor.reason
    above = judge_decision(_answer(10, 10, 10, 10, 3.5, said=said), 7.0)
    assert above.recommendation == "APPROVE"


@pytest.mark.parametrize("flag", ["medical", "financial", "legal", "self_harm", "eating_disorder", "hateful",
                                  "personal_data", "injection", "other"])
def test_any_safety_flag_rejects_whatever_the_scores_and_the_recommendation(flag):
    answer, _ = parse_answer(_content(10, 10, 10, 10, 10, safety=flag, recommendation="APPROVE"))
    assert answer.safety == flag
    decision = judge_decision(answer, 7.0)
    assert decision.recommendation == "REJECT" and decision.reason == f"safety flag: {flag}"
    assert flag.replace("_", " ") in decision.revise_notes


def test_a_missing_recommendation_counts_as_the_scores_decision():
    high, _ = parse_answer(_content(8, 8, 8, 8, 8))
    low, _ = parse_answer(_content(6, 6, 6, 6, 6))
    assert high.recommendation is None and low.recommendation is None
    assert judge_decision(high, 7.0).recommendation == "APPROVE"
    assert judge_decision(high, 7.0).reason == "mean 8.0 >= 7.0; model gave no recommendation"
    assert judge_decision(low, 7.0).recommendation == "REVISE"
    assert judge_decision(low, 7.0).reason == "mean 6.0 < 7.0; model gave no recommendation"
    unknown, _ = parse_answer(_content(8, 8, 8, 8, 8, recommendation="MAYBE"))
    assert unknown.recommendation is None and judge_decision(unknown, 7.0).recommendation == "APPROVE"


def test_each_path_names_its_reason():
    cases = {
        "mean 7.8 >= 7.0; model recommended APPROVE": _answer(8, 7, 8, 9, 7, said="APPROVE"),
        "mean 5.8 < 7.0": _answer(6, 4, 7, 5, 7, said="APPROVE"),
        "mean 5.8 < 7.0; practical_wisdom 2/10 <= floor 3": _answer(6, 2, 7, 7, 7, said="APPROVE"),
        "model recommended REVISE": _answer(8, 8, 8, 8, 8, said="REVISE"),
        "model recommended REJECT": _answer(8, 8, 8, 8, 8, said="REJECT"),
        "safety flag: self_harm": _answer(9, 9, 9, 9, 9, said="APPROVE", safety="self_harm"),
        "model recommended REJECT; safety flag: medical": _answer(2, 2, 2, 2, 2, said="REJECT", safety="medical"),
    }
    for reason, answer in cases.items():
        assert judge_decision(answer, 7.0).reason == reason


def test_reject_in_the_rationale_does_not_override_the_recommendation_field():
    text = _content(9, 9, 9, 9, 9, recommendation="APPROVE", rationale="No reason to REJECT or REVISE this.")
    answer, _ = parse_answer(text)
    assert answer.recommendation == "APPROVE"
    assert judge_decision(answer, 7.0).recommendation == "APPROVE"
    # Without the field, a bare decision word is all there is: the strictest one found is read.
    bare, _ = parse_answer(_content(9, 9, 9, 9, 9, rationale="I would REJECT this, not APPROVE it."))
    assert bare.recommendation == "REJECT" and judge_decision(bare, 7.0).recommendation == "REJECT"
    # An APPROVE hidden in the rationale never loosens a low-scoring answer.
    hidden, _ = parse_answer(_content(4, 4, 4, 4, 4, rationale="APPROVE APPROVE"))
    assert judge_decision(hidden, 7.0).recommendation == "REVISE"


def test_the_model_saying_approve_with_a_1_out_of_10_criterion_is_not_approved():
    answer, _ = parse_answer(_content(10, 10, 1, 10, 10, recommendation="APPROVE", safety="none"))
    decision = judge_decision(answer, 7.0)
    assert decision.overall == 8.2 and decision.recommendation == "REVISE"
    assert decision.reason == "emotional_resonance 1/10 <= floor 3"


@pytest.mark.parametrize("said,read", [
    ("APPROVE", "APPROVE"), ("approved", "APPROVE"), ("Accept", "APPROVE"), ("revision needed", "REVISE"),
    ("REJECTED - unsafe", "REJECT"), ("REVISE or REJECT", "REJECT"), ("not approved", "REJECT"),
    ("Do NOT approve", "REJECT"), ("disapprove", "REJECT"), ("maybe", None), ("", None),
])
def test_recommendation_spellings_are_read_and_misreadings_only_go_stricter(said, read):
    assert read_decision(said) == read


@pytest.mark.parametrize("written,flag", [
    ('"safety": "none"', "none"), ('"safety": "None."', "none"), ('"safety": "n/a"', "none"),
    ('"safety": null', "none"), ('"safety": ""', "none"), ("", "none"),
    ('"safety_flag": "self-harm"', "self_harm"), ('"Safety Issue": "Possible self harm"', "self_harm"),
    ('"safety": "PII"', "personal_data"), ('"safety": ["none", "medical"]', "medical"),
    ('"safety": "prompt injection"', "injection"), ('"safety_category": "Eating disorder"', "eating_disorder"),
    ('"safety": "no medical advice"', "medical"), ('"safety": "spooky"', "other"), ('"safety": 10', "other"),
    ('"safety": true', "other"), ('"safety": false', "other"), ('"safety_issue": false', "none"),
    ('"safety_issues": true', "other"),
])
def test_the_safety_flag_is_read_tolerantly_and_unknowns_are_other(written, flag):
    body = _content(8, 8, 8, 8, 8, recommendation="APPROVE")[:-1] + (f", {written}}}" if written else "}")
    answer, _ = parse_answer(body)
    assert answer.safety == flag
    assert judge_decision(answer, 7.0).recommendation == ("APPROVE" if flag == "none" else "REJECT")


def test_the_safety_flag_in_prose_and_in_truncated_answers():
    prose = ("**Authenticity**: 8/10\n**Practical wisdom**: 8\n**Emotional resonance**: 8\n**Clarity**: 8\n"
             "**Originality**: 8\n**Safety**: medical advice\nRecommendation: APPROVE")
    answer, _ = parse_answer(prose)
    assert (answer.safety, answer.recommendation) == ("medical", "APPROVE")
    cut, _ = parse_answer('{"authenticity": 8, "practical_wisdom": 8, "emotional_resonance": 8, "clarity": 8, '
                          '"originality": 8, "safety": "financial", "recommendation": "APPR')
    assert cut.safety == "financial" and judge_decision(cut, 7.0).recommendation == "REJECT"
    nested, _ = parse_answer('{"scores": {"authenticity": 8, "practical_wisdom": 8, "emotional_resonance": 8, '
                             '"clarity": 8, "originality": 8}, "safety": "hateful", "recommendation": "APPROVE"}')
    assert nested.safety == "hateful"


def test_the_prompt_schema_and_examples_ask_for_the_safety_flag():
    schema = RESPONSE_FORMAT["json_schema"]["schema"]
    assert "safety" in schema["required"] and schema["properties"]["safety"]["enum"] == list(SAFETY_FLAGS)
    assert "safety" in SYSTEM_PROMPT and all(flag in SYSTEM_PROMPT for flag in SAFETY_FLAGS)
    for _, example in EXAMPLES:  # each worked example parses, flags nothing and decides as it says
        answer, _ = parse_answer(example)
        assert answer.safety == "none" and set(json.loads(example)) == set(schema["required"])
        assert judge_decision(answer, 7.0).recommendation == answer.recommendation
    assert RUBRIC_VERSION == "judge-rubric-2.0"


def test_verdict_cache_keeps_the_safety_flag_and_reads_rows_from_before_it(tmp_path):
    path = tmp_path / "verdicts.sqlite"
    cache = VerdictCache(path=path)
    cache.put("k", _answer(9, 9, 9, 9, 9, said="APPROVE", safety="self_harm"))
    cache.close()
    assert VerdictCache(path=path).get("k").safety == "self_harm"  # from the file, not memory
    old = sqlite3.connect(str(path))
    row = {"scores": dict(zip(CRITERIA, [8] * 5)), "recommendation": "APPROVE", "rationale": "r",
           "revise_notes": None, "score_mode": "text"}
    old.execute("INSERT INTO verdicts VALUES (?, ?, ?)", ("old", json.dumps(row), time.time()))
    old.commit()
    old.close()
    assert VerdictCache(path=path).get("old").safety == "none"


def test_backoff_honours_retry_after_and_grows_exponentially_with_jitter():
    assert all(backoff_delay(0, 0.5, 30, retry_after=3.0) >= 3.0 for _ in range(20))
    delays = [backoff_delay(n, 0.5, 8.0) for n in range(8)]
    assert all(0.25 * min(8, 0.5 * 2 ** n) <= d <= min(8, 0.5 * 2 ** n) for n, d in enumerate(delays))
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert 8 <= retry_after_s({"retry-after": formatdate(time.time() + 10, usegmt=True)}) <= 10
    assert retry_after_s({"retry-after": "soon"}) is None and retry_after_s({}) is None


def test_rate_limiter_paces_requests_and_tokens():
    async def run(limiter: RateLimiter, calls: int, tokens: float) -> float:
        started = time.monotonic()
        for _ in range(calls):
            await limiter.acquire(tokens)
        return time.monotonic() - started
    # 600 requests/min = 10/s with a one-second bucket: 10 at once, then 10 per second.
    assert asyncio.run(run(RateLimiter(requests_per_minute=600), 10, 0)) < 0.1
    assert 0.4 <= asyncio.run(run(RateLimiter(requests_per_minute=600), 15, 0)) < 0.9
    # 6,000 tokens/min = 100/s: a 50-token call twice per second after the first bucket.
    assert 0.9 <= asyncio.run(run(RateLimiter(tokens_per_minute=6000), 4, 50)) < 1.5
    paused = RateLimiter()
    paused.pause(0.3)
    assert 0.25 <= asyncio.run(run(paused, 1, 0)) < 0.6


# --- config, cache, records ---------------------------------------------------------


def test_the_client_takes_the_judge_settings_and_derives_its_cache_file(tmp_path):
    settings = JudgeSettings(base_url="http://127.0.0.1:1/v1", model="gpt-5", api_key="sk-test-abcdef",
                             timeout_s=5)
    assert settings.cache_file(tmp_path) == tmp_path / "judge" / "verdicts.sqlite"
    assert settings.cache_file(None) is None  # nowhere to put it: memory only
    assert settings.updated(persist_cache=False).cache_file(tmp_path) is None
    assert settings.updated(cache_path=tmp_path / "v.sqlite").cache_file(tmp_path) == tmp_path / "v.sqlite"
    assert "sk-test-abcdef" not in repr(settings) and api_key(settings) == "sk-test-abcdef"

    async def opened() -> JudgeClient:
        async with JudgeClient(settings.updated(concurrency=2), cache_dir=tmp_path) as client:
            return client
    client = asyncio.run(opened())
    assert client.settings.concurrency == 2 and client.settings.timeout_s == 5
    assert (tmp_path / "judge" / "verdicts.sqlite").exists()


def test_request_sends_short_context_only_and_keys_the_cache_on_model_and_rubric():
    request = JudgeRequest("Text.", "numerology", {"life_path_number": "7", "journal_snippet": "x" * 80})
    assert "life_path_number=7" in request.message() and "xxxx" not in request.message()
    keys = {request.cache_key("a", "text"), request.cache_key("b", "text"), request.cache_key("a", "logprobs")}
    assert len(keys) == 3 and request.cache_key("a", "text") == JudgeRequest("Text.", "numerology",
                                                                             {"life_path_number": "7"}).cache_key("a", "text")


def test_verdict_cache_is_an_lru_backed_by_a_sqlite_file(tmp_path):
    path = tmp_path / "c" / "verdicts.sqlite"
    cache = VerdictCache(size=2, path=path)
    for key in "abc":
        cache.put(key, _answer(5, 5, 5, 5, 5))
    assert list(cache._lru) == ["b", "c"]
    cache.close()
    reopened = VerdictCache(size=2, path=path)
    assert reopened.get("a") == _answer(5, 5, 5, 5, 5)  # evicted from memory, still on disk
    assert reopened.get("zzz") is None
    (tmp_path / "blocked").write_text("a file where the directory should be")
    memory_only = VerdictCache(path=tmp_path / "blocked" / "x.sqlite")
    memory_only.put("k", _answer(1, 1, 1, 1, 1))
    assert memory_only.get("k") is not None


def test_failed_grades_get_a_rubric_revise_verdict_that_encodes():
    grade = sample_record("Grade")
    grade.update(passed=False, final_score=0.0, letter="F", gate_failures=["personal_data: email address"])
    verdict = rubric_verdict(grade)
    assert verdict["recommendation"] == "REVISE" and verdict["judge_model"] == "rubric"
    assert verdict["cost_usd"] == 0 and verdict["overall"] == 1.0
    assert verdict["revise_notes"].startswith("personal_data: email address")
    assert verdict["decision_reason"] == "rubric: failed hard gates: personal_data: email address"
    assert verdict["safety"] is None and verdict["grade"] is grade
    Codec().encode("Verdict", verdict)


def test_llm_verdicts_carry_the_grade_the_reason_and_the_flag_and_encode():
    grade = sample_record("Grade")
    result = JudgeResult(_answer(8, 8, 8, 8, 7, said="APPROVE"), 7.8, "APPROVE", None, "gpt-5",
                         600, 60, 0.0012, 812.5)
    verdict = verdict_record(grade, with_reason(result, 7.0))
    decoded = Codec().decode(Codec().encode("Verdict", verdict), expect="Verdict").record
    assert decoded["grade"]["insight"]["text"] == grade["insight"]["text"]
    assert decoded["usage"] == {"prompt_tokens": 600, "completion_tokens": 60}
    assert decoded["decision_reason"] == "mean 7.8 >= 7.0; model recommended APPROVE"
    assert decoded["safety"] == "none"
    assert judge_request(grade).text == grade["insight"]["text"]
    with pytest.raises(JudgeInputError):
        judge_request({**grade, "insight": None})


def test_with_reason_redecides_a_result_built_without_one():
    """The client builds results through decide(): the role adds the reason, same decision."""
    answer = _answer(9, 9, 9, 9, 9, said="APPROVE", safety="injection")
    overall, decision, notes = decide(answer, 7.0)
    result = with_reason(JudgeResult(answer, overall, decision, notes, "m"), 7.0)
    assert (result.recommendation, result.decision_reason) == ("REJECT", "safety flag: injection")
    verdict = verdict_record(sample_record("Grade"), result)
    assert (verdict["recommendation"], verdict["safety"]) == ("REJECT", "injection")
    Codec().encode("Verdict", verdict)
    given = JudgeResult(answer, overall, decision, notes, "m", decision_reason="kept")
    assert with_reason(given, 7.0) is given
