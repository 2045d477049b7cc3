"""CLI commands that need no broker: schemas check, settings, offline grading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kasper.streams.cli.main import main

LABELED = Path(__file__).parent / "data" / "insights_labeled.jsonl"


def test_schemas_check_passes_on_the_package():
    result = CliRunner().invoke(main, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "PromptEvent\tok" in result.output


def test_schemas_check_fails_on_an_incompatible_change(tmp_path, monkeypatch):
    from kasper.schemas import compat

    current = tmp_path / "current"
    shutil.copytree(compat.PACKAGE_DIR, current, ignore=shutil.ignore_patterns("*.py", "__pycache__", "released"))
    schema = json.loads((current / "feedback.avsc").read_text())
    schema["fields"].append({"name": "locale", "type": "string", "doc": "new, no default"})
    (current / "feedback.avsc").write_text(json.dumps(schema))
    monkeypatch.setattr(compat, "check_package", lambda: compat.check_all(current, compat.RELEASED_DIR))
    result = CliRunner().invoke(main, ["schemas", "check"])
    assert result.exit_code == 1
    assert "Feedback\tINCOMPATIBLE" in result.output and "locale" in result.output


def test_settings_prints_json_with_secrets_redacted(monkeypatch):
    monkeypatch.setenv("KASPER_JUDGE_API_KEY", "sk-test-do-not-print")
    from kasper.streams.settings import get_settings
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["settings"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0
    assert "sk-test-do-not-print" not in result.output
    assert json.loads(result.output)["judge"]["api_key"] == "**********"


def test_grade_offline_prints_one_grade_per_line_and_flags_bad_lines():
    lines = LABELED.read_text().splitlines()[:5]
    source = "\n".join(lines + ["not json", '{"no_text": 1}']) + "\n"
    result = CliRunner().invoke(main, ["grade", "-", "--json"], input=source)
    assert result.exit_code == 1
    grades = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(grades) == 5 and all(g["grader_version"] for g in grades)
    assert "line 6:" in result.stderr and "line 7:" in result.stderr


def test_worker_rejects_an_unknown_role():
    result = CliRunner().invoke(main, ["worker", "--agents", "grade,dance"])
    assert result.exit_code == 2 and "dance" in result.output


def test_settings_names_an_unknown_variable_and_fails(monkeypatch):
    monkeypatch.setenv("KASPER_JUDGE_MODLE", "gpt-5")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 1
    assert "KASPER_JUDGE_MODLE" in result.output and "KASPER_JUDGE_MODEL" in result.output
    assert '"judge"' in result.output  # the settings are still printed


def test_settings_prints_every_section(monkeypatch):
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    for section in ("kafka", "broker", "model", "generate", "generate_openai", "judge", "trainer"):
        assert section in shown, section
    assert shown["generate"]["batch_size"] > 0 and shown["trainer"]


def test_a_value_that_does_not_parse_is_one_error_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("KASPER_GENERATE_BATCH_SIZE", "abc")
    monkeypatch.setenv("KASPER_JUDGE_API_KEY", "sk-never-printed")
    from kasper.streams.settings import get_settings

    get_settings.cache_clear()
    try:
        for args in (["settings"], ["topics", "list"]):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 1, result.output
            assert "KASPER_GENERATE_BATCH_SIZE='abc'" in result.output
            assert "Traceback" not in result.output and "sk-never-printed" not in result.output
    finally:
        get_settings.cache_clear()


def test_read_settings_raises_our_error_for_a_bad_value(monkeypatch):
    from kasper.streams.settings import SettingsError, read_settings

    monkeypatch.setenv("KASPER_WORKER_SHUTDOWN_TIMEOUT_S", "soon")
    with pytest.raises(SettingsError, match="KASPER_WORKER_SHUTDOWN_TIMEOUT_S='soon'"):
        read_settings()
