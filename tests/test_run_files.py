"""What ``kasper up`` leaves in its run directory, from records made by the real role
functions (no broker but in the last test): the per-topic Avro container files read
by the Apache Avro library, approved.jsonl, outcomes.csv, the report's gallery with
its escaping, the live view's fallback to lines, and ``kasper replay load``.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import uuid
from pathlib import Path

import avro.datafile
import avro.io
import fastavro
import pytest
from click.testing import CliRunner
from rich.console import Console

from kasper.agents.judge import rubric_verdict
from kasper.agents.route import route
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import records as new, topics
from kasper.streams.admin import create_topics
from kasper.streams.cli.gallery import gallery_html
from kasper.streams.cli.live import LiveView, block, plain_line, status
from kasper.streams.cli.main import main
from kasper.streams.cli.outcomes import OUTCOME_COLUMNS, dead_letters, histories
from kasper.streams.cli.progress import Tally
from kasper.streams.cli.report import RunData, write_report
from kasper.streams.cli.run_files import RunRecords, write_run_files
from kasper.streams.replay import FileSourceError, container_topic, read_container, read_range, Range
from kasper.streams.settings import get_settings
from kasper.streams.synthetic_prompts import synthetic_prompts

HOSTILE = "<script>alert('x')</script> & <b>bold</b>"
EMAIL = "jane.doe@example.com"


def _insight(prompt: dict, attempt: int, text: str) -> dict:
    return sample_record("Insight") | {
        "insight_id": f"{prompt['prompt_id']}-a{attempt}", "prompt_id": prompt["prompt_id"], "attempt": attempt,
        "domain": prompt["domain"], "tier": prompt["tier"], "text": text, "prompt": prompt}


def _grade(insight: dict, final: float) -> dict:
    grade = sample_record("Grade") | {"insight_id": insight["insight_id"], "prompt_id": insight["prompt_id"],
                                      "final_score": final, "passed": final >= 0.6, "insight": insight}
    grade["scores"] = {k: final for k in grade["scores"]}
    return grade


def _judged(grade: dict, decision: str, overall: float, rationale: str) -> dict:
    return sample_record("Verdict") | {
        "insight_id": grade["insight_id"], "prompt_id": grade["prompt_id"], "recommendation": decision,
        "overall": overall, "rationale": rationale, "grade": grade,
        "revise_notes": "Name one concrete step." if decision == "REVISE" else None}


def _made_run() -> RunRecords:
    """Three prompts as the roles would write them: p0 fails the rubric, is revised and
    approved; p1 is rejected by the judge; p2 is dead-lettered by generate. Plus one
    undecodable insight and a redelivered verdict."""
    codec, run = Codec(), RunRecords()
    p0, p1, p2 = synthetic_prompts(3, seed=4)

    def seen(spec: topics.TopicSpec, record: dict) -> None:
        codec.validate(spec.record, record)  # real records only
        run.record(spec.name, record)

    for prompt in (p0, p1, p2):
        seen(topics.PROMPTS, prompt)
    first = _insight(p0, 0, "Breathe. Breathe. Breathe.")
    seen(topics.INSIGHTS, first)
    seen(topics.GRADES, (failed := _grade(first, 0.3)))
    seen(topics.VERDICTS, (revise := rubric_verdict(failed)))
    [(spec, revised)] = route(revise)
    assert spec is topics.PROMPTS and revised["attempt"] == 1
    seen(topics.PROMPTS, revised)
    second = _insight(revised, 1, HOSTILE)
    seen(topics.INSIGHTS, second)
    seen(topics.GRADES, (passed := _grade(second, 0.8)))
    seen(topics.VERDICTS, (approve := _judged(passed, "APPROVE", 7.5, "Warm & concrete.")))
    [(spec, approved)] = route(approve)
    seen(spec, approved)
    seen(topics.APPROVED, approved)  # redelivered: the same record again
    other = _insight(p1, 0, f"Numbers decide your fate; stop your medication. Write to {EMAIL}.")
    seen(topics.INSIGHTS, other)
    seen(topics.GRADES, (other_grade := _grade(other, 0.7)))
    seen(topics.VERDICTS, _judged(other_grade, "REJECT", 2.0, f"Unsafe advice: {HOSTILE}"))
    seen(topics.DLQ, new.dead_letter("generate", ValueError("domain 'other' has no template"),
                                     codec.encode("PromptEvent", p2), key=p2["prompt_id"].encode()))
    run.undecodable(topics.INSIGHTS.name, 3, 17, b"\xc3\x01garbage", ValueError("not a record"))
    return run


def _avro_rows(path: Path) -> list[dict]:
    """Read with the Apache Avro library: the schema comes from the file alone."""
    with path.open("rb") as source, avro.datafile.DataFileReader(source, avro.io.DatumReader()) as reader:
        return list(reader)


def test_run_files_decode_with_an_independent_avro_library_and_agree_with_the_tally(tmp_path):
    run, codec = _made_run(), Codec()
    runs = histories(codec, run.seen)
    files = write_run_files(tmp_path, run, runs)
    tally = Tally()
    for topic, record in run.seen:
        tally.observe(codec, topic, record)
    for spec in topics.CATALOG:
        path = tmp_path / "records" / f"{spec.name}.avro"
        rows = _avro_rows(path)
        assert len(rows) == tally.counts[spec.name] == files[f"records/{spec.name}.avro"], spec.name
        with path.open("rb") as source:
            assert fastavro.reader(source).writer_schema["name"].endswith(spec.record)
    verdicts = _avro_rows(tmp_path / "records" / "kasper.verdicts.avro")
    assert [v["recommendation"] for v in verdicts] == ["REVISE", "APPROVE", "REJECT"]
    insights = _avro_rows(tmp_path / "records" / "kasper.insights.avro")
    assert insights[1]["text"] == HOSTILE and EMAIL in insights[2]["text"]  # the records as they were
    [bad] = [json.loads(line) for line in (tmp_path / "records" / "undecodable.jsonl").read_text().splitlines()]
    assert (bad["topic"], bad["partition"], bad["offset"]) == ("kasper.insights", 3, 17)

    # approved.jsonl: one line per approved insight, though it arrived twice.
    [line] = (tmp_path / "approved.jsonl").read_text().splitlines()
    approved = json.loads(line)
    assert approved["insight"]["text"] == HOSTILE and approved["verdict"]["overall"] == 7.5
    assert files["approved.jsonl"] == 1

    rows = list(csv.DictReader((tmp_path / "outcomes.csv").open(encoding="utf-8")))
    assert tuple(rows[0]) == OUTCOME_COLUMNS and len(rows) == files["outcomes.csv"] == 3
    by_id = {r["prompt_id"]: r for r in rows}
    assert {pid: r["outcome"] for pid, r in by_id.items()} == tally.outcomes
    p0, p1, p2 = (by_id[p["prompt_id"]] for p in synthetic_prompts(3, seed=4))
    assert (p0["attempts"], p0["rubric_score"], p0["judge_overall"], p0["judge_recommendation"]) == \
        ("2", "0.8000", "7.50", "APPROVE")
    assert p0["model_version"] == "standard-0003" and p0["reason"] == ""
    assert p1["outcome"] == "rejected" and p1["reason"].startswith("Unsafe advice:")
    assert p1["judge_recommendation"] == "REJECT" and p1["attempts"] == "1"
    assert p2["outcome"] == "dead-lettered" and "has no template" in p2["reason"]
    assert p2["domain"] and p2["tier"] and p2["rubric_score"] == ""


def test_gallery_shows_chains_rejections_and_dead_letters_and_escapes_every_text(tmp_path):
    run, codec = _made_run(), Codec()
    runs = histories(codec, run.seen)
    page = gallery_html(runs, dead_letters(codec, run.seen))
    assert HOSTILE not in page and "<script>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "Revise chains (1 of 1)" in page and "2 attempts, approved" in page
    assert "Breathe. Breathe. Breathe." in page and "Not sent to the LLM judge" in page
    assert "Unsafe advice:" in page and "stop your medication" in page  # the rejected text and why
    assert EMAIL not in page and "Write to [EMAIL]." in page  # personal data redacted in the report only
    assert "has no template" in page and "Dead letters (1 of 1)" in page
    assert "Approved (1), best first" in page and "Warm &amp; concrete." in page
    # The report page carries it, with the rest.
    tally = Tally()
    for topic, record in run.seen:
        tally.observe(codec, topic, record)
    html = write_report(tmp_path, RunData({"prompts": 3, "outcomes": {}}, tally, histories=runs)).read_text()
    assert "Revise chains" in html and "<script>" not in html


def test_gallery_with_no_records_says_so():
    page = gallery_html({}, [])
    assert "No insight was approved" in page and "No prompt was sent back" in page


def test_live_view_without_a_terminal_prints_plain_lines_every_interval():
    lines: list[str] = []
    tally = Tally()
    tally.counts[topics.INSIGHTS.name] = 6
    samples = [(0.0, {}, 0), (10.0, {topics.INSIGHTS.name: 6}, 300)]
    console = Console(file=io.StringIO())  # not a terminal
    with LiveView(lines.append, console=console, every_s=5) as view:
        assert view.live is None
        for elapsed in (0.5, 2.0, 6.0, 7.0, 11.5):
            view.show(status(tally, samples, [], 1, 4, elapsed))
        view.show(status(tally, samples, [], 4, 4, 12.0), final=True)
    assert len(lines) == 4 and lines[0].startswith("[    0s] done 1/4 | prompts 0")
    assert lines[-1].startswith("[   12s] done 4/4") and console.file.getvalue() == ""
    s = status(tally, samples, [{"tier": "lite", "step": 3, "loss": 2.5}], 1, 4, 12.0)
    assert s.rates[topics.INSIGHTS.name] == pytest.approx(36.0) and s.eta_s == pytest.approx(36.0)
    assert "lite step 3 loss 2.500" in plain_line(s)


def test_live_view_on_a_terminal_draws_one_block_and_no_lines():
    lines: list[str] = []
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system=None, width=120)
    with LiveView(lines.append, console=console) as view:
        assert view.live is not None
        view.show(status(Tally(), [], [], 0, 24, 3.0), final=True)
    assert lines == [] and "0/24 prompts done, time left estimating" in out.getvalue()
    assert "\x1b[?25l" in out.getvalue()  # drawn in place: the cursor hidden while it runs
    text = Console(file=io.StringIO(), width=120)
    text.print(block(status(Tally(), [], [], 2, 4, 60.0)))
    assert "time left ~1m00s" in text.file.getvalue()


def test_container_files_name_their_topic_and_bad_files_are_refused(tmp_path):
    run = _made_run()
    write_run_files(tmp_path, run, histories(Codec(), run.seen))
    verdicts = tmp_path / "records" / "kasper.verdicts.avro"
    assert container_topic(verdicts) is topics.VERDICTS
    assert container_topic(verdicts, "my.verdicts").key == topics.VERDICTS.key
    with pytest.raises(FileSourceError, match="carries PromptEvent"):
        container_topic(verdicts, topics.PROMPTS.name)
    renamed = tmp_path / "grades-copy.avro"
    renamed.write_bytes((tmp_path / "records" / "kasper.grades.avro").read_bytes())
    assert container_topic(renamed) is topics.GRADES  # not a topic's name: the one catalog topic of Grades
    (tmp_path / "junk.avro").write_bytes(b"not avro at all")
    with pytest.raises(FileSourceError, match="not an Avro object container"):
        list(read_container(tmp_path / "junk.avro"))
    foreign = tmp_path / "foreign.avro"
    with foreign.open("wb") as out:
        fastavro.writer(out, {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]},
                        [{"x": 1}])
    with pytest.raises(FileSourceError, match="not a pipeline record"):
        container_topic(foreign)


@pytest.mark.broker
def test_replay_load_sends_a_run_file_back_to_a_broker(broker, tmp_path):
    run = _made_run()
    write_run_files(tmp_path, run, histories(Codec(), run.seen))
    spec = dataclasses.replace(topics.VERDICTS, name=f"test.load.{uuid.uuid4().hex[:10]}", partitions=2)
    asyncio.run(create_topics(get_settings().kafka, [spec]))
    path = tmp_path / "records" / "kasper.verdicts.avro"
    result = CliRunner().invoke(main, ["replay", "load", str(path), "--topic", spec.name])
    assert result.exit_code == 0, result.output
    assert f"sent 3 Verdict record(s) of {path} to {spec.name}" in result.output

    async def back() -> list:
        return [r async for r in read_range(get_settings().kafka, Codec(), spec.name, Range(),
                                            idle_timeout_s=1.0)]
    received = asyncio.run(back())
    assert sorted(r.record["recommendation"] for r in received) == ["APPROVE", "REJECT", "REVISE"]
    assert {r.key.decode() for r in received} == {v["insight_id"] for v in read_container(path)}
    bad = CliRunner().invoke(main, ["replay", "load", str(path), "--topic", topics.PROMPTS.name])
    assert bad.exit_code == 2 and "carries PromptEvent" in bad.output


def test_keep_prints_how_to_plug_in_and_stops_on_ctrl_c(monkeypatch):
    from kasper.streams.cli import up_cmd
    from kasper.streams.cli.up import UpReport
    from kasper.streams.settings import Settings

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(up_cmd.time, "sleep", interrupted)
    lines: list[str] = []
    up_cmd._hold(Settings(), UpReport(run_dir="runs/x", embedded_broker=True), lines.append)
    text = "\n".join(lines)
    assert "examples/approved_consumer.py" in text and "kasper produce feedback" in text
    assert f"KASPER_BOOTSTRAP_SERVERS={Settings().kafka.bootstrap_servers}" in text
    assert "/metrics" in text and lines[-1] == "stopping"
