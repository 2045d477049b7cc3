"""The judge against the real embedded judge: mlx_lm.server with the prepared SmolLM2-135M.

One server for the module; answers are kept short (``EMBEDDED_MAX_TOKENS``).  The
model is the session's ``shipped_model``, away from the user's own cache.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from kasper.agents.judge import JudgeRole
from kasper.agents.judging.client import JudgeClient
from kasper.agents.judging.request import JudgeRequest
from kasper.agents.judging.server import EmbeddedJudgeServer, JudgeServerError
from kasper.schemas import Codec
from kasper.schemas.samples import sample_record
from kasper.streams.settings import JudgeSettings, ModelSettings

from tests.helpers import alive, cache_holding

pytestmark = pytest.mark.model

TEXTS = [
    "Your Pisces sun and Cancer moon make you feel everything twice. This week, before answering a "
    "hard message, breathe slowly for one minute and name the feeling out loud.",
    "Everything happens for a reason. Trust the universe and good things will come.",
    "As a Life Path 7 you learn by questioning. Tonight, write three questions you are afraid to ask "
    "about your work, and answer one of them honestly.",
    "The Tower card is not a punishment. When plans collapse, list what still stands, and choose "
    "one small thing to rebuild on Saturday morning.",
]


@pytest.fixture(scope="module")
def model_settings(tmp_path_factory, shipped_model) -> ModelSettings:
    return ModelSettings(cache_dir=cache_holding(tmp_path_factory.mktemp("judge-cache"), shipped_model),
                         model=None)


@pytest.fixture(scope="module")
def server(shipped_model):
    with EmbeddedJudgeServer(shipped_model) as running:
        yield running
    assert not alive(running._proc.pid if running._proc else 0)


def local_config(server: EmbeddedJudgeServer, **overrides) -> JudgeSettings:
    return server.judge_settings(JudgeSettings(cache_path=None, timeout_s=120, **overrides))


def test_the_server_runs_the_prepared_model_on_loopback(server, shipped_model):
    assert server.base_url.startswith("http://127.0.0.1:") and server.running()
    # Status only: mlx_lm.server sends 200 and then fails to list models (empty body) when
    # no Hugging Face cache directory exists.
    assert httpx.get(f"{server.base_url}/models", timeout=10).status_code == 200
    answer = httpx.post(f"{server.base_url}/chat/completions", timeout=60, json={
        "model": server.model, "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]})
    assert answer.json()["model"] == str(shipped_model.resolve())


def test_logprob_verdicts_from_the_local_model(server):
    async def run():
        async with JudgeClient(local_config(server, concurrency=4)) as client:
            results = await asyncio.gather(*(client.judge(JudgeRequest(t, "astrology")) for t in TEXTS))
            return results, client.dropped
    results, dropped = asyncio.run(run())
    assert not dropped  # mlx_lm.server accepts (and ignores) response_format; logprobs work
    for result in results:
        assert result.answer.score_mode == "logprobs"
        assert all(1 <= s <= 10 for s in result.answer.scores.values())
        assert result.recommendation in ("APPROVE", "REVISE", "REJECT")
        assert result.prompt_tokens > 300 and 0 < result.completion_tokens <= 64 and result.cost_usd == 0
    # Weighted scores are expectations, not the integers the model wrote.
    assert any(s != int(s) for r in results for s in r.answer.scores.values())


def test_with_the_server_engine_the_role_starts_and_stops_the_embedded_one(shipped_model, model_settings):
    grade = sample_record("Grade")

    async def run():
        role = JudgeRole(JudgeSettings(base_url=None, cache_path=None, score_mode="text", engine="server"),
                         model_settings)
        try:
            outputs = await role.process(grade)
            return outputs, role._server.pid
        finally:
            await role.aclose()
    [(topic, verdict)], pid = asyncio.run(run())
    assert not alive(pid)
    assert verdict["score_mode"] == "text" and verdict["judge_model"] == str(shipped_model.resolve())
    assert all(float(s).is_integer() for s in verdict["scores"].values())
    assert verdict["usage"]["completion_tokens"] <= 64 and verdict["cost_usd"] == 0
    Codec().encode("Verdict", verdict)


def test_stopping_is_clean_and_a_killed_parent_leaves_no_orphan(shipped_model, tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from kasper.agents.judging.server import EmbeddedJudgeServer
        server = EmbeddedJudgeServer({str(shipped_model)!r}, warm_up=False, log_dir={str(tmp_path)!r}).start()
        print("PID", server.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = ""
        while not line.startswith("PID "):  # structlog writes its lines to stdout too
            line = parent.stdout.readline()
            assert line, "the parent died before starting the server"
        child = int(line.split()[1])
        assert alive(child)
        parent.send_signal(signal.SIGKILL)  # no cleanup code runs: only the kernel can help
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child), "the judge server outlived its parent"
    finally:
        parent.kill()

    server = EmbeddedJudgeServer(shipped_model, warm_up=False).start()
    pid = server.pid
    assert server.stop() == -signal.SIGTERM and not alive(pid) and not server.running()


def test_a_server_that_cannot_serve_the_model_fails_to_start_with_its_log(tmp_path):
    (tmp_path / "config.json").write_text("{}")  # a directory that is no model
    with pytest.raises(JudgeServerError) as caught:
        EmbeddedJudgeServer(tmp_path, start_timeout_s=60, log_dir=tmp_path / "logs").start()
    assert "warm-up" in str(caught.value) and str(tmp_path) in str(caught.value)
    assert list((tmp_path / "logs").glob("kasper-judge-server-*.log"))  # kept: it explains the failure
