"""``kasper up``: the main job on the embedded default, or against external services.

(The main job's steps, its waiting rules and its summary share one run state, so they
stay in this module; the worker's environment and process are in
:mod:`~kasper.streams.cli.up_worker`.)

Starts the embedded broker when nothing answers at the (loopback) bootstrap
address, creates the topics, prepares the model, runs every role in one
``kasper worker`` process (which starts the embedded judge when no judge is
configured) and the trainer, feeds synthetic prompt events while simulated users
react to the approved ones (:mod:`~kasper.streams.cli.up_feedback`), shows the run live
(:mod:`~kasper.streams.cli.live`) until every prompt has a final outcome, what the
users saw and said is in an announced window, and every window is trained, writes the run's records
(:mod:`~kasper.streams.cli.run_files`) and its report, and stops everything it
started, whatever happens (Ctrl-C included); with ``keep``, only once that returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kasper.agents.runtime.model_store import resolve_model_dir
from kasper.streams import topics
from kasper.streams.admin import create_topics
from kasper.streams.broker import EmbeddedBroker, ping, split_address
from kasper.streams.errors import BrokerUnavailable, StreamsError
from kasper.streams.feedback_sim import SimStats, Simulation, simulate
from kasper.streams.producer import Producer
from kasper.streams.cli.efficiency import measure_run
from kasper.streams.cli.live import LiveView, status
from kasper.streams.cli.outcomes import dead_letters, histories
from kasper.streams.cli.progress import FOLLOWED, Tally, follow
from kasper.streams.cli.report import RunData, calibration, train_steps, windows_closed_on_request, write_report
from kasper.streams.cli.run_files import RunRecords, write_run_files
from kasper.streams.cli.up_feedback import (WindowWait, feedback_account, idle_limit, reactions_sent,
                                             simulation_for, unwindowed)
from kasper.streams.cli.up_worker import worker_env, worker_process
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import Settings
from kasper.streams.synthetic_prompts import record_id, synthetic_prompts

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
    promoted: int = 0
    windows_untrained: int = 0
    worker_exit: int | None = None
    run_dir: str = ""
    report_html: str = ""
    files: dict[str, int] = field(default_factory=dict)  # run-dir file -> records in it
    stopped_early: str = ""  # why the run stopped before every prompt had an outcome
    calibration: dict[str, Any] = field(default_factory=dict)  # rubric / judge / thumbs agreement
    feedback: dict[str, Any] = field(default_factory=dict)  # the simulated users: sent, in windows
    # Generated tok/s of the run over the generator's alone on its prompts (efficiency.py);
    # empty when not measured (``skipped`` says why).
    efficiency: dict[str, Any] = field(default_factory=dict)


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


class TrainLog:
    """The trainer's "train step" lines of the worker's log, read as the log grows, and the
    windows it closed when asked (None until it says so)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.steps = path, 0, []
        self.closed_on_request: list[str] | None = None

    def poll(self) -> None:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                chunk = log.read()
        except FileNotFoundError:
            return
        complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        lines = complete.decode(errors="replace").splitlines()
        self.steps += train_steps(lines)
        closed = windows_closed_on_request(lines)
        self.closed_on_request = closed if closed is not None else self.closed_on_request


@dataclass
class Watch:
    """What ``kasper up`` sees while it runs: the tally, count samples, training steps."""

    tally: Tally
    train_log: TrainLog
    view: LiveView
    records: RunRecords = field(default_factory=RunRecords)
    started: float = field(default_factory=time.monotonic)
    samples: list[tuple[float, dict[str, int], int]] = field(default_factory=list)
    sim: Simulation | None = None  # the simulated users (None: none in this run)
    feedback: SimStats = field(default_factory=SimStats)
    window_wait: WindowWait | None = None  # None: no trainer in the run, nothing to wait for
    windows_closed: bool = False  # the trainer was asked to close its open windows

    def sample(self) -> None:
        self.train_log.poll()
        self.samples.append((time.monotonic() - self.started, dict(self.tally.counts),
                             self.tally.completion_tokens))


# After the last outcome, a window may still be closing (its last approved record
# was just counted): wait this long with nothing pending before calling training done,
# unless the trainer said which windows it closed on request and all of them are in.
_SETTLE_S = 20.0


async def _drive(settings: Settings, count: int, seed: int, worker: subprocess.Popen,
                 watch: Watch, timeout_s: float, say: Say) -> None:
    stop = asyncio.Event()
    async with Producer(settings) as producer:
        readies = [asyncio.Event() for _ in FOLLOWED]
        followers = [asyncio.ensure_future(follow(settings.kafka, producer.codec, watch.tally, spec, ready, stop,
                                                  watch.records))
                     for spec, ready in zip(FOLLOWED, readies)]
        if watch.sim is not None:
            readies.append(asyncio.Event())
            followers.append(asyncio.ensure_future(simulate(settings, producer, watch.sim, stop,
                                                            stats=watch.feedback, ready=readies[-1])))
        try:
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
            watch.started = time.monotonic()
            for record in synthetic_prompts(count, seed=seed):
                await producer.send(topics.PROMPTS, record)
            await producer.flush()
            say(f"sent {count} synthetic prompt events to {topics.PROMPTS.name}")
            if watch.sim is not None:
                say(f"{len(watch.sim.users)} simulated users react to approved insights at rate "
                    f"{watch.sim.rate:g} (seed {watch.sim.seed}; docs/feedback.md)")
            wanted = {record_id(seed, i) for i in range(count)}

            async def close_windows() -> None:
                await producer.flush()  # the users' last feedback on the broker first
                worker.send_signal(signal.SIGUSR1)  # the train role closes its open windows

            with watch.view:
                await _watch(watch, wanted, worker, timeout_s, say, close_windows)
        finally:
            stop.set()
            ended = await asyncio.gather(*followers, return_exceptions=True)
            if watch.sim is not None and isinstance(ended[-1], Exception):
                say(f"the simulated users stopped early: {type(ended[-1]).__name__}: {ended[-1]}")


def _done(tally: Tally, wanted: set[str]) -> int:
    return sum(1 for pid in tally.outcomes if pid in wanted)


async def _watch(watch: Watch, wanted: set[str], worker: subprocess.Popen, timeout_s: float,
                 say: Say, close_windows: Callable[[], Awaitable[None]]) -> None:
    """Until every prompt has an outcome and every window announced is trained.

    Once every prompt has its outcome and the users have reacted, the trainer is asked
    to close its open windows then (``close_windows``) rather than after their idle time.
    """
    tally, last_sample, quiet_since = watch.tally, 0.0, None
    while True:
        await asyncio.sleep(0.5)
        now = time.monotonic() - watch.started
        if worker.poll() is not None:
            raise StreamsError(f"the worker exited with code {worker.returncode}; see its log")
        if now - last_sample >= 2:
            last_sample = now
            watch.sample()
        _show(watch, wanted, now)
        if now > timeout_s:
            say(f"timed out after {timeout_s:.0f}s with {_done(tally, wanted)}/{len(wanted)} prompts "
                f"done and {len(tally.windows_pending())} window(s) not trained")
            break
        if (watch.window_wait is not None and not watch.windows_closed and _done(tally, wanted) == len(wanted)
                and reactions_sent(watch.feedback if watch.sim else None, tally.outcomes.values(),
                                   watch.records.on(topics.APPROVED.name))):
            watch.windows_closed = True
            await close_windows()
            say("every prompt is done: asked the trainer to close its open windows now")
        if _done(tally, wanted) < len(wanted) or tally.windows_pending() or _windowing(watch, now, say):
            quiet_since = None
            continue
        quiet_since = now if quiet_since is None else quiet_since
        if now - quiet_since >= _SETTLE_S or _all_closed_in(watch):
            break
    watch.sample()
    _show(watch, wanted, time.monotonic() - watch.started, final=True)


def _all_closed_in(watch: Watch) -> bool:
    """Whether the trainer closed its windows on request and every one of them is announced
    (the caller has seen none pending): nothing can still be closing."""
    watch.train_log.poll()
    closed = watch.train_log.closed_on_request
    return watch.windows_closed and closed is not None and all(w in watch.tally.windows for w in closed)


def _windowing(watch: Watch, now: float, say: Say) -> bool:
    """Whether approved records or feedback of the run still wait in open windows."""
    if watch.window_wait is None:
        return False
    return watch.window_wait.waiting(
        unwindowed(watch.feedback, watch.tally.windows, watch.records.on(topics.DLQ.name)), now, say)


def _show(watch: Watch, wanted: set[str], elapsed: float, final: bool = False) -> None:
    watch.view.show(status(watch.tally, watch.samples, watch.train_log.steps, _done(watch.tally, wanted),
                           len(wanted), elapsed), final=final)


def run(settings: Settings, count: int, seed: int, say: Say, *,
        roles: str = "generate,grade,judge,route,train", run_dir: Path | None = None,
        timeout_s: float = 3600, view: LiveView | None = None,
        keep: Callable[[UpReport], None] | None = None, feedback_rate: float | None = None,
        measure_efficiency: bool = True) -> UpReport:
    """Run the main job end to end and return what happened (also written to ``run_dir``).

    With ``keep``, the run's files and report are written while the broker and the
    worker still run, and ``keep`` gets the report; they stop when it returns.
    ``feedback_rate``: the simulated users' (default: ``up_feedback.simulation_for``'s; 0: none).
    ``measure_efficiency``: once everything has stopped, generate the run's prompts alone
    for the efficiency figure (efficiency.py; not with ``keep``).
    """
    run_dir = run_dir or Path("runs") / time.strftime("%Y%m%dT%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    report, started = UpReport(prompts=count, run_dir=str(run_dir)), time.monotonic()
    if keep is not None or not measure_efficiency:
        report.efficiency = {"skipped": "--keep" if keep is not None else "--no-efficiency"}
    watch = Watch(Tally(), TrainLog(run_dir / "worker.log"), view or LiveView(say))
    try:
        with terminate_as_interrupt(), broker_for(settings, say) as ours:
            report.embedded_broker = ours
            created = asyncio.run(create_topics(settings.kafka))
            say(f"topics ready ({sum(v == 'created' for v in created.values())} created)")
            _prepare_model(settings, say)
            env = worker_env(settings, count)
            sim = simulation_for(settings, feedback_rate)
            watch.sim = sim if sim.rate > 0 else None
            if "train" in roles.split(","):
                # A window closes by idle time or age at the latest: wait that long, and a minute more.
                watch.window_wait = WindowWait(idle_limit(settings, env))
                say(f"a tier's window closes when every prompt is done, at {env['KASPER_TRAINER_APPROVED_COUNT']} "
                    f"approved records or {env['KASPER_TRAINER_IDLE_S']}s after its last record "
                    f"and trains {env['KASPER_TRAINER_ITERS']} steps"
                    + (f" or {settings.trainer.max_epochs:g} passes over it, whichever is fewer"
                       if settings.trainer.max_epochs else ""))
            with worker_process(settings, run_dir, say, roles, env) as worker:
                asyncio.run(_drive(settings, count, seed, worker, watch, timeout_s, say))
                if keep is not None:
                    _finish(report, watch, run_dir, time.monotonic() - started, settings)
                    keep(report)
            report.worker_exit = worker.returncode
    except BaseException as exc:  # Ctrl-C, SIGTERM, a dead worker: keep what was seen, then stop
        if not report.report_html and watch.records.seen:
            report.stopped_early = f"{type(exc).__name__}: {exc}"
            _salvage(report, watch, run_dir, time.monotonic() - started, settings, say)
        raise
    if keep is None:
        seconds = time.monotonic() - started
        if measure_efficiency:
            with terminate_as_interrupt():  # a SIGTERM now skips the figure, not the report
                report.efficiency = measure_run(settings, roles, count, seed, watch.tally.completion_tokens,
                                                seconds, watch.samples, say)
        _finish(report, watch, run_dir, seconds, settings)
    else:  # written while the worker ran: only its exit code is new
        (run_dir / "report.json").write_text(json.dumps(asdict(report), indent=2))
    return report


def _salvage(report: UpReport, watch: Watch, run_dir: Path, seconds: float, settings: Settings,
             say: Say) -> None:
    try:
        _finish(report, watch, run_dir, seconds, settings)
    except Exception as exc:  # the run's own error is the one to report
        say(f"could not write what the run saw to {run_dir}: {type(exc).__name__}: {exc}")
    else:
        say(f"stopped early: what the run saw is in {run_dir} (outcome 'pending' in outcomes.csv: none yet)")


def _finish(report: UpReport, watch: Watch, run_dir: Path, seconds: float, settings: Settings) -> None:
    """The run's records, its report and report.json into ``run_dir``."""
    watch.train_log.poll()
    _fill(report, watch.tally, seconds)
    if watch.sim is not None:
        report.feedback = feedback_account(watch.feedback, watch.tally.windows,
                                           watch.records.on(topics.DLQ.name), watch.sim.rate)
    codec = codec_from_settings(settings.registry)  # dead letters' originals, in the run's wire format
    runs = histories(codec, watch.records.seen)
    report.files = write_run_files(run_dir, watch.records, runs)
    data = RunData(asdict(report), watch.tally, watch.samples, watch.train_log.steps, runs,
                   dead_letters(codec, watch.records.seen))
    report.report_html = str(write_report(run_dir, data))
    (run_dir / "report.json").write_text(json.dumps(asdict(report), indent=2))


def _prepare_model(settings: Settings, say: Say) -> None:
    say(f"model ready at {resolve_model_dir(settings.model)}")


def _fill(report: UpReport, tally: Tally, seconds: float) -> None:
    report.seconds = seconds
    report.outcomes = {o: list(tally.outcomes.values()).count(o)
                       for o in ("approved", "rejected", "dead-lettered")}
    report.counts = {k: v for k, v in tally.counts.items()}
    report.funnel = tally.funnel()
    report.tokens_per_s = tally.completion_tokens / max(seconds, 1e-9)
    report.judge_cost_usd = tally.judge_cost_usd
    report.calibration = calibration(tally)
    report.windows = len(tally.windows)
    report.model_versions = len(tally.versions)
    report.promoted = sum(v["promoted"] for v in tally.versions.values())
    report.windows_untrained = len(tally.windows_pending())
