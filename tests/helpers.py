"""Helpers every kind of test shares: free ports, the ``kasper`` executable, an own broker.

One copy each; test modules, tests/chaos.py and bench/soak.py import them from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path

KASPER = str(Path(sys.executable).parent / "kasper")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie counts as gone (a container's PID 1 may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@contextlib.contextmanager
def fresh_broker(address: str | None = None):
    """An embedded broker of our own (a free loopback port by default), every catalog topic created."""
    from kasper.streams.admin import create_topics
    from kasper.streams.broker import EmbeddedBroker
    from kasper.streams.settings import KafkaSettings

    with EmbeddedBroker(address or f"127.0.0.1:{free_port()}") as broker:
        asyncio.run(create_topics(KafkaSettings(bootstrap_servers=broker.address)))
        yield broker


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without KASPER_* settings, plus ``extra``.

    For subprocesses that must see only what the test sets (not the session broker).
    The session's temporary KASPER_CACHE_DIR stays unless ``extra`` replaces it: a
    process with no cache dir would write to the user's ~/.cache/kasper.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASPER_")}
    if "KASPER_CACHE_DIR" in os.environ:
        env["KASPER_CACHE_DIR"] = os.environ["KASPER_CACHE_DIR"]
    return {**env, **extra}



def cache_holding(cache: Path, model: Path) -> Path:
    """``cache`` as a kasper cache dir whose prepared base model is ``model`` (linked, not copied).

    For tests that need a cache of their own (adapters, windows, verdicts) and the
    session's prepared model in it, without preparing it again.
    """
    link = cache / "models" / model.name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(model, target_is_directory=True)
    return cache
