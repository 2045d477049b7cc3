"""Settings, structured logs and the metrics endpoint."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest
from pydantic import ValidationError

from kasper.streams import logs, metrics
from kasper.streams.app import broker_credentials, create_app
from kasper.streams.settings import (KafkaSettings, ObservabilitySettings, RegistrySettings,
                                     Settings, redacted)

from tests.helpers import free_port

SECRET = "hunter2-very-secret"


def test_bootstrap_servers_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KASPER_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    assert KafkaSettings().bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert KafkaSettings.model_fields["bootstrap_servers"].default == "127.0.0.1:9092"


def test_sasl_settings_reach_aiokafka_and_faust(monkeypatch):
    monkeypatch.setenv("KASPER_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KASPER_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KASPER_SASL_USERNAME", "svc")
    monkeypatch.setenv("KASPER_SASL_PASSWORD", SECRET)
    kafka = KafkaSettings()
    kwargs = kafka.client_kwargs()
    assert kwargs["sasl_plain_password"] == SECRET and kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    credentials = broker_credentials(kafka)
    assert credentials.username == "svc" and credentials.password == SECRET
    app = create_app("kasper-test-credentials", Settings(kafka=kafka))
    assert app.conf.broker_credentials.username == "svc"


def test_secrets_never_show_in_repr_or_the_redacted_dump(monkeypatch):
    monkeypatch.setenv("KASPER_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("KASPER_SCHEMA_REGISTRY_PASSWORD", SECRET)
    monkeypatch.setenv("KASPER_JUDGE_API_KEY", SECRET)
    settings = Settings()
    dump = json.dumps(redacted(settings))
    assert SECRET not in dump and SECRET not in repr(settings.kafka)
    assert redacted(settings)["judge"]["api_key"] == "**********"


def test_settings_are_frozen_and_checked():
    with pytest.raises(ValidationError):
        KafkaSettings(security_protocol="TELNET")
    settings = RegistrySettings()
    with pytest.raises(ValidationError):
        settings.url = "http://elsewhere"


def test_logs_are_json_lines_with_level_and_logger(capsys):
    logs.configure(ObservabilitySettings(log_json=True, log_level="INFO"))
    logs.get_logger("kasper.test").info("hello", stage="grade", count=3)
    logging.getLogger("aiokafka").warning("from a library")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["event"] == "hello" and lines[0]["stage"] == "grade"
    assert lines[0]["level"] == "info" and "timestamp" in lines[0]
    assert lines[1]["logger"] == "aiokafka" and lines[1]["level"] == "warning"


def test_metrics_endpoint_binds_loopback_and_serves_our_metrics():
    port = free_port()
    host, bound = metrics.serve(ObservabilitySettings(metrics_port=port))
    assert (host, bound) == ("127.0.0.1", port)
    metrics.DEAD_LETTERS.labels("test", "GarbageBytesError").inc()
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'kasper_dead_letters_total{error_type="GarbageBytesError",stage="test"} 1.0' in body


def test_faust_web_server_is_loopback_by_default():
    app = create_app("kasper-test-web")
    assert app.conf.web_host == "127.0.0.1" and app.conf.web_bind == "127.0.0.1"
    assert app.conf.value_serializer == "raw" and app.conf.processing_guarantee.value == "at_least_once"


def test_trainer_knobs_from_the_environment_override_only_what_is_set(monkeypatch):
    from kasper.streams.settings import Settings
    from kasper.trainer.config import TrainerConfig

    defaults = TrainerConfig.from_settings(Settings())
    monkeypatch.setenv("KASPER_TRAINER_APPROVED_COUNT", "20")
    monkeypatch.setenv("KASPER_TRAINER_MIN_IMPROVEMENT", "0.1")
    monkeypatch.setenv("KASPER_TRAINER_ITERS", "7")
    config = TrainerConfig.from_settings(Settings())
    assert config.window.approved_count == 20 and config.promotion.min_improvement == 0.1
    assert {config.tier(t).iters for t in ("lite", "standard", "pro")} == {7}
    assert {config.tier(t).max_epochs for t in ("lite", "standard", "pro")} == {2.0}
    # Everything not set keeps its default.
    assert config.window.feedback_count == defaults.window.feedback_count
    assert config.tier("pro").rank == defaults.tier("pro").rank
    assert config.promotion.probe_count == defaults.promotion.probe_count
    assert config.window.min_score == defaults.window.min_score
    assert config.tier("lite").steps_per_report == defaults.tier("lite").steps_per_report

    monkeypatch.setenv("KASPER_TRAINER_MIN_SCORE", "0.6")
    monkeypatch.setenv("KASPER_TRAINER_STEPS_PER_REPORT", "1")
    config = TrainerConfig.from_settings(Settings())
    assert dict(config.window.min_score) == {"lite": 0.6, "standard": 0.6, "pro": 0.6}
    assert {config.tier(t).steps_per_report for t in ("lite", "standard", "pro")} == {1}
    assert {config.tier(t).iters for t in ("lite", "standard", "pro")} == {7}

    monkeypatch.setenv("KASPER_TRAINER_MAX_EPOCHS", "0")
    assert {TrainerConfig.from_settings(Settings()).tier(t).max_epochs for t in ("lite", "standard", "pro")} == {0}


def test_a_run_trains_iters_steps_or_max_epochs_passes_whichever_is_fewer():
    from kasper.trainer.config import TierTraining

    standard = TierTraining(iters=60, batch_size=4, max_epochs=2.0)
    # The overfit bench_loop window: 44 examples, 11 batches a pass -> 22 steps, not 60.
    assert standard.capped(11).iters == 22
    assert standard.capped(50).iters == 60  # a 200-record window keeps its 60
    assert TierTraining(iters=6, max_epochs=2.0).capped(1).iters == 2  # a one-batch window
    assert TierTraining(iters=6, max_epochs=1.5).capped(3).iters == 5  # part of a pass counts
    assert TierTraining(iters=6, max_epochs=2.0).capped(0).iters == 2  # never zero steps
    assert TierTraining(iters=60, max_epochs=0).capped(1).iters == 60  # 0: no cap
