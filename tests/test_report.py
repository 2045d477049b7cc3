"""The run report: figures and page drawn from what a run observed (no Kafka needed)."""

from __future__ import annotations

import json
import math

from kasper.schemas import Codec
from kasper.streams import topics
from kasper.streams.cli.progress import Tally
from kasper.streams.cli.report import RunData, spearman, train_steps, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def _grade(final: float, passed: bool) -> dict:
    names = ("spiritual_authenticity", "practical_wisdom", "emotional_resonance",
             "clarity_coherence", "actionability", "originality")
    return {"scores": {n: final for n in names}, "final_score": final, "passed": passed,
            "prompt_id": "p"}


def _observed_tally() -> Tally:
    tally, codec = Tally(), Codec()
    for i, (final, overall, decision) in enumerate([(0.62, 5.9, "REVISE"), (0.7, 6.4, "APPROVE"),
                                                     (0.8, 6.9, "APPROVE"), (0.4, 1.0, "REVISE")]):
        passed = final >= 0.6
        tally.observe(codec, topics.INSIGHTS.name, {"prompt_id": f"p{i}", "completion_tokens": 90,
                                                    "latency_ms": 1000.0})
        tally.observe(codec, topics.GRADES.name, _grade(final, passed))
        tally.observe(codec, topics.VERDICTS.name, {
            "prompt_id": f"p{i}", "recommendation": decision, "cost_usd": 0.001, "overall": overall,
            "grade": _grade(final, passed)})
    tally.observe(codec, topics.TRAINING_WINDOWS.name, {"window_id": "lite-w1"})
    tally.observe(codec, topics.TRAINING_WINDOWS.name, {"window_id": "pro-w2"})
    tally.observe(codec, topics.MODELS.name, {
        "window_id": "lite-w1", "version": "lite-0001", "promoted": True, "reason": "promoted: test loss",
        "metrics": {"test_loss": 3.4, "current_test_loss": 4.0, "probe_mean": 0.51,
                    "current_probe_mean": 0.43}})
    return tally


def test_tally_keeps_what_the_report_draws():
    tally = _observed_tally()
    # Only verdicts of grades that passed the rubric were judged by the LLM.
    assert [d for _, _, d in tally.judged] == ["REVISE", "APPROVE", "APPROVE"]
    assert len(tally.criterion_scores["originality"]) == 4 and tally.counts["grades_passed"] == 3
    assert tally.windows_pending() == ["pro-w2"]
    tally.failed_windows["pro-w2"] = "window pro-w2 has no training examples"
    assert tally.windows_pending() == []


def test_train_steps_are_read_from_json_log_lines_and_others_are_skipped():
    lines = [json.dumps({"event": "train step", "tier": "lite", "step": 1, "loss": 4.1}),
             "worker kasper-x: roles generate, metrics http://127.0.0.1:9464/metrics",
             '{"event": "train step", "tier": "lite", "st',  # cut by a crash
             json.dumps({"event": "model version", "tier": "lite"}),
             json.dumps({"event": "train step", "tier": "lite", "step": 2, "loss": 3.7})]
    assert [(e["step"], e["loss"]) for e in train_steps(lines)] == [(1, 4.1), (2, 3.7)]


def test_spearman_ranks_with_ties():
    assert abs(spearman([1, 2, 3, 4], [10, 20, 30, 40]) - 1.0) < 1e-9
    assert abs(spearman([1, 2, 3, 4], [4, 3, 2, 1]) + 1.0) < 1e-9
    assert abs(spearman([1, 2, 2, 3], [1, 3, 2, 4]) - 0.9487) < 1e-3
    assert math.isnan(spearman([1, 2], [1, 2])) and math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_write_report_draws_every_figure_and_links_them(tmp_path):
    tally = _observed_tally()
    samples = [(0.0, {}, 0), (5.0, {topics.INSIGHTS.name: 2}, 180),
               (10.0, dict(tally.counts), tally.completion_tokens)]
    steps = [{"event": "train step", "tier": "lite", "step": s, "loss": 4.2 - 0.1 * s} for s in (1, 2, 3)]
    summary = {"prompts": 4, "seconds": 12.0, "outcomes": {"approved": 2, "rejected": 0,
                                                          "dead-lettered": 0}, "run_dir": "runs/x"}
    page = write_report(tmp_path, RunData(summary, tally, samples, steps))
    html = page.read_text()
    for name in ("funnel", "throughput", "scores", "agreement", "loss", "evaluation"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == PNG and png.stat().st_size > 5000, name
        assert f'src="{name}.png"' in html
    assert "lite-0001" in html and "1 of 1 adapters promoted" in html
    assert "4.000 &rarr; 3.400" in html and "0.430 &rarr; 0.510" in html
    assert "1 training run(s), 3 reported steps" in html
    assert "3 verdicts from the LLM judge" in html


def test_an_empty_run_still_gets_a_report_that_says_what_is_missing(tmp_path):
    page = write_report(tmp_path, RunData({"prompts": 0}, Tally()))
    html = page.read_text()
    assert "no training step in this run" in html and "no grades in this run" in html
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG
