"""A real Prometheus for the tests: Debian's ``prometheus`` package (``prometheus`` and
``promtool``), installed before the tests by tests/setup_system.sh (``make test`` and
``make check`` run it), never from a test. :class:`Prometheus` runs one server on a
free loopback port with a temporary data directory.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest


def prometheus_tools() -> tuple[str, str]:
    """Paths of ``prometheus`` and ``promtool``; the test fails, naming the fix, when they are missing."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not (prometheus and promtool):
        pytest.fail("prometheus and promtool are not installed: run tests/setup_system.sh as root "
                    "(make test and make check do), or install Debian's prometheus package", pytrace=False)
    return prometheus, promtool


class Prometheus:
    """``prometheus`` on 127.0.0.1:``port`` with ``config``; a context manager."""

    def __init__(self, binary: str, config: Path, data_dir: Path, port: int) -> None:
        self.binary, self.config, self.data_dir, self.port = binary, config, data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.log = data_dir.parent / "prometheus.log"

    def __enter__(self) -> "Prometheus":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.data_dir}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise AssertionError(f"prometheus not ready: {self.log.read_text()[-2000:]}")

    def __exit__(self, *_: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def api(self, path: str, **params: Any) -> dict[str, Any]:
        """GET ``/api/v1/<path>``; the decoded body whatever the status (errors carry ``error``)."""
        return httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30).json()


# --- what the deploy files ask Prometheus -------------------------------------

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
ALERTS = DEPLOY / "prometheus" / "alerts.yml"


def dashboard_queries() -> list[tuple[str, str, str]]:
    """``(dashboard file, panel title, expr)`` for every query of every dashboard panel."""
    import json

    out = []
    for path in DASHBOARDS:
        for panel in _panels(json.loads(path.read_text())["panels"]):
            for target in panel.get("targets", []):
                out.append((path.name, panel["title"], target["expr"]))
    return out


def _panels(panels: list[dict]) -> list[dict]:
    out = []
    for panel in panels:
        out.append(panel)
        out += _panels(panel.get("panels", []))  # collapsed rows hold their panels
    return out


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of alerts.yml (name and expr)."""
    import yaml

    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def substitute(expr: str, rate_interval_s: int, range_s: int, interval_s: int = 2) -> str:
    """Grafana's global variables as Grafana would fill them in for a query."""
    return (expr.replace("$__rate_interval", f"{rate_interval_s}s")
            .replace("$__range", f"{range_s}s").replace("$__interval", f"{interval_s}s"))
