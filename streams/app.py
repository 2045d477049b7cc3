"""The Faust app factory: one place that knows the broker quirks.

- Values and keys are raw bytes: our codec decodes them in the stage, so that a
  poison record goes to the DLQ instead of crashing the agent (docs/embedded-broker.md).
- The producer takes acks, idempotence and retry backoff from the settings
  (``KafkaSettings.producer_kwargs``), as every other producer does: Faust itself
  only reads ``producer_acks`` and turns idempotence on for exactly-once alone.
  The embedded broker answers InitProducerId with an error, so idempotence and
  transactions stay off there and delivery is at least once (docs/reliability.md).
- Topics are declared with the catalog's partition count; Faust's own changelog
  topics get the same default count so tables co-partition with their sources.
- The web server binds loopback unless configured, on an explicit port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from kasper.streams import topics
from kasper.streams.settings import KafkaSettings, Settings, get_settings


def broker_credentials(kafka: KafkaSettings) -> Any:
    """Faust credentials for the configured SASL/SSL settings, or ``None`` for plaintext."""
    kwargs = kafka.client_kwargs()
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kwargs["sasl_plain_username"], password=kwargs["sasl_plain_password"],
            mechanism=kwargs["sasl_mechanism"], ssl_context=kwargs.get("ssl_context"),
        )
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(kwargs["ssl_context"])
    return None


class SettingsProducer(faust_aiokafka.Producer):
    """Faust's aiokafka producer with the delivery options of the app's settings."""

    def _settings_extra(self) -> Mapping[str, Any]:
        # Faust's own extras (acks=all and idempotence under exactly-once) win.
        return {**getattr(self.app, "producer_options", {}), **super()._settings_extra()}


class KasperApp(faust.App):
    """A Faust app whose producer (and threaded or transactional ones) use ``producer_options``."""

    producer_options: Mapping[str, Any] = {}

    def _new_producer(self) -> Any:
        return SettingsProducer(self.transport, loop=self.loop, beacon=self.beacon)


def create_app(app_id: str = "kasper", settings: Settings | None = None, **overrides: Any) -> faust.App:
    """A Faust app wired for our broker, codec and settings; ``overrides`` win."""
    settings = settings or get_settings()
    kafka, obs = settings.kafka, settings.observability
    delivery = kafka.producer_kwargs()
    brokers = ";".join(f"kafka://{a.strip()}" for a in kafka.bootstrap_servers.split(","))
    options: dict[str, Any] = dict(
        broker=brokers,
        broker_client_id=kafka.client_id,
        broker_credentials=broker_credentials(kafka),
        broker_session_timeout=kafka.session_timeout_s,
        broker_rebalance_timeout=kafka.rebalance_timeout_s,
        broker_heartbeat_interval=min(3.0, kafka.session_timeout_s / 3),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=max(spec.partitions for spec in topics.CATALOG),
        topic_replication_factor=1,
        processing_guarantee="at_least_once",
        producer_acks=-1 if delivery["acks"] == "all" else delivery["acks"],
        producer_request_timeout=kafka.request_timeout_ms / 1000,
        # A stage sends one record per input; without linger each is its own
        # produce request, a visible share of a grade worker's CPU.
        producer_linger=0.005,
        consumer_auto_offset_reset="earliest",
        datadir=settings.worker.data_dir,
        web_host=obs.web_host,
        web_port=obs.web_port,
        web_bind=obs.web_host,
    )
    options.update(overrides)
    app = KasperApp(app_id, **options)
    app.producer_options = delivery
    return app


def topic(app: faust.App, spec: topics.TopicSpec) -> faust.TopicT:
    """The Faust topic for a catalog entry: raw bytes, catalog partition count."""
    return app.topic(
        spec.name, key_type=bytes, value_type=bytes, key_serializer="raw",
        value_serializer="raw", partitions=spec.partitions,
    )
