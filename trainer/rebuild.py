"""Rebuild a window from its source offsets and check it against the original.

``replay_window`` reads exactly the offsets listed in a window's manifest (or
TrainingWindow event) from Kafka, without a consumer group, builds the content
with the policy recorded in the manifest, and compares every file's sha256.
Because :func:`kasper.trainer.dataset.build_window` is pure (and the window loop
and a rebuild both call it through :func:`kasper.trainer.windows.window_content`,
which blanks user hashes first), a window whose records are still on the topics
rebuilds byte for byte.

``check_window_event`` does the same for a TrainingWindow event (``kasper
replay windows`` runs it for every event of the topic) and also compares the
rebuilt bytes with the sha256s the event announced and with the files on disk,
so a data file changed after publication is caught too.

Error policy: a record that is gone (retention) raises :class:`SourceGone`,
one that no longer decodes :class:`ReplayError`, both naming the offset; a
broker outage raises ``BrokerUnavailable``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from kasper.schemas import Codec
from kasper.streams.admin import check_reachable
from kasper.streams.consumer import decode_message, start_consumer
from kasper.streams.settings import Settings

from .config import TrainerConfig, WindowPolicy
from .dataset import MANIFEST, Source, WindowContent
from .errors import CorruptDatasetError, TrainerError
from .files import read_manifest, write_window
from .windows import window_content

_KINDS = {"ApprovedInsight": "approved", "Feedback": "feedback"}


class ReplayError(TrainerError):
    """A window's source records could not all be read back."""


class SourceGone(ReplayError):
    """Source records of a window are no longer on the topic (retention)."""


@dataclass(frozen=True)
class ReplayReport:
    window_id: str
    rebuilt_id: str
    identical: bool
    mismatched: list[str]  # files whose sha256 differs (or that exist on one side only)
    content: WindowContent


async def read_sources(settings: Settings, codec: Codec, ranges: list[dict[str, Any]]) -> list[Source]:
    """The decoded records at exactly the offsets of ``ranges``."""
    check_reachable(settings.kafka)
    wanted = {(r["topic"], r["partition"], o) for r in ranges
              for o in range(r["start_offset"], r["end_offset"] + 1)}
    first: dict[TopicPartition, int] = {}
    for topic, partition, offset in wanted:
        tp = TopicPartition(topic, partition)
        first[tp] = min(first.get(tp, offset), offset)
    def assign_and_seek(consumer: AIOKafkaConsumer) -> None:
        consumer.assign(list(first))
        for tp, offset in first.items():
            consumer.seek(tp, offset)

    consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), enable_auto_commit=False)
    await start_consumer(settings.kafka, consumer, assign_and_seek)
    try:
        return await _collect(consumer, codec, wanted)
    finally:
        await consumer.stop()


async def _collect(consumer: AIOKafkaConsumer, codec: Codec, wanted: set) -> list[Source]:
    found: dict[tuple[str, int, int], Source] = {}
    last = {(t, p): max(o for t2, p2, o in wanted if (t2, p2) == (t, p)) for t, p, _ in wanted}
    idle = 0
    while len(found) < len(wanted) and idle < 10:
        batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
        idle = 0 if batch else idle + 1
        for tp, messages in batch.items():
            for m in messages:
                key = (m.topic, m.partition, m.offset)
                if key in wanted:
                    found[key] = _source(codec, m)
            if messages and messages[-1].offset >= last[(tp.topic, tp.partition)]:
                consumer.pause(tp)
    missing = sorted(wanted - found.keys())
    if missing:
        topic, partition, offset = missing[0]
        raise SourceGone(f"{len(missing)} source record(s) could not be read, first "
                          f"{topic}[{partition}]@{offset} (past retention?)")
    return list(found.values())


def _source(codec: Codec, message: Any) -> Source:
    received = decode_message(codec, message)
    if received.error is not None or received.schema not in _KINDS:
        raise ReplayError(f"{received.where}: not an approved insight or feedback record "
                          f"({received.error or received.schema})")
    return Source(message.topic, message.partition, message.offset, _KINDS[received.schema],
                  received.record, received.value)


async def replay_window(settings: Settings, window_dir: Path, codec: Codec | None = None,
                        out_dir: Path | None = None) -> ReplayReport:
    """Rebuild the window in ``window_dir`` from Kafka; write it to ``out_dir`` if given."""
    manifest = read_manifest(window_dir)
    policy = _policy(manifest)
    sources = await read_sources(settings, codec or Codec(), manifest["source_offsets"])
    content = window_content(manifest["tier"], sources, policy)
    rebuilt = {f["name"]: f["sha256"] for f in content.manifest["files"]}
    original = {f["name"]: f["sha256"] for f in manifest["files"]}
    mismatched = sorted(n for n in rebuilt.keys() | original.keys() if rebuilt.get(n) != original.get(n))
    if (Path(window_dir) / "manifest.json").read_bytes() != content.files["manifest.json"]:
        mismatched.append("manifest.json")
    if out_dir is not None:
        write_window(content, Path(out_dir))
    return ReplayReport(manifest["window_id"], content.window_id, not mismatched, mismatched, content)


def _policy(manifest: dict[str, Any]) -> WindowPolicy:
    """The window policy the manifest was built with (only what shapes the content)."""
    recorded = manifest["policy"]
    base = WindowPolicy()
    min_score = dict(base.min_score)
    min_score[manifest["tier"]] = recorded["min_score"]
    return dataclasses.replace(base, min_score=min_score, split=tuple(recorded["split"]),
                               template_version=recorded["template_version"])


@dataclass(frozen=True)
class WindowCheck:
    """The outcome of rebuilding one published window."""

    window_id: str
    status: str  # "identical", "mismatched", "gone" (source records past retention) or "failed"
    mismatched: list[str]
    detail: str = ""
    out_dir: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"window_id": self.window_id, "status": self.status, "mismatched": self.mismatched,
                "detail": self.detail, "out_dir": str(self.out_dir) if self.out_dir else None}


async def check_window_event(settings: Settings, event: dict[str, Any], codec: Codec | None = None,
                             out_root: Path | None = None) -> WindowCheck:
    """Rebuild the window of a TrainingWindow ``event`` and compare it byte for byte.

    The policy comes from the window's manifest; when the directory is gone the
    current settings' policy is used (the event does not record one), and the
    rebuild still has to match the sha256s the event announced. With
    ``out_root`` the rebuilt window is written to ``out_root/<window_id>/``.
    """
    window_id, directory = event["window_id"], Path(event["directory"])
    if out_root is not None and (Path(out_root) / window_id).resolve() == directory.resolve():
        raise ReplayError(f"{out_root} holds the original window {window_id}: rebuild elsewhere")
    on_disk = (directory / MANIFEST).exists()
    try:
        policy = _policy(read_manifest(directory)) if on_disk else TrainerConfig.from_settings(settings).window
        sources = await read_sources(settings, codec or Codec(), event["source_offsets"])
    except SourceGone as exc:
        return WindowCheck(window_id, "gone", [], str(exc))
    except (ReplayError, CorruptDatasetError, KeyError) as exc:
        return WindowCheck(window_id, "failed", [], f"{type(exc).__name__}: {exc}")
    content = window_content(event["tier"], sources, policy)
    mismatched = _differences(content, event, directory if on_disk else None)
    out_dir = write_window(content, Path(out_root)) if out_root is not None else None
    detail = "" if on_disk else f"{directory} is gone: rebuilt with the current window policy"
    return WindowCheck(window_id, "mismatched" if mismatched else "identical", mismatched, detail,
                       out_dir)


def _differences(content: WindowContent, event: dict[str, Any], directory: Path | None) -> list[str]:
    """Files whose rebuilt sha256 differs from the event's or from the file on disk."""
    rebuilt = {name: hashlib.sha256(data).hexdigest() for name, data in content.files.items()}
    announced = {f["name"]: f["sha256"] for f in event["files"]}
    bad = {n for n in rebuilt.keys() | announced.keys() if rebuilt.get(n) != announced.get(n)}
    if directory is not None:
        for name, digest in rebuilt.items():
            path = directory / name
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                bad.add(name)
    return sorted(bad)
