"""Record validation compiled from the schema: fast on valid records, exact on bad ones.

fastavro's own ``validate`` is several times slower per record and names the
failing field only vaguely; these nested closures name the offending
field path (``context.moon_phase``, ``files[2].sha256``). They are also stricter
where fastavro's writer is silent: unknown field names (typos would be dropped),
naive datetimes (fastavro would read them as local time), ints out of range.
"""

from __future__ import annotations

from datetime import datetime
from collections.abc import Mapping
from typing import Any, Callable

from .errors import SchemaValidationError

__all__ = ["Validator", "compile_validator"]

Validator = Callable[[Any], None]


def compile_validator(schema: dict, record: str) -> Validator:
    """A function that raises SchemaValidationError when a value does not match ``schema``.

    ``schema`` must be self-contained (see ``SchemaSet.standalone``); ``record``
    is the short name quoted in messages.
    """
    check = _Compiler().compile(schema)

    def validate(value: Any) -> None:
        try:
            check(value)
        except _Invalid as exc:
            path = _format_path(exc.path)
            where = f"{record}.{path}" if path else record
            raise SchemaValidationError(f"{where}: {exc.message}", record=record, field=path) from None

    return validate


class _Invalid(Exception):
    """Raised by compiled validators; ``path`` grows innermost-first while it unwinds."""

    def __init__(self, message: str, *path: str | int) -> None:
        self.message = message
        self.path = list(path)


_INT = (-(2**31), 2**31 - 1)
_LONG = (-(2**63), 2**63 - 1)
_TIMESTAMPS = frozenset({"timestamp-millis", "timestamp-micros"})


def _got(value: Any) -> str:
    text = repr(value)
    return f"got {type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _integer(label: str, lo: int, hi: int) -> Validator:
    def check(v: Any) -> None:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Invalid(f"expected {label}, {_got(v)}")
        if not lo <= v <= hi:
            raise _Invalid(f"{v} is out of range for an Avro {label}")

    return check


def _of_type(label: str, types: type | tuple[type, ...], exclude: type | tuple[()] = ()) -> Validator:
    def check(v: Any) -> None:
        if not isinstance(v, types) or isinstance(v, exclude):
            raise _Invalid(f"expected {label}, {_got(v)}")

    return check


def _check_timestamp(v: Any) -> None:
    if isinstance(v, datetime):
        # fastavro turns a naive datetime into epoch millis with time.mktime: local time.
        if v.utcoffset() is None:
            raise _Invalid("naive datetime; pass a timezone-aware one, e.g. datetime.now(timezone.utc)")
    elif isinstance(v, bool) or not isinstance(v, int) or not _LONG[0] <= v <= _LONG[1]:
        raise _Invalid(f"expected a timezone-aware datetime or epoch milliseconds, {_got(v)}")


_PRIMITIVE_CHECKS: dict[str, Validator] = {
    "null": _of_type("null", type(None)),
    "boolean": _of_type("boolean", bool),
    "int": _integer("int", *_INT),
    "long": _integer("long", *_LONG),
    "float": _of_type("float", (int, float), exclude=bool),
    "double": _of_type("double", (int, float), exclude=bool),
    "string": _of_type("string", str),
    "bytes": _of_type("bytes", (bytes, bytearray)),
}


class _Compiler:
    """Turns a self-contained schema into nested closures: cheap checks, exact error paths."""

    def __init__(self) -> None:
        self.named: dict[str, Validator] = {}

    def compile(self, schema: Any) -> Validator:
        if isinstance(schema, str):
            return _PRIMITIVE_CHECKS.get(schema) or self.named[schema]
        if isinstance(schema, list):
            return self.union(schema)
        kind = schema["type"]
        if kind == "long" and schema.get("logicalType") in _TIMESTAMPS:
            return _check_timestamp
        builder = {"record": self.record, "error": self.record, "enum": self.enum, "fixed": self.fixed,
                   "array": self.array, "map": self.map}.get(kind)
        return builder(schema) if builder else self.compile(kind)

    def record(self, schema: dict) -> Validator:
        full, short = schema["name"], schema["name"].rpartition(".")[2]
        cell: list[Validator] = []
        self.named[full] = lambda v: cell[0](v)  # recursive types see the finished check
        fields = [(f["name"], self.compile(f["type"]), "default" in f) for f in schema["fields"]]
        names = frozenset(name for name, _, _ in fields)

        def check(v: Any) -> None:
            if type(v) is not dict and not isinstance(v, Mapping):
                raise _Invalid(f"expected a {short} record (dict), {_got(v)}")
            for name, field_check, has_default in fields:
                if name in v:
                    try:
                        field_check(v[name])
                    except _Invalid as exc:
                        exc.path.append(name)
                        raise
                elif not has_default:
                    raise _Invalid("required field is missing", name)
            if not names.issuperset(v):  # a typo'd name would otherwise be dropped silently
                extra = sorted(map(str, v.keys() - names))[0]
                raise _Invalid(f"unknown field; {short} has {', '.join(sorted(names))}", extra)

        cell.append(check)
        self.named[full] = check
        return check

    def enum(self, schema: dict) -> Validator:
        symbols, short = frozenset(schema["symbols"]), schema["name"].rpartition(".")[2]
        allowed = ", ".join(schema["symbols"])

        def check(v: Any) -> None:
            if not isinstance(v, str) or v not in symbols:
                raise _Invalid(f"{v!r} is not a {short} symbol; allowed: {allowed}")

        self.named[schema["name"]] = check
        return check

    def fixed(self, schema: dict) -> Validator:
        size = schema["size"]

        def check(v: Any) -> None:
            if not isinstance(v, (bytes, bytearray)) or len(v) != size:
                raise _Invalid(f"expected {size} bytes, {_got(v)}")

        self.named[schema["name"]] = check
        return check

    def array(self, schema: dict) -> Validator:
        item_check = self.compile(schema["items"])

        def check(v: Any) -> None:
            if not isinstance(v, (list, tuple)):
                raise _Invalid(f"expected an array (list), {_got(v)}")
            for index, item in enumerate(v):
                try:
                    item_check(item)
                except _Invalid as exc:
                    exc.path.append(index)
                    raise

        return check

    def map(self, schema: dict) -> Validator:
        value_check = self.compile(schema["values"])

        def check(v: Any) -> None:
            if type(v) is not dict and not isinstance(v, Mapping):
                raise _Invalid(f"expected a map (dict), {_got(v)}")
            for key, value in v.items():
                if not isinstance(key, str):
                    raise _Invalid(f"map keys must be strings, {_got(key)}")
                try:
                    value_check(value)
                except _Invalid as exc:
                    exc.path.append(key)
                    raise

        return check

    def union(self, branches: list) -> Validator:
        checks = [self.compile(b) for b in branches]
        if len(branches) == 2 and "null" in branches:  # the common optional field, made fast
            inner = checks[1 - branches.index("null")]

            def optional(v: Any) -> None:
                if v is not None:
                    try:
                        inner(v)
                    except _Invalid as exc:
                        if not exc.path and exc.message.startswith("expected "):
                            exc.message = "expected null or " + exc.message[len("expected "):]
                        raise

            return optional
        labels = " | ".join(_label(b) for b in branches)

        def check(v: Any) -> None:
            for branch_check in checks:
                try:
                    return branch_check(v)
                except _Invalid:
                    pass
            raise _Invalid(f"expected one of {labels}, {_got(v)}")

        return check


def _label(schema: Any) -> str:
    if isinstance(schema, str):
        return schema.rpartition(".")[2]
    return schema.get("name", schema["type"]).rpartition(".")[2] if isinstance(schema, dict) else "union"


def _format_path(path: list[str | int]) -> str:
    text = ""
    for part in reversed(path):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


