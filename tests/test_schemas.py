"""The .avsc contracts themselves: they load, follow the house rules, agree with Apache Avro."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import avro.schema
import pytest
from fastavro.schema import to_parsing_canonical_form

from kasper.schemas import RECORD_NAMES, fingerprint, full_name, schema_json, validate
from kasper.schemas.schema_set import PACKAGE_DIR, RELEASED_DIR, load_schema_set, released_versions
from kasper.schemas.errors import SchemaDefinitionError
from kasper.schemas.samples import sample_record

AVSC_FILES = sorted(PACKAGE_DIR.glob("*.avsc"))
EXPECTED_RECORDS = {
    "PromptEvent", "Insight", "Grade", "Verdict", "ApprovedInsight",
    "Feedback", "TrainingWindow", "ModelVersion", "DeadLetter", "TokenDelta"}


def _walk(schema, found):
    """Every dict-shaped type in ``schema`` (named types, arrays, maps, logical types)."""
    if isinstance(schema, list):
        for branch in schema:
            _walk(branch, found)
    elif isinstance(schema, dict):
        found.append(schema)
        for field in schema.get("fields", ()):
            _walk(field["type"], found)
        for key in ("items", "values"):
            if key in schema:
                _walk(schema[key], found)
        if isinstance(schema["type"], (dict, list)):
            _walk(schema["type"], found)
    return found


def _all_types():
    return [t for path in AVSC_FILES for t in _walk(json.loads(path.read_text()), [])]


def _all_fields():
    return [(t["name"], f) for t in _all_types() if t["type"] == "record" for f in t["fields"]]


def test_record_names_are_the_top_level_records():
    assert set(RECORD_NAMES) == EXPECTED_RECORDS
    assert len(RECORD_NAMES) == 10


@pytest.mark.parametrize("path", AVSC_FILES, ids=lambda p: p.name)
def test_every_file_is_one_named_type_in_the_namespace_with_a_snake_case_file_name(path):
    schema = json.loads(path.read_text())
    assert schema["namespace"] == "kasper.pipeline"
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", schema["name"]).lower()
    assert path.name == f"{snake}.avsc"


def test_every_named_type_and_every_field_has_a_doc():
    undocumented = [t["name"] for t in _all_types() if "name" in t and not t.get("doc")]
    undocumented += [f"{record}.{f['name']}" for record, f in _all_fields() if not f.get("doc")]
    assert undocumented == []


def test_named_types_are_defined_exactly_once():
    names = [t.get("namespace", "kasper.pipeline") + "." + t["name"] for t in _all_types() if "name" in t]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_every_enum_has_a_default_among_its_symbols():
    enums = [t for t in _all_types() if t["type"] == "enum"]
    assert {e["name"] for e in enums} >= {"Domain", "Tier", "Letter", "Recommendation", "ScoreMode",
                                         "Rating", "CloseReason"}
    for enum in enums:
        assert enum.get("default") in enum["symbols"], enum["name"]


def test_timestamps_use_the_timestamp_millis_logical_type():
    timestamp_fields = [(r, f) for r, f in _all_fields() if f["name"].endswith("_at")]
    assert len(timestamp_fields) >= 10
    for record, field in timestamp_fields:
        assert field["type"] == {"type": "long", "logicalType": "timestamp-millis"}, f"{record}.{field['name']}"


def test_optional_fields_are_null_first_with_a_null_default():
    for record, field in _all_fields():
        if isinstance(field["type"], list) and "null" in field["type"]:
            assert field["type"][0] == "null" and "default" in field and field["default"] is None, (
                f"{record}.{field['name']}"
            )


def test_files_refer_to_shared_types_by_full_name():
    approved = json.loads((PACKAGE_DIR / "approved_insight.avsc").read_text())
    types = {f["name"]: f["type"] for f in approved["fields"]}
    assert types["prompt"] == "kasper.pipeline.PromptEvent"
    assert types["verdict"] == "kasper.pipeline.Verdict"
    prompt = json.loads((PACKAGE_DIR / "prompt_event.avsc").read_text())
    assert {f["name"]: f["type"] for f in prompt["fields"]}["domain"] == "kasper.pipeline.Domain"


def test_dependency_order_puts_referenced_files_first():
    order = load_schema_set(PACKAGE_DIR).order
    assert order.index("kasper.pipeline.Domain") < order.index("kasper.pipeline.PromptEvent")
    assert order.index("kasper.pipeline.PromptEvent") < order.index("kasper.pipeline.ApprovedInsight")


def test_released_v1_holds_every_record_and_loads():
    versions = released_versions(RELEASED_DIR)
    assert [v.name for v in versions][:1] == ["v1"]
    released = load_schema_set(versions[0])
    # TokenDelta came after v1: a new record needs no compatibility with the past.
    assert {name.rpartition(".")[2] for name in released.records} == EXPECTED_RECORDS - {"TokenDelta"}


@pytest.mark.parametrize("name", sorted(EXPECTED_RECORDS))
def test_sample_records_are_valid(name):
    validate(name, sample_record(name))
    assert sample_record(name) is not sample_record(name)  # fresh copies: callers may mutate


def _strip_logical_types(schema):
    if isinstance(schema, dict):
        return {k: _strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_strip_logical_types(v) for v in schema]
    return schema


@pytest.mark.parametrize("name", sorted(EXPECTED_RECORDS))
def test_fingerprint_agrees_with_apache_avro(name):
    # The spec strips logicalType and writes primitives in simple form ("long", as
    # Java does); avro 1.12 for Python keeps {"type":"long"} for logical types, so
    # compare on the schema without logical types, where both follow the spec.
    ours = json.loads(schema_json(name))
    theirs = avro.schema.parse(json.dumps(_strip_logical_types(ours)))
    assert theirs.canonical_form == to_parsing_canonical_form(ours)
    assert theirs.fingerprint("CRC-64-AVRO") == fingerprint(name)
    assert '{"type":"long"}' not in to_parsing_canonical_form(ours)  # logical longs in simple form


def test_full_name_accepts_short_and_full_names():
    assert full_name("PromptEvent") == full_name("kasper.pipeline.PromptEvent") == "kasper.pipeline.PromptEvent"


def _copy_schemas(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    target.mkdir()
    for path in AVSC_FILES:
        shutil.copy(path, target)
    return target


def test_a_type_defined_in_two_files_is_rejected(tmp_path):
    folder = _copy_schemas(tmp_path)
    (folder / "domain_copy.avsc").write_text((folder / "domain.avsc").read_text())
    with pytest.raises(SchemaDefinitionError, match="Domain"):
        load_schema_set(folder)


def test_a_reference_to_an_undefined_type_is_rejected(tmp_path):
    folder = _copy_schemas(tmp_path)
    (folder / "tier.avsc").unlink()
    with pytest.raises(SchemaDefinitionError, match="kasper.pipeline.Tier"):
        load_schema_set(folder)


def test_bad_json_is_rejected_naming_the_file(tmp_path):
    folder = _copy_schemas(tmp_path)
    (folder / "feedback.avsc").write_text("{not json")
    with pytest.raises(SchemaDefinitionError, match="feedback.avsc"):
        load_schema_set(folder)
