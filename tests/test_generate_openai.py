"""The OpenAI-compatible backend: against mlx_lm.server with the prepared model, and
against a fault-injecting HTTP server on loopback for the error policy."""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx
import pytest

from kasper.agents.runtime.blas import server_command, server_env
from kasper.agents.runtime.backend import BackendUnavailable
from kasper.agents.runtime.openai_backend import OpenAIBackend
from kasper.agents.generation import GenerationFailed, Generator, insight_id
from kasper.streams.settings import GenerateSettings, OpenAIGenerateSettings
from kasper.streams.synthetic_prompts import synthetic_prompt

from tests.helpers import free_port
from tests.judge_fault_server import FaultServer

MAX_TOKENS = 24
SETTINGS = GenerateSettings(max_tokens=MAX_TOKENS, backend="openai")


def prompts(n: int, seed: int) -> list[dict]:
    return [synthetic_prompt(i, seed) | {"prompt_id": f"oa-{seed}-{i}"} for i in range(n)]


def run(backend: OpenAIBackend, batch: list[dict], on_delta=None):
    async def go():
        try:
            return await Generator(backend, SETTINGS).run(batch, on_delta)
        finally:
            await backend.close()
    return asyncio.run(go())


@pytest.fixture(scope="module")
def mlx_server(tmp_path_factory, shipped_model):
    model_dir = shipped_model
    port = free_port()
    log = tmp_path_factory.mktemp("mlx-server") / "server.log"
    with open(log, "w") as out:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(server_command(model_dir, "127.0.0.1", port), env=server_env(),
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "mlx_lm.server did not come up"
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        yield base, str(model_dir)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.model
def test_openai_backend_generates_with_mlx_lm_server(mlx_server):
    base, model = mlx_server
    batch = prompts(3, seed=31)
    batch[1]["domain"] = "other"
    settings = OpenAIGenerateSettings(base_url=base, model=model, concurrency=2)
    outcomes = run(OpenAIBackend(settings), batch)

    assert "unknown domain" in str(outcomes[1].error)
    for outcome in (outcomes[0], outcomes[2]):
        insight = outcome.insight
        assert len(insight["text"].split()) >= 3, insight["text"]
        assert (insight["model"], insight["adapter_version"]) == (model, None)
        assert insight["insight_id"] == insight_id(insight["prompt_id"], 0)
        assert 0 < insight["completion_tokens"] <= MAX_TOKENS and insight["prompt_tokens"] > 100

    deltas: list[tuple] = []
    [streamed] = run(OpenAIBackend(settings), batch[:1], lambda *d: deltas.append(d))
    text = streamed.insight["text"]
    assert "".join(d[3] for d in deltas).strip() == text and deltas[-1][4] is True
    assert streamed.insight["completion_tokens"] > 0


def _fault_backend(server: FaultServer, **overrides) -> OpenAIBackend:
    values = dict(base_url=server.base_url, model="fault-model", concurrency=2, timeout_s=5.0,
                  max_retries=3) | overrides
    return OpenAIBackend(OpenAIGenerateSettings(**values))


def test_transient_errors_are_retried_with_backoff_and_concurrency_is_bounded():
    with FaultServer() as server:
        server.script("status:503", "429:0.1", "close").cycle("slow:0.3")
        backend = _fault_backend(server)
        started = time.monotonic()
        outcomes = run(backend, prompts(6, seed=32))
        assert all(o.insight is not None for o in outcomes), [str(o.error) for o in outcomes]
        assert backend.retries == 3 and server.max_active == 2
        assert len(server.requests) == 9 and time.monotonic() - started >= 0.9  # 6 x 0.3 s / 2
        body = server.requests[-1]["body"]
        assert (body["max_tokens"], body["temperature"], body["top_p"]) == (MAX_TOKENS, 0.7, 0.9)
        assert body["seed"] == outcomes[-1].insight["sampling"]["seed"]


def test_refused_and_empty_answers_are_retried_once_then_dead_lettered():
    with FaultServer() as server:
        # Request order is not fixed (concurrency 1 makes it so): batch of two, then retries.
        server.script("status:400", "empty", "status:400", "ok")
        outcomes = run(_fault_backend(server, concurrency=1), prompts(2, seed=33))
        assert isinstance(outcomes[0].error, GenerationFailed)
        assert "HTTP 400" in str(outcomes[0].error) and outcomes[0].tries == 2
        assert outcomes[1].insight is not None and outcomes[1].tries == 2


@pytest.mark.parametrize("script, why", [(("status:401",), "HTTP 401"),
                                         (("status:404",), "HTTP 404"),
                                         (("status:503",) * 3, "HTTP 503"),
                                         (("slow:2",) * 3, "APITimeoutError")])
def test_an_unavailable_server_stops_the_batch_instead_of_dead_lettering(script, why):
    with FaultServer() as server:
        server.script(*script)
        backend = _fault_backend(server, timeout_s=0.5, max_retries=2, concurrency=1)
        with pytest.raises(BackendUnavailable, match=why):
            run(backend, prompts(1, seed=34))


def test_closed_port_is_unavailable():
    backend = OpenAIBackend(OpenAIGenerateSettings(base_url=f"http://127.0.0.1:{free_port()}/v1",
                                                   max_retries=1, timeout_s=1.0))
    with pytest.raises(BackendUnavailable, match="APIConnectionError"):
        run(backend, prompts(1, seed=35))


# --- guards=llama.cpp: the decoding guards as llama-server's own samplers -----------------
# llama-server is a bench-only source build (bench/build_llama_cpp.sh), so the fault
# server stands in for it here, /tokenize included; bench/bench_drafts.py --llama-server
# runs the real one and counts what the guards change in the drafts.


def test_llama_cpp_guards_reach_the_server_as_its_sampler_fields():
    from kasper.agents.quality.prompts import stop_labels
    from tests.judge_fault_server import fake_tokenize

    with FaultServer() as server:
        settings = OpenAIGenerateSettings(base_url=server.base_url, model="m", guards="llama.cpp")
        outcomes = run(OpenAIBackend(settings), prompts(1, seed=5))
        assert outcomes[0].insight is not None, outcomes[0].error
        [chat] = [r["body"] for r in server.requests if r["path"].endswith("/chat/completions")]
        tokenized = [r["body"]["content"] for r in server.requests if r["path"].endswith("/tokenize")]

    assert chat["repeat_penalty"] == SETTINGS.repetition_penalty and chat["repeat_last_n"] == 64
    assert chat["dry_multiplier"] > 0 and chat["dry_penalty_last_n"] >= 2048  # loops and copies
    assert chat["stop"] == list(stop_labels(SETTINGS.template_version))
    # Only the words that are one token are biased (as the MLX engine does): " myself"
    # is two pieces here, and biasing them would push down "self" in "yourself" too.
    assert " myself" in tokenized and " I" in tokenized
    biased = {token for token, bias in chat["logit_bias"]}
    assert all(bias == SETTINGS.first_person_bias for _, bias in chat["logit_bias"])
    assert biased == {fake_tokenize(t)[0] for t in tokenized if len(fake_tokenize(t)) == 1}
    assert fake_tokenize(" I")[0] in biased and fake_tokenize(" myself")[1] not in biased  # "self"


def test_without_llama_cpp_guards_nothing_server_specific_is_sent():
    with FaultServer() as server:
        run(OpenAIBackend(OpenAIGenerateSettings(base_url=server.base_url, model="m")), prompts(1, seed=5))
        [chat] = [r["body"] for r in server.requests]
    assert not {"repeat_penalty", "dry_multiplier", "stop", "logit_bias"} & set(chat)


def test_llama_cpp_guards_without_a_server_that_tokenizes_stop_the_worker_with_the_reason():
    port = free_port()  # nothing listens there
    backend = OpenAIBackend(OpenAIGenerateSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m",
                                                   guards="llama.cpp", timeout_s=2))
    with pytest.raises(BackendUnavailable, match=r"did not tokenize for the guards.*GUARDS=llama.cpp"):
        asyncio.run(backend.start())
    with pytest.raises(BackendUnavailable, match="needs KASPER_GENERATE_OPENAI_BASE_URL"):
        asyncio.run(OpenAIBackend(OpenAIGenerateSettings(guards="llama.cpp")).start())
