"""Upstream JSONL validation: plain functions, no broker."""

from __future__ import annotations

import json

from kasper.schemas import Codec
from kasper.streams import topics
from kasper.streams.ingest import MAX_LINE_BYTES, parse_lines
from kasper.streams.synthetic_prompts import synthetic_prompt, synthetic_prompts

CODEC = Codec()


def prompt_line(**fields) -> bytes:
    record = {"domain": "journal", "tier": "lite", "source": "journal-app",
              "context": {"focus": "rest", "moon_phase": "full moon"}}
    record.update(fields)
    return json.dumps(record).encode()


def test_minimal_prompt_gets_ids_and_timestamp_filled():
    [line] = parse_lines(CODEC, topics.PROMPTS, [prompt_line()])
    assert line.error is None
    assert line.record["prompt_id"] and line.record["trace_id"]
    assert line.record["attempt"] == 0 and line.record["created_at"].tzinfo is not None


def test_iso_timestamp_and_explicit_id_are_kept():
    raw = prompt_line(prompt_id="p-1", created_at="2026-11-25T10:00:00Z")
    [line] = parse_lines(CODEC, topics.PROMPTS, [raw])
    assert line.record["prompt_id"] == "p-1"
    assert line.record["created_at"].isoformat().startswith("2026-11-25T10:00:00")


def test_malformed_json_names_the_line():
    lines = [prompt_line(), b'{"domain": "journal", ', prompt_line()]
    parsed = parse_lines(CODEC, topics.PROMPTS, lines)
    assert [p.number for p in parsed if p.error] == [2]
    assert "line 2" in parsed[1].error and "JSON" in parsed[1].error


def test_missing_required_field_names_the_field():
    raw = json.dumps({"tier": "lite", "source": "x"}).encode()
    [line] = parse_lines(CODEC, topics.PROMPTS, [raw])
    assert line.record is None and "domain" in line.error and "line 1" in line.error


def test_wrong_enum_symbol_names_field_and_symbol():
    [line] = parse_lines(CODEC, topics.PROMPTS, [prompt_line(domain="jurnal")])
    assert "domain" in line.error and "jurnal" in line.error


def test_unknown_field_is_rejected_not_silently_dropped():
    [line] = parse_lines(CODEC, topics.PROMPTS, [prompt_line(domian="journal")])
    assert "domian" in line.error


def test_ten_megabyte_field_is_rejected_with_its_size():
    raw = prompt_line(instructions="x" * (10 * 1024 * 1024))
    [line] = parse_lines(CODEC, topics.PROMPTS, [raw])
    assert line.record is None
    assert f"{MAX_LINE_BYTES:,}" in line.error


def test_blank_lines_are_skipped_but_numbering_follows_the_file():
    parsed = parse_lines(CODEC, topics.PROMPTS, [prompt_line(), b"", b"  ", b"[1, 2]"])
    assert [p.number for p in parsed] == [1, 4]
    assert "JSON object" in parsed[1].error


def test_feedback_rating_out_of_set_is_rejected():
    raw = json.dumps({"insight_id": "i-1", "user_hash": "u", "rating": "meh"}).encode()
    [line] = parse_lines(CODEC, topics.FEEDBACK, [raw])
    assert "rating" in line.error and "meh" in line.error


def test_synthetic_prompts_are_valid_varied_and_deterministic():
    records = list(synthetic_prompts(300, seed=3))
    for record in records:
        CODEC.validate("PromptEvent", record)
    assert len({r["prompt_id"] for r in records}) == 300
    assert len({r["domain"] for r in records}) >= 6
    assert {r["context"]["life_path_number"] for r in records} >= {"11", "22", "33"}
    assert synthetic_prompt(5, seed=3) == synthetic_prompt(5, seed=3)
    assert synthetic_prompt(5, seed=3)["context"] != synthetic_prompt(6, seed=3)["context"]
