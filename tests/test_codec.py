# Long: many short tests, one per codec behaviour (round trips, wire format, evolution, errors, JSON).
"""Codec: round trips, wire format, validation messages, decode errors, JSON conversion."""

from __future__ import annotations

import io
import json
import pickle
import re
import shutil
from datetime import datetime, timedelta, timezone

import avro.io
import avro.schema
import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasper.schemas import (
    RECORD_NAMES,
    ParsedSchemas,
    Codec,
    CodecError,
    Decoded,
    DecodeError,
    GarbageBytesError,
    KasperError,
    SchemaValidationError,
    TrailingBytesError,
    TruncatedRecordError,
    UnknownFormatError,
    UnknownRecordError,
    UnknownSchemaError,
    Where,
    WrongRecordError,
    fingerprint,
    from_json,
    parsed_schema,
    standalone_schema,
    to_json,
)
from kasper.schemas.schema_set import PACKAGE_DIR, RELEASED_DIR, named_types
from kasper.schemas.samples import sample_record

CODEC = Codec()
WHERE = Where("kasper.prompts", 2, 1234)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_every_record_round_trips(name):
    record = sample_record(name)
    data = CODEC.encode(name, record)
    assert data[:2] == b"\xc3\x01" and data[2:10] == fingerprint(name)
    assert CODEC.decode(data, expect=name) == Decoded(name, record)


def test_full_names_work_everywhere():
    data = CODEC.encode("kasper.pipeline.Feedback", sample_record("Feedback"))
    assert CODEC.decode(data, expect="kasper.pipeline.Feedback").name == "Feedback"


def test_fields_with_defaults_may_be_left_out():
    record = sample_record("PromptEvent")
    for name in ("context", "instructions", "attempt", "revise_notes", "user_hash"):
        del record[name]
    decoded = CODEC.decode(CODEC.encode("PromptEvent", record)).record
    assert decoded["attempt"] == 0 and decoded["context"] == {} and decoded["instructions"] is None


def test_epoch_millis_are_accepted_for_timestamps():
    record = sample_record("Feedback")
    record["created_at"] = 1_764_066_600_125
    decoded = CODEC.decode(CODEC.encode("Feedback", record)).record
    assert decoded["created_at"] == datetime(2025, 11, 25, 10, 30, 0, 125000, tzinfo=timezone.utc)


def test_decode_accepts_bytearray_and_memoryview():
    data = CODEC.encode("Grade", sample_record("Grade"))
    assert CODEC.decode(bytearray(data)).record == CODEC.decode(memoryview(data)).record


# --------------------------------------------------------------------------- hypothesis


_PRIMITIVE_STRATEGIES = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "string": st.text(max_size=40),
    "bytes": st.binary(max_size=40),
}
# Millisecond datetimes from 1900 to 2100: what timestamp-millis can carry exactly.
_TIMESTAMPS = st.integers(-2_208_988_800_000, 4_102_444_800_000).map(lambda ms: EPOCH + timedelta(milliseconds=ms))


def strategy_for(schema, named):
    """A hypothesis strategy for values of a self-contained schema, built from the schema."""
    if isinstance(schema, str):
        if schema in _PRIMITIVE_STRATEGIES:
            return _PRIMITIVE_STRATEGIES[schema]
        return strategy_for(named[schema], named)
    if isinstance(schema, list):
        return st.one_of([strategy_for(branch, named) for branch in schema])
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return _TIMESTAMPS
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: strategy_for(f["type"], named) for f in schema["fields"]})
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(strategy_for(schema["items"], named), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=12), strategy_for(schema["values"], named), max_size=4)
    return strategy_for(kind, named)


def records(name):
    schema = standalone_schema(name)
    return strategy_for(schema, named_types(schema))


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(records("PromptEvent"))
def test_any_prompt_event_round_trips(record):
    assert CODEC.decode(CODEC.encode("PromptEvent", record), expect="PromptEvent").record == record


@FAST
@given(records("Feedback"))
def test_any_feedback_round_trips(record):
    assert CODEC.decode(CODEC.encode("Feedback", record), expect="Feedback").record == record


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_record_of_any_type_round_trips(data):
    name = data.draw(st.sampled_from(RECORD_NAMES))
    record = data.draw(records(name))
    assert CODEC.decode(CODEC.encode(name, record)).record == record


@FAST
@given(records("DeadLetter"))
def test_json_conversion_round_trips(record):
    text = json.dumps(to_json(record))
    assert from_json("DeadLetter", json.loads(text)) == record


@FAST
@given(st.sampled_from(RECORD_NAMES), st.binary(max_size=64))
def test_random_bodies_raise_only_decode_errors(name, body):
    header = b"\xc3\x01" + fingerprint(name)
    try:
        CODEC.decode(header + body)
    except DecodeError:
        pass


# --------------------------------------------------------------------------- Apache avro


def _apache_schemas():
    """Parse the .avsc files with Apache's avro package alone, dependencies first."""
    sources = {p: p.read_text() for p in sorted(PACKAGE_DIR.glob("*.avsc"))}
    refs = {p: set(re.findall(r'"(kasper\.pipeline\.\w+)"', text)) for p, text in sources.items()}
    names, parsed = avro.schema.Names(), {}
    while len(parsed) < len(sources):
        ready = [p for p in sources if p not in parsed.values() and refs[p] <= parsed.keys()]
        assert ready, "cyclic or missing references"
        for path in ready:
            parsed[avro.schema.make_avsc_object(json.loads(sources[path]), names).fullname] = path
    return names


APACHE = _apache_schemas()


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_apache_avro_reads_our_bytes_from_the_avsc_files_alone(name):
    record = sample_record(name)
    body = CODEC.encode(name, record)[10:]  # strip the single-object header
    schema = APACHE.get_name(name, "kasper.pipeline")
    decoded = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(body)))
    assert decoded == record


@pytest.mark.parametrize("name", ["PromptEvent", "TrainingWindow", "DeadLetter"])
def test_we_read_bytes_written_by_apache_avro(name):
    record = sample_record(name)
    buf = io.BytesIO()
    avro.io.DatumWriter(APACHE.get_name(name, "kasper.pipeline")).write(record, avro.io.BinaryEncoder(buf))
    assert CODEC.decode(b"\xc3\x01" + fingerprint(name) + buf.getvalue()).record == record


# --------------------------------------------------------------------------- decode errors


def _prompt_bytes():
    return CODEC.encode("PromptEvent", sample_record("PromptEvent"))


def test_where_formats_kafka_positions_and_lines():
    assert str(WHERE) == "kasper.prompts[2]@1234"
    assert str(Where(line=17)) == "line 17"
    assert str(Where("t")) == "t"


def test_garbage_bytes_are_an_unknown_format():
    with pytest.raises(UnknownFormatError, match=r"kasper\.prompts\[2\]@1234") as info:
        CODEC.decode(b"hello, world", where=WHERE)
    assert isinstance(info.value, GarbageBytesError)
    assert info.value.where == WHERE


def test_invalid_body_behind_a_valid_header_is_garbage():
    header = b"\xc3\x01" + fingerprint("PromptEvent")
    with pytest.raises(GarbageBytesError, match="line 17"):
        CODEC.decode(header + b"\x01" * 40, where=Where(line=17))  # -1 length prefixes


@pytest.mark.parametrize("cut", [0, 1, 5, 11, 50, -1])
def test_truncated_messages(cut):
    data = _prompt_bytes()
    with pytest.raises(TruncatedRecordError) as info:
        CODEC.decode(data[:cut], where=WHERE)
    assert info.value.where == WHERE and "kasper.prompts[2]@1234" in str(info.value)


def test_trailing_bytes():
    with pytest.raises(TrailingBytesError, match="2 bytes left"):
        CODEC.decode(_prompt_bytes() + b"\x00\x00", where=WHERE)


def test_unknown_fingerprint():
    data = _prompt_bytes()
    with pytest.raises(UnknownSchemaError, match="0102030405060708.*kasper.prompts") as info:
        CODEC.decode(data[:2] + bytes(range(1, 9)) + data[10:], where=WHERE)
    assert info.value.__cause__ is None


def test_confluent_bytes_without_a_registry():
    with pytest.raises(UnknownSchemaError, match="schema id 7.*no registry"):
        CODEC.decode(b"\x00\x00\x00\x00\x07" + _prompt_bytes()[10:], where=WHERE)


def test_wrong_record_expected():
    with pytest.raises(WrongRecordError, match="expected a Feedback, got a PromptEvent.*line 3"):
        CODEC.decode(_prompt_bytes(), expect="Feedback", where=Where(line=3))


def test_library_errors_are_chained_not_leaked():
    data = _prompt_bytes()
    with pytest.raises(TruncatedRecordError) as info:
        CODEC.decode(data[:-1])
    assert isinstance(info.value.__cause__, (EOFError, IndexError))


def test_every_error_is_a_kasper_error():
    for error in (DecodeError, SchemaValidationError, UnknownRecordError, CodecError):
        assert issubclass(error, KasperError)


def test_errors_survive_pickling_with_their_details():
    error = pickle.loads(pickle.dumps(TruncatedRecordError("cut", where=WHERE)))
    assert error.where == WHERE and str(error) == "cut (at kasper.prompts[2]@1234)"
    error = pickle.loads(pickle.dumps(SchemaValidationError("bad", record="Grade", field="scores.clarity")))
    assert (error.record, error.field) == ("Grade", "scores.clarity")


# --------------------------------------------------------------------------- validation


def _invalid(name, mutate):
    record = sample_record(name)
    mutate(record)
    with pytest.raises(SchemaValidationError) as info:
        CODEC.encode(name, record)
    return info.value


def test_missing_required_field():
    error = _invalid("PromptEvent", lambda r: r.pop("trace_id"))
    assert error.field == "trace_id" and error.record == "PromptEvent"
    assert "PromptEvent.trace_id: required field is missing" in str(error)


def test_wrong_enum_symbol_names_the_symbol_and_the_allowed_ones():
    error = _invalid("PromptEvent", lambda r: r.update(domain="tarot"))
    assert error.field == "domain"
    assert "'tarot'" in str(error) and "journal, daily_card, sanctum" in str(error)


def test_wrong_type_in_a_map_names_the_key():
    error = _invalid("PromptEvent", lambda r: r["context"].update(moon_phase=3))
    assert error.field == "context.moon_phase"
    assert "expected string, got int 3" in str(error)


def test_wrong_type_deep_in_arrays_and_nested_records():
    error = _invalid("TrainingWindow", lambda r: r["files"][2].update(sha256=None))
    assert error.field == "files[2].sha256"
    error = _invalid("ApprovedInsight", lambda r: r["insight"]["sampling"].update(seed=1.5))
    assert error.field == "insight.sampling.seed" and "expected null or long" in str(error)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("attempt", "1", "expected int, got str"),
        ("attempt", True, "expected int, got bool"),
        ("attempt", 2**31, "out of range"),
        ("created_at", datetime(2026, 1, 1), "naive datetime"),
        ("created_at", "2026-01-01", "timezone-aware datetime or epoch milliseconds"),
        ("instructions", 42, "expected null or string"),
        ("context", ["a"], "expected a map"),
    ],
)
def test_wrong_types(field, value, message):
    error = _invalid("PromptEvent", lambda r: r.update({field: value}))
    assert error.field == field and message in str(error)


def test_unknown_fields_are_rejected_so_typos_are_not_dropped():
    error = _invalid("PromptEvent", lambda r: r.update(revise_note="x"))
    assert error.field == "revise_note" and "unknown field" in str(error)


def test_not_a_dict():
    with pytest.raises(SchemaValidationError, match="expected a Feedback record"):
        CODEC.validate("Feedback", ["not", "a", "dict"])


def test_unknown_record_name():
    with pytest.raises(UnknownRecordError, match="Prompt.*known: ApprovedInsight"):
        CODEC.encode("Prompt", {})
    with pytest.raises(UnknownRecordError):
        CODEC.decode(_prompt_bytes(), expect="Prompt")


# --------------------------------------------------------------------------- evolution


def test_records_written_with_a_released_schema_decode_with_the_current_one(tmp_path):
    current = tmp_path / "current"
    shutil.copytree(PACKAGE_DIR, current, ignore=shutil.ignore_patterns("*.py", "__pycache__", "released"))
    path = current / "prompt_event.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append({"name": "locale", "type": ["null", "string"], "default": None, "doc": "BCP 47 tag."})
    path.write_text(json.dumps(schema))
    new = Codec(schemas=ParsedSchemas(current, RELEASED_DIR))

    old_bytes = CODEC.encode("PromptEvent", sample_record("PromptEvent"))  # the package's schemas are v1
    assert new.decode(old_bytes).record == {**sample_record("PromptEvent"), "locale": None}

    new_bytes = new.encode("PromptEvent", {**sample_record("PromptEvent"), "locale": "en-GB"})
    assert new_bytes[2:10] != old_bytes[2:10]
    with pytest.raises(UnknownSchemaError):  # forward compatibility is not promised
        CODEC.decode(new_bytes)


def test_parsed_schema_writes_container_compatible_bodies():
    buf = io.BytesIO()
    schemaless_writer(buf, parsed_schema("Feedback"), sample_record("Feedback"))
    assert CODEC.decode(b"\xc3\x01" + fingerprint("Feedback") + buf.getvalue()).record == sample_record("Feedback")


# --------------------------------------------------------------------------- JSON


def test_from_json_converts_what_json_cannot_carry():
    record = from_json(
        "DeadLetter",
        {
            "original_key": "a2V5",
            "stage": "tail",
            "original_bytes": "AAEC",
            "original_partition": {"int": 3},
            "created_at": "2026-11-25T10:30:00.125Z",
        },
    )
    assert record["original_key"] == b"key" and record["original_bytes"] == b"\x00\x01\x02"
    assert record["original_partition"] == 3
    assert record["created_at"] == datetime(2026, 11, 25, 10, 30, 0, 125000, tzinfo=timezone.utc)
    assert "reason" not in record  # missing fields are left to the producer


def test_from_json_timestamps_as_epoch_millis_or_naive_iso_are_utc():
    assert from_json("Feedback", {"created_at": 0})["created_at"] == EPOCH
    assert from_json("Feedback", {"created_at": "1970-01-01T00:00:00"})["created_at"] == EPOCH


@pytest.mark.parametrize(
    ("obj", "field", "message"),
    [
        ({"stars": "5"}, "stars", "expected null or an integer"),
        ({"created_at": "yesterday"}, "created_at", "not an ISO-8601 timestamp"),
        ({"rating": "meh"}, "rating", "'meh' is not a Rating symbol"),
        ({"nope": 1}, "nope", "unknown field"),
    ],
)
def test_from_json_errors_name_the_field(obj, field, message):
    with pytest.raises(SchemaValidationError, match=message) as info:
        from_json("Feedback", obj)
    assert info.value.field == field


def test_from_json_nested_errors_have_paths():
    with pytest.raises(SchemaValidationError) as info:
        from_json("TrainingWindow", {"files": [{"name": "a"}, {"bytes": "big"}]})
    assert info.value.field == "files[1].bytes"
    with pytest.raises(SchemaValidationError, match="not valid base64"):
        from_json("DeadLetter", {"original_bytes": "***"})


def test_to_json_prints_utc_z_and_base64():
    out = to_json(sample_record("DeadLetter"))
    assert out["created_at"] == "2026-11-25T10:30:10.125Z"
    assert out["original_key"] == "NWIwZTJmOWMtOGYwYS00ZTdiLTlkNjEtMmMzYTRmNWU2ZDcw"
    json.dumps(out)
    assert to_json({"t": datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))}) == {
        "t": "2026-01-01T10:00:00.000Z"
    }
