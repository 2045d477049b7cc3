"""``kasper up``, the README's main command, as a user runs it: a real process that
starts its own embedded broker, prepares the shipped model and runs the worker,
the trainer and the report.

The full run is the session's ``pipeline_run`` (tests/pipeline_run.py), shared with
tests/test_prometheus.py: a few prompts, a judge on loopback, records of ours mixed
in. A second, short run is stopped with SIGTERM mid-run, once the worker has started
the embedded judge (the run with no judge configured, as on a fresh machine).
"""

from __future__ import annotations

import asyncio
import csv
import html
import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import avro.datafile
import avro.io
import pytest

from kasper.schemas.samples import sample_record
from kasper.streams import topics

from tests.helpers import KASPER, alive, cache_holding, clean_env, free_port
from tests.pipeline_run import PROMPTS, children_of_run, send, wait_for_line

# The shared kasper up run (pipeline_run) is set up inside the first test that asks for it.
pytestmark = [pytest.mark.broker, pytest.mark.model, pytest.mark.timeout(1200)]


def test_up_takes_every_prompt_to_an_outcome_and_leaves_nothing_running(pipeline_run):
    run, report = pipeline_run, pipeline_run.report
    output, run_dir = run.output, run.run_dir
    assert run.returncode == 0, output[-4000:]
    assert report["embedded_broker"] is True and report["worker_exit"] == 0
    own = run.own_outcomes()  # the report counts our records too: theirs are known exactly
    assert all(n >= 0 for n in own.values()) and sum(own.values()) == PROMPTS, (own, report)
    assert report["counts"]["kasper.insights"] >= PROMPTS + run.injected_insights
    assert report["counts"]["kasper.verdicts"] >= PROMPTS + run.injected_insights + run.injected_grades
    # Seed 7 at 110 tokens, pass threshold 0.3: some of kasper up's own insights pass the rubric and are approved.
    assert own["approved"] >= 1, (own, report)
    # Every window the run saw was trained, or dead-lettered as empty (a window closed by
    # idle time with nothing above the trainer's minimum score), before it stopped.
    assert report["windows"] >= 1 and report["model_versions"] >= 1, report
    assert report["windows_untrained"] == 0, report
    html = Path(report["report_html"]).read_text()
    assert "training run(s)" in html and "no training step in this run" not in html
    assert all((run_dir / f"{n}.png").stat().st_size > 5000 for n in ("funnel", "loss", "agreement"))
    assert "trainer: " in output and "report: " in output and "records: " in output
    # The efficiency figure: the run's prompts generated alone once everything had stopped.
    eff = report["efficiency"]
    assert eff["prompts"] == PROMPTS and eff["tokens"] > 0 and eff["alone_tokens_per_s"] > 0, eff
    assert eff["ratio"] == pytest.approx(report["tokens_per_s"] / eff["alone_tokens_per_s"], abs=0.002), eff
    assert eff["ratio_generating"] >= eff["ratio"], eff
    assert "generation efficiency" in output and "generation efficiency" in html
    assert "started the embedded broker" in output and "stopped the embedded broker" in output
    pids = children_of_run(output, run_dir)
    # The worker, and its embedded judge server if it started one (not with a judge configured).
    judge_started = "judge server starting" in (run_dir / "worker.log").read_text()
    assert len(pids) == 1 + judge_started, output[-2000:]
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)


def test_up_leaves_the_runs_records_in_its_run_directory(pipeline_run):
    """Per-topic Avro container files (read here by the Apache Avro library, from the
    file alone), approved.jsonl and outcomes.csv, agreeing with report.json; the report's
    gallery shows the approved texts, escaped."""
    report, run_dir = pipeline_run.report, pipeline_run.run_dir
    assert pipeline_run.returncode == 0, pipeline_run.output[-4000:]
    rows = {}
    for spec in topics.CATALOG:
        path = run_dir / "records" / f"{spec.name}.avro"
        with path.open("rb") as source, avro.datafile.DataFileReader(source, avro.io.DatumReader()) as reader:
            rows[spec.name] = list(reader)
        assert len(rows[spec.name]) == report["counts"].get(spec.name, 0) == report["files"][f"records/{spec.name}.avro"]
    # Our records are in them: the synthetic approved ones, and the poison insight set apart.
    assert len(rows[topics.APPROVED.name]) >= 24 and rows[topics.DLQ.name]
    undecodable = [json.loads(line) for line in (run_dir / "records" / "undecodable.jsonl").read_text().splitlines()]
    assert [u["topic"] for u in undecodable] == [topics.INSIGHTS.name]

    approved = [json.loads(line) for line in (run_dir / "approved.jsonl").read_text().splitlines()]
    assert len(approved) == len({r["insight_id"] for r in rows[topics.APPROVED.name]}) == report["files"]["approved.jsonl"]
    with (run_dir / "outcomes.csv").open(encoding="utf-8") as source:
        outcomes = list(csv.DictReader(source))
    for outcome, count in report["outcomes"].items():
        assert sum(r["outcome"] == outcome for r in outcomes) == count, (outcome, report["outcomes"])
    ours = {r["prompt_id"]: r for r in outcomes if r["prompt_id"] not in pipeline_run.injected_outcomes}
    assert len(ours) == PROMPTS and all(r["domain"] and r["tier"] and int(r["attempts"]) >= 1 for r in ours.values())
    page = Path(report["report_html"]).read_text()
    shown = [a for a in approved if html.escape(a["insight"]["text"]) in page]
    assert len(shown) >= min(len(approved), 3), len(shown)  # at least the best three
    assert "<h2>Insights</h2>" in page and "Dead letters (" in page


def test_sigterm_mid_run_stops_the_worker_the_judge_and_the_broker(tmp_path, shipped_model):
    run_dir = tmp_path / "run"
    # No judge configured: the worker starts the embedded one. The model is the session's
    # (pipeline_run prepares one from the wheel already).
    env = clean_env(KASPER_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
                    KASPER_CACHE_DIR=str(cache_holding(tmp_path / "cache", shipped_model)),
                    KASPER_WEB_PORT=str(free_port()), KASPER_METRICS_PORT=str(free_port()),
                    KASPER_GENERATE_MAX_TOKENS="48", KASPER_REBALANCE_TIMEOUT_S="3",
                    KASPER_SESSION_TIMEOUT_S="6",
                    # The mlx_lm.server judge: its process is what this test sees stopped
                    # (the default prefill judge runs inside the worker).
                    KASPER_JUDGE_ENGINE="server")
    log_path = tmp_path / "up.out"
    with log_path.open("w") as log:
        proc = subprocess.Popen([KASPER, "up", "-n", "8", "--run-dir", str(run_dir)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_line(log_path, proc, "synthetic prompt events", timeout_s=300)
        # A grade that passed the rubric: the judge role starts the embedded judge for it.
        grade = sample_record("Grade") | {"insight_id": "sigterm-g", "prompt_id": "sigterm-p", "passed": True}
        asyncio.run(send(env["KASPER_BOOTSTRAP_SERVERS"], [(topics.GRADES, grade)]))
        wait_for_line(run_dir / "worker.log", proc, "judge server starting", timeout_s=300)
        pids = children_of_run(log_path.read_text(), run_dir)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log_path.read_text()
    assert code != 0 and "stopped the embedded broker" in output, output[-3000:]
    assert len(pids) == 2 and not any(alive(p) for p in pids), (pids, output[-3000:])
    host, port = env["KASPER_BOOTSTRAP_SERVERS"].split(":")
    with socket.socket() as sock:
        assert sock.connect_ex((host, int(port))) != 0  # nobody listens there any more
