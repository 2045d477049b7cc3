"""Generation throughput on the same prompts: our batched generator vs single-stream baselines.

Legs, run in interleaved rounds in one process (medians reported):

  a) ours: ``Generator`` + ``MLXBackend`` in batches of ``--batch`` prompts (the generate
     agent's code path: templates, batched prefill with the shared-prefix cache, decode);
  b) mlx_lm single stream: ``mlx_lm.stream_generate`` one prompt at a time, same model
     directory (float32 + OpenBLAS), same sampling (first ``--single-prompts`` prompts);
  c) llama.cpp single stream: llama-cpp-python on the same GGUF (Q4_1) with
     ``--llama-threads`` threads (default: as many as MLX may use: every core when
     ``KASPER_BLAS_THREADS`` is ``auto``, else the OpenBLAS count MLX runs with);
     skipped with a message when llama-cpp-python is not installed (a bench-only
     source build: docs/benchmarks.md gives the CMAKE_ARGS);
  d) llama.cpp batched, llama.cpp's own tools built by ``bench/build_llama_cpp.sh``
     (``--llama-cpp-bin``, or ``$KASPER_LLAMA_CPP_BIN``), at each ``--batch`` size and
     the same thread count: ``llama-batched-bench`` with our prompts' mean token count
     (its best case: no early stop, no sampling), and ``llama-server`` with that many
     parallel slots answering the very messages our generator builds (exemplars
     included) all sent at once (bench/llama_anchor.py), and with one slot for the
     first ``--single-prompts`` prompts one after another (llama.cpp single stream,
     the anchor when llama-cpp-python is absent). Skipped with a message when the
     binaries are missing.

tokens/s = generated tokens / wall-clock seconds over the whole prompt set, prompt
processing included (what insights/hour depends on). Then, unless ``--agent 0``:

  e) insights/hour through ``kasper worker --agents generate`` on the embedded broker:
     ``--agent`` prompts produced at once after a warm-up prompt, timed until the
     last insight is read back; then, when llama-server is built, the same worker
     with its OpenAI backend pointed at a llama-server with ``--batch`` slots (the
     guards sent as its samplers: ``KASPER_GENERATE_OPENAI_GUARDS=llama.cpp``).

    python bench/bench_generate.py [--prompts 32] [--max-tokens 100] [--batch 32 64]
                                   [--rounds 2] [--agent 64] [--llama-cpp-bin DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kasper.agents.runtime.blas import blas_info, mx  # noqa: F401  (OpenBLAS before mlx.core)
from kasper.agents.runtime.cores import adaptive_threads, available_cores
from kasper.agents.quality import prompts as templates
from kasper.agents.runtime import model_store
from kasper.agents.runtime.mlx_backend import MLXBackend
from kasper.streams.settings import GenerateSettings
from kasper.agents.generation import Generator
from kasper.streams.synthetic_prompts import synthetic_prompt

import llama_anchor  # bench/llama_anchor.py, beside this script

TEMPERATURE, TOP_P, TOP_K = 0.7, 0.9, 64


def bench_prompts(count: int, seed: int = 2026) -> list[dict]:
    return [synthetic_prompt(i, seed) | {"prompt_id": f"bench-{seed}-{i}"} for i in range(count)]


# --- legs ---------------------------------------------------------------------


def leg_ours(backend: MLXBackend, settings: GenerateSettings, batch: list[dict]) -> dict:
    generator = Generator(backend, settings)

    async def run() -> int:
        tokens = 0
        for start in range(0, len(batch), settings.batch_size):
            outcomes = await generator.run(batch[start:start + settings.batch_size])
            tokens += sum(o.insight["completion_tokens"] for o in outcomes if o.insight)
        return tokens

    started = time.perf_counter()
    tokens = asyncio.run(run())
    return {"tokens": tokens, "seconds": time.perf_counter() - started, "prompts": len(batch)}


def leg_mlx_single(model, tokenizer, batch: list[dict], max_tokens: int) -> dict:
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    tokens, started = 0, time.perf_counter()
    for index, prompt in enumerate(batch):
        mx.random.seed(index)
        ids = tokenizer.apply_chat_template(templates.build_messages(prompt), add_generation_prompt=True)
        sampler = make_sampler(TEMPERATURE, TOP_P, top_k=TOP_K)
        for last in stream_generate(model, tokenizer, ids, max_tokens=max_tokens, sampler=sampler):
            pass
        tokens += last.generation_tokens
    return {"tokens": tokens, "seconds": time.perf_counter() - started, "prompts": len(batch)}


def load_llama(threads: int):
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        print(f"llama.cpp leg skipped: llama-cpp-python is not installed ({exc}). Build it with the "
              "CMAKE_ARGS in docs/benchmarks.md: pip install llama-cpp-python==0.3.36 (about 5 min).",
              file=sys.stderr)
        return None
    gguf = model_store.shipped_gguf()
    return Llama(model_path=str(gguf), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                 seed=1, verbose=False)


def our_chats(generator: Generator, batch: list[dict]) -> list[list[dict]]:
    """The chat messages ``generator`` builds for ``batch`` (its exemplars included)."""
    return [generator.chat(p)[2] for p in batch]


def leg_llama(llm, batch: list[dict], max_tokens: int) -> dict:
    tokens, started = 0, time.perf_counter()
    for index, prompt in enumerate(batch):
        out = llm.create_chat_completion(messages=templates.build_messages(prompt), max_tokens=max_tokens,
                                         temperature=TEMPERATURE, top_p=TOP_P, top_k=TOP_K, seed=index)
        tokens += out["usage"]["completion_tokens"]
    return {"tokens": tokens, "seconds": time.perf_counter() - started, "prompts": len(batch)}


# --- the agent on the embedded broker -----------------------------------------


def agent_rate(count: int, max_tokens: int, batch_size: int, model_dir: Path, openai_url: str | None = None) -> dict:
    """Insights/hour through a real generate worker; warm-up excluded. With ``openai_url``
    the worker's OpenAI backend calls that server (llama-server) instead of MLX in process."""
    from kasper.streams import topics
    from kasper.streams.admin import create_topics
    from kasper.streams.broker import EmbeddedBroker
    from kasper.streams.settings import get_settings

    address = f"127.0.0.1:{llama_anchor.free_port()}"
    env = {**os.environ, "KASPER_BOOTSTRAP_SERVERS": address, "KASPER_LOG_LEVEL": "WARNING",
           "KASPER_WEB_PORT": str(llama_anchor.free_port()), "KASPER_METRICS_PORT": str(llama_anchor.free_port()),
           "KASPER_REBALANCE_TIMEOUT_S": "3", "KASPER_SESSION_TIMEOUT_S": "6",
           "KASPER_MODEL": str(model_dir), "KASPER_GENERATE_MAX_TOKENS": str(max_tokens),
           "KASPER_GENERATE_BATCH_SIZE": str(batch_size), "KASPER_GENERATE_MODELS_WAIT_S": "5"}
    if openai_url:
        env.update(KASPER_GENERATE_BACKEND="openai", KASPER_GENERATE_OPENAI_BASE_URL=f"{openai_url}/v1",
                   KASPER_GENERATE_OPENAI_MODEL="shipped-gguf", KASPER_GENERATE_OPENAI_API_KEY="none",
                   KASPER_GENERATE_OPENAI_CONCURRENCY=str(batch_size), KASPER_GENERATE_OPENAI_TIMEOUT_S="600",
                   KASPER_GENERATE_OPENAI_GUARDS="llama.cpp")  # the guards MLX runs, as its samplers
    os.environ.update({k: env[k] for k in ("KASPER_BOOTSTRAP_SERVERS",)})
    get_settings.cache_clear()
    with EmbeddedBroker(address):
        asyncio.run(create_topics(get_settings().kafka))
        worker = subprocess.Popen([str(Path(sys.executable).parent / "kasper"), "worker", "--agents",
                                   "generate"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            asyncio.run(_produce_and_wait(bench_prompts(1, seed=1), topics))  # warm-up
            batch = bench_prompts(count, seed=2)
            started = time.perf_counter()
            insights = asyncio.run(_produce_and_wait(batch, topics))
            seconds = time.perf_counter() - started
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=300)
    tokens = sum(i["completion_tokens"] for i in insights)
    return {"prompts": count, "insights": len(insights), "seconds": seconds, "tokens": tokens,
            "insights_per_hour": len(insights) / seconds * 3600, "mean_tokens": tokens / max(1, len(insights))}


async def _produce_and_wait(batch: list[dict], topics, timeout_s: float = 1800) -> list[dict]:
    from kasper.schemas import Codec
    from kasper.streams.consumer import open_consumer, decode_message
    from kasper.streams.producer import Producer
    from kasper.streams.settings import get_settings

    wanted = {p["prompt_id"] for p in batch}
    async with open_consumer(get_settings().kafka, topics.INSIGHTS.name) as consumer:
        async with Producer() as producer:
            for prompt in batch:
                await producer.send(topics.PROMPTS, prompt)
        found: dict[str, dict] = {}
        deadline = time.monotonic() + timeout_s
        while len(found) < len(wanted) and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    record = decode_message(Codec(), message).record
                    if record and record["prompt_id"] in wanted:
                        found[record["prompt_id"]] = record
    return list(found.values())


# --- main ---------------------------------------------------------------------


def rate(result: dict) -> float:
    return result["tokens"] / result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--single-prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--batch", type=int, nargs="+", default=[32])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--llama-threads", type=int, default=None)
    parser.add_argument("--llama-cpp-bin", type=Path, default=None,
                        help="llama.cpp's bin directory (bench/build_llama_cpp.sh prints it)")
    parser.add_argument("--agent", type=int, default=64, help="prompts through the worker (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from kasper.streams import logs
    from kasper.streams.settings import ObservabilitySettings

    logs.configure(ObservabilitySettings(log_level="WARNING", log_json=False))
    info = blas_info()
    # The anchor gets every thread ours may take (cores.py raises ours on an idle machine).
    threads = args.llama_threads or (available_cores() if adaptive_threads() else info.threads) or 1
    model_dir = model_store.resolve_model_dir()
    batch = bench_prompts(args.prompts)
    # Every leg warms on the same other prompts (every domain), so each starts with the
    # shared system and exemplar prefixes cached and none with the timed prompts.
    warm = bench_prompts(max(args.batch), seed=7)
    backends = {}
    for size in args.batch:
        settings = GenerateSettings(max_tokens=args.max_tokens, batch_size=size, top_k=TOP_K,
                                    temperature=TEMPERATURE, top_p=TOP_P)
        backend = MLXBackend(settings=settings)
        asyncio.run(backend.start())
        leg_ours(backend, settings, warm)  # warm-up: the shared-prefix cache, kernels
        backends[size] = (backend, settings)
    model, tokenizer = model_store.load(model_dir)
    llm = load_llama(threads)
    gguf = model_store.shipped_gguf()
    generator = Generator(*next(iter(backends.values())))
    chats = our_chats(generator, batch)
    lengths = [len(tokenizer.apply_chat_template(c, add_generation_prompt=True)) for c in chats]
    prompt_tokens = round(statistics.mean(lengths))
    batched_bin = llama_anchor.find_bin("llama-batched-bench", args.llama_cpp_bin)
    server_bin = llama_anchor.find_bin("llama-server", args.llama_cpp_bin)
    warm_chats = our_chats(generator, warm)
    server = {"binary": server_bin, "gguf": gguf, "threads": threads, "warm": warm_chats,
              "slot_ctx": max(lengths) + args.max_tokens + 64,
              "sampling": {"temperature": TEMPERATURE, "top_p": TOP_P, "top_k": TOP_K}}
    results: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for size, (backend, settings) in backends.items():
            results.setdefault(f"ours B={size}", []).append(leg_ours(backend, settings, batch))
            if batched_bin:
                results.setdefault(f"llama.cpp batched-bench B={size}", []).append(llama_anchor.batched_bench(
                    batched_bin, gguf, prompt_tokens, args.max_tokens, size, threads))
            if server_bin:
                results.setdefault(f"llama.cpp server B={size}", []).append(
                    _server_leg(server, chats, size, args.max_tokens))
        if server_bin:  # llama.cpp single stream: one slot, the prompts one after another
            results.setdefault("llama.cpp server B=1", []).append(
                _server_leg(server, chats[:args.single_prompts], 1, args.max_tokens))
        _other_legs(results, args, model, tokenizer, llm, batch, threads)
    for backend, _ in backends.values():
        asyncio.run(backend.close())  # joins the MLX thread: one left alive aborts the exit
    agents = _agent_legs(args, model_dir, server) if args.agent else {}
    report(args, info, results, threads, prompt_tokens, agents)


def _warm_server(server: dict, size: int, max_tokens: int, slot_ctx: int | None = None):
    """A fresh ``llama-server`` with ``size`` slots, warmed on other prompts of the same
    domains: its slots then hold the shared system and exemplar prefixes, as our
    engine's prefix cache does after its warm-up, and none of the timed prompts."""
    leg = llama_anchor.ServerLeg(server["binary"], server["gguf"], size, server["threads"],
                                 slot_ctx or server["slot_ctx"])
    try:
        leg.run(server["warm"][:size], max_tokens, server["sampling"])
    except BaseException:
        leg.close()
        raise
    return leg


def _server_leg(server: dict, chats: list[list[dict]], size: int, max_tokens: int) -> dict:
    """All ``chats`` through a fresh warmed ``llama-server`` with ``size`` slots, ``size`` at a
    time. Fresh per round: a server that had answered these very prompts would reuse
    their whole KV from its slots, which ours never does."""
    leg = _warm_server(server, size, max_tokens)
    try:
        parts = [leg.run(chats[i:i + size], max_tokens, server["sampling"]) for i in range(0, len(chats), size)]
    finally:
        leg.close()
    return {k: sum(p[k] for p in parts) for k in ("tokens", "seconds", "prompts")}


def _agent_legs(args, model_dir: Path, server: dict) -> dict[str, dict]:
    """The generate stage through the embedded broker: MLX in process, then (when built)
    the OpenAI backend pointed at a warmed llama-server with as many slots."""
    best = max(args.batch)
    legs = {"agent": agent_rate(args.agent, args.max_tokens, best, model_dir)}
    if server["binary"] is not None:
        # The worker's own prompts may run longer than the timed set: a roomier slot.
        leg = _warm_server(server, best, args.max_tokens, slot_ctx=2048)
        try:
            legs["agent_llama_server"] = agent_rate(args.agent, args.max_tokens, best, model_dir, openai_url=leg.url)
        finally:
            leg.close()
    return {key: {k: round(v, 1) for k, v in leg.items()} | {"batch": best} for key, leg in legs.items()}


def _other_legs(results, args, model, tokenizer, llm, batch, threads) -> None:
    results.setdefault("mlx_lm single", []).append(
        leg_mlx_single(model, tokenizer, batch[:args.single_prompts], args.max_tokens))
    if llm is not None:
        results.setdefault(f"llama.cpp single ({threads} thr)", []).append(leg_llama(llm, batch, args.max_tokens))


def report(args, info, results: dict[str, list[dict]], threads: int, prompt_tokens: int,
           agents: dict[str, dict]) -> None:
    rates = {name: statistics.median(rate(r) for r in runs) for name, runs in results.items()}
    single_cpp = next((v for k, v in rates.items() if k.startswith("llama.cpp single")),
                      rates.get("llama.cpp server B=1"))
    single = rates.get("mlx_lm single")
    ours = "auto (cores.py)" if adaptive_threads() else f"{info.threads}"

    def ratios(name: str, value: float) -> dict:
        # Ours against each anchor at the same batch size; every leg against the single streams.
        size = name.rsplit("B=", 1)[-1] if name.startswith("ours B=") else None
        out = {"vs_llama_cpp": round(value / single_cpp, 2) if single_cpp else None,
               "vs_mlx_single": round(value / single, 2) if single else None}
        for kind in ("batched-bench", "server"):
            anchor = rates.get(f"llama.cpp {kind} B={size}") if size else None
            out[f"vs_llama_cpp_{kind}"] = round(value / anchor, 2) if anchor else None
        return out

    out = {"blas": f"{info.name}, {ours} thread(s)", "llama_cpp_threads": threads, "max_tokens": args.max_tokens,
           "prompts": args.prompts, "prompt_tokens_mean": prompt_tokens, "rounds": args.rounds,
           "legs": {k: {"tokens_per_s": round(v, 1),
                        "mean_tokens": round(statistics.mean(r["tokens"] / r["prompts"] for r in results[k]), 1),
                        **ratios(k, v)}
                    for k, v in rates.items()}} | agents
    if args.json:
        print(json.dumps(out))
        return
    print(f"BLAS: {out['blas']}; llama.cpp {threads} thread(s); {args.prompts} prompts of "
          f"{prompt_tokens} tokens on average, max {args.max_tokens} tokens, median of {args.rounds} rounds")
    for name, leg in out["legs"].items():
        vs = "  ".join(f"{leg[key]:.2f}x {label}" for key, label in (
            ("vs_llama_cpp_batched-bench", "llama.cpp batched-bench"), ("vs_llama_cpp_server", "llama.cpp server"),
            ("vs_llama_cpp", "llama.cpp single"), ("vs_mlx_single", "mlx_lm single")) if leg[key])
        print(f"  {name:<32} {leg['tokens_per_s']:>7.1f} tok/s  (mean {leg['mean_tokens']} tokens)  {vs}")
    print("  goals: ours >= 1.0x llama.cpp batched at the same batch and threads; >= 1.4x llama.cpp single stream")
    for key, label in (("agent", "MLX in process"), ("agent_llama_server", "OpenAI backend -> llama-server")):
        if key in out:
            a = out[key]
            print(f"agent on the embedded broker, {label} (B={a['batch']}): {a['insights']:.0f} insights of "
                  f"{a['mean_tokens']:.0f} tokens in {a['seconds']:.1f} s = {a['insights_per_hour']:,.0f} "
                  f"insights/hour ({a['tokens'] / a['seconds']:.1f} tok/s); goal >= 3,000/hour")


if __name__ == "__main__":
    main()
