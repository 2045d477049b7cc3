"""Rebuild a window from its source offsets and check it against the original.

``replay_window`` reads exactly the offsets listed in a window's manifest (or
TrainingWindow event) from Kafka, without a consumer group, builds the content
with the policy recorded in the manifest, and compares every file's sha256.
Because :func:`kasper.trainer.dataset.build_window` is pure, a window whose
records are still on the topics rebuilds byte for byte.

Error policy: a record that is gone (retention) or no longer decodes raises
:class:`ReplayError` naming its offset; a broker outage raises
``BrokerUnavailable``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from kasper.schemas import Codec
from kasper.streams.admin import check_reachable
from kasper.streams.consumer import decode_message, start_consumer
from kasper.streams.settings import Settings

from .config import WindowPolicy
from .dataset import Source, WindowContent, build_window
from .errors import TrainerError
from .files import read_manifest, write_window

_KINDS = {"ApprovedInsight": "approved", "Feedback": "feedback"}


class ReplayError(TrainerError):
    """A window's source records could not all be read back."""


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
        raise ReplayError(f"{len(missing)} source record(s) could not be read, first "
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
    content = build_window(manifest["tier"], sources, policy)
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
