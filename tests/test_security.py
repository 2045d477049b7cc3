# Long: SASL/SSL clients, redaction and a real worker share one set of fake servers and secrets.
"""Security: Kafka SASL/SSL reaches every client, secrets and personal data stay out of
logs, metrics, letters, windows and reports, and every endpoint binds loopback.

No SASL or TLS broker exists here. The SASL/SSL checks therefore build each client the
code builds (real aiokafka classes, real Faust app) and stop them at aiokafka's
bootstrap, where the client's connection settings are read; one check opens a real
TLS handshake against a loopback listener. Everything else runs a real worker on the
embedded broker against a real loopback judge server (which, for some requests, acts
as a leaky proxy that echoes the Authorization header) and a real loopback schema
registry that demands basic auth.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import certifi
import httpx
import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from kasper.schemas import Codec, RegistryClient, RegistryError
from kasper.schemas.samples import sample_record
from kasper.streams import topics
from kasper.streams.consumer import read
from kasper.streams.producer import Producer
from kasper.streams.settings import KafkaSettings, RegistrySettings, Settings, get_settings, redacted

from tests.helpers import KASPER, free_port
from tests.judge_fault_server import FaultServer
from tests.test_registry import FakeRegistry

RUN = uuid.uuid4().hex[:8]
JUDGE_KEY = f"sk-judge-MARKER-{RUN}-0123456789"
REGISTRY_USER = "kasper-registry"
REGISTRY_PASSWORD = f"registry-MARKER-{RUN}"
SASL_PASSWORD = f"sasl-MARKER-{RUN}"
OPENAI_GEN_KEY = f"sk-gen-MARKER-{RUN}"
EMAIL = f"jane.marker{RUN}@example.com"
PHONE = "+1 415 555 0134"
SECRETS = (JUDGE_KEY, REGISTRY_PASSWORD, SASL_PASSWORD, OPENAI_GEN_KEY,
           base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode())


# --- SASL / SSL reach every client ------------------------------------------------------


@pytest.fixture
def bootstraps(monkeypatch):
    """Every aiokafka client that tries to connect: its connection settings, then a refusal."""
    seen: list[dict] = []

    async def bootstrap(self):
        seen.append({"protocol": self._security_protocol, "mechanism": self._sasl_mechanism,
                     "username": self._sasl_plain_username, "password": self._sasl_plain_password,
                     "ssl_context": self._ssl_context, "servers": self.hosts})
        raise KafkaConnectionError("no SASL/SSL broker in this test")

    monkeypatch.setattr(AIOKafkaClient, "bootstrap", bootstrap)
    return seen


def _secure(protocol: str) -> Settings:
    fields = {"bootstrap_servers": "kafka-1.internal:9093", "security_protocol": protocol}
    if protocol.startswith("SASL"):
        fields.update(sasl_mechanism="SCRAM-SHA-512", sasl_username="kasper-svc",
                      sasl_password=SecretStr(SASL_PASSWORD))
    if protocol.endswith("SSL"):
        fields.update(ssl_cafile=Path(certifi.where()))
    return Settings(kafka=KafkaSettings(**fields))


async def _every_client(settings: Settings) -> list[str]:
    """Start every Kafka client the code builds; each must fail at our fake bootstrap."""
    from aiokafka import TopicPartition  # noqa: F401  (aiokafka imported before the patch took)

    from kasper.streams.admin import admin_client
    from kasper.streams.consumer import open_consumer
    from kasper.streams.replay import Range, read_range
    from kasper.trainer.kafka_io import start_group_consumer
    from kasper.trainer.rebuild import read_sources

    kafka = settings.kafka
    attempts = {
        "Producer": lambda: Producer(settings).start(),
        "open_consumer": lambda: open_consumer(kafka, topics.PROMPTS.name).__aenter__(),
        "open_consumer(group)": lambda: open_consumer(kafka, topics.PROMPTS.name, group="g").__aenter__(),
        "admin_client": lambda: admin_client(kafka).__aenter__(),
        "trainer start_group_consumer": lambda: start_group_consumer(
            kafka, [topics.APPROVED.name], "kasper-trainer-windows", lambda revoked: None),
        "replay read_range": lambda: read_range(kafka, Codec(), topics.PROMPTS.name, Range()).__anext__(),
        "trainer read_sources": lambda: read_sources(settings, Codec(), [
            {"topic": topics.APPROVED.name, "partition": 0, "start_offset": 0, "end_offset": 0}]),
    }
    with contextlib.suppress(ImportError):
        from kasper.streams.admin import LagProbe

        attempts["LagProbe"] = lambda: LagProbe(kafka).measure("kasper-all")
    failed = []
    for name, start in attempts.items():
        with pytest.raises(Exception) as info:
            await start()
        assert "no SASL/SSL broker" in str(info.value) or "kafka-1.internal" in str(info.value), \
            (name, info.value)
        failed.append(name)
    return failed


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT", "SSL"])
def test_security_settings_reach_every_aiokafka_client(bootstraps, protocol):
    settings = _secure(protocol)
    names = asyncio.run(_every_client(settings))
    assert len(bootstraps) == len(names) >= 7, (names, bootstraps)
    for name, seen in zip(names, bootstraps):
        assert seen["protocol"] == protocol, name
        assert seen["servers"] == [("kafka-1.internal", 9093, socket.AF_UNSPEC)], (name, seen["servers"])
        if protocol.startswith("SASL"):
            assert (seen["mechanism"], seen["username"], seen["password"]) == \
                ("SCRAM-SHA-512", "kasper-svc", SASL_PASSWORD), name
        if protocol.endswith("SSL"):
            assert seen["ssl_context"] is not None and seen["ssl_context"].get_ca_certs(), name
        else:
            assert seen["ssl_context"] is None, name


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT", "SSL"])
def test_security_settings_reach_the_faust_app(bootstraps, protocol):
    """The Faust app's broker credentials, and what its aiokafka transport makes of them."""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from kasper.streams.cli.worker_cmd import build_app

    settings = _secure(protocol)
    app, _ctx = build_app(["route"], settings)
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert auth["security_protocol"] == protocol
    if protocol.startswith("SASL"):
        assert (auth["sasl_mechanism"], auth["sasl_plain_username"], auth["sasl_plain_password"]) == \
            ("SCRAM-SHA-512", "kasper-svc", SASL_PASSWORD)
    assert (auth.get("ssl_context") is not None) == protocol.endswith("SSL")
    assert [str(url) for url in app.conf.broker] == ["kafka://kafka-1.internal:9093"]

    async def start_faust_producer():
        producer = app.producer._new_producer()  # the client Faust's producer sends with
        await producer.start()
    with pytest.raises(KafkaConnectionError):
        asyncio.run(start_faust_producer())
    [seen] = bootstraps
    assert seen["protocol"] == protocol
    if protocol.startswith("SASL"):
        assert seen["password"] == SASL_PASSWORD and seen["mechanism"] == "SCRAM-SHA-512"


def test_ssl_is_spoken_on_the_wire():
    """With SSL configured the first bytes our producer sends are a TLS ClientHello."""
    first: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def accept():
            conn, _ = server.accept()
            with conn:
                conn.settimeout(10)
                first.append(conn.recv(5))
        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        settings = Settings(kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", security_protocol="SSL",
                                                ssl_cafile=Path(certifi.where()), request_timeout_ms=3000))
        with pytest.raises(Exception):
            asyncio.run(Producer(settings).start())
        thread.join(timeout=10)
    assert first and first[0][:2] == b"\x16\x03", first  # TLS record: handshake, version 3.x


# --- secrets in printed settings and registry errors ------------------------------------


def test_settings_printout_redacts_secrets_and_url_credentials(tmp_path):
    env = {**os.environ, "KASPER_JUDGE_API_KEY": JUDGE_KEY, "KASPER_SASL_PASSWORD": SASL_PASSWORD,
           "KASPER_SCHEMA_REGISTRY_PASSWORD": REGISTRY_PASSWORD,
           "KASPER_SCHEMA_REGISTRY_URL": f"https://{REGISTRY_USER}:{REGISTRY_PASSWORD}@registry.internal:8081",
           "KASPER_JUDGE_BASE_URL": f"https://user:{JUDGE_KEY}@llm-proxy.internal/v1"}
    out = subprocess.run([KASPER, "settings"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    printed = out.stdout + out.stderr
    for secret in (JUDGE_KEY, SASL_PASSWORD, REGISTRY_PASSWORD):
        assert secret not in printed
    shown = json.loads(out.stdout)
    assert shown["judge"]["api_key"] == shown["kafka"]["sasl_password"] == "**********"
    assert shown["registry"]["url"] == "https://***@registry.internal:8081"
    assert shown["judge"]["base_url"] == "https://***@llm-proxy.internal/v1"
    assert repr(RegistrySettings(password=SecretStr(REGISTRY_PASSWORD))).count(REGISTRY_PASSWORD) == 0


class _LeakyRegistry(ThreadingHTTPServer):
    """A registry (or proxy) whose error bodies echo the request's Authorization header."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _leak(self):
                body = json.dumps({"error_code": 50001, "message":
                                   f"backend failed for Authorization: {self.headers.get('Authorization')}"})
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())
            do_GET = do_POST = _leak
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


def test_registry_errors_never_show_the_password_even_when_the_server_echoes_it():
    server = _LeakyRegistry()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for client in (RegistryClient(url, REGISTRY_USER, SecretStr(REGISTRY_PASSWORD)),
                       RegistryClient(url.replace("://", f"://{REGISTRY_USER}:{REGISTRY_PASSWORD}@"))):
            with pytest.raises(RegistryError) as info:
                client.register("kasper.prompts-value", '{"type": "string"}')
            text = f"{info.value} {info.value.url} {client!r}"
            assert "HTTP 500" in text and "Authorization: Basic ***" in text, text
            for secret in SECRETS:
                assert secret not in text, text
    finally:
        server.shutdown()
        server.server_close()


# --- a real worker: secrets, personal data, loopback ------------------------------------


def _listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN that process ``pid`` holds (/proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: TCP_LISTEN
                continue
            addr, port = fields[1].split(":")
            raw = bytes.fromhex(addr)
            if name == "tcp":
                host = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:  # four little-endian 32-bit words
                host = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            found.add((host, int(port, 16)))
    return found


def _records_with_personal_data(prefix: str) -> tuple[list[dict], list[dict], list[dict]]:
    grades, approved, feedback = [], [], []
    for i in range(6):
        grade = sample_record("Grade")
        ident = f"{prefix}g{i}"
        grade["insight_id"] = grade["insight"]["insight_id"] = ident
        grade["insight"]["text"] += f" ({ident})"
        grade["insight"]["prompt"]["context"]["journal_snippet"] = f"Write to me at {EMAIL} or call {PHONE}."
        grade["passed"] = True
        grades.append(grade)
    for i in range(4):
        record = sample_record("ApprovedInsight")
        ident = f"{prefix}a{i}"
        record["insight_id"] = record["insight"]["insight_id"] = ident
        record["grade"]["insight_id"] = record["verdict"]["insight_id"] = ident
        record["prompt"]["context"]["journal_snippet"] = f"my email is {EMAIL}, phone {PHONE}"
        record["prompt"]["instructions"] = f"Reply to {EMAIL}."
        record["insight"]["text"] += f" ({ident})"
        approved.append(record)
        fb = sample_record("Feedback")
        fb.update(feedback_id=f"{prefix}f{i}", insight_id=ident,
                  comment=f"Loved it! Text me on {PHONE} or mail {EMAIL}")
        feedback.append(fb)
    return grades, approved, feedback


async def _feed(grades, approved, feedback) -> None:
    async with Producer() as producer:
        for grade in grades:
            await producer.send(topics.GRADES, grade)
        for record in approved:
            await producer.send(topics.APPROVED, record)
        for record in feedback:
            await producer.send(topics.FEEDBACK, record)


def _collect(prefix: str, codec: Codec, want, timeout_s: float, since) -> dict[str, list[dict]]:
    """Records of this test (by ``prefix``), and every judge letter written ``since``: the
    worker also judges the grades earlier tests left, and a scripted fault may hit one of those."""
    def ours(topic: str, record: dict) -> bool:
        if prefix in json.dumps(record, default=repr):
            return True
        return (topic == topics.DLQ.name and record["stage"] == "judge" and record["created_at"] >= since
                and "answered HTTP" in record["reason"])

    async def run():
        found: dict[str, list[dict]] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = {}
            for topic in (topics.VERDICTS.name, topics.DLQ.name, topics.APPROVED.name):
                async for r in read(get_settings().kafka, codec, topic, from_beginning=True,
                                    idle_timeout_s=1.0):
                    if r.record is not None and ours(topic, r.record):
                        found.setdefault(topic, []).append(r.record)
            if want(found):
                break
            await asyncio.sleep(1)
        return found
    return asyncio.run(run())


@pytest.mark.broker
@pytest.mark.model
def test_worker_keeps_secrets_and_personal_data_out_and_binds_loopback(own_broker, tmp_path, shipped_model):
    prefix = f"sec-{RUN}-"
    registry = FakeRegistry(credentials=(REGISTRY_USER, REGISTRY_PASSWORD))
    since = datetime.now(timezone.utc)
    web_port, metrics_port = free_port(), free_port()
    with FaultServer() as judge:
        # A leaky proxy first: 401 (auth: held, asked again), 500 (retried), 400 (dead-lettered),
        # each echoing the Authorization header in its error body; then good answers.
        judge.script("echo_auth", "echo_auth:500", "echo_auth:400", "echo_auth:400", "echo_auth:400")
        judge.cycle("ok")
        env = {**os.environ, "KASPER_JUDGE_BASE_URL": judge.base_url, "KASPER_JUDGE_MODEL": "fault-model",
               "KASPER_JUDGE_API_KEY": JUDGE_KEY, "KASPER_JUDGE_SCORE_MODE": "text",
               "KASPER_JUDGE_CONCURRENCY": "1", "KASPER_JUDGE_BACKOFF_BASE_S": "0.05",
               "KASPER_SCHEMA_REGISTRY_URL": registry.url, "KASPER_SCHEMA_REGISTRY_USERNAME": REGISTRY_USER,
               "KASPER_SCHEMA_REGISTRY_PASSWORD": REGISTRY_PASSWORD, "KASPER_SASL_PASSWORD": SASL_PASSWORD,
               "KASPER_GENERATE_OPENAI_API_KEY": OPENAI_GEN_KEY, "KASPER_LOG_LEVEL": "DEBUG",
               "KASPER_WEB_PORT": str(web_port), "KASPER_METRICS_PORT": str(metrics_port),
               "KASPER_CACHE_DIR": str(tmp_path / "cache"), "KASPER_MODEL": str(shipped_model),
               # Min score 2: no SFT example, so no MLX training run (the SFT files are
               # checked with the same pure dataset builder in test_sft_files_...).
               "KASPER_TRAINER_MAX_AGE_S": "5", "KASPER_TRAINER_MIN_SCORE": "2",
               # ... and SFT only: the default (auto) would train KTO on the thumbs.
               "KASPER_TRAINER_OBJECTIVE": "sft",
               # Shutdown is not under test here: room for a slow stop on a loaded machine.
               "KASPER_WORKER_SHUTDOWN_TIMEOUT_S": "50"}
        log_path = tmp_path / "worker.log"
        with log_path.open("wb") as log:
            worker = subprocess.Popen([KASPER, "worker", "--agents", "grade,judge,route,train"], stdout=log,
                                      stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        try:
            grades, approved, feedback = _records_with_personal_data(prefix)
            asyncio.run(_feed(grades, approved, feedback))

            def done(found):
                judged = {v["insight_id"] for v in found.get(topics.VERDICTS.name, [])}
                judged |= {d["original_key"] for d in found.get(topics.DLQ.name, [])
                           if d["stage"] == "judge" and prefix.encode() in (d["original_key"] or b"")}
                windows = [p for p in (tmp_path / "cache" / "windows").glob("*/approved.avro")
                           if prefix.encode() in p.read_bytes()]
                return len(judged) >= len(grades) and windows
            codec = Codec(RegistryClient(registry.url, REGISTRY_USER, SecretStr(REGISTRY_PASSWORD)))
            found = _collect(prefix, codec, done, timeout_s=120, since=since)
            assert worker.poll() is None, log_path.read_text()[-4000:]
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
            sockets = _listening(worker.pid)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                code = worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                code = "hung"
            registry.close()
    text = log_path.read_text(errors="replace")
    assert code == 0, text[-4000:]

    # The secrets were in use: the judge got the key, the registry the basic auth.
    assert judge.requests and all({k.lower(): v for k, v in r["headers"].items()}.get("authorization")
                                  == f"Bearer {JUDGE_KEY}" for r in judge.requests)
    assert ("POST", "/subjects/kasper.verdicts-value/versions") in registry.requests
    # The leaky proxy's errors reached the log, scrubbed; one 400 reached the DLQ, scrubbed.
    assert "HTTP 401" in text and "Bearer ***" in text, text[-3000:]
    letters = [d for d in found.get(topics.DLQ.name, []) if "answered HTTP 400" in d["reason"]]
    assert letters and all("Bearer ***" in d["reason"] for d in letters), letters
    verdicts = found.get(topics.VERDICTS.name, [])
    assert verdicts, "nothing judged"

    # No secret anywhere: log, metrics, letters, verdicts, the approved insights.
    published = json.dumps(found, default=repr)
    for secret in SECRETS:
        assert secret not in text, f"secret in the worker log: {secret}"
        assert secret not in metrics, f"secret in /metrics: {secret}"
        assert secret not in published, f"secret in a record: {secret}"

    # Personal data: never in a window file, nor a metric label.
    windows_dir = tmp_path / "cache" / "windows"
    files = [p for p in windows_dir.rglob("*") if p.is_file() and p.name != "state.sqlite"
             and ".orphans" not in p.parts]
    assert any(p.name == "approved.avro" for p in files), sorted(str(p) for p in files)
    ours = [p for p in files if prefix.encode() in p.read_bytes()]
    assert ours, "no window holds this test's records"
    for path in files:
        data = path.read_bytes()
        for pii in (EMAIL, PHONE, EMAIL.split("@")[0]):
            assert pii.encode() not in data, f"personal data in {path}"
    manifests = [json.loads(p.read_text()) for p in files if p.name == "manifest.json"]
    assert any(sum((m.get("personal_data_redacted") or {}).values()) > 0 for m in manifests), manifests
    for pii in (EMAIL, PHONE, EMAIL.split("@")[0]):
        assert pii not in metrics

    # Loopback only: the metrics and Faust web ports, and nothing else, on 127.0.0.1 / ::1.
    assert ("127.0.0.1", metrics_port) in sockets and ("127.0.0.1", web_port) in sockets, sockets
    assert all(host in ("127.0.0.1", "::1") for host, _port in sockets), sockets

    # A report drawn from this run's records names no secret and no personal data.
    _check_report(tmp_path / "report", found)
    print(f"security: {len(judge.requests)} judge requests, {len(letters)} scrubbed judge letters, "
          f"{len(verdicts)} verdicts, {len(files)} window files, listening {sorted(sockets)}")


def _check_report(run_dir: Path, found: dict[str, list[dict]]) -> None:
    from kasper.streams.cli.progress import Tally
    from kasper.streams.cli.report import RunData, write_report

    tally = Tally()
    for topic, records in found.items():
        for record in records:
            tally.observe(Codec(), topic, record)
    path = write_report(run_dir, RunData({"prompts": 0, "outcomes": {}}, tally))
    for report in [path, *run_dir.glob("*.json")]:
        body = report.read_text(errors="replace")
        for needle in (*SECRETS, EMAIL, PHONE):
            assert needle not in body, f"{needle} in {report}"


def test_sft_and_preference_files_hold_no_personal_data(tmp_path):
    """The training files (prompts built from the context, the texts, the comments) are redacted."""
    from kasper.trainer.config import WindowPolicy
    from kasper.trainer.dataset import Source, build_window
    from kasper.trainer.files import write_window

    _grades, approved, feedback = _records_with_personal_data(f"sft-{RUN}-")
    approved[1]["insight"]["text"] += f" Write to {EMAIL} for more."  # left out of SFT, redacted in avro
    sources = [Source(topics.APPROVED.name, 0, i, "approved", r) for i, r in enumerate(approved)]
    feedback[2]["rating"] = "down"
    sources += [Source(topics.FEEDBACK.name, 0, i, "feedback", r) for i, r in enumerate(feedback)]
    policy = WindowPolicy(min_score={"lite": 0.0, "standard": 0.0, "pro": 0.0})
    content = build_window("standard", sources, policy)
    directory = write_window(content, tmp_path / "windows")
    names = {p.name for p in directory.iterdir()}
    assert {"approved.avro", "feedback.avro", "manifest.json"} <= names and names & {"train.jsonl", "test.jsonl",
                                                                                        "valid.jsonl"}, names
    sft = "".join(p.read_text() for p in directory.glob("*.jsonl"))
    assert "[EMAIL]" in sft and "[PHONE]" in sft, sft[:2000]  # the context reached the prompts, redacted
    for path in directory.iterdir():
        data = path.read_bytes()
        for pii in (EMAIL, PHONE, EMAIL.split("@")[0]):
            assert pii.encode() not in data, f"personal data in {path.name}"
    assert sum(content.manifest["personal_data_redacted"].values()) >= 3 * len(approved)


@pytest.mark.model
def test_embedded_judge_server_binds_loopback(tmp_path, shipped_model):
    from kasper.agents.judging.server import EmbeddedJudgeServer

    with EmbeddedJudgeServer(shipped_model, warm_up=False, log_dir=tmp_path) as server:
        sockets = _listening(server.pid)
    assert sockets and all(host in ("127.0.0.1", "::1") for host, _ in sockets), sockets
    assert ("127.0.0.1", server.port) in sockets
