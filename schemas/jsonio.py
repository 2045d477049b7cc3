"""JSON <-> Avro-ready records: JSONL from upstream services in, printable JSON out.

JSON cannot carry datetimes or bytes, and upstream services write optional
fields as plain values, so :func:`from_json` converts, guided by the schema:

* timestamps: ISO-8601 strings (``2026-11-25T10:30:00.125Z``; no offset means
  UTC) or epoch milliseconds -> timezone-aware ``datetime``;
* ``bytes``/``fixed``: base64 strings -> ``bytes``;
* unions: plain values (``"stars": 5``), or Avro's JSON encoding
  (``"stars": {"int": 5}``);
* ``double``/``float``: ints -> floats; ``int``/``long``: integral floats -> ints.

Missing fields are left missing (the producer fills ids and timestamps; the
codec's validation then rejects what is still absent). Unknown fields and
values of the wrong JSON type raise SchemaValidationError naming the field.
:func:`to_json` is the reverse, for printing: datetimes as ISO-8601 UTC with
``Z``, bytes as base64.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Mapping

from .schema_set import PRIMITIVES, named_types
from .codec import full_name, standalone_schema
from .errors import SchemaValidationError
from .validation import _format_path, _got, _Invalid

__all__ = ["from_json", "to_json"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TIMESTAMP_UNITS = {"timestamp-millis": "milliseconds", "timestamp-micros": "microseconds"}


def from_json(name: str, obj: Any) -> dict[str, Any]:
    """Turn JSON data (as parsed by ``json.loads``) into an Avro-ready record of type ``name``."""
    schema, converter = _converter(full_name(name))
    try:
        return converter.convert(schema, obj)
    except _Invalid as exc:
        short = schema["name"].rpartition(".")[2]
        path = _format_path(exc.path)
        where = f"{short}.{path}" if path else short
        raise SchemaValidationError(f"{where}: {exc.message}", record=short, field=path) from None


def to_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-serialisable copy of a record: datetimes -> ISO-8601 UTC ``Z``, bytes -> base64."""
    return _to_json(record)


def _to_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, datetime):
        utc = value.replace(tzinfo=timezone.utc) if value.utcoffset() is None else value.astimezone(timezone.utc)
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    return value


@lru_cache(maxsize=None)
def _converter(full: str) -> tuple[dict, _Converter]:
    schema = standalone_schema(full)
    return schema, _Converter(named_types(schema))


class _Converter:
    """Walks a self-contained schema alongside the JSON value, converting as it goes."""

    def __init__(self, named: dict[str, dict]) -> None:
        self.named = named

    def convert(self, schema: Any, value: Any) -> Any:
        if isinstance(schema, str):
            return _PRIMITIVES[schema](value) if schema in PRIMITIVES else self.convert(self.named[schema], value)
        if isinstance(schema, list):
            return self.union(schema, value)
        kind = schema["type"]
        if kind == "long" and schema.get("logicalType") in _TIMESTAMP_UNITS:
            return _timestamp(value, _TIMESTAMP_UNITS[schema["logicalType"]])
        if kind in ("record", "error"):
            return self.record(schema, value)
        if kind == "enum":
            if not isinstance(value, str) or value not in schema["symbols"]:
                allowed = ", ".join(schema["symbols"])
                raise _Invalid(f"{value!r} is not a {_short(schema['name'])} symbol; allowed: {allowed}")
            return value
        if kind == "fixed":
            data = _bytes(value)
            if len(data) != schema["size"]:
                raise _Invalid(f"expected {schema['size']} bytes, got {len(data)}")
            return data
        if kind == "array":
            return self.array(schema["items"], value)
        if kind == "map":
            return self.map(schema["values"], value)
        return self.convert(kind, value)

    def record(self, schema: dict, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected a {_short(schema['name'])} object, {_got(value)}")
        fields = {f["name"]: f["type"] for f in schema["fields"]}
        out = {}
        for key, item in value.items():
            if key not in fields:
                raise _Invalid(f"unknown field; {_short(schema['name'])} has {', '.join(sorted(fields))}", key)
            out[key] = _at(key, self.convert, fields[key], item)
        return out

    def array(self, items: Any, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _Invalid(f"expected an array, {_got(value)}")
        return [_at(index, self.convert, items, item) for index, item in enumerate(value)]

    def map(self, values: Any, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected an object (map), {_got(value)}")
        return {key: _at(key, self.convert, values, item) for key, item in value.items()}

    def union(self, branches: list, value: Any) -> Any:
        if value is None and "null" in branches:
            return None
        tagged = self._tagged(branches, value)
        if tagged is not None:
            return self.convert(*tagged)
        candidates = [b for b in branches if b != "null"]
        failures = []
        for branch in candidates:
            try:
                return self.convert(branch, value)
            except _Invalid as exc:
                failures.append(exc)
        if len(candidates) == 1:  # an optional field: the one real branch's error says most
            exc = failures[0]
            if not exc.path and "null" in branches and exc.message.startswith("expected "):
                exc.message = "expected null or " + exc.message[len("expected "):]
            raise exc
        raise _Invalid(f"expected {' or '.join(_branch_name(b) for b in branches)}, {_got(value)}")

    def _tagged(self, branches: list, value: Any) -> tuple[Any, Any] | None:
        """Avro's JSON encoding of a union value: ``{"<branch name>": value}``."""
        if not isinstance(value, Mapping) or len(value) != 1:
            return None
        if any(isinstance(b, dict) and b["type"] == "map" for b in branches):
            return None  # a one-key object could be a map value: ambiguous, read it plainly
        (tag, inner), = value.items()
        for branch in branches:
            if tag in (_branch_name(branch), _full_branch_name(branch)):
                return branch, inner
        return None


def _at(key: str | int, convert: Any, schema: Any, value: Any) -> Any:
    try:
        return convert(schema, value)
    except _Invalid as exc:
        exc.path.append(key)
        raise


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def _full_branch_name(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    return schema.get("name", schema["type"]) if isinstance(schema["type"], str) else "union"


def _branch_name(schema: Any) -> str:
    return _short(_full_branch_name(schema))


def _timestamp(value: Any, unit: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.utcoffset() is not None else value.replace(tzinfo=timezone.utc)
    if isinstance(value, int) and not isinstance(value, bool):
        return _EPOCH + timedelta(**{unit: value})
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid(f"not an ISO-8601 timestamp: {value!r:.60}") from None
        return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=timezone.utc)
    raise _Invalid(f"expected an ISO-8601 string or epoch {unit}, {_got(value)}")


def _bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _Invalid(f"not valid base64: {value!r:.60}") from None
    raise _Invalid(f"expected a base64 string, {_got(value)}")


def _null(value: Any) -> None:
    if value is not None:
        raise _Invalid(f"expected null, {_got(value)}")


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected a boolean, {_got(value)}")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, {_got(value)}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"expected an integer, {_got(value)}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid(f"expected a number, {_got(value)}")
    return float(value)


_PRIMITIVES = {
    "null": _null,
    "boolean": _boolean,
    "int": _integer,
    "long": _integer,
    "float": _number,
    "double": _number,
    "string": _string,
    "bytes": _bytes,
}
