"""The run report: figures and page drawn from what a run observed (no Kafka needed)."""

from __future__ import annotations

import json

import pytest

from kasper.agents.route import rejected
from kasper.schemas import Codec
from kasper.streams import topics
from kasper.streams.cli.progress import Tally
from kasper.streams.cli.report import RunData, calibration, train_steps, windows_closed_on_request, write_report

PNG = b"\x89PNG\r\n\x1a\n"
RUBRIC, JUDGE = "rubric-1.0", "judge-rubric-1.0"


def _grade(i: int, final: float, gates: list[str] | None = None, version: str = RUBRIC) -> dict:
    names = ("spiritual_authenticity", "practical_wisdom", "emotional_resonance",
             "clarity_coherence", "actionability", "originality")
    return {"insight_id": f"i{i}", "scores": {n: final for n in names}, "final_score": final,
            "passed": final >= 0.6 and not gates, "gate_failures": gates or [], "prompt_id": f"p{i}",
            "grader_version": version}


def _verdict(grade: dict, decision: str, overall: float) -> dict:
    i = grade["prompt_id"][1:]
    return {"insight_id": f"i{i}", "prompt_id": f"p{i}", "recommendation": decision, "cost_usd": 0.001,
            "overall": overall, "rationale": "judged", "rubric_version": JUDGE, "grade": grade}


def _feedback(feedback_id: str, insight_id: str, rating: str) -> dict:
    return {"feedback_id": feedback_id, "insight_id": insight_id, "user_hash": "h", "rating": rating,
            "stars": None, "comment": None}


def _observed_tally() -> Tally:
    """Insights i0-i3 under rubric-1.0 (i3 fails a gate: the rubric's own REVISE, no LLM),
    i4-i5 under rubric-2.0; thumbs on some of them."""
    tally, codec = Tally(), Codec()
    rows = [(0.62, 5.9, "REVISE", None, RUBRIC), (0.7, 6.4, "APPROVE", None, RUBRIC),
            (0.8, 6.9, "APPROVE", None, RUBRIC), (0.4, 1.0, "REVISE", ["medical_directive: x"], RUBRIC),
            (0.9, 8.0, "APPROVE", None, "rubric-2.0"), (0.7, 7.0, "APPROVE", None, "rubric-2.0")]
    for i, (final, overall, decision, gates, version) in enumerate(rows):
        tally.observe(codec, topics.INSIGHTS.name, {"prompt_id": f"p{i}", "insight_id": f"i{i}",
                                                    "completion_tokens": 90, "latency_ms": 1000.0,
                                                    "adapter_version": "lite-0001" if i >= 4 else None})
        grade = _grade(i, final, gates, version)
        tally.observe(codec, topics.GRADES.name, grade)
        verdict = _verdict(grade, decision, overall)
        tally.observe(codec, topics.VERDICTS.name, verdict)
        if i == 0:  # the router's final REJECT, read back: not a second opinion of the judge
            tally.observe(codec, topics.VERDICTS.name, rejected(verdict, "still REVISE after 3 attempts"))
    for feedback in (_feedback("f0", "i0", "down"), _feedback("f1", "i1", "up"), _feedback("f2", "i2", "down"),
                     _feedback("f2", "i2", "down"),  # redelivered
                     _feedback("f3", "i3", "down"), _feedback("f4", "i1", "none"),
                     _feedback("f5", "elsewhere", "up")):
        tally.observe(codec, topics.FEEDBACK.name, feedback)
    tally.observe(codec, topics.TRAINING_WINDOWS.name, {"window_id": "lite-w1"})
    tally.observe(codec, topics.TRAINING_WINDOWS.name, {"window_id": "pro-w2"})
    tally.observe(codec, topics.MODELS.name, {
        "window_id": "lite-w1", "version": "lite-0001", "promoted": True, "reason": "promoted: test loss",
        "metrics": {"test_loss": 3.4, "current_test_loss": 4.0, "probe_mean": 0.51,
                    "current_probe_mean": 0.43, "loss_improvement": 0.15, "loss_ci_low": 0.121,
                    "loss_ci_high": 0.178, "eval_n": 47.0, "thumbs_up_rate": 0.712,
                    "current_thumbs_up_rate": 0.651, "thumbs_improvement": 0.094, "thumbs_ci_low": 0.031,
                    "thumbs_ci_high": 0.16, "thumbs_n": 32.0, "thumbs_answers": 128.0, "eval_looks": 2.0}})
    return tally


def test_tally_keeps_what_the_report_draws():
    tally = _observed_tally()
    # Only verdicts of grades that passed the rubric were judged by the LLM; the router's
    # REJECT of i0 counts as an outcome, not as a judgement.
    assert [d for _, _, d in tally.judged] == ["REVISE", "APPROVE", "APPROVE", "APPROVE", "APPROVE"]
    assert tally.outcomes["p0"] == "rejected" and tally.counts["verdict_REJECT"] == 1
    assert len(tally.criterion_scores["originality"]) == 6 and tally.counts["grades_passed"] == 5
    assert tally.rubric["i3"] == (RUBRIC, "REJECT") and "i3" not in tally.llm_verdicts
    assert len(tally.thumbs) == 6 and tally.thumbs["f4"] == ("i1", None)
    assert tally.windows_pending() == ["pro-w2"]
    assert "training window" not in tally.funnel()
    tally.failed_windows["pro-w2"] = "window pro-w2 has no training examples"
    assert tally.windows_pending() == []
    # The outcome counts are per prompt: a dead-lettered window is named apart in the funnel.
    assert "(1 training window, not prompts)" in tally.funnel()


def test_train_steps_are_read_from_json_log_lines_and_others_are_skipped():
    lines = [json.dumps({"event": "train step", "tier": "lite", "step": 1, "loss": 4.1}),
             "worker kasper-x: roles generate, metrics http://127.0.0.1:9464/metrics",
             '{"event": "train step", "tier": "lite", "st',  # cut by a crash
             json.dumps({"event": "model version", "tier": "lite"}),
             json.dumps({"event": "train step", "tier": "lite", "step": 2, "loss": 3.7})]
    assert [(e["step"], e["loss"]) for e in train_steps(lines)] == [(1, 4.1), (2, 3.7)]


def test_windows_closed_on_request_are_read_from_the_last_such_line():
    event = "closed every open window on request"
    assert windows_closed_on_request([json.dumps({"event": "train step", "step": 1})]) is None
    lines = [json.dumps({"event": event, "windows": ["lite-1"]}),
             '{"event": "closed every open window on request", "wind',  # cut by a crash
             json.dumps({"event": "window closed", "windows": ["x"]}),
             json.dumps({"event": event, "windows": ["lite-2", "standard-2"]})]
    assert windows_closed_on_request(lines) == ["lite-2", "standard-2"]
    assert windows_closed_on_request([json.dumps({"event": event, "windows": []})]) == []


def test_calibration_per_version_pair_with_thumbs():
    calib = calibration(_observed_tally())
    assert (calib["feedback"], calib["feedback_with_thumbs"], calib["thumbs_on_insights_not_seen"]) == (6, 5, 1)
    by_version = {(s["rubric_version"], s["judge_rubric_version"]): s for s in calib["sections"]}
    assert list(by_version) == [(RUBRIC, JUDGE), (RUBRIC, None), ("rubric-2.0", JUDGE)]

    main = by_version[(RUBRIC, JUDGE)]
    assert main["pairs"] == 3 and main["rubric_decisions"] == {"REJECT": 0, "REVISE": 0, "APPROVE": 3}
    assert main["judge_decisions"] == {"REJECT": 0, "REVISE": 1, "APPROVE": 2}
    assert main["confusion_rubric_by_judge"]["APPROVE"] == {"REJECT": 0, "REVISE": 1, "APPROVE": 2}
    # A constant rubric: kappa 0 however often the judge agrees, and the section says why.
    assert main["kappa"] == 0.0 and main["spearman"] == pytest.approx(1.0)
    assert any("APPROVE on all 3 pairs" in n for n in main["notes"])
    # Thumbs (down, up, down) on i0-i2: judge (REVISE, APPROVE, APPROVE) agrees once;
    # kappa (3*1 - 2) / (9 - 2); linear weighted 1 - 1.5 / (5.5 / 3).
    assert main["judge_thumbs"] == {"pairs": 3, "agree": 1, "kappa": pytest.approx(1 / 7, abs=1e-4),
                                    "weighted_kappa_linear": pytest.approx(2 / 11, abs=1e-4)}
    assert main["rubric_thumbs"]["pairs"] == 3 and main["rubric_thumbs"]["kappa"] == 0.0

    gated = by_version[(RUBRIC, None)]  # i3: never judged, the gate's REJECT met a thumbs down
    assert gated["pairs"] == 0 and gated["kappa"] is None and gated["spearman"] is None
    assert gated["rubric_thumbs"] == {"pairs": 1, "agree": 1, "kappa": 1.0, "weighted_kappa_linear": 1.0}
    assert gated["judge_thumbs"]["pairs"] == 0 and "the LLM judged none of these insights" in gated["notes"]

    newer = by_version[("rubric-2.0", JUDGE)]  # both constant alike: kappa 1 by convention
    assert newer["pairs"] == 2 and newer["kappa"] == 1.0 and newer["spearman"] is None
    assert "no thumbs up or down on these insights" in newer["notes"]
    assert "feedback never reaches the router" in calib["metrics"]


def test_calibration_without_feedback_says_so():
    tally, codec = Tally(), Codec()
    for i, (decision, overall) in enumerate([("APPROVE", 8.0), ("REVISE", 5.0), ("REJECT", 2.0)]):
        grade = _grade(i, 0.6 + 0.1 * i)
        tally.observe(codec, topics.GRADES.name, grade)
        tally.observe(codec, topics.VERDICTS.name, _verdict(grade, decision, overall))
    [section] = calibration(tally)["sections"]
    assert section["pairs"] == 3 and section["spearman"] == pytest.approx(-1.0)
    assert "no feedback yet" in section["notes"] and section["judge_thumbs"]["kappa"] is None


def test_write_report_draws_every_figure_and_links_them(tmp_path):
    tally = _observed_tally()
    samples = [(0.0, {}, 0), (5.0, {topics.INSIGHTS.name: 2}, 180),
               (10.0, dict(tally.counts), tally.completion_tokens)]
    steps = [{"event": "train step", "tier": "lite", "step": s, "loss": 4.2 - 0.1 * s} for s in (1, 2, 3)]
    summary = {"prompts": 4, "seconds": 12.0, "outcomes": {"approved": 2, "rejected": 0,
                                                          "dead-lettered": 0}, "run_dir": "runs/x"}
    page = write_report(tmp_path, RunData(summary, tally, samples, steps))
    html = page.read_text()
    for name in ("funnel", "throughput", "scores", "agreement", "loss", "evaluation", "users"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == PNG and png.stat().st_size > 5000, name
        assert f'src="{name}.png"' in html
    assert "lite-0001" in html and "1 of 1 adapters promoted" in html
    assert "4.000 &rarr; 3.400" in html and "0.430 &rarr; 0.510" in html
    assert "<td>+15.0% [+12.1%, +17.8%], n=47</td>" in html  # the decision's interval and sample size
    # The users' predicted thumbs-up of the golden answers, with its interval, the answers
    # behind it and whether the decision took a second look.
    assert "<td>0.651 &rarr; 0.712, +9.4% [+3.1%, +16.0%], n=32, 128 answers, second look</td>" in html
    assert "1 training run(s), 3 reported steps" in html
    assert "5 verdicts from the LLM judge" in html
    assert "Calibration: rubric, judge and people" in html and "+0.14 (1/3 agree)" in html
    assert "6 feedback records, 5 with thumbs (1 on insights this run did not grade)" in html
    assert json.loads((tmp_path / "calibration.json").read_text()) == calibration(tally)


def test_the_version_table_shows_a_canary_share(tmp_path):
    tally = _observed_tally()
    tally.observe(Codec(), topics.MODELS.name, {
        "window_id": "pro-w2", "version": "pro-0001", "promoted": True, "reason": "promoted: test loss",
        "canary_share": 0.2, "metrics": {}})
    html = write_report(tmp_path, RunData({"prompts": 1}, tally)).read_text()
    assert "<td>yes (canary 20%)</td>" in html and "<td>yes</td>" in html


def test_an_empty_run_still_gets_a_report_that_says_what_is_missing(tmp_path):
    page = write_report(tmp_path, RunData({"prompts": 0}, Tally()))
    html = page.read_text()
    assert "no training step in this run" in html and "no grades in this run" in html
    assert "nothing to compare" in html and "No feedback yet" in html
    assert json.loads((tmp_path / "calibration.json").read_text())["sections"] == []
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG


def test_the_users_curve_attributes_thumbs_to_the_version_that_wrote_each_insight():
    from kasper.streams.cli.users_curve import live_rates, predicted_rates

    tally, codec = _observed_tally(), Codec()
    # i4 and i5 were written by lite-0001: a thumb up and one down; a redelivered insight
    # record does not change who wrote it, and a thumb on an unknown insight counts nowhere.
    tally.observe(codec, topics.INSIGHTS.name, {"prompt_id": "p4", "insight_id": "i4", "completion_tokens": 1,
                                                "latency_ms": 1.0, "adapter_version": None})
    for feedback in (_feedback("f6", "i4", "up"), _feedback("f7", "i5", "down"), _feedback("f8", "nowhere", "up")):
        tally.observe(codec, topics.FEEDBACK.name, feedback)
    # i0 down, i1 up (and a thumb-less f4), i2 down, i3 down: the base model 1 of 4.
    assert live_rates(tally) == [("base", 1, 4), ("lite-0001", 1, 2)]
    [version] = predicted_rates(tally)
    assert version["version"] == "lite-0001" and version["promoted"]
    assert (version["current"], version["rate"]) == (0.651, 0.712)
    # The candidate's interval: the serving rate scaled by the paired relative interval.
    assert version["low"] == pytest.approx(0.651 * 1.031) and version["high"] == pytest.approx(0.651 * 1.16)
    assert live_rates(Tally()) == [] and predicted_rates(Tally()) == []
