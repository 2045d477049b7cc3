"""Avro codec: the .avsc files parsed once, records validated, encoded and decoded.

Wire formats (docs/contracts.md); :meth:`Codec.decode` tells them apart by
the first bytes:

* Avro single-object encoding, used when no schema registry is configured:
  ``C3 01`` + 8-byte little-endian CRC-64-AVRO fingerprint of the schema's
  Parsing Canonical Form + Avro binary body.
* Confluent wire format, used with a :class:`~kasper.schemas.registry.RegistryClient`:
  ``00`` + 4-byte big-endian schema id + Avro binary body.

Replays read old records with new code: the fingerprints of every released
schema version (``released/v*/``) are known too, and such records are read with
Avro schema resolution into the current schema.

Error policy: every failure is a :class:`~kasper.schemas.errors.CodecError`;
fastavro's exceptions never escape. A ``DecodeError`` is a poison message
(dead-letter it); a ``RegistryError`` is a registry outage (retry).

Size: a message over ``max_record_bytes`` (:data:`MAX_RECORD_BYTES`, 512 KiB) is a
``RecordTooLargeError`` before any byte of it is read. The pipeline's own records
are a few KB (a Verdict carries its Grade, Insight and PromptEvent, whose free
text is capped by the prompt check); a bigger one would make every stage's output
bigger still, past the producers' request limit (Faust's is 1 MB), and the stage
would crash on the send instead of dead-lettering the input.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from .schema_set import (
    PACKAGE_DIR,
    RELEASED_DIR,
    SchemaSet,
    fingerprint_of,
    load_schema_set,
    named_types,
    qualify,
    released_versions,
)
from .errors import (
    CodecError,
    GarbageBytesError,
    RecordTooLargeError,
    RegistryError,
    SchemaDefinitionError,
    SchemaValidationError,
    TrailingBytesError,
    TruncatedRecordError,
    UnknownFormatError,
    UnknownRecordError,
    UnknownSchemaError,
    Where,
    WrongRecordError,
)
from .validation import Validator, compile_validator

if TYPE_CHECKING:
    from .registry import RegistryClient

__all__ = [
    "MAX_RECORD_BYTES",
    "RECORD_NAMES",
    "Catalog",
    "Codec",
    "Decoded",
    "fingerprint",
    "full_name",
    "parsed_schema",
    "schema_json",
    "standalone_schema",
    "validate",
]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
MAX_RECORD_BYTES = 512 * 1024
CONFLUENT_MAGIC = b"\x00"


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True, slots=True)
class _Entry:
    """One top-level record of the current schemas, ready to use."""

    name: str
    full: str
    parsed: Any  # fastavro parsed schema
    schema_json: str  # self-contained JSON text: what a registry stores
    header: bytes  # single-object header: magic + fingerprint
    validate: Validator


@dataclass(frozen=True, slots=True)
class _Reader:
    """How to read one writer schema: resolved into the current one when they differ."""

    name: str
    writer: Any
    reader: Any | None = None


class Catalog:
    """Current schemas parsed once, plus the fingerprints of every released version."""

    def __init__(self, current_dir: Path | str = PACKAGE_DIR, released_root: Path | str = RELEASED_DIR) -> None:
        self.schemas = load_schema_set(current_dir)
        parsed = _parse_in_order(self.schemas)
        self.entries: dict[str, _Entry] = {}
        for full in sorted(self.schemas.records, key=lambda n: n.rpartition(".")[2]):
            standalone = self.schemas.standalone(full)
            self.entries[full] = _Entry(
                name=full.rpartition(".")[2],
                full=full,
                parsed=_own_types_only(parsed[full], standalone),
                schema_json=json.dumps(standalone, separators=(",", ":")),
                header=SINGLE_OBJECT_MAGIC + fingerprint_of(standalone),
                validate=compile_validator(standalone, full.rpartition(".")[2]),
            )
        self._by_name = {key: e for e in self.entries.values() for key in (e.name, e.full)}
        self.fingerprints = {e.header[2:]: _Reader(e.name, e.parsed) for e in self.entries.values()}
        for version in released_versions(released_root):
            self._add_released(load_schema_set(version))

    def _add_released(self, released: SchemaSet) -> None:
        for full in released.records:
            entry = self.entries.get(full)
            fp = released.fingerprint(full)
            if entry is not None and fp not in self.fingerprints:
                try:
                    old = parse_schema(released.standalone(full), named_schemas={})
                except Exception as exc:  # fastavro raises several types for a bad schema
                    raise SchemaDefinitionError(f"{released.files[full]}: {exc}") from exc
                self.fingerprints[fp] = _Reader(entry.name, old, entry.parsed)

    def entry(self, name: str) -> _Entry:
        """The record called ``name`` (short or full name)."""
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            known = ", ".join(e.name for e in self.entries.values())
            raise UnknownRecordError(f"unknown record {name!r}; known: {known}") from None

    def reader_for(self, schema: Any, label: str, where: Where | None) -> _Reader:
        """A reader for a writer schema fetched from a registry."""
        full = qualify(schema.get("name", "?"), schema.get("namespace")) if isinstance(schema, dict) else "?"
        entry = self.entries.get(full)
        if entry is None:
            raise UnknownSchemaError(f"{label} is {full}, not a pipeline record", where=where)
        try:
            fp = fingerprint_of(schema)
            writer = parse_schema(schema, named_schemas={})
        except Exception as exc:  # fastavro raises several types for a bad schema
            raise UnknownSchemaError(f"{label}: unusable writer schema: {exc}", where=where) from exc
        if fp == entry.header[2:]:  # the current schema itself: no resolution needed
            return _Reader(entry.name, entry.parsed)
        return _Reader(entry.name, writer, entry.parsed)


def _parse_in_order(schemas: SchemaSet) -> dict[str, Any]:
    """fastavro-parse every file, dependencies first, sharing one table of named types."""
    named: dict[str, Any] = {}
    parsed = {}
    for full in schemas.order:
        try:
            parsed[full] = parse_schema(schemas.sources[full], named_schemas=named)
        except Exception as exc:  # SchemaParseException, UnknownType, ValueError...
            raise SchemaDefinitionError(f"{schemas.files[full]}: {exc}") from exc
    return parsed


def _own_types_only(parsed: dict, standalone: dict) -> dict:
    """The parsed schema with only the named types it uses in its lookup table.

    The shared parse leaves every schema's ``__named_schemas`` holding all
    types of the folder, and fastavro copies that table on each write: trimming
    it saves ~0.8 us per PromptEvent encode.
    """
    table = parsed["__named_schemas"]
    return {**parsed, "__named_schemas": {name: table[name] for name in named_types(standalone)}}


_DEFAULT = Catalog()
RECORD_NAMES: tuple[str, ...] = tuple(e.name for e in _DEFAULT.entries.values())


# --------------------------------------------------------------------------- codec


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded message: the short record name and the record as a dict."""

    name: str
    record: dict[str, Any]


class Codec:
    """Validates, encodes and decodes the pipeline's records.

    Without ``registry`` it writes Avro single-object encoding; with one, the
    Confluent wire format (schema ids are registered on first use and cached).
    It reads both. ``catalog`` swaps in other schema folders (tests);
    ``max_record_bytes`` (None: no limit) bounds what :meth:`decode` accepts.
    """

    def __init__(self, registry: RegistryClient | None = None, *, catalog: Catalog | None = None,
                 max_record_bytes: int | None = MAX_RECORD_BYTES) -> None:
        self.registry = registry
        self.catalog = catalog or _DEFAULT
        self.max_record_bytes = max_record_bytes
        self._confluent_headers: dict[tuple[str, str], bytes] = {}
        self._id_readers: dict[int, _Reader] = {}

    def validate(self, name: str, record: Any) -> None:
        """Raise SchemaValidationError naming the first offending field, if any."""
        self.catalog.entry(name).validate(record)

    def encode(self, name: str, record: Any, *, subject: str | None = None) -> bytes:
        """Validate ``record`` as record type ``name`` and encode it with its wire header.

        ``subject`` is the registry subject (``f"{topic}-value"`` for the
        TopicNameStrategy); it defaults to the record's full name. It is ignored
        without a registry. With a registry the first encode per subject blocks
        on an HTTP call: call :meth:`schema_id` at startup to warm the cache.
        """
        entry = self.catalog.entry(name)
        entry.validate(record)
        header = entry.header if self.registry is None else self._confluent_header(entry, subject)
        buf = io.BytesIO()
        buf.write(header)
        try:
            schemaless_writer(buf, entry.parsed, record)
        except Exception as exc:  # validation should have caught it; keep fastavro's errors inside
            raise SchemaValidationError(f"{entry.name}: cannot encode: {exc}", record=entry.name) from exc
        return buf.getvalue()

    def schema_id(self, name: str, *, subject: str | None = None) -> int:
        """Register ``name``'s schema under ``subject`` (cached) and return its registry id."""
        if self.registry is None:
            raise CodecError("schema_id needs a schema registry")
        entry = self.catalog.entry(name)
        return int.from_bytes(self._confluent_header(entry, subject)[1:], "big")

    def _confluent_header(self, entry: _Entry, subject: str | None) -> bytes:
        key = (entry.full, subject or entry.full)
        header = self._confluent_headers.get(key)
        if header is None:
            assert self.registry is not None
            schema_id = self.registry.register(key[1], entry.schema_json)
            header = CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")
            self._confluent_headers[key] = header
            self._id_readers.setdefault(schema_id, _Reader(entry.name, entry.parsed))
        return header

    def decode(self, data: bytes, *, expect: str | None = None, where: Where | None = None) -> Decoded:
        """Decode one message in either wire format.

        ``expect`` (short or full record name) makes a record of another type a
        WrongRecordError; ``where`` is quoted in every DecodeError. Raises the
        DecodeError subclasses of errors.py, or RegistryError when the registry
        is needed and unreachable (retry, do not dead-letter).
        """
        data = bytes(data) if not isinstance(data, bytes) else data
        if self.max_record_bytes is not None and len(data) > self.max_record_bytes:
            raise RecordTooLargeError(f"message of {len(data)} bytes exceeds the limit of "
                                      f"{self.max_record_bytes} bytes", where=where)
        reader, start = self._reader(data, where)
        if expect is not None and reader.name != (wanted := self.catalog.entry(expect).name):
            raise WrongRecordError(f"expected a {wanted}, got a {reader.name}", where=where)
        return Decoded(reader.name, _read_body(reader, data, start, where))

    def _reader(self, data: bytes, where: Where | None) -> tuple[_Reader, int]:
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < 10:
                raise TruncatedRecordError("single-object header cut short", where=where)
            reader = self.catalog.fingerprints.get(data[2:10])
            if reader is None:
                raise UnknownSchemaError(f"unknown schema fingerprint {data[2:10].hex()}", where=where)
            return reader, 10
        if data[:1] == CONFLUENT_MAGIC:
            if len(data) < 5:
                raise TruncatedRecordError("Confluent header cut short", where=where)
            return self._registry_reader(int.from_bytes(data[1:5], "big"), where), 5
        if SINGLE_OBJECT_MAGIC.startswith(data):  # empty, or a lone C3
            raise TruncatedRecordError(f"message of {len(data)} bytes has no header", where=where)
        raise UnknownFormatError(
            f"unknown header {data[:4].hex()}: neither Avro single-object (c301) nor Confluent (00)", where=where
        )

    def _registry_reader(self, schema_id: int, where: Where | None) -> _Reader:
        reader = self._id_readers.get(schema_id)
        if reader is not None:
            return reader
        if self.registry is None:
            raise UnknownSchemaError(f"registry schema id {schema_id}, but no registry is configured", where=where)
        try:
            schema = self.registry.get_schema(schema_id)
        except RegistryError as exc:
            if exc.status != 404:
                raise
            raise UnknownSchemaError(f"registry schema id {schema_id} does not exist", where=where) from exc
        reader = self.catalog.reader_for(schema, f"registry schema id {schema_id}", where)
        self._id_readers[schema_id] = reader
        return reader


def _read_body(reader: _Reader, data: bytes, start: int, where: Where | None) -> dict[str, Any]:
    buf = io.BytesIO(data)
    buf.seek(start)
    try:
        record = schemaless_reader(buf, reader.writer, reader.reader)
    except (EOFError, IndexError) as exc:
        # fastavro reports a negative length as EOF too: that is garbage, not a cut-off.
        if "Expected -" in str(exc) or "list index" in str(exc):
            raise GarbageBytesError(f"{reader.name}: invalid Avro body ({exc})", where=where) from exc
        raise TruncatedRecordError(f"{reader.name}: body ends before the record does", where=where) from exc
    except SchemaResolutionError as exc:
        raise UnknownSchemaError(f"{reader.name}: writer schema cannot be read as the current one: {exc}",
                                 where=where) from exc
    except Exception as exc:  # UnicodeDecodeError, ValueError, OverflowError...
        raise GarbageBytesError(f"{reader.name}: invalid Avro body ({type(exc).__name__}: {exc})",
                                where=where) from exc
    if (left := len(data) - buf.tell()) > 0:
        raise TrailingBytesError(f"{reader.name}: {left} bytes left after the record", where=where)
    return record


# --------------------------------------------------------------------------- module helpers


def full_name(name: str) -> str:
    """``PromptEvent`` -> ``kasper.pipeline.PromptEvent`` (full names pass through)."""
    return _DEFAULT.entry(name).full


def parsed_schema(name: str) -> Any:
    """fastavro's parsed schema of a record, e.g. for ``fastavro.writer`` container files."""
    return _DEFAULT.entry(name).parsed


def standalone_schema(name: str) -> dict:
    """Self-contained JSON schema of a record (named types inlined at first use)."""
    return json.loads(_DEFAULT.entry(name).schema_json)


def schema_json(name: str) -> str:
    """:func:`standalone_schema` as compact JSON text (what the registry stores)."""
    return _DEFAULT.entry(name).schema_json


def fingerprint(name: str) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint used in the single-object header."""
    return _DEFAULT.entry(name).header[2:]


def validate(name: str, record: Any) -> None:
    """Module-level :meth:`Codec.validate` on the package's schemas."""
    _DEFAULT.entry(name).validate(record)
