"""Helpers every kind of test shares: free ports, the ``kasper`` executable, an own broker.

One copy each; test modules, tests/chaos.py and bench/soak.py import them from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

KASPER = str(Path(sys.executable).parent / "kasper")


def read_until(topic: str, want: Callable[[dict], bool], count: int, timeout_s: float = 90,
               idle_s: float = 1.0) -> list[dict]:
    """The records on ``topic`` (from its beginning) that ``want`` accepts, read again until
    there are ``count`` of them or ``timeout_s`` has passed; the configured broker."""
    # Deferred: most tests importing these helpers never read a topic.
    from kasper.schemas import Codec
    from kasper.streams.consumer import read
    from kasper.streams.settings import get_settings

    async def run():
        deadline, got = time.monotonic() + timeout_s, []
        while time.monotonic() < deadline:
            got = [r.record async for r in read(get_settings().kafka, Codec(), topic,
                                               from_beginning=True, idle_timeout_s=idle_s)
                   if r.record is not None and want(r.record)]
            if len(got) >= count:
                break
        return got
    return asyncio.run(run())


def _ephemeral_low(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports for the servers tests start are drawn below the kernel's ephemeral range. A port
# the kernel handed out for a bind to 0 is ephemeral: any process's next outgoing
# connection (a broker client, say) may take it before the server binds it, and a worker
# once failed so in CI ("address already in use"). Each xdist worker draws from its own
# slice, and no port is handed out twice in a process.
_HIGH = _ephemeral_low()
_LOW = max(1024, _HIGH - 12000)
_GIVEN: set[int] = set()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    index = int(worker) if worker.isdigit() else 0
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), index + 1)
    width = (_HIGH - _LOW) // workers
    ports = list(range(_LOW + index * width, _LOW + (index + 1) * width))
    random.shuffle(ports)
    for port in ports:
        if port in _GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port in {_LOW + index * width}-{_LOW + (index + 1) * width}")


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


def lora_adapter(model_dir: Path, path: Path, seed: int, layers: int = 2, scale: float = 0.5) -> Path:
    """A small LoRA adapter of the shipped model in mlx-lm's format: the last ``layers``
    layers, random B matrices of standard deviation ``scale``."""
    # Deferred: most tests importing these helpers never load MLX.
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, _ = load(str(model_dir))
    model.freeze()
    lora = {"rank": 4, "scale": 10.0, "dropout": 0.0}
    linear_to_lora_layers(model, layers, lora)
    params = dict(tree_flatten(model.trainable_parameters()))
    mx.random.seed(seed)
    for name in params:
        if name.endswith("lora_b"):
            params[name] = mx.random.normal(params[name].shape) * scale
    path.mkdir(parents=True)
    mx.save_safetensors(str(path / "adapters.safetensors"), params)
    (path / "adapter_config.json").write_text(json.dumps(
        {"fine_tune_type": "lora", "num_layers": layers, "lora_parameters": lora}))
    return path
