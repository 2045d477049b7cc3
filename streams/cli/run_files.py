"""The run's records on disk: what ``kasper up`` leaves in its run directory.

- ``records/<topic>.avro``: every record the run saw on each catalog topic, in the
  order it saw them, as a standard Avro object container file (deflate) whose header
  carries the topic's schema in its self-contained form, so fastavro, the Apache Avro
  tools or any other Avro library read it with nothing else. ``kasper replay load``
  sends such a file back to a broker.
- ``records/undecodable.jsonl``: records that did not decode (topic, partition, offset,
  the error, the bytes in base64); they are not records of the topic's schema.
- ``approved.jsonl``: one approved insight per line (the ApprovedInsight as JSON,
  first of each ``insight_id``: delivery is at least once).
- ``outcomes.csv``: one row per prompt (:data:`~kasper.streams.cli.outcomes.OUTCOME_COLUMNS`).

Every function is plain, so tests write and read these files from records they
made, with no broker.
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro

from kasper.schemas import standalone_schema, to_json
from kasper.streams import topics
from kasper.streams.cli.outcomes import OUTCOME_COLUMNS, PromptHistory, outcome_row

RECORDS_DIR = "records"
APPROVED_FILE, OUTCOMES_FILE, UNDECODABLE_FILE = "approved.jsonl", "outcomes.csv", "undecodable.jsonl"


@dataclass
class RunRecords:
    """Every record a run saw, in order (the followers call :meth:`record` and
    :meth:`undecodable` as each message arrives)."""

    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)

    def record(self, topic: str, record: dict[str, Any]) -> None:
        self.seen.append((topic, record))

    def undecodable(self, topic: str, partition: int, offset: int, value: bytes, error: Exception) -> None:
        self.bad.append({"topic": topic, "partition": partition, "offset": offset,
                         "error": f"{type(error).__name__}: {error}",
                         "value_base64": base64.b64encode(value).decode()})

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [record for name, record in self.seen if name == topic]


def container_name(spec: topics.TopicSpec) -> str:
    return f"{spec.name}.avro"


@lru_cache(maxsize=None)
def container_schema(record_name: str) -> Any:
    """The self-contained parsed schema: a container file must carry every named type it uses."""
    return fastavro.parse_schema(standalone_schema(record_name), named_schemas={})


def write_container(path: Path, record_name: str, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` of type ``record_name`` as one Avro object container file; returns the count."""
    rows = list(records)
    with path.open("wb") as out:
        fastavro.writer(out, container_schema(record_name), rows, codec="deflate",
                        metadata={"kasper.record": record_name})
    return len(rows)


def approved_lines(run_records: RunRecords) -> list[str]:
    """One JSON line per approved insight, in the order approved (first of each id)."""
    lines, seen = [], set()
    for record in run_records.on(topics.APPROVED.name):
        if record["insight_id"] not in seen:
            seen.add(record["insight_id"])
            lines.append(json.dumps(to_json(record), ensure_ascii=False, sort_keys=True))
    return lines


def write_outcomes(path: Path, histories: dict[str, PromptHistory]) -> int:
    """``outcomes.csv``: a header, then one row per prompt in the order first seen."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=OUTCOME_COLUMNS)
        writer.writeheader()
        for history in histories.values():
            writer.writerow(outcome_row(history))
    return len(histories)


def write_run_files(run_dir: Path, run_records: RunRecords,
                    histories: dict[str, PromptHistory]) -> dict[str, Any]:
    """Write every file of the run (see the module docstring); what was written, for report.json."""
    folder = run_dir / RECORDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    for spec in topics.CATALOG:
        name = f"{RECORDS_DIR}/{container_name(spec)}"
        files[name] = write_container(run_dir / name, spec.record, run_records.on(spec.name))
    if run_records.bad:
        name = f"{RECORDS_DIR}/{UNDECODABLE_FILE}"
        (run_dir / name).write_text("".join(json.dumps(b) + "\n" for b in run_records.bad), encoding="utf-8")
        files[name] = len(run_records.bad)
    lines = approved_lines(run_records)
    (run_dir / APPROVED_FILE).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    files[APPROVED_FILE] = len(lines)
    files[OUTCOMES_FILE] = write_outcomes(run_dir / OUTCOMES_FILE, histories)
    return files
