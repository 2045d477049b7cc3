"""The project's exception tree (in the style of httpx ``_exceptions.py``).

Library exceptions (fastavro, httpx, json) are translated at the boundary with
``raise ... from exc``, so callers catch ours only::

    KasperError                     root of every error the project raises on purpose
    └── CodecError                  turning records into bytes and back
        ├── SchemaDefinitionError       an .avsc file is invalid (a packaging bug)
        ├── UnknownRecordError          a record name that is not one of ours (a caller bug)
        ├── SchemaValidationError       a record does not match its schema (.field says where)
        ├── DecodeError                 bytes that cannot become a record (.where says which message)
        │   ├── UnknownSchemaError          fingerprint or registry id we cannot resolve
        │   ├── TruncatedRecordError        the message ends before the record does
        │   ├── RecordTooLargeError         the message exceeds the codec's size limit (not read)
        │   ├── GarbageBytesError           bytes that are not a valid encoding
        │   │   ├── UnknownFormatError          no known header (neither single-object nor Confluent)
        │   │   └── TrailingBytesError          a valid record followed by extra bytes
        │   └── WrongRecordError            a valid record of another type than expected
        └── RegistryError               the schema registry could not be reached or refused

A ``DecodeError`` is a poison message (dead-letter it); a ``RegistryError`` is an
outage (retry). Other packages (streams, agents, trainer) subclass
:class:`KasperError` for their own errors.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CodecError",
    "DecodeError",
    "GarbageBytesError",
    "KasperError",
    "RecordTooLargeError",
    "RegistryError",
    "SchemaDefinitionError",
    "SchemaValidationError",
    "TrailingBytesError",
    "TruncatedRecordError",
    "UnknownFormatError",
    "UnknownRecordError",
    "UnknownSchemaError",
    "Where",
    "WrongRecordError",
]


@dataclass(frozen=True, slots=True)
class Where:
    """Where a message came from: a Kafka position and/or a line of a file.

    ``str(Where("kasper.prompts", 2, 1234))`` is ``kasper.prompts[2]@1234``;
    ``str(Where(line=17))`` is ``line 17``.
    """

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = []
        if self.topic is not None or self.partition is not None or self.offset is not None:
            text = self.topic if self.topic is not None else "?"
            if self.partition is not None:
                text += f"[{self.partition}]"
            if self.offset is not None:
                text += f"@{self.offset}"
            parts.append(text)
        if self.line is not None:
            parts.append(f"line {self.line}")
        return " ".join(parts) or "unknown position"


class KasperError(Exception):
    """Root of every error the kasper pipeline raises on purpose."""


class CodecError(KasperError):
    """Encoding, decoding or validating a record failed."""


class SchemaDefinitionError(CodecError):
    """An .avsc file cannot be loaded: bad JSON, an unknown or duplicate type name."""


class UnknownRecordError(CodecError, LookupError):
    """A record name that is none of the pipeline's records."""


class SchemaValidationError(CodecError, ValueError):
    """A record does not match its schema.

    ``record`` is the short record name; ``field`` the dotted path of the offending
    field (``context.moon_phase``, ``sampling.seed``, ``files[2].sha256``), empty
    when the record itself is wrong.
    """

    def __init__(self, message: str, *, record: str = "", field: str = "") -> None:
        super().__init__(message)
        self.record = record
        self.field = field

    def __reduce__(self):  # keyword-only arguments: tell pickle how to rebuild (process pools)
        return _rebuild, (type(self), self.args[0], {"record": self.record, "field": self.field})


class DecodeError(CodecError):
    """Bytes could not be decoded into a record; ``where`` names the message."""

    def __init__(self, message: str, *, where: Where | None = None) -> None:
        super().__init__(f"{message} (at {where})" if where is not None else message)
        self.reason = message
        self.where = where

    def __reduce__(self):
        return _rebuild, (type(self), self.reason, {"where": self.where})


class UnknownSchemaError(DecodeError):
    """The fingerprint or registry id in the header names no schema we can use."""


class TruncatedRecordError(DecodeError):
    """The message ends before the record does (a cut-off or empty body)."""


class RecordTooLargeError(DecodeError):
    """The message is larger than any record the pipeline writes; it is not decoded at all."""


class GarbageBytesError(DecodeError):
    """The bytes are not a valid encoding of the record."""


class UnknownFormatError(GarbageBytesError):
    """The header is neither Avro single-object (C3 01) nor Confluent (00)."""


class TrailingBytesError(GarbageBytesError):
    """A complete record was read but bytes were left over."""


class WrongRecordError(DecodeError):
    """The message holds a valid record, but not of the type the caller expected."""


class RegistryError(CodecError):
    """The schema registry failed: unreachable, an HTTP error, or an unreadable answer.

    Messages name the URL and HTTP status (``status``, None when no answer came),
    never credentials.
    """

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status

    def __reduce__(self):
        return _rebuild, (type(self), self.args[0], {"url": self.url, "status": self.status})


def _rebuild(cls: type, message: str, kwargs: dict) -> Exception:
    return cls(message, **kwargs)
