"""Shared fixtures: the real embedded broker, started once per test session."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator

import pytest

# OpenBLAS must be loaded before anything imports mlx.core (see agents/fastcpu.py).
import kasper.agents.runtime.blas  # noqa: F401
from kasper.streams.settings import get_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """A Tansu broker on a free loopback port with every catalog topic created.

    ``KASPER_BOOTSTRAP_SERVERS`` points at it for the whole session, so code
    under test (and ``kasper`` subprocesses) find it as users' code would.
    """
    from kasper.streams.admin import create_topics
    from kasper.streams.broker import EmbeddedBroker

    address = f"127.0.0.1:{free_port()}"
    os.environ["KASPER_BOOTSTRAP_SERVERS"] = address
    # Tests join consumer groups often; the first join waits out this timeout.
    os.environ.setdefault("KASPER_REBALANCE_TIMEOUT_S", "3")
    os.environ.setdefault("KASPER_SESSION_TIMEOUT_S", "6")
    get_settings.cache_clear()
    with EmbeddedBroker(address) as running:
        asyncio.run(create_topics(get_settings().kafka))
        yield running.address
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def shipped_model(tmp_path_factory):
    """The shipped SmolLM2-135M prepared as an mlx-lm directory, once per session.

    Prepared from the wheel into a session folder, so a fresh machine needs nothing
    prepared beforehand and the user's own cache is left alone.
    """
    from kasper.agents.runtime import model_store
    from kasper.streams.settings import ModelSettings

    return model_store.prepare(ModelSettings(cache_dir=tmp_path_factory.mktemp("shipped-model"), model=None))


@pytest.fixture
def own_broker(monkeypatch):
    """A broker of the test's own, with every catalog topic, as KASPER_BOOTSTRAP_SERVERS.

    For tests that write records other tests must not read (fuzzed bytes, another
    wire format) or that kill the broker: the session broker stays clean.
    """
    from kasper.streams.admin import create_topics
    from kasper.streams.broker import EmbeddedBroker

    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("KASPER_BOOTSTRAP_SERVERS", address)
    get_settings.cache_clear()
    try:
        with EmbeddedBroker(address) as running:
            asyncio.run(create_topics(get_settings().kafka))
            yield running
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
