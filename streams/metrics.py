"""Prometheus metrics shared by every stage, and the ``/metrics`` endpoint.

Stage-specific metrics live beside their stage; these are the ones every stage
reports the same way, so dashboards can treat stages alike. Labels never carry
record content (ids, text, user data): only closed sets like stage and reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from kasper.streams.admin import LagProbe
from kasper.streams.errors import StreamsError
from kasper.streams.logs import get_logger
from kasper.streams.settings import KafkaSettings, ObservabilitySettings

log = get_logger(__name__)
LAG_INTERVAL_S = 10.0

RECORDS_IN = Counter("kasper_records_in_total", "Records a stage consumed.", ["stage", "topic"])
RECORDS_OUT = Counter("kasper_records_out_total", "Records a stage produced.", ["stage", "topic"])
DEAD_LETTERS = Counter(
    "kasper_dead_letters_total", "Records sent to the DLQ, by stage and error type.",
    ["stage", "error_type"],
)
DECODE_ERRORS = Counter(
    "kasper_decode_errors_total", "Messages that failed to decode, by topic and error type.",
    ["topic", "error_type"],
)
STAGE_SECONDS = Histogram(
    "kasper_stage_seconds", "Time a stage spent on one record (or one batch for batched stages).",
    ["stage"], buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60),
)

CONSUMER_LAG = Gauge(
    "kasper_consumer_lag", "Messages between a consumer group's committed offset and the log end, "
    "per catalog topic and partition (every worker of a group reports the whole group).",
    ["group", "topic", "partition"],
)


def serve(settings: ObservabilitySettings | None = None) -> tuple[str, int]:
    """Serve ``/metrics`` on the configured host and port (loopback by default)."""
    settings = settings or ObservabilitySettings()
    try:
        server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host)
    except OSError as exc:  # e.g. a second worker on this host with the same port
        raise StreamsError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: "
            f"{exc.strerror or exc} (set KASPER_METRICS_PORT to a free port)") from exc
    host, port = server.server_address[:2]
    return str(host), int(port)


def watch_consumer_lag(app: Any, kafka: KafkaSettings, groups: Iterable[str],
                       interval_s: float = LAG_INTERVAL_S) -> None:
    """Report ``kasper_consumer_lag`` of ``groups`` every ``interval_s`` (a Faust timer on ``app``).

    Best effort: a failed measurement is logged and tried again at the next tick.
    """

    groups, probe = list(groups), LagProbe(kafka)

    @app.timer(interval_s, name="kasper.consumer_lag")
    async def consumer_lag() -> None:
        for group in groups:
            try:
                lags = await probe.measure(group)
            except Exception as exc:  # the broker is away: the gauge keeps its last value
                log.warning("consumer lag not measured", group=group, error=str(exc)[:300])
                continue
            for (topic, partition), lag in lags.items():
                CONSUMER_LAG.labels(group, topic, str(partition)).set(lag)

    @app.on_before_shutdown.connect
    async def close_lag_probe(app: Any, **_: Any) -> None:
        await probe.close()
