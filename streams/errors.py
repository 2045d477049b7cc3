"""Errors of the Kafka plumbing, under the project's one exception tree."""

from __future__ import annotations

from kasper.schemas.errors import KasperError


class StreamsError(KasperError):
    """Something went wrong talking to Kafka or running the broker."""


class BrokerUnavailable(StreamsError):
    """No Kafka broker answered at the configured bootstrap servers."""

    def __init__(self, bootstrap_servers: str, detail: str = "") -> None:
        hint = "start one with `kasper broker` or set KASPER_BOOTSTRAP_SERVERS"
        message = f"no Kafka broker answered at {bootstrap_servers}"
        super().__init__(f"{message}: {detail}; {hint}" if detail else f"{message}; {hint}")
        self.bootstrap_servers = bootstrap_servers


class BrokerStartError(StreamsError):
    """The embedded broker binary was missing or exited while starting."""


class TopicError(StreamsError):
    """A topic could not be created or described."""


class InputError(KasperError):
    """A line of an input file was rejected; ``where`` names the line."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
