"""Registry client and the Confluent wire format, against a real HTTP server on loopback.

The server below stands in for Confluent Schema Registry (a JVM service that
cannot run here). It implements the two REST endpoints the client uses, with
Confluent's content type, error bodies (``{"error_code", "message"}``), basic
auth, and global ids shared across subjects, and records every request.
"""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastavro import parse_schema, schemaless_writer
from pydantic import SecretStr

from kasper.schemas import (
    RECORD_NAMES,
    Codec,
    RegistryClient,
    RegistryError,
    UnknownSchemaError,
    Where,
    schema_json,
    standalone_schema,
)
from kasper.schemas.samples import sample_record

PASSWORD = "s3cret-Pa55"


class FakeRegistry:
    """A minimal Confluent Schema Registry: POST /subjects/{s}/versions, GET /schemas/ids/{id}."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_with: int | None = None  # answer every request with this HTTP status
        self.garbage = False  # answer 200 with a body that is not JSON
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def register(self, subject: str, text: str) -> int:
        schema_id = next((i for i, s in self.schemas.items() if s == text), len(self.schemas) + 1)
        self.schemas[schema_id] = text
        self.subjects.setdefault(subject, []).append(schema_id)
        return schema_id

    def _handler(self):
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status: int, body: object, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refused(self) -> bool:
                registry.requests.append((self.command, self.path))
                if registry.fail_with:
                    self._send(registry.fail_with, {"error_code": 50001, "message": "Error in the backend store"})
                elif registry.garbage:
                    self._send(200, None, raw=b"<html>maintenance</html>")
                elif registry.credentials and self.headers.get("Authorization") != "Basic " + base64.b64encode(
                    ":".join(registry.credentials).encode()
                ).decode():
                    self._send(401, {"error_code": 401, "message": "Unauthorized"})
                else:
                    return False
                return True

            def do_POST(self):
                if self._refused():
                    return
                match = re.fullmatch(r"/subjects/([^/]+)/versions", self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not match or self.headers["Content-Type"] != "application/vnd.schemaregistry.v1+json":
                    return self._send(415, {"error_code": 415, "message": "Unsupported Media Type"})
                json.loads(body["schema"])  # a registry parses what it stores
                self._send(200, {"id": registry.register(match.group(1), body["schema"])})

            def do_GET(self):
                if self._refused():
                    return
                match = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
                if not match or int(match.group(1)) not in registry.schemas:
                    return self._send(404, {"error_code": 40403, "message": "Schema not found"})
                self._send(200, {"schema": registry.schemas[int(match.group(1))]})

        return Handler


@pytest.fixture
def registry():
    server = FakeRegistry()
    yield server
    server.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_round_trip_in_confluent_wire_format(registry, name):
    writer = Codec(RegistryClient(registry.url))
    data = writer.encode(name, sample_record(name), subject=f"kasper.{name.lower()}-value")
    schema_id = int.from_bytes(data[1:5], "big")
    assert data[0] == 0 and registry.schemas[schema_id] == schema_json(name)
    assert registry.subjects == {f"kasper.{name.lower()}-value": [schema_id]}

    reader = Codec(RegistryClient(registry.url))  # a fresh process: must ask for the schema
    assert reader.decode(data, expect=name).record == sample_record(name)
    assert ("GET", f"/schemas/ids/{schema_id}") in registry.requests


def test_registration_and_lookups_are_cached(registry):
    writer = Codec(RegistryClient(registry.url))
    messages = [writer.encode("Feedback", sample_record("Feedback"), subject="kasper.feedback-value") for _ in range(3)]
    reader = Codec(RegistryClient(registry.url))
    for data in messages:
        reader.decode(data)
    assert [method for method, _ in registry.requests] == ["POST", "GET"]


def test_default_subject_is_the_record_full_name_and_ids_are_global(registry):
    codec = Codec(RegistryClient(registry.url))
    first = codec.schema_id("PromptEvent")
    second = codec.schema_id("PromptEvent", subject="kasper.prompts-value")
    assert first == second
    assert set(registry.subjects) == {"kasper.pipeline.PromptEvent", "kasper.prompts-value"}


def test_a_registry_codec_still_reads_single_object_bytes(registry):
    data = Codec().encode("Verdict", sample_record("Verdict"))
    assert Codec(RegistryClient(registry.url)).decode(data).record == sample_record("Verdict")
    assert registry.requests == []


def test_unknown_schema_id(registry):
    codec = Codec(RegistryClient(registry.url))
    with pytest.raises(UnknownSchemaError, match=r"schema id 99 does not exist.*kasper.prompts\[0\]@7"):
        codec.decode(b"\x00\x00\x00\x00\x63\x02", where=Where("kasper.prompts", 0, 7))


def test_a_schema_id_of_a_foreign_record(registry):
    foreign = registry.register("other-value", json.dumps({"type": "record", "name": "Other", "fields": []}))
    with pytest.raises(UnknownSchemaError, match="is Other, not a pipeline record"):
        Codec(RegistryClient(registry.url)).decode(b"\x00" + foreign.to_bytes(4, "big"))


def test_records_written_with_an_older_registered_schema_are_resolved(registry):
    old = standalone_schema("PromptEvent")
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("user_hash", "instructions")]
    old_id = registry.register("kasper.prompts-value", json.dumps(old))
    record = {k: v for k, v in sample_record("PromptEvent").items() if k not in ("user_hash", "instructions")}
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(old), record)
    data = b"\x00" + old_id.to_bytes(4, "big") + body.getvalue()
    decoded = Codec(RegistryClient(registry.url)).decode(data, expect="PromptEvent").record
    assert decoded == {**record, "user_hash": None, "instructions": None}


def test_server_error_names_url_and_status_but_not_the_password(registry):
    registry.fail_with = 500
    client = RegistryClient(registry.url, "svc-kasper", PASSWORD)
    with pytest.raises(RegistryError) as info:
        Codec(client).encode("PromptEvent", sample_record("PromptEvent"), subject="kasper.prompts-value")
    message = str(info.value)
    assert info.value.status == 500 and info.value.url == registry.url
    assert registry.url in message and "HTTP 500" in message and "Error in the backend store" in message
    assert "POST /subjects/kasper.prompts-value/versions" in message
    assert PASSWORD not in message and PASSWORD not in repr(client)


def test_server_down():
    url = f"http://127.0.0.1:{_closed_port()}"
    client = RegistryClient(f"http://svc-kasper:{PASSWORD}@127.0.0.1:{url.rsplit(':', 1)[1]}", timeout_s=2)
    assert client.url == url
    with pytest.raises(RegistryError) as info:
        client.register("kasper.prompts-value", schema_json("PromptEvent"))
    assert info.value.status is None and url in str(info.value) and "ConnectError" in str(info.value)
    assert PASSWORD not in str(info.value)
    # Decoding needs the registry too: an outage is a RegistryError (retry), not a DecodeError (dead-letter).
    with pytest.raises(RegistryError):
        Codec(client).decode(b"\x00\x00\x00\x00\x01\x02")


def test_an_answer_that_is_not_json(registry):
    registry.garbage = True
    with pytest.raises(RegistryError, match="not JSON"):
        RegistryClient(registry.url).get_schema(1)


def test_basic_auth_from_arguments_secret_str_or_url():
    server = FakeRegistry(credentials=("svc-kasper", PASSWORD))
    try:
        with pytest.raises(RegistryError, match="HTTP 401") as info:
            RegistryClient(server.url).register("s", schema_json("Grade"))
        assert info.value.status == 401
        assert RegistryClient(server.url, "svc-kasper", PASSWORD).register("s", schema_json("Grade")) == 1
        assert RegistryClient(server.url, "svc-kasper", SecretStr(PASSWORD)).get_schema(1)["name"].endswith("Grade")
        with_url = RegistryClient(server.url.replace("http://", f"http://svc-kasper:{PASSWORD}@"))
        assert with_url.get_schema(1) and PASSWORD not in with_url.url
    finally:
        server.close()
