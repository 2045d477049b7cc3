"""``kasper broker`` (the embedded broker) and ``kasper topics`` (the catalog on a broker)."""

from __future__ import annotations

import asyncio
import signal
import threading

import click

from kasper.schemas.errors import KasperError
from kasper.streams import topics
from kasper.streams.admin import create_topics, describe_topics, list_topics
from kasper.streams.broker import EmbeddedBroker
from kasper.streams.settings import get_settings


@click.command("broker")
@click.option("--address", default=None, help="host:port to listen on (default: the bootstrap address).")
def broker(address: str | None) -> None:
    """Run the embedded Kafka-compatible broker until Ctrl-C or SIGTERM."""
    settings = get_settings()
    address = address or settings.kafka.bootstrap_servers
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with EmbeddedBroker(address, settings.broker) as running:
        click.echo(f"broker listening on {address} (pid {running.process.pid}, "
                   f"log {running.log_path}); Ctrl-C stops it", err=True)
        while not stop.wait(0.5):
            if running.process is None or running.process.poll() is not None:
                raise KasperError(f"broker exited unexpectedly: {running.log_tail()}")
    click.echo("broker stopped", err=True)


@click.group("topics")
def topics_group() -> None:
    """Create, list and describe the pipeline's topics."""


@topics_group.command("create")
def topics_create() -> None:
    """Create every catalog topic that does not exist yet (safe to run twice)."""
    outcome = asyncio.run(create_topics(get_settings().kafka))
    for name, state in outcome.items():
        click.echo(f"{name}\t{state}")


@topics_group.command("list")
def topics_list() -> None:
    """Topics on the broker; catalog topics are marked."""
    for name in asyncio.run(list_topics(get_settings().kafka)):
        mark = "catalog" if name in topics.BY_NAME else "-"
        click.echo(f"{name}\t{mark}")


@topics_group.command("describe")
@click.argument("names", nargs=-1)
def topics_describe(names: tuple[str, ...]) -> None:
    """Partitions and configs of NAMES (default: every catalog topic) vs. the catalog."""
    names = names or tuple(topics.BY_NAME)
    states = asyncio.run(describe_topics(get_settings().kafka, list(names)))
    for name in names:
        state, spec = states[name], topics.BY_NAME.get(name)
        expected = f" (catalog: {spec.partitions}, {spec.record})" if spec else ""
        configs = " ".join(f"{k}={v}" for k, v in sorted(state.configs.items()))
        click.echo(f"{name}\tpartitions={state.partitions}{expected}\t{configs}")


COMMANDS = (broker, topics_group)
