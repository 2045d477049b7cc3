"""Prometheus metrics shared by every stage, and the ``/metrics`` endpoint.

Stage-specific metrics live beside their stage; these are the ones every stage
reports the same way, so dashboards can treat stages alike. Labels never carry
record content (ids, text, user data): only closed sets like stage and reason.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

from kasper.streams.settings import ObservabilitySettings

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


def serve(settings: ObservabilitySettings | None = None) -> tuple[str, int]:
    """Serve ``/metrics`` on the configured host and port (loopback by default)."""
    settings = settings or ObservabilitySettings()
    server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host)
    host, port = server.server_address[:2]
    return str(host), int(port)
