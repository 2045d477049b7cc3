"""The embedded judge: ``mlx_lm.server`` on loopback with the local model.

With no judge configured (``KASPER_JUDGE_BASE_URL`` unset) the pipeline judges with
the shipped SmolLM2-135M behind ``mlx_lm.server``, reached through the same openai
client as GPT-5: the production code path with a weak judge::

    with EmbeddedJudgeServer(resolve_model_dir()) as server:
        judge = server.judge_settings(settings.judge)

Lifecycle: ``start`` picks a free loopback port, runs ``python -m kasper.agents.runtime.blas``
(mlx_lm.server after the OpenBLAS setup, :func:`kasper.agents.runtime.blas.server_command`), waits until
``/v1/models`` answers 200 (only the status: mlx_lm.server 0.32 sends an empty body when
no Hugging Face cache directory exists), then sends one tiny completion so that the
model is loaded before the first verdict (mlx_lm.server loads it lazily).  ``stop`` sends SIGTERM,
then SIGKILL after a grace period, and reaps the child.

No orphans: the child runs in its own session (a terminal's Ctrl-C reaches only us,
and we stop it in order) and, on Linux, the kernel sends it SIGTERM when the thread
that started it dies (``PR_SET_PDEATHSIG``), so even a SIGKILLed worker leaves
nothing behind.  Start it from a long-lived thread (the main or event-loop thread).

Error policy: :class:`JudgeServerError` (a ``KasperError``) when the server does not
come up, with its exit code and the tail of its log; a port taken between our probe
and the server's bind is retried on another port.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from kasper.schemas.errors import KasperError
from kasper.streams.processes import die_with_parent, terminate
from kasper.streams.logs import get_logger
from kasper.streams.settings import JudgeSettings

# The 135M model writes the five scores within ~40 tokens and then rambles: stop early.
EMBEDDED_MAX_TOKENS = 64
_PORT_ATTEMPTS = 3
log = get_logger(__name__)


class JudgeServerError(KasperError):
    """The embedded judge server did not start (or died while starting)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]



class EmbeddedJudgeServer:
    """``mlx_lm.server`` for ``model_dir`` on loopback: a (sync or async) context manager."""

    def __init__(self, model_dir: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 0,
                 start_timeout_s: float = 180.0, warm_up: bool = True,
                 log_dir: str | os.PathLike | None = None, blas_threads: int | None = None) -> None:
        self.model_dir = Path(model_dir).resolve()
        # The server's OpenBLAS threads; None: this process's setting (server_env).
        self.blas_threads = blas_threads
        self.host = host
        self.port = port
        self.start_timeout_s = start_timeout_s
        self.warm_up = warm_up
        self._log_dir = Path(log_dir) if log_dir else None
        self._proc: subprocess.Popen | None = None
        self._log_path: Path | None = None

    # --- what clients need ------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model(self) -> str:
        """The model id to send: the path we served (mlx_lm.server maps it to the loaded model)."""
        return str(self.model_dir)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def overrides(self) -> dict[str, Any]:
        """The ``JudgeSettings`` fields that point a judge here: model, no prices, short answers.

        For an in-process worker: ``build_app(roles, judge_overrides=server.overrides())``.
        """
        return {"base_url": self.base_url, "model": self.model, "input_usd_per_mtok": 0.0,
                "output_usd_per_mtok": 0.0, "max_tokens": EMBEDDED_MAX_TOKENS, "top_logprobs": 10}

    def judge_settings(self, base: JudgeSettings) -> JudgeSettings:
        """``base`` pointed at this server (see :meth:`overrides`)."""
        return base.updated(**self.overrides())

    def env(self) -> dict[str, str]:
        """The same as ``KASPER_JUDGE_*`` variables, for worker processes."""
        return {f"KASPER_JUDGE_{key.upper()}": str(value) for key, value in self.overrides().items()}

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> EmbeddedJudgeServer:
        """Start the server and block until it answers (``JudgeServerError`` if it does not)."""
        for attempt in range(_PORT_ATTEMPTS):
            self._launch(fixed_port=self.port if attempt == 0 else 0)
            if self._wait_ready():
                return self
        raise self._failure("kept losing its port")

    async def astart(self) -> EmbeddedJudgeServer:
        """:meth:`start` without blocking the event loop (the launch itself stays on this thread)."""
        for attempt in range(_PORT_ATTEMPTS):
            self._launch(fixed_port=self.port if attempt == 0 else 0)
            if await asyncio.to_thread(self._wait_ready):
                return self
        raise self._failure("kept losing its port")

    def stop(self, grace_s: float = 10.0, *, keep_log: bool = False) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; returns the exit code (None if never started)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if terminate(proc, grace_s):
            log.warning("judge server ignored SIGTERM: killing it", pid=proc.pid)
        if self._log_path is not None and not keep_log:
            self._log_path.unlink(missing_ok=True)  # kept only when the start failed
        log.info("judge server stopped", pid=proc.pid, returncode=proc.returncode)
        return proc.returncode

    async def astop(self, grace_s: float = 10.0) -> int | None:
        return await asyncio.to_thread(self.stop, grace_s)

    def __enter__(self) -> EmbeddedJudgeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedJudgeServer:
        return await self.astart()

    async def __aexit__(self, *exc: Any) -> None:
        await self.astop()

    # --- internals -----------------------------------------------------------

    def _launch(self, fixed_port: int) -> None:
        # Imported here: blas loads MLX on import, which a judge pointed at GPT-5 never needs.
        from kasper.agents.runtime.blas import server_command, server_env

        self.stop()
        self.port = fixed_port or free_port(self.host)
        log_dir = self._log_dir or Path(tempfile.gettempdir())
        log_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"kasper-judge-server-{self.port}-", suffix=".log", dir=log_dir)
        self._log_path = Path(name)
        env = server_env()
        if self.blas_threads is not None:
            env["OPENBLAS_NUM_THREADS"] = str(self.blas_threads)
        with os.fdopen(fd, "wb") as log_file:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(
                server_command(self.model_dir, self.host, self.port, "--log-level", "WARNING"),
                env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent(),
            )
        log.info("judge server starting", pid=self._proc.pid, url=self.base_url, model=self.model)

    def _wait_ready(self) -> bool:
        """True once it answers; False when it died because the port was taken; raises otherwise."""
        deadline = time.monotonic() + self.start_timeout_s
        with httpx.Client(timeout=5.0) as http:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.poll() is not None:
                    if "Address already in use" in self._log_tail():
                        return False
                    raise self._failure("exited while starting")
                try:
                    if http.get(f"{self.base_url}/models").status_code == 200:
                        return self._warm(http, deadline)
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise self._failure(f"did not answer within {self.start_timeout_s:.0f}s")

    def _warm(self, http: httpx.Client, deadline: float) -> bool:
        if not self.warm_up:
            return True
        body = {"model": self.model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
        try:
            answer = http.post(f"{self.base_url}/chat/completions", json=body,
                               timeout=max(5.0, deadline - time.monotonic()))
        except httpx.TransportError as exc:
            raise self._failure(f"failed its warm-up request ({type(exc).__name__})") from exc
        if answer.status_code != 200:
            raise self._failure(f"answered its warm-up request with HTTP {answer.status_code}")
        return True

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-limit:] if self._log_path else ""
        except OSError:
            return ""

    def _failure(self, what: str) -> JudgeServerError:
        """The error to raise, after stopping the child (its log is kept for the message)."""
        code = self.stop(grace_s=2.0, keep_log=True)
        return JudgeServerError(
            f"the embedded judge (mlx_lm.server for {self.model_dir} on {self.host}:{self.port}) {what}"
            f" (exit code {code}); log {self._log_path}:\n{self._log_tail()}")
