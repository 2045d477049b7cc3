"""``kasper up``: the main job on the embedded default, or against external services.

Starts the embedded broker when nothing answers at the (loopback) bootstrap
address, creates the topics, prepares the model, runs every role in one
``kasper worker`` process (which starts the embedded judge when no judge is
configured), feeds synthetic prompt events, shows the run live until every
prompt has a final outcome, and stops everything it started, whatever happens
(Ctrl-C included).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kasper.streams import topics
from kasper.streams.admin import create_topics
from kasper.streams.broker import EmbeddedBroker, ping, split_address
from kasper.streams.children import die_with_parent
from kasper.streams.errors import BrokerUnavailable, StreamsError
from kasper.streams.producer import Producer
from kasper.streams.progress import FOLLOWED, Tally, follow
from kasper.streams.settings import Settings
from kasper.streams.synthetic import record_id, synthetic_prompts

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
Say = Callable[[str], None]


@dataclass
class UpReport:
    prompts: int = 0
    seconds: float = 0.0
    embedded_broker: bool = False
    outcomes: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    funnel: str = ""
    tokens_per_s: float = 0.0
    judge_cost_usd: float = 0.0
    windows: int = 0
    model_versions: int = 0
    worker_exit: int | None = None
    run_dir: str = ""


@contextlib.contextmanager
def broker_for(settings: Settings, say: Say) -> Iterator[bool]:
    """Use the broker at the bootstrap address, or start the embedded one there.

    Yields whether the broker is ours (and so stopped on exit).
    """
    address = settings.kafka.bootstrap_servers
    try:
        ping(address)
        say(f"using the Kafka broker at {address}")
        yield False
        return
    except BrokerUnavailable:
        if split_address(address)[0] not in _LOOPBACK:
            raise
    try:
        with EmbeddedBroker(address, settings.broker):
            say(f"started the embedded broker at {address}")
            yield True
    finally:
        say("stopped the embedded broker")


# The embedded 135M judge barely discriminates: its overall scores clustered at
# 5.8-6.9 (median 6.3) over 34 verdicts of a `kasper up` run, so at the production
# threshold (7.0) it approves nothing. A real judge keeps the configured threshold.
EMBEDDED_JUDGE_APPROVE_THRESHOLD = 6.3


def worker_env(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: ours, plus the demo threshold for the embedded judge."""
    env = dict(os.environ if environ is None else environ)
    if settings.judge.base_url is None and "KASPER_JUDGE_APPROVE_THRESHOLD" not in env:
        env["KASPER_JUDGE_APPROVE_THRESHOLD"] = str(EMBEDDED_JUDGE_APPROVE_THRESHOLD)
    return env


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt here, so every ``finally`` stops what it started."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def worker_process(settings: Settings, run_dir: Path, say: Say,
                   roles: str) -> Iterator[subprocess.Popen]:
    """``kasper worker`` with ``roles`` as a child; SIGTERM (then SIGKILL) on exit."""
    log_path = run_dir / "worker.log"
    kasper = str(Path(sys.executable).parent / "kasper")
    with log_path.open("ab") as log:
        # Its own session: a Ctrl-C reaches us only, and we stop the worker before the
        # broker. Tied to this thread: a killed `kasper up` leaves no worker behind.
        proc = subprocess.Popen([kasper, "worker", "--agents", roles], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=worker_env(settings), start_new_session=True,
                                preexec_fn=die_with_parent())
    say(f"started worker pid {proc.pid} ({roles}); log {log_path}")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                say("worker did not stop in 60 s: killing it")
                proc.kill()
                proc.wait()
        say(f"worker exited with code {proc.returncode}")


async def _drive(settings: Settings, count: int, seed: int, worker: subprocess.Popen,
                 timeout_s: float, say: Say) -> Tally:
    tally, stop = Tally(), asyncio.Event()
    async with Producer(settings) as producer:
        readies = [asyncio.Event() for _ in FOLLOWED]
        followers = [asyncio.ensure_future(follow(settings.kafka, producer.codec, tally, spec, ready, stop))
                     for spec, ready in zip(FOLLOWED, readies)]
        try:
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
            for record in synthetic_prompts(count, seed=seed):
                await producer.send(topics.PROMPTS, record)
            await producer.flush()
            say(f"sent {count} synthetic prompt events to {topics.PROMPTS.name}")
            wanted = {record_id(seed, i) for i in range(count)}
            await _watch(tally, wanted, worker, timeout_s, say)
        finally:
            stop.set()
            await asyncio.gather(*followers, return_exceptions=True)
    return tally


def _done(tally: Tally, wanted: set[str]) -> int:
    return sum(1 for pid in tally.outcomes if pid in wanted)


async def _watch(tally: Tally, wanted: set[str], worker: subprocess.Popen, timeout_s: float,
                 say: Say) -> None:
    started = last = time.monotonic()
    while _done(tally, wanted) < len(wanted):
        await asyncio.sleep(0.5)
        now = time.monotonic()
        if worker.poll() is not None:
            raise StreamsError(f"the worker exited with code {worker.returncode}; see its log")
        if now - started > timeout_s:
            say(f"timed out after {timeout_s:.0f}s with {_done(tally, wanted)}/{len(wanted)} prompts done")
            return
        if now - last >= 5:
            last = now
            say(_progress_line(tally, wanted, now - started))
    say(_progress_line(tally, wanted, time.monotonic() - started))


def _progress_line(tally: Tally, wanted: set[str], elapsed: float) -> str:
    return (f"[{elapsed:5.0f}s] done {_done(tally, wanted)}/{len(wanted)} | {tally.funnel()} | "
            f"{tally.completion_tokens / max(elapsed, 1e-9):.1f} generated tok/s | "
            f"judge ${tally.judge_cost_usd:.4f}")


def run(settings: Settings, count: int, seed: int, say: Say, *, roles: str = "generate,grade,judge,route",
        run_dir: Path | None = None, timeout_s: float = 3600) -> UpReport:
    """Run the main job end to end and return what happened (also written to ``run_dir``)."""
    run_dir = run_dir or Path("runs") / time.strftime("%Y%m%dT%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    report, started = UpReport(prompts=count, run_dir=str(run_dir)), time.monotonic()
    with terminate_as_interrupt(), broker_for(settings, say) as ours:
        report.embedded_broker = ours
        created = asyncio.run(create_topics(settings.kafka))
        say(f"topics ready ({sum(v == 'created' for v in created.values())} created)")
        _prepare_model(settings, say)
        with worker_process(settings, run_dir, say, roles) as worker:
            tally = asyncio.run(_drive(settings, count, seed, worker, timeout_s, say))
        report.worker_exit = worker.returncode
    _fill(report, tally, time.monotonic() - started)
    (run_dir / "report.json").write_text(json.dumps(asdict(report), indent=2))
    return report


def _prepare_model(settings: Settings, say: Say) -> None:
    from kasper.agents.model_store import resolve_model_dir

    say(f"model ready at {resolve_model_dir(settings.model)}")


def _fill(report: UpReport, tally: Tally, seconds: float) -> None:
    report.seconds = seconds
    report.outcomes = {o: list(tally.outcomes.values()).count(o)
                       for o in ("approved", "rejected", "dead-lettered")}
    report.counts = {k: v for k, v in tally.counts.items()}
    report.funnel = tally.funnel()
    report.tokens_per_s = tally.completion_tokens / max(seconds, 1e-9)
    report.judge_cost_usd = tally.judge_cost_usd
    report.windows = tally.counts[topics.TRAINING_WINDOWS.name]
    report.model_versions = tally.counts[topics.MODELS.name]
