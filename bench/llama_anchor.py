"""llama.cpp's own batching as the generation anchor: ``llama-batched-bench`` and ``llama-server``.

Both run on the shipped GGUF with the thread count and batch size ours uses, built by
``bench/build_llama_cpp.sh`` (the flags are in that script; docs/benchmarks.md says why).

- ``batched_bench``: llama.cpp's batched decoding at its best case: ``batch`` sequences
  of ``prompt_tokens`` each, every one generating exactly ``max_tokens`` (no early stop,
  no sampling work). Figure: generated tokens over the whole run's wall time, prompts
  included (what ours reports).
- ``ServerLeg``: ``llama-server`` with ``batch`` parallel slots (continuous batching,
  its prompt cache) answering the very chat messages our generator builds (same
  exemplars, same sampling settings, same ``max_tokens``), all sent at once over
  loopback HTTP. Figure: completion tokens over the wall time from the first request
  to the last answer.

A missing binary is a message and ``None``: the other legs still run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BUILD_HINT = "build it with: sh bench/build_llama_cpp.sh (about 10 minutes on 2 cores)"


def find_bin(name: str, bin_dir: Path | None) -> Path | None:
    """``name`` in ``bin_dir`` (or ``$KASPER_LLAMA_CPP_BIN``, or on PATH), else None with a message."""
    where = bin_dir or (Path(os.environ["KASPER_LLAMA_CPP_BIN"]) if os.environ.get("KASPER_LLAMA_CPP_BIN") else None)
    found = (where / name) if where else (Path(p) if (p := shutil.which(name)) else None)
    if found is None or not found.is_file():
        print(f"llama.cpp {name} leg skipped: no {name} in {where or 'PATH'}; {BUILD_HINT}", file=sys.stderr)
        return None
    return found


# | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|"
                  r"\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|", re.M)


def parse_batched_bench(output: str) -> dict:
    """The first result row of ``llama-batched-bench``'s table as a leg result."""
    match = _ROW.search(output)
    if match is None:
        raise RuntimeError(f"llama-batched-bench printed no result row:\n{output[-2000:]}")
    pp, tg, b = (int(match.group(i)) for i in (1, 2, 3))
    t_pp, t_tg, total = (float(match.group(i)) for i in (5, 7, 9))
    return {"tokens": tg * b, "seconds": total, "prompts": b, "prompt_tokens": pp,
            "prefill_seconds": t_pp, "decode_seconds": t_tg}


def batched_bench(binary: Path, gguf: Path, prompt_tokens: int, max_tokens: int, batch: int,
                  threads: int) -> dict:
    ctx = batch * (prompt_tokens + max_tokens) + 256
    cmd = [str(binary), "-m", str(gguf), "-c", str(ctx), "-npp", str(prompt_tokens), "-ntg", str(max_tokens),
           "-npl", str(batch), "-t", str(threads), "-tb", str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return parse_batched_bench(done.stdout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerLeg:
    """A ``llama-server`` with ``batch`` slots on loopback; ``run`` sends one set of chats at once."""

    def __init__(self, binary: Path, gguf: Path, batch: int, threads: int, slot_ctx: int,
                 extra: list[str] | tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(self.port),
               "-np", str(batch), "-c", str(batch * slot_ctx), "-t", str(threads), "-tb", str(threads),
               "--no-webui", *extra]
        # A file, not a pipe: the server logs every request, and a full pipe would stall it.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"llama-server exited {self.proc.returncode}: {self.log.read()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.close()
        raise RuntimeError("llama-server did not become healthy within 120 s")

    def run(self, chats: list[list[dict]], max_tokens: int, sampling: dict) -> dict:
        async def one(client: httpx.AsyncClient, index: int, messages: list[dict]) -> int:
            body = {"messages": messages, "max_tokens": max_tokens, "seed": index, **sampling}
            response = await client.post(f"{self.url}/v1/chat/completions", json=body)
            response.raise_for_status()
            return response.json()["usage"]["completion_tokens"]

        async def all_at_once() -> int:
            async with httpx.AsyncClient(timeout=1800) as client:
                return sum(await asyncio.gather(*(one(client, i, m) for i, m in enumerate(chats))))

        started = time.perf_counter()
        tokens = asyncio.run(all_at_once())
        return {"tokens": tokens, "seconds": time.perf_counter() - started, "prompts": len(chats)}

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
