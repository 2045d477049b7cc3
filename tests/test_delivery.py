"""Producer guarantees without a broker: the Faust app's producer options come from the
settings, and ``Stage.settle`` re-sends what the client gave up on and refuses the rest.
The same paths against the embedded broker are in tests/test_stage.py."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams import stage as stage_module
from kasper.streams import topics
from kasper.streams.app import create_app
from kasper.streams.settings import KafkaSettings, Settings, SettingsError
from kasper.streams.stage import SendFailed, Stage


def _producer_settings(kafka: KafkaSettings) -> dict:
    producer = create_app("kasper-test-delivery", Settings(kafka=kafka)).producer
    return {**producer._settings_default(), **producer._settings_extra()}


def test_the_faust_producer_takes_acks_idempotence_backoff_and_timeout_from_the_settings():
    seen = _producer_settings(KafkaSettings(enable_idempotence=True, retry_backoff_ms=250,
                                            request_timeout_ms=7000))
    assert seen["acks"] == "all" and seen["enable_idempotence"] is True
    assert seen["retry_backoff_ms"] == 250 and seen["request_timeout_ms"] == 7000
    seen = _producer_settings(KafkaSettings(acks="1"))
    assert seen["acks"] == 1 and seen["enable_idempotence"] is False


def test_idempotence_with_acks_other_than_all_is_refused():
    with pytest.raises(SettingsError, match="KASPER_ACKS=all"):
        create_app("kasper-test-delivery", Settings(kafka=KafkaSettings(enable_idempotence=True, acks="1")))


class FlakySender:
    """Fails the first ``failures`` sends with ``error`` (as the client's future would)."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.sent = failures, error, []

    async def __call__(self, topic: str, value: bytes, key: bytes | None):
        self.sent.append((topic, key))
        future = asyncio.get_running_loop().create_future()
        if len(self.sent) <= self.failures:
            future.set_exception(self.error)
        else:
            future.set_result("acked")
        return future


def _run(sender: FlakySender, retries: int) -> None:
    async def go() -> None:
        stage = Stage("test", topics.PROMPTS, Codec(), sender, send_retries=retries)
        await stage.emit(topics.PROMPTS, sample_record("PromptEvent") | {"prompt_id": "p-1"})
        await stage.settle()
    asyncio.run(go())


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr(stage_module, "MAX_SEND_BACKOFF_S", 0.0)


def test_an_expired_send_is_sent_again_until_acked():
    sender = FlakySender(2, KafkaTimeoutError())
    _run(sender, retries=2)
    assert sender.sent == [("kasper.prompts", b"p-1")] * 3


def test_an_expired_send_past_the_retries_is_a_send_failure():
    sender = FlakySender(3, KafkaTimeoutError())
    with pytest.raises(SendFailed, match="kasper.prompts.*KafkaTimeoutError"):
        _run(sender, retries=2)
    assert len(sender.sent) == 3


def test_a_refused_send_fails_at_once():
    sender = FlakySender(1, MessageSizeTooLargeError())
    with pytest.raises(SendFailed, match="MessageSizeTooLarge"):
        _run(sender, retries=5)
    assert len(sender.sent) == 1
