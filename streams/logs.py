"""Structured logging: structlog JSON lines on stderr (plain text on a terminal if asked)."""

from __future__ import annotations

import logging
import sys

import structlog

from kasper.streams.settings import ObservabilitySettings


def configure(settings: ObservabilitySettings | None = None) -> None:
    """Route structlog and stdlib logging (aiokafka, faust) through one JSON renderer."""
    settings = settings or ObservabilitySettings()
    level = logging.getLevelName(settings.log_level.upper())
    renderer = (structlog.processors.JSONRenderer() if settings.log_json
                else structlog.dev.ConsoleRenderer(colors=False))
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One INFO line per HTTP call (judge, registry) or per subscription change
    # (every consumer, every rebalance) drowns the stage logs.
    for noisy in ("httpx", "httpx2", "httpcore", "aiokafka.consumer.subscription_state"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
