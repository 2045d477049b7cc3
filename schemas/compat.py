"""Schema evolution check: can the current schemas read every record ever released?

Replays read old records with new code, so the schemas evolve
BACKWARD_TRANSITIVE (docs/contracts.md): each current schema, as reader, must
resolve every released version of it, as writer, by the Avro specification's
"Schema Resolution" rules:

* records match by unqualified name or reader alias; a reader field missing from
  the writer (by name or field alias) needs a default; writer-only fields are skipped;
* promotions: int -> long/float/double, long -> float/double, float -> double,
  string <-> bytes; logical types resolve as their underlying type;
* enums: writer symbols the reader lacks need a reader enum default;
* arrays/maps by their items/values; fixed by name and size;
* unions: each writer branch must fit some reader branch; a plain writer type
  must fit some branch of a reader union.

Problems are plain sentences that name the record and field path
(``PromptEvent.context{}`` is a map's values, ``TrainingWindow.files[]`` an array's items).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastavro import parse_schema

from .schema_set import (
    NAMED_KINDS,
    PACKAGE_DIR,
    PRIMITIVES,
    RELEASED_DIR,
    SchemaSet,
    load_schema_set,
    named_types,
    released_versions,
    with_full_names,
)

__all__ = ["check_all", "check_compatible", "check_package"]

# writer type -> reader types it may be read as
_STRUCTURED = NAMED_KINDS | {"array", "map"}
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


def check_compatible(reader_schema: Any, writer_schema: Any) -> list[str]:
    """Problems that stop ``reader_schema`` (new) reading data written with ``writer_schema`` (old).

    Either schema may be JSON text or parsed JSON, and must be self-contained
    (every named type defined inside it). An empty list means compatible.
    """
    reader, writer = _normalize(reader_schema), _normalize(writer_schema)
    checker = _Checker(named_types(reader), named_types(writer))
    checker.compare(reader, writer, _label(reader))
    return checker.problems


def check_all(current_dir: Path | str, released_root: Path | str) -> dict[str, list[str]]:
    """Check every schema of ``current_dir`` against every version under ``released_root``.

    Returns ``{record short name: problems}`` for every current top-level type
    (an empty list means fine), plus released types that no longer exist. Each
    problem starts with the released version it concerns (``v1: ...``).
    """
    current = load_schema_set(current_dir)
    results: dict[str, list[str]] = {_short(name): _definition_problems(current, name) for name in current.order}
    for version in released_versions(released_root):
        released = load_schema_set(version)
        for name in released.order:
            problems = results.setdefault(_short(name), [])
            if name not in current.definitions:
                problems.append(f"{version.name}: {name} was released and no longer exists")
                continue
            found = check_compatible(current.standalone(name), released.standalone(name))
            problems.extend(f"{version.name}: {problem}" for problem in found)
    return dict(sorted(results.items()))


def check_package() -> dict[str, list[str]]:
    """:func:`check_all` on the package's own schemas and ``released/`` folder (``kasper schemas check``)."""
    return check_all(PACKAGE_DIR, RELEASED_DIR)


def _definition_problems(schemas: SchemaSet, name: str) -> list[str]:
    """fastavro's own checks (defaults of the right type, valid names...) on a current schema."""
    try:
        parse_schema(schemas.standalone(name), named_schemas={})
    except Exception as exc:  # fastavro raises several types for a bad schema
        return [f"{_short(name)}: invalid schema: {exc}"]
    return []


def _normalize(schema: Any) -> Any:
    """Parsed JSON with every name written in full, so references can be looked up directly."""
    if isinstance(schema, bytes):
        schema = schema.decode()
    if isinstance(schema, str) and schema not in PRIMITIVES:
        schema = json.loads(schema)
    return with_full_names(schema)


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def _label(schema: Any) -> str:
    if isinstance(schema, str):
        return _short(schema)
    if isinstance(schema, list):
        return "[" + ", ".join(_label(branch) for branch in schema) + "]"
    return _short(schema["name"]) if "name" in schema else _label(schema["type"])


class _Checker:
    """Walks reader and writer side by side, collecting problems."""

    def __init__(self, reader_named: dict[str, dict], writer_named: dict[str, dict]) -> None:
        self.reader_named, self.writer_named = reader_named, writer_named
        self.problems: list[str] = []
        self.active: set[tuple[str, str]] = set()  # record pairs under comparison: stops recursion

    def problem(self, path: str, text: str) -> None:
        self.problems.append(f"{path}: {text}")

    def compare(self, reader: Any, writer: Any, path: str) -> None:
        """Record every way ``writer`` data at ``path`` cannot be read as ``reader``."""
        reader, writer = self._deref(reader, self.reader_named, path), self._deref(writer, self.writer_named, path)
        if reader is None or writer is None:
            return
        if isinstance(writer, list):
            for branch in writer:
                self.compare(reader, branch, path)
        elif isinstance(reader, list):
            if not any(self._fits(branch, writer, path) for branch in reader):
                self.problem(path, f"old type {_label(writer)} fits no branch of the new union {_label(reader)}")
        else:
            self._compare_single(reader, writer, path)

    def _compare_single(self, reader: Any, writer: Any, path: str) -> None:
        r_kind, w_kind = _kind(reader), _kind(writer)
        if r_kind != w_kind:
            if r_kind not in _PROMOTIONS.get(w_kind, ()):
                self.problem(path, f"type changed from {_label(writer)} to {_label(reader)}, not an Avro promotion")
        elif r_kind == "record" or r_kind == "error":
            self._record(reader, writer, path)
        elif r_kind == "enum":
            self._enum(reader, writer, path)
        elif r_kind == "fixed":
            if not _same_name(reader, writer) or reader["size"] != writer["size"]:
                old, new = f"{_label(writer)}[{writer['size']}]", f"{_label(reader)}[{reader['size']}]"
                self.problem(path, f"fixed {old} cannot be read as {new}")
        elif r_kind == "array":
            self.compare(reader["items"], writer["items"], f"{path}[]")
        elif r_kind == "map":
            self.compare(reader["values"], writer["values"], f"{path}{{}}")

    def _record(self, reader: dict, writer: dict, path: str) -> None:
        if not _same_name(reader, writer):
            self.problem(path, f"record {_label(writer)} cannot be read as record {_label(reader)}")
            return
        pair = (reader["name"], writer["name"])
        if pair in self.active:
            return
        self.active.add(pair)
        written = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            match = next((written[n] for n in names if n in written), None)
            field_path = f"{path}.{field['name']}"
            if match is not None:
                self.compare(field["type"], match["type"], field_path)
            elif "default" not in field:
                self.problem(field_path, "new field has no default; records written before it cannot be read")
        self.active.discard(pair)

    def _enum(self, reader: dict, writer: dict, path: str) -> None:
        if not _same_name(reader, writer):
            self.problem(path, f"enum {_label(writer)} cannot be read as enum {_label(reader)}")
            return
        lost = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if lost and "default" not in reader:
            self.problem(path, f"enum {_label(reader)} dropped symbol(s) {lost} and has no default to read them as")

    def _fits(self, reader_branch: Any, writer: Any, path: str) -> bool:
        trial = _Checker(self.reader_named, self.writer_named)
        trial.active = set(self.active)
        trial.compare(reader_branch, writer, path)
        return not trial.problems

    def _deref(self, schema: Any, named: dict[str, dict], path: str) -> Any:
        """Named references -> definitions; ``{"type": "long", "logicalType": ...}`` -> ``"long"``."""
        while isinstance(schema, (str, dict)):
            if isinstance(schema, dict):
                inner = schema["type"]
                if isinstance(inner, str) and inner in _STRUCTURED:
                    return schema
                schema = inner  # a logical type, {"type": "some.Name"} or {"type": [...]}
            elif schema in PRIMITIVES:
                return schema
            elif schema in named:
                schema = named[schema]
            else:
                self.problem(path, f"unknown type {schema}")
                return None
        return schema  # a union


def _kind(schema: Any) -> str:
    return schema if isinstance(schema, str) else schema["type"]


def _same_name(reader: dict, writer: dict) -> bool:
    """Avro matches named types by unqualified name; reader aliases may name the writer's type."""
    names = {reader["name"], *reader.get("aliases", ())}
    return writer["name"] in names or _short(writer["name"]) in {_short(n) for n in names}
