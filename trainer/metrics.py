"""The trainer's Prometheus metrics (labels are closed sets: tier, reason, outcome)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge

WINDOWS = Counter("kasper_trainer_windows_total", "Windows written and announced.",
                  ["tier", "reason"])
WINDOW_EXAMPLES = Counter("kasper_trainer_window_examples_total",
                          "Examples written to window files, by split.", ["tier", "split"])
RECORDS = Counter("kasper_trainer_records_total",
                  "Records the window loop took, by kind and outcome "
                  "(held, waiting, duplicate, dead_lettered).", ["kind", "outcome"])
FEEDBACK_EXPIRED = Counter("kasper_trainer_feedback_expired_total",
                           "Feedback dead-lettered because its insight never arrived.")
OPEN_WINDOW_RECORDS = Gauge("kasper_trainer_open_window_records",
                            "Records held in the open window of a tier.", ["tier"])
RUNS = Counter("kasper_trainer_runs_total",
               "Training runs by outcome (promoted, rejected, diverged, empty, corrupt).",
               ["tier", "outcome"])
DIVERGED = Counter("kasper_trainer_diverged_total", "Training runs stopped by a NaN/inf loss.",
                   ["tier"])
STEP = Gauge("kasper_trainer_step", "Current training step.", ["tier"])
TRAIN_LOSS = Gauge("kasper_trainer_train_loss", "Latest reported training loss.", ["tier"])
VAL_LOSS = Gauge("kasper_trainer_val_loss", "Latest validation loss.", ["tier"])
TOKENS_PER_SECOND = Gauge("kasper_trainer_tokens_per_second",
                          "Training tokens per second over the last report.", ["tier"])
EVAL_TEST_LOSS = Gauge("kasper_trainer_eval_test_loss",
                       "Test-split loss of the latest evaluation.", ["tier", "model"])
EVAL_PROBE_SCORE = Gauge("kasper_trainer_eval_probe_score",
                         "Mean rubric score on the probe set of the latest evaluation.",
                         ["tier", "model"])
YIELDED = Counter("kasper_trainer_yielded_seconds_total",
                  "Seconds training waited for this worker's generation and judging to go quiet.",
                  ["tier"])
SECONDS = Gauge("kasper_trainer_last_run_seconds", "Duration of the latest run, by phase.",
                ["tier", "phase"])
LAST_PROMOTION = Gauge("kasper_trainer_last_promotion_timestamp_seconds",
                       "When the adapter serving each tier was trained and promoted (Unix time); "
                       "absent for a tier the base model alone serves.", ["tier"])


FEEDBACK_AGREEMENT = Counter(
    "kasper_feedback_agreement_total",
    "User thumbs on approved insights against the rubric's letter and the judge's overall "
    "score (floored to an integer), per grader version: calibration of rubric and judge.",
    ["grader_version", "letter", "judge_score", "rating"])


def report_feedback_agreement(approved: dict, feedback: dict) -> None:
    """Count one user rating against the grade and verdict of the approved insight it rates."""
    if feedback.get("rating") not in ("up", "down"):
        return  # stars or a comment only: no thumbs to compare
    grade, verdict = approved["grade"], approved["verdict"]
    score = verdict.get("overall")
    judge_score = str(max(1, min(10, int(score)))) if score is not None else "none"
    FEEDBACK_AGREEMENT.labels(grade["grader_version"], grade["letter"], judge_score,
                              feedback["rating"]).inc()


def report_training(tier: str, step: int, loss: float, tokens_per_second: float) -> None:
    STEP.labels(tier).set(step)
    TRAIN_LOSS.labels(tier).set(loss)
    TOKENS_PER_SECOND.labels(tier).set(tokens_per_second)


def report_serving(registry: Any) -> None:
    """Set ``kasper_trainer_last_promotion_timestamp_seconds`` from the registry's serving versions."""
    for tier in registry.serving():
        entry = registry.serving_entry(tier)
        if entry is not None and entry.get("created_at") is not None:
            LAST_PROMOTION.labels(tier).set(entry["created_at"] / 1000.0)
