# Long: the one copy of the chaos plumbing (workers, kills, snapshots, checks) for tests and bench/soak.py.
"""Chaos helpers shared by tests/test_crash.py, tests/test_faults.py, tests/test_scaling.py and bench/soak.py.

Real parts only: an embedded broker of our own on a free port, ``kasper worker``
processes (or a trainer worker script with a tiny LoRA config), the loopback
fault judge (tests/judge_fault_server.py), and a full read of the topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
from aiokafka import AIOKafkaConsumer, TopicPartition

from kasper.schemas import Codec
from kasper.schemas.errors import CodecError
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.producer import Producer
from kasper.streams.cli.progress import Tally
from kasper.streams.settings import KafkaSettings, Settings
from kasper.trainer.files import read_manifest

from tests.helpers import KASPER, clean_env, free_port
from tests.judge_fault_server import FaultServer

LABELED = Path(__file__).parent / "data" / "insights_labeled.jsonl"
PIPELINE = (topics.PROMPTS, topics.INSIGHTS, topics.GRADES, topics.VERDICTS, topics.APPROVED, topics.DLQ)
TRAINING = (topics.APPROVED, topics.TRAINING_WINDOWS, topics.MODELS, topics.DLQ)


def base_env(address: str, cache: Path, judge_url: str, **extra: str) -> dict[str, str]:
    """The environment of every process of one scenario (no KASPER_* leaks from the session)."""
    return clean_env(KASPER_BOOTSTRAP_SERVERS=address, KASPER_CACHE_DIR=str(cache),
                     KASPER_REBALANCE_TIMEOUT_S="3", KASPER_SESSION_TIMEOUT_S="6",
                     KASPER_JUDGE_BASE_URL=judge_url, KASPER_JUDGE_MODEL="fault-model",
                     KASPER_JUDGE_API_KEY="sk-chaos-test", KASPER_WORKER_SHUTDOWN_TIMEOUT_S="20", **extra)


# --- worker processes that can be killed and restarted -------------------------------


@dataclass
class Worker:
    """A restartable worker process: ``kasper worker --agents ROLES`` or ``python -c SCRIPT``.

    Every (re)start appends to the same log, so the log tells the whole story.
    """

    env: dict[str, str]
    run_dir: Path
    roles: str = "grade,judge,route"
    args: tuple[str, ...] = ()
    script: str | None = None  # a python -c worker instead of `kasper worker`
    proc: subprocess.Popen | None = None
    metrics_port: int = 0
    starts: int = 0
    kills: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.run_dir / f"worker-{self.roles.replace(',', '-')}.log"

    def start(self, **extra_env: str) -> "Worker":
        self.metrics_port = free_port()
        env = {**self.env, "KASPER_WEB_PORT": str(free_port()),
               "KASPER_METRICS_PORT": str(self.metrics_port), **extra_env}
        command = ([sys.executable, "-c", self.script, *self.args] if self.script else
                   [KASPER, "worker", "--agents", self.roles, *self.args])
        with self.log.open("ab") as out:
            out.write(f"\n=== start {self.starts + 1} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.run_dir, env=env)
        self.starts += 1
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is committed on the way out."""
        assert self.proc is not None and self.proc.poll() is None, self.tail()
        self.proc.kill()
        self.proc.wait()
        self.kills += 1

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM and wait; SIGKILL if it does not stop in time. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9

    def working(self) -> bool:
        """The current run has joined its group and got partitions (aiokafka's log line)."""
        current = self.text().rsplit(f"=== start {self.starts} ===", 1)[-1]
        return "Setting newly assigned partitions" in current

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, chars: int = 4000) -> str:
        return self.text()[-chars:]

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        return urllib.request.urlopen(url, timeout=5).read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for line in self.metrics().splitlines():
            m = re.match(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? ([0-9.e+-]+)$", line)
            if not m:
                continue
            have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(m.group(2))
        return total


@contextlib.contextmanager
def running(*started: Worker) -> Iterator[None]:
    """Never leave a worker behind, whatever the test does."""
    try:
        yield
    finally:
        for w in started:
            if w.alive():
                w.proc.kill()
                w.proc.wait()


def wait_until(what: str, check, timeout_s: float, live: list[Worker] = (), poll_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        for w in live:
            assert w.alive(), f"worker {w.roles} exited {w.proc.returncode}: {w.tail()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + "\n".join(
            w.tail() for w in live)
        time.sleep(poll_s)
    return found


def chaos_kills(worker: Worker, rng: random.Random, kills: int, done, low_s: float = 3.0,
                high_s: float = 12.0, on_kill=None, after_ready: bool = False) -> list[float]:
    """SIGKILL ``worker`` ``kills`` times at seeded random moments, restarting it each time.

    Each moment is ``rng.uniform(low_s, high_s)`` seconds after the (re)start, so a
    kill can land during startup, the group join or the middle of a batch; with
    ``after_ready`` the delay counts from when the run got its partitions, so every
    kill lands while it works. Stops early when ``done()`` is true (nothing left to
    interrupt). Returns the delays used.
    """
    delays = []
    for _ in range(kills):
        if after_ready:
            wait_until("the worker's partitions", worker.working, 120, [worker], poll_s=0.2)
        delay = rng.uniform(low_s, high_s)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            assert worker.alive(), f"worker exited {worker.proc.returncode}: {worker.tail()}"
            time.sleep(0.2)
        if done():
            break
        worker.kill()
        delays.append(round(delay, 1))
        if on_kill is not None:
            on_kill()
        worker.start()
    return delays


class KeyedJudge(FaultServer):
    """The loopback fault judge answering each insight by its text alone: the same text gets
    the same answer whenever, and however often, it is asked (an order-scripted judge
    answers a redelivered record with the next action of its script).

    ``actions`` is what a text can get ("ok" approves, "low" revises, "reject" rejects);
    the sha256 of the request's last user message (the insight with its context) picks one.
    A ``script`` set on it still comes first (faults).
    """

    def __init__(self, *actions: str) -> None:
        super().__init__()
        self.actions = actions or ("ok", "low", "reject")
        self._asked = threading.local()

    def record(self, path: str, headers: dict, body: dict) -> None:
        super().record(path, headers, body)
        users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
        self._asked.text = str(users[-1].get("content")) if users else ""

    def next_action(self) -> str:
        with self._lock:
            if self._script:
                return self._script.popleft()
        digest = hashlib.sha256(getattr(self._asked, "text", "").encode()).digest()
        return self.actions[digest[0] % len(self.actions)]


# --- inputs ---------------------------------------------------------------------------


def premade_insights(n: int, run: str) -> list[dict]:
    """``n`` Insight records (texts from tests/data/insights_labeled.jsonl, cycled)."""
    labeled = [json.loads(line) for line in LABELED.read_text().splitlines()]
    out = []
    for i in range(n):
        row = labeled[i % len(labeled)]
        insight = sample_record("Insight")
        ident = f"{run}-{i:04d}"
        insight.update(insight_id=ident, prompt_id=f"{ident}-p", text=row["text"], domain=row["domain"])
        # The labeled texts were written for their domain alone, not the sample context.
        insight["prompt"].update(prompt_id=f"{ident}-p", domain=row["domain"], context={})
        out.append(insight)
    return out


def produce(address: str, spec: topics.TopicSpec, records: list[dict]) -> None:
    async def send() -> None:
        async with Producer(Settings(kafka=KafkaSettings(bootstrap_servers=address))) as producer:
            for record in records:
                await producer.send(spec, record)
    asyncio.run(send())


def produce_synthetic_prompts(env: dict[str, str], n: int, seed: int) -> None:
    done = subprocess.run([KASPER, "produce", "prompts", "--synthetic", str(n), "--seed", str(seed)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# --- reading everything back ----------------------------------------------------------


@dataclass
class Snapshot:
    """Every record of some topics, read from the beginning to the current end."""

    records: dict[str, list[tuple[int, int, dict]]]
    undecodable: int = 0

    def of(self, spec: topics.TopicSpec) -> list[dict]:
        return [r for _, _, r in self.records.get(spec.name, [])]

    def counts(self) -> dict[str, int]:
        return {name: len(found) for name, found in self.records.items()}

    def tally(self) -> Tally:
        codec, tally = Codec(), Tally()
        for name, found in self.records.items():
            for _, _, record in found:
                tally.observe(codec, name, record)
        return tally


async def _snapshot(address: str, specs) -> Snapshot:
    # Ends from the fetch responses' high watermarks: Tansu 0.6.0 answers
    # ListOffsets(latest) wrongly for partitions holding many records.
    codec = Codec()
    consumer = AIOKafkaConsumer(bootstrap_servers=address, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = [TopicPartition(s.name, p) for s in specs for p in range(s.partitions)]
        expect = {s.name: s.record for s in specs}
        consumer.assign(parts)
        snap = Snapshot({s.name: [] for s in specs})
        deadline = time.monotonic() + 60
        while True:
            batch = await consumer.getmany(timeout_ms=300, max_records=2000)
            for tp, messages in batch.items():
                for m in messages:
                    try:
                        record = codec.decode(m.value or b"", expect=expect[tp.topic]).record
                    except CodecError:  # a bad input on purpose (or another record type): its fate is on the DLQ
                        snap.undecodable += 1
                        continue
                    snap.records[tp.topic].append((tp.partition, m.offset, record))
            behind = [tp for tp in parts if consumer.highwater(tp) is None
                      or await consumer.position(tp) < consumer.highwater(tp)]
            if not behind and not batch:
                return snap
            assert time.monotonic() < deadline, f"could not read {behind} to their end"
    finally:
        await consumer.stop()


def snapshot(address: str, specs=PIPELINE) -> Snapshot:
    return asyncio.run(_snapshot(address, specs))


def outcomes_of(address: str, wanted: set[str]) -> set[str]:
    return set(snapshot(address).tally().outcomes) & wanted


def wait_for_outcomes(address: str, wanted: set[str], live: list[Worker], timeout_s: float,
                      settle_s: float = 4.0) -> Snapshot:
    """Poll until every prompt in ``wanted`` has a final outcome; then until nothing moves."""
    wait_until(f"a final outcome for all {len(wanted)} prompts",
               lambda: outcomes_of(address, wanted) == wanted, timeout_s, live, poll_s=1.0)
    snap = snapshot(address)
    while True:  # redelivered work still in flight lands before the last look
        time.sleep(settle_s)
        again = snapshot(address)
        if again.counts() == snap.counts():
            return again
        snap = again


# --- the checks ------------------------------------------------------------------------


def final_outcomes(snap: Snapshot) -> dict[str, set[str]]:
    """prompt id -> every KIND of final outcome recorded for it (must be exactly one)."""
    codec, found = Codec(), {}
    from kasper.streams.cli.progress import prompt_id_of

    for spec, kind in ((topics.APPROVED, "approved"), (topics.VERDICTS, "rejected"), (topics.DLQ, "dead-lettered")):
        for record in snap.of(spec):
            if spec is topics.VERDICTS and record["recommendation"] != "REJECT":
                continue
            pid = prompt_id_of(codec, spec.name, record)
            if pid is not None:
                found.setdefault(pid, set()).add(kind)
    return found


def approved_conflicts(snap: Snapshot) -> dict[str, set]:
    """insight id -> the distinct contents it was approved with, where there is more than one."""
    seen: dict[str, set] = {}
    for a in snap.of(topics.APPROVED):
        content = (a["prompt"]["prompt_id"], a["insight"]["text"], a["grade"]["passed"],
                   a["verdict"]["recommendation"], a["verdict"]["overall"])
        seen.setdefault(a["insight_id"], set()).add(content)
    return {i: c for i, c in seen.items() if len(c) > 1}


def window_records(windows_dir: Path) -> dict[str, list[tuple]]:
    """window id -> the records it holds: (topic, partition, offset) from its manifest and
    ``("insight", id)`` from its approved.avro. Orphans (moved aside, never announced) are not windows."""
    found: dict[str, list[tuple]] = {}
    if not windows_dir.is_dir():
        return found
    for path in sorted(windows_dir.iterdir()):
        if not path.is_dir() or path.name.startswith(".") or not (path / "manifest.json").exists():
            continue
        manifest = read_manifest(path)
        rows = [(r["topic"], r["partition"], o) for r in manifest["source_offsets"]
                for o in range(r["start_offset"], r["end_offset"] + 1)]
        archive = path / "approved.avro"
        if archive.exists():
            with archive.open("rb") as fh:
                rows += [("insight", rec["insight_id"]) for rec in fastavro.reader(fh)]
        found[manifest["window_id"]] = rows
    return found


def duplicated_in_windows(windows_dir: Path) -> int:
    """How many records appear more than once across all windows (0 is the only good answer)."""
    counts = Counter(r for rows in window_records(windows_dir).values() for r in rows)
    return sum(n - 1 for n in counts.values() if n > 1)


# --- the trainer worker: `kasper worker --agents train` with a tiny LoRA config -----------

TRAINER_SCRIPT = """
import dataclasses, json, os, sys
from kasper.streams.cli.worker_cmd import build_app
from kasper.streams import logs, metrics
from kasper.streams.settings import get_settings
from kasper.streams.shutdown import BoundedWorker
from kasper.trainer.config import PromotionPolicy, TrainerConfig, with_tier

args = json.loads(sys.argv[1])
settings = get_settings()
logs.configure(settings.observability)
metrics.serve(settings.observability)
config = TrainerConfig.from_settings(settings, tick_s=0.2,
                                     crash_after=os.environ.get("CHAOS_CRASH_AFTER") or None)
config = dataclasses.replace(config, promotion=PromotionPolicy(**args["promotion"]))
for tier in ("lite", "standard", "pro"):
    config = with_tier(config, tier, **args["tiny"])
app, _ = build_app(["train"], settings, trainer_config=config)
BoundedWorker(app, loglevel="info", quiet=True, override_logging=False,
              shutdown_timeout_s=settings.worker.shutdown_timeout_s).execute_from_commandline()
"""

TINY = {"rank": 4, "num_layers": 2, "iters": 8, "batch_size": 1, "max_seq_length": 352,
        "learning_rate": 1e-3, "steps_per_report": 1, "save_every": 1, "val_batches": 1}
# Four golden examples per decision (all 44 cost minutes a window on loaded cores).
PROBES = {"probe_count": 1, "probe_max_tokens": 8, "probe_tolerance": 1.0, "min_improvement": 0.0,
          "golden_count": 4, "min_eval_examples": 1}


def trainer_worker(env: dict[str, str], run_dir: Path, **tiny: Any) -> Worker:
    args = json.dumps({"tiny": {**TINY, **tiny}, "promotion": PROBES})
    return Worker(env, run_dir, roles="train", script=TRAINER_SCRIPT, args=(args,))


def checkpoint_step(cache: Path) -> int:
    """The highest step of any LoRA checkpoint in progress under the adapters dir (0: none)."""
    steps = [0]
    for state in (cache / "adapters").glob("*/.work/*/checkpoint/state.json"):
        with contextlib.suppress(OSError, ValueError):
            steps.append(int(json.loads(state.read_text())["step"]))
    return max(steps)


async def committed(address: str, group: str, topic: str) -> int:
    """Sum over partitions of the group's committed offsets on ``topic``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=address, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return sum([(await consumer.committed(TopicPartition(topic, p))) or 0 for p in parts])
    finally:
        await consumer.stop()
