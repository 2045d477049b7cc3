"""Avro codec: records validated, encoded and decoded in either wire format.

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
from dataclasses import dataclass
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from .errors import (
    CodecError,
    GarbageBytesError,
    RecordTooLargeError,
    RegistryError,
    SchemaValidationError,
    TrailingBytesError,
    TruncatedRecordError,
    UnknownFormatError,
    UnknownSchemaError,
    Where,
    WrongRecordError,
)
from .parsed import (
    PACKAGE,
    RECORD_NAMES,
    SINGLE_OBJECT_MAGIC,
    Entry,
    ParsedSchemas,
    Reader,
    fingerprint,
    full_name,
    parsed_schema,
    schema_json,
    standalone_schema,
    validate,
)
from .registry import RegistryClient

__all__ = [
    "MAX_RECORD_BYTES",
    "RECORD_NAMES",
    "Codec",
    "Decoded",
    "ParsedSchemas",
    "fingerprint",
    "full_name",
    "parsed_schema",
    "schema_json",
    "standalone_schema",
    "validate",
]

MAX_RECORD_BYTES = 512 * 1024
CONFLUENT_MAGIC = b"\x00"


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
    It reads both. ``schemas`` swaps in other schema folders (tests);
    ``max_record_bytes`` (None: no limit) bounds what :meth:`decode` accepts.
    """

    def __init__(self, registry: RegistryClient | None = None, *, schemas: ParsedSchemas | None = None,
                 max_record_bytes: int | None = MAX_RECORD_BYTES) -> None:
        self.registry = registry
        self.schemas = schemas or PACKAGE
        self.max_record_bytes = max_record_bytes
        self._confluent_headers: dict[tuple[str, str], bytes] = {}
        self._id_readers: dict[int, Reader] = {}

    def validate(self, name: str, record: Any) -> None:
        """Raise SchemaValidationError naming the first offending field, if any."""
        self.schemas.entry(name).validate(record)

    def encode(self, name: str, record: Any, *, subject: str | None = None) -> bytes:
        """Validate ``record`` as record type ``name`` and encode it with its wire header.

        ``subject`` is the registry subject (``f"{topic}-value"`` for the
        TopicNameStrategy); it defaults to the record's full name. It is ignored
        without a registry. With a registry the first encode per subject blocks
        on an HTTP call: call :meth:`schema_id` at startup to warm the cache.
        """
        entry = self.schemas.entry(name)
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
        entry = self.schemas.entry(name)
        return int.from_bytes(self._confluent_header(entry, subject)[1:], "big")

    def _confluent_header(self, entry: Entry, subject: str | None) -> bytes:
        key = (entry.full, subject or entry.full)
        header = self._confluent_headers.get(key)
        if header is None:
            assert self.registry is not None
            schema_id = self.registry.register(key[1], entry.schema_json)
            header = CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")
            self._confluent_headers[key] = header
            self._id_readers.setdefault(schema_id, Reader(entry.name, entry.parsed))
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
        if expect is not None and reader.name != (wanted := self.schemas.entry(expect).name):
            raise WrongRecordError(f"expected a {wanted}, got a {reader.name}", where=where)
        return Decoded(reader.name, _read_body(reader, data, start, where))

    def _reader(self, data: bytes, where: Where | None) -> tuple[Reader, int]:
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < 10:
                raise TruncatedRecordError("single-object header cut short", where=where)
            reader = self.schemas.fingerprints.get(data[2:10])
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

    def _registry_reader(self, schema_id: int, where: Where | None) -> Reader:
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
        reader = self.schemas.reader_for(schema, f"registry schema id {schema_id}", where)
        self._id_readers[schema_id] = reader
        return reader


def _read_body(reader: Reader, data: bytes, start: int, where: Where | None) -> dict[str, Any]:
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
