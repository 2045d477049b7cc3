"""``kasper up``, the README's main command, as a user runs it: a real process that
starts its own embedded broker, worker and embedded judge on the real shipped model.

Kept small (a few prompts, short generations) so it runs in about a minute; the
full-size run is ``make up``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port

pytestmark = [pytest.mark.broker, pytest.mark.model]
KASPER = str(Path(sys.executable).parent / "kasper")


def up_env(tmp_path: Path, max_tokens: int = 48) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASPER_")}
    return {**env, "KASPER_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "KASPER_CACHE_DIR": str(tmp_path / "cache"), "KASPER_WEB_PORT": str(free_port()),
            "KASPER_METRICS_PORT": str(free_port()), "KASPER_GENERATE_MAX_TOKENS": str(max_tokens),
            "KASPER_REBALANCE_TIMEOUT_S": "3", "KASPER_SESSION_TIMEOUT_S": "6"}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent has not reaped it yet).
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def children_of_run(output: str, run_dir: Path) -> list[int]:
    """The worker's pid (from up's output) and the judge server's (from the worker log)."""
    pids = [int(m) for m in re.findall(r"started worker pid (\d+)", output)]
    log = run_dir / "worker.log"
    if log.exists():
        pids += [int(m) for m in re.findall(r"[\"']pid[\"']: (\d+), [\"']url", log.read_text())]
    return pids


def test_up_takes_every_prompt_to_an_outcome_and_leaves_nothing_running(tmp_path):
    run_dir = tmp_path / "run"
    # 110 tokens: long enough for some insights to pass the rubric and reach the judge.
    # Every approved insight closes a window (of its tier), trained for 2 steps, 1 probe.
    env = {**up_env(tmp_path, max_tokens=110), "KASPER_TRAINER_APPROVED_COUNT": "1",
           "KASPER_TRAINER_ITERS": "2", "KASPER_TRAINER_PROBE_COUNT": "1"}
    proc = subprocess.run([KASPER, "up", "-n", "4", "--seed", "7", "--run-dir", str(run_dir)],
                          env=env, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["embedded_broker"] is True and report["worker_exit"] == 0
    assert sum(report["outcomes"].values()) == 4, report
    assert report["counts"]["kasper.insights"] >= 4 and report["counts"]["kasper.verdicts"] >= 4
    # Seed 7 gets approvals from the embedded judge; each closed a window that was trained.
    assert report["outcomes"]["approved"] >= 1, report
    assert report["windows"] >= 1 and report["model_versions"] == report["windows"], report
    assert report["windows_untrained"] == 0
    html = Path(report["report_html"]).read_text()
    assert "training run(s)" in html and "no training step in this run" not in html
    assert all((run_dir / f"{n}.png").stat().st_size > 5000 for n in ("funnel", "loss", "agreement"))
    assert "trainer: " in output and "report: " in output
    assert "started the embedded broker" in output and "stopped the embedded broker" in output
    pids = children_of_run(output, run_dir)
    # The worker, and its embedded judge server (started when a first grade passes the rubric).
    judge_started = "judge server starting" in (run_dir / "worker.log").read_text()
    assert len(pids) == 1 + judge_started, output[-2000:]
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)


def test_sigterm_mid_run_stops_the_worker_the_judge_and_the_broker(tmp_path):
    run_dir = tmp_path / "run"
    env = up_env(tmp_path)
    log = (tmp_path / "up.out").open("w+")
    proc = subprocess.Popen([KASPER, "up", "-n", "8", "--run-dir", str(run_dir)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while "synthetic prompt events" not in Path(log.name).read_text():
            assert proc.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()[-3000:]
            time.sleep(0.5)
        pids = children_of_run(Path(log.name).read_text(), run_dir)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = Path(log.name).read_text()
    assert code != 0 and "stopped the embedded broker" in output, output[-3000:]
    assert pids and not any(alive(p) for p in pids), output[-3000:]
    host, port = env["KASPER_BOOTSTRAP_SERVERS"].split(":")
    with socket.socket() as sock:
        assert sock.connect_ex((host, int(port))) != 0  # nobody listens there any more
