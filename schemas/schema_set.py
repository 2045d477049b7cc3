"""The .avsc files of a folder: names resolved across files, self-contained forms, fingerprints.

One named type is defined in exactly one file; files refer to each other by full
name (``kasper.pipeline.PromptEvent``). Everything here works on plain JSON, so
the codec, the compatibility check and the JSON converter share it.
"""

from __future__ import annotations

import graphlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from .errors import SchemaDefinitionError

__all__ = [
    "NAMED_KINDS",
    "PACKAGE_DIR",
    "PRIMITIVES",
    "RELEASED_DIR",
    "SchemaSet",
    "fingerprint_of",
    "load_schema_set",
    "named_types",
    "namespace_of",
    "qualify",
    "released_versions",
    "with_full_names",
]

PACKAGE_DIR = Path(__file__).resolve().parent
RELEASED_DIR = PACKAGE_DIR / "released"
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})


def qualify(name: str, namespace: str | None) -> str:
    """Avro name resolution: a dotted name is already full, else it joins the namespace."""
    return name if "." in name or not namespace else f"{namespace}.{name}"


def namespace_of(full: str) -> str:
    return full.rpartition(".")[0]


def _scan(schema: Any, namespace: str, defined: dict[str, dict], refs: set[str]) -> None:
    """Collect the named types ``schema`` defines and the names it refers to."""
    if isinstance(schema, str):
        if schema not in PRIMITIVES:
            refs.add(qualify(schema, namespace))
    elif isinstance(schema, list):
        for branch in schema:
            _scan(branch, namespace, defined, refs)
    elif isinstance(schema, dict) and "type" in schema:
        kind = schema["type"]
        if kind in NAMED_KINDS:
            name = qualify(schema["name"], schema.get("namespace", namespace))
            if name in defined:
                raise SchemaDefinitionError(f"type {name} is defined twice")
            defined[name] = schema
            for fld in schema.get("fields", ()):
                _scan(fld["type"], namespace_of(name), defined, refs)
        elif kind == "array":
            _scan(schema["items"], namespace, defined, refs)
        elif kind == "map":
            _scan(schema["values"], namespace, defined, refs)
        else:  # {"type": "long", "logicalType": ...} or {"type": "some.Name"}
            _scan(kind, namespace, defined, refs)
    else:
        raise SchemaDefinitionError(f"not an Avro schema: {schema!r:.80}")


def named_types(schema: Any) -> dict[str, dict]:
    """Every named type a self-contained schema defines, by full name."""
    defined: dict[str, dict] = {}
    _scan(schema, "", defined, set())
    return defined


# --------------------------------------------------------------------------- schema sets


@dataclass(frozen=True)
class SchemaSet:
    """The .avsc files of one directory with every name resolved (one file per named type)."""

    directory: Path
    sources: dict[str, dict]  # top-level full name -> the JSON of its file
    files: dict[str, Path]  # top-level full name -> its file
    definitions: dict[str, dict]  # every named type, nested ones too -> its definition
    order: tuple[str, ...]  # top-level names, dependencies first

    @property
    def records(self) -> tuple[str, ...]:
        """Full names of the top-level record schemas, dependencies first."""
        return tuple(n for n in self.order if self.sources[n]["type"] == "record")

    def standalone(self, name: str) -> dict:
        """A self-contained copy of ``name``: each named type defined at its first use.

        All names are written in full, so the result needs no namespace context;
        this is what registries, canonical forms and other Avro tools consume.
        """
        return _Inliner(self.definitions).named(name)

    def fingerprint(self, name: str) -> bytes:
        """CRC-64-AVRO fingerprint (8 bytes, little-endian) of the Parsing Canonical Form."""
        return fingerprint_of(self.standalone(name))


class _Inliner:
    """Builds self-contained schemas; ``seen`` makes later uses plain name references."""

    def __init__(self, definitions: dict[str, dict]) -> None:
        self.definitions = definitions
        self.seen: set[str] = set()

    def named(self, full: str) -> dict:
        self.seen.add(full)
        source = self.definitions[full]
        out = {k: v for k, v in source.items() if k not in ("namespace", "fields")}
        out["name"] = full
        if "aliases" in source:
            out["aliases"] = [qualify(a, namespace_of(full)) for a in source["aliases"]]
        if "fields" in source:
            ns = namespace_of(full)
            out["fields"] = [{**f, "type": self.expand(f["type"], ns)} for f in source["fields"]]
        return out

    def expand(self, schema: Any, namespace: str) -> Any:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return schema
            full = qualify(schema, namespace)
            return full if full in self.seen else self.named(full)
        if isinstance(schema, list):
            return [self.expand(branch, namespace) for branch in schema]
        kind = schema["type"]
        if kind in NAMED_KINDS:
            return self.named(qualify(schema["name"], schema.get("namespace", namespace)))
        if kind == "array":
            return {**schema, "items": self.expand(schema["items"], namespace)}
        if kind == "map":
            return {**schema, "values": self.expand(schema["values"], namespace)}
        return {**schema, "type": self.expand(kind, namespace)}


def with_full_names(schema: Any) -> Any:
    """A self-contained schema rewritten with full names everywhere (no ``namespace`` keys)."""
    if isinstance(schema, dict) and schema.get("type") in NAMED_KINDS:
        return _Inliner(named_types(schema)).named(qualify(schema["name"], schema.get("namespace")))
    return _Inliner(named_types(schema)).expand(schema, "")


def fingerprint_of(standalone: dict) -> bytes:
    """CRC-64-AVRO of a self-contained schema's Parsing Canonical Form, little-endian.

    fastavro returns the bytes in the order the single-object spec (and Java's
    ``SchemaNormalization``) writes them: little-endian. Like Java, fastavro
    writes a logical type's underlying primitive in its simple form (``"long"``);
    Apache's Python ``avro`` 1.12 writes ``{"type":"long"}`` there and so gets
    other fingerprints for schemas with timestamps. We follow Java.
    """
    canonical = to_parsing_canonical_form(standalone)
    return bytes.fromhex(_fastavro_fingerprint(canonical, "CRC-64-AVRO"))


def load_schema_set(directory: Path | str) -> SchemaSet:
    """Read every ``*.avsc`` of ``directory`` and resolve names across files.

    Raises SchemaDefinitionError for bad JSON, a type defined twice, a reference
    to a type no file defines, or files that refer to each other in a cycle.
    """
    directory = Path(directory)
    sources: dict[str, dict] = {}
    files: dict[str, Path] = {}
    owner: dict[str, str] = {}  # any named type -> the top-level type whose file defines it
    definitions: dict[str, dict] = {}
    refs_by_file: dict[str, set[str]] = {}
    for path in sorted(directory.glob("*.avsc")):
        schema = _read_json(path)
        top = qualify(schema.get("name", ""), schema.get("namespace"))
        defined: dict[str, dict] = {}
        refs: set[str] = set()
        try:
            _scan(schema, namespace_of(top), defined, refs)
        except (KeyError, TypeError, SchemaDefinitionError) as exc:
            raise SchemaDefinitionError(f"{path}: malformed schema: {exc}") from exc
        if clash := sorted(defined.keys() & definitions.keys()):
            raise SchemaDefinitionError(f"{path}: {clash} already defined by {files[owner[clash[0]]]}")
        sources[top], files[top] = schema, path
        definitions.update(defined)
        owner.update(dict.fromkeys(defined, top))
        refs_by_file[top] = refs - defined.keys()
    order = _dependency_order(refs_by_file, owner, files)
    return SchemaSet(directory, sources, files, definitions, order)


def _read_json(path: Path) -> dict:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaDefinitionError(f"{path}: cannot read schema: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") not in NAMED_KINDS:
        raise SchemaDefinitionError(f"{path}: the top level must be a named type (record, enum, fixed)")
    return schema


def _dependency_order(refs_by_file: dict, owner: dict, files: dict) -> tuple[str, ...]:
    """Top-level names sorted so that each comes after the files it refers to."""
    graph = {}
    for top in sorted(refs_by_file):
        if missing := sorted(r for r in refs_by_file[top] if r not in owner):
            raise SchemaDefinitionError(f"{files[top]}: refers to undefined type(s) {missing}")
        graph[top] = sorted({owner[r] for r in refs_by_file[top]})
    try:
        return tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise SchemaDefinitionError(f"schema files refer to each other in a cycle: {exc.args[1]}") from exc


def released_versions(released_root: Path | str) -> list[Path]:
    """Released version directories (``v1``, ``v2``, ... ``v10``) in version order."""
    root = Path(released_root)
    dirs = [d for d in root.glob("v*") if d.is_dir() and re.fullmatch(r"v\d+", d.name)]
    return sorted(dirs, key=lambda d: int(d.name[1:]))


