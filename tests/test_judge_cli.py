"""``kasper judge``: the real command in a subprocess against a judge server on loopback.

The scripted OpenAI-compatible server (tests/judge_fault_server.py) runs in this
process; the command reaches it over HTTP exactly as it reaches GPT-5 or a vLLM server.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from kasper.schemas import from_json, to_json, validate
from kasper.schemas.samples import sample_record

from tests import judge_fault_server
from tests.helpers import KASPER, free_port
from tests.judge_fault_server import FaultServer, answer_json

INSIGHTS = [
    {"insight_id": "cli-1", "prompt_id": "p-1", "domain": "numerology", "context": {"life_path_number": "7"},
     "text": "Your life path 7 asks for quiet attention. Tonight, write three lines about what you knew."},
    {"domain": "tarot", "context": {"card": "The Hermit"},
     "text": "The Hermit asks for a lantern, not a crowd. Walk alone for twenty minutes this evening."},
    {"insight_id": "cli-3", "text": "With the moon waning, let go of one commitment that drains you."},
]


def run_judge(base_url: str, lines: list[str], tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    source = tmp_path / "insights.jsonl"
    source.write_text("".join(line + "\n" for line in lines))
    environment = {**os.environ, "KASPER_JUDGE_BASE_URL": base_url, "KASPER_JUDGE_MODEL": "fault-model",
                   "KASPER_JUDGE_API_KEY": "sk-cli-test", "KASPER_CACHE_DIR": str(tmp_path / "cache"),
                   "KASPER_JUDGE_BACKOFF_BASE_S": "0.01", "KASPER_JUDGE_BACKOFF_MAX_S": "0.05", **env}
    return subprocess.run([KASPER, "judge", str(source), *args], capture_output=True, text=True,
                          env=environment, timeout=120)


def verdicts(stdout: str) -> list[dict]:
    found = [json.loads(line) for line in stdout.splitlines()]  # nothing else on stdout: logs go to stderr
    for verdict in found:
        validate("Verdict", from_json("Verdict", verdict))
    return found


def test_three_insights_and_a_bad_line_give_three_verdicts_a_named_error_and_exit_1(tmp_path):
    lines = [json.dumps(INSIGHTS[0]), json.dumps(INSIGHTS[1]), '{"text": "unterminated', json.dumps(INSIGHTS[2])]
    with FaultServer() as server:
        server.cycle("ok")
        done = run_judge(server.base_url, lines, tmp_path, "--json")
        requests = list(server.requests)
    assert done.returncode == 1, done.stderr
    found = verdicts(done.stdout)
    assert [v["insight_id"] for v in found] == ["cli-1", found[1]["insight_id"], "cli-3"]  # line order kept
    assert found[1]["insight_id"].startswith("sha256:") and found[0]["prompt_id"] == "p-1"
    for verdict in found:
        assert verdict["recommendation"] == "APPROVE" and verdict["safety"] == "none"
        assert verdict["decision_reason"].endswith("model recommended APPROVE")
        assert verdict["rubric_version"] == "judge-rubric-2.0" and verdict["grade"] is None
    assert "line 3: not JSON" in done.stderr
    assert "error: 1 line(s) could not be judged" in done.stderr
    assert len(requests) == 3  # the bad line never reached the judge
    asked = [r["body"]["messages"][-1]["content"] for r in requests]
    assert any("life_path_number=7" in m and "Domain: numerology" in m for m in asked)
    assert all("safety" in r["body"]["response_format"]["json_schema"]["schema"]["required"] for r in requests)


@pytest.mark.parametrize("content,recommendation,reason", [
    (answer_json([9, 1, 9, 9, 9], "REJECT", rationale="REJECT: dangerous"), "REJECT", "model recommended REJECT"),
    (answer_json([9, 9, 9, 9, 9], "APPROVE", safety="self_harm"), "REJECT", "safety flag: self_harm"),
    (answer_json([10, 10, 1, 10, 10], "APPROVE"), "REVISE", "emotional_resonance 1/10 <= floor 3"),
])
def test_the_policy_holds_through_the_command(tmp_path, monkeypatch, content, recommendation, reason):
    monkeypatch.setitem(judge_fault_server.CONTENT, "scripted", content)
    with FaultServer() as server:
        server.cycle("scripted")
        done = run_judge(server.base_url, [json.dumps(INSIGHTS[0])], tmp_path, "--json",
                         KASPER_JUDGE_SCORE_MODE="text")  # the scores as written: exact reasons
    assert done.returncode == 0, done.stderr
    [verdict] = verdicts(done.stdout)
    assert (verdict["recommendation"], verdict["decision_reason"]) == (recommendation, reason)


def test_grade_lines_are_judged_with_their_grade_carried_and_a_table_without_json(tmp_path):
    grade = to_json(sample_record("Grade"))
    bare = {key: value for key, value in grade.items() if key != "insight"} | {"insight": None}
    partial = {"insight_id": "half", "insight": grade["insight"]}
    with FaultServer() as server:
        server.cycle("ok")
        table = run_judge(server.base_url, [json.dumps(grade), json.dumps(bare), json.dumps(partial)], tmp_path)
        as_json = run_judge(server.base_url, [json.dumps(grade)], tmp_path, "--json")
    assert table.returncode == 1
    [row] = table.stdout.splitlines()
    assert row.split("\t")[0] == grade["insight_id"] and row.split("\t")[2:4] == ["APPROVE", "none"]
    assert "line 2: " in table.stderr and "no insight text carried" in table.stderr
    assert "line 3: a line with 'insight' must be a Grade record: Grade." in table.stderr
    [verdict] = verdicts(as_json.stdout)  # the second run is served by the verdict cache file
    assert verdict["grade"]["insight"]["text"] == grade["insight"]["text"]
    assert verdict["cached"] and verdict["safety"] == "none" and verdict["decision_reason"]


def test_a_judge_that_is_down_is_one_clear_error_and_exit_1(tmp_path):
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    done = run_judge(down, [json.dumps(i) for i in INSIGHTS], tmp_path, "--json", KASPER_JUDGE_MAX_RETRIES="1")
    assert done.returncode == 1 and done.stdout == ""
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "the judge is unavailable" in error[0] and "cannot reach the judge" in error[0]
    assert "Traceback" not in done.stderr
