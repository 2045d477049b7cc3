"""Schema evolution: BACKWARD_TRANSITIVE against every released version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kasper.schemas import check_all, check_compatible, check_package
from kasper.schemas.schema_set import PACKAGE_DIR, RELEASED_DIR


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the current schemas and of release v1, free to edit (the rules' tests
    expect one problem per release; the package's own test reads every release)."""
    current = tmp_path / "current"
    current.mkdir()
    for path in PACKAGE_DIR.glob("*.avsc"):
        shutil.copy(path, current)
    released = tmp_path / "released"
    shutil.copytree(RELEASED_DIR / "v1", released / "v1")
    return current, released


def edit(folder: Path, file: str, change) -> None:
    path = folder / file
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2))


def field(schema: dict, name: str) -> dict:
    return next(f for f in schema["fields"] if f["name"] == name)


def problems(results: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: found for name, found in results.items() if found}


def test_the_package_schemas_are_compatible_with_every_release():
    results = check_package()
    assert problems(results) == {}
    assert "PromptEvent" in results and "Domain" in results


def test_adding_a_field_without_a_default_fails(folders):
    current, released = folders
    edit(current, "prompt_event.avsc", lambda s: s["fields"].append({"name": "locale", "type": "string", "doc": "d"}))
    found = problems(check_all(current, released))
    assert found == {  # ApprovedInsight embeds PromptEvent, so it breaks too
        "ApprovedInsight": [
            "v1: ApprovedInsight.prompt.locale: new field has no default; records written before it cannot be read"
        ],
        "PromptEvent": ["v1: PromptEvent.locale: new field has no default; records written before it cannot be read"],
    }


def test_adding_an_optional_field_with_a_default_passes(folders):
    current, released = folders
    optional = {"name": "locale", "type": ["null", "string"], "default": None, "doc": "BCP 47 tag."}
    edit(current, "prompt_event.avsc", lambda s: s["fields"].append(optional))
    assert problems(check_all(current, released)) == {}


def test_removing_an_enum_symbol_without_a_default_fails(folders):
    current, released = folders

    def drop_none(schema):
        rating = field(schema, "rating")["type"]
        rating["symbols"].remove("none")
        del rating["default"]

    edit(current, "feedback.avsc", drop_none)
    assert problems(check_all(current, released)) == {
        "Feedback": ["v1: Feedback.rating: enum Rating dropped symbol(s) ['none'] and has no default to read them as"]
    }


def test_removing_an_enum_symbol_is_fine_when_the_default_catches_it(folders):
    current, released = folders
    edit(current, "domain.avsc", lambda s: s["symbols"].remove("sanctum"))
    assert problems(check_all(current, released)) == {}


def test_int_to_long_promotion_passes_and_long_to_int_fails(folders):
    current, released = folders
    edit(current, "feedback.avsc", lambda s: field(s, "stars").update(type=["null", "long"]))
    edit(current, "dead_letter.avsc", lambda s: field(s, "attempt").update(type="long"))
    assert problems(check_all(current, released)) == {}

    edit(current, "training_window.avsc", lambda s: field(field(s, "source_offsets")["type"]["items"],
                                                          "start_offset").update(type="int"))
    found = problems(check_all(current, released))
    assert found == {"TrainingWindow": [
        "v1: TrainingWindow.source_offsets[].start_offset: type changed from long to int, not an Avro promotion"
    ]}


def test_a_change_in_a_shared_type_is_reported_for_every_record_using_it(folders):
    current, released = folders
    edit(current, "tier.avsc", lambda s: (s["symbols"].remove("lite"), s.pop("default")))
    found = problems(check_all(current, released))
    assert set(found) == {"Tier", "PromptEvent", "Insight", "ApprovedInsight", "TrainingWindow", "ModelVersion"}
    assert any("ApprovedInsight.prompt.tier" in p for p in found["ApprovedInsight"])


def test_a_released_record_that_disappeared_is_reported(folders):
    current, released = folders
    (current / "model_version.avsc").unlink()
    found = problems(check_all(current, released))
    assert found == {"ModelVersion": ["v1: kasper.pipeline.ModelVersion was released and no longer exists"]}


def test_every_released_version_is_checked_not_just_the_latest(folders):
    current, released = folders
    shutil.copytree(released / "v1", released / "v2")
    with_default = {"name": "locale", "type": "string", "default": "en", "doc": "d"}
    edit(released / "v2", "feedback.avsc", lambda s: s["fields"].append(with_default))
    # Current drops the default: fine for v2 (which wrote the field), not for v1.
    edit(current, "feedback.avsc", lambda s: s["fields"].append({"name": "locale", "type": "string", "doc": "d"}))
    found = problems(check_all(current, released))
    assert found == {
        "Feedback": ["v1: Feedback.locale: new field has no default; records written before it cannot be read"]
    }


def test_an_invalid_default_is_reported(folders):
    current, released = folders
    edit(current, "dead_letter.avsc", lambda s: field(s, "attempt").update(default="zero"))
    assert "invalid schema" in " ".join(check_all(current, released)["DeadLetter"])


# --------------------------------------------------------------------------- rules one by one


def record(*fields, name="R"):
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


def f(name, type_, **extra):
    return {"name": name, "type": type_, **extra}


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("int", "long"), ("int", "float"), ("int", "double"), ("long", "double"), ("float", "double"),
        ("string", "bytes"), ("bytes", "string"),
        ({"type": "array", "items": "int"}, {"type": "array", "items": "long"}),
        ({"type": "map", "values": "float"}, {"type": "map", "values": "double"}),
        ("string", ["null", "string"]),
        (["null", "int"], ["null", "int", "string"]),
        ({"type": "long", "logicalType": "timestamp-millis"}, "long"),
    ],
)
def test_allowed_changes(writer, reader):
    assert check_compatible(record(f("x", reader)), record(f("x", writer))) == []


@pytest.mark.parametrize(
    ("writer", "reader", "message"),
    [
        ("long", "int", "type changed from long to int"),
        ("double", "float", "type changed from double to float"),
        ("string", "int", "type changed from string to int"),
        (["null", "string"], "string", "type changed from null to string"),
        (["null", "int", "string"], ["null", "int"], "old type string fits no branch"),
        ({"type": "fixed", "name": "H", "size": 16}, {"type": "fixed", "name": "H", "size": 32}, "fixed H[16]"),
        ({"type": "array", "items": "string"}, {"type": "map", "values": "string"}, "type changed"),
    ],
)
def test_forbidden_changes(writer, reader, message):
    found = check_compatible(record(f("x", reader)), record(f("x", writer)))
    assert len(found) == 1 and found[0].startswith("R.x: ") and message in found[0]


def test_renamed_field_with_an_alias_and_dropped_writer_fields_pass():
    writer = record(f("old_name", "string"), f("gone", "int"))
    reader = record(f("new_name", "string", aliases=["old_name"]))
    assert check_compatible(reader, writer) == []


def test_renamed_record_needs_an_alias():
    writer = record(f("x", "int"), name="Old")
    assert check_compatible(record(f("x", "int"), name="New"), writer) == [
        "New: record Old cannot be read as record New"
    ]
    assert check_compatible({**record(f("x", "int"), name="New"), "aliases": ["Old"]}, writer) == []


def test_recursive_types_terminate():
    node = {"type": "record", "name": "Node", "fields": [f("next", ["null", "Node"], default=None)]}
    assert check_compatible(json.dumps(node), node) == []
