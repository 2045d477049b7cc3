"""The settings tree: every section in one frozen object, secrets redacted, unknown variables named."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from kasper.streams.app import create_app
from kasper.streams.settings import (OTHER_VARIABLES, GenerateSettings, JudgeSettings, Settings,
                                     get_settings, known_variables, redacted, unknown_variables)

SECRETS = {"KASPER_JUDGE_API_KEY": "sk-judge-do-not-print",
           "KASPER_GENERATE_OPENAI_API_KEY": "sk-generate-do-not-print",
           "KASPER_SASL_PASSWORD": "sasl-do-not-print",
           "KASPER_SCHEMA_REGISTRY_PASSWORD": "registry-do-not-print"}


@pytest.fixture
def fresh_settings(monkeypatch):
    """``get_settings()`` read again from the environment the test sets up."""
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_every_section_is_printed_by_redacted_get_settings(monkeypatch, fresh_settings):
    monkeypatch.setenv("KASPER_GENERATE_BATCH_SIZE", "7")
    monkeypatch.setenv("KASPER_JUDGE_CONCURRENCY", "3")
    monkeypatch.setenv("KASPER_TRAINER_APPROVED_COUNT", "11")
    monkeypatch.setenv("KASPER_BOOTSTRAP_SERVERS", "kafka.example:9092")
    dump = redacted(get_settings())
    assert set(dump) == set(Settings.model_fields)
    assert {"kafka", "registry", "broker", "model", "generate", "generate_openai", "judge", "trainer",
            "observability", "worker"} <= set(dump)
    assert dump["generate"]["batch_size"] == 7 and dump["judge"]["concurrency"] == 3
    assert dump["trainer"]["approved_count"] == 11 and dump["kafka"]["bootstrap_servers"] == "kafka.example:9092"
    # The trainer's knobs show their real defaults, not "unset".
    assert dump["trainer"]["feedback_count"] == 1000 and dump["trainer"]["min_improvement"] == 0.05
    json.dumps(dump)  # plain data


def test_secrets_are_redacted_everywhere(monkeypatch, fresh_settings):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KASPER_SCHEMA_REGISTRY_URL", "https://user:in-url-do-not-print@registry:8081")
    settings = get_settings()
    dump = redacted(settings)
    for value in SECRETS.values():
        assert value not in repr(settings) and value not in str(settings)
    assert not [v for v in [*SECRETS.values(), "in-url-do-not-print"] if v in json.dumps(dump)]
    assert dump["judge"]["api_key"] == dump["generate_openai"]["api_key"] == "**********"
    assert dump["kafka"]["sasl_password"] == dump["registry"]["password"] == "**********"
    assert dump["registry"]["url"] == "https://***@registry:8081"
    assert settings.judge.api_key.get_secret_value() == SECRETS["KASPER_JUDGE_API_KEY"]


def test_settings_and_their_sections_are_frozen():
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.judge = JudgeSettings()
    with pytest.raises(ValidationError):
        settings.judge.concurrency = 99
    with pytest.raises(ValidationError):
        settings.generate.batch_size = 1
    judge = JudgeSettings(concurrency=5)
    assert judge.updated(concurrency=2).concurrency == 2 and judge.concurrency == 5  # a copy
    with pytest.raises(ValidationError):  # validated like the environment
        judge.updated(score_mode="vibes")


def test_worker_options_override_the_generate_section(monkeypatch):
    monkeypatch.setenv("KASPER_GENERATE_MAX_TOKENS", "99")
    s = GenerateSettings().with_options({"stream_tokens": True, "batch_size": None, "max_attempts": 3})
    assert (s.max_tokens, s.stream_tokens, s.batch_size) == (99, True, GenerateSettings.model_fields["batch_size"].default)


def test_an_unknown_variable_is_reported_with_the_closest_real_name():
    environ = {"KASPER_BOOTSTRAP_SERVER": "x:9092", "KASPER_NOTHING_LIKE_IT_AT_ALL": "1",
               "KASPER_JUDGE_MODEL": "gpt-5", "KASPER_BLAS": "reference", "PATH": "/bin"}
    lines = unknown_variables(environ)
    assert len(lines) == 2, lines
    assert lines[0].startswith("KASPER_BOOTSTRAP_SERVER ") and "did you mean KASPER_BOOTSTRAP_SERVERS?" in lines[0]
    assert lines[1].startswith("KASPER_NOTHING_LIKE_IT_AT_ALL ") and "did you mean" not in lines[1]


def test_every_variable_something_reads_is_known():
    known = known_variables()
    for section, values in redacted(Settings()).items():
        prefix = type(getattr(Settings(), section)).model_config["env_prefix"]
        assert all(f"{prefix}{key}".upper() in known for key in values), section
    assert set(OTHER_VARIABLES) <= set(known)
    assert unknown_variables({name: "" for name in known}) == []


def test_a_misspelt_judge_variable_is_reported_not_silently_defaulted(monkeypatch, fresh_settings, caplog):
    monkeypatch.setenv("KASPER_JUDGE_APROVE_THRESHOLD", "9.5")
    with caplog.at_level(logging.WARNING, logger="kasper.streams.settings"):
        settings = get_settings()
    assert settings.judge.approve_threshold == JudgeSettings.model_fields["approve_threshold"].default
    [warning] = [r for r in caplog.records if "KASPER_JUDGE_APROVE_THRESHOLD" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert "did you mean KASPER_JUDGE_APPROVE_THRESHOLD?" in warning.getMessage()


def test_faust_data_directory_is_not_the_working_directory(monkeypatch, tmp_path, fresh_settings):
    # A worker started from a checkout used to leave "<app id>-data/" in it.
    monkeypatch.chdir(tmp_path)
    app = create_app("kasper-datadir-test")
    assert not str(app.conf.datadir).startswith(str(tmp_path))
    assert app.conf.datadir.name == "kasper-kasper-datadir-test-data"
    monkeypatch.setenv("KASPER_WORKER_DATA_DIR", str(tmp_path / "{conf.id}"))
    get_settings.cache_clear()
    assert create_app("kasper-y").conf.datadir == tmp_path / "kasper-y"
