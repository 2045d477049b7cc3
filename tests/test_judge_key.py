"""The judge key goes to the configured judge URL only, as an attacker would try it.

- ``OPENAI_API_KEY`` is the judge's key for OpenAI's own host over https, nowhere else:
  a look-alike host, plain http, or a server someone pointed KASPER_JUDGE_BASE_URL at
  gets the placeholder.
- Any real key over plain http to a host that is not loopback is refused unless
  KASPER_JUDGE_ALLOW_PLAINTEXT_KEY says so.
- The client follows no redirect: a judge answering 307 to another server does not
  pass the key (or anything) on.
Real loopback HTTP servers see the headers; no network leaves the machine.
"""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kasper.agents.judging.client import NO_KEY, JudgeClient, JudgeKeyRefused, api_key
from kasper.agents.judging.request import JudgeRequest
from kasper.streams.settings import JudgeSettings

from tests.judge_fault_server import FaultServer

ENV_KEY = "sk-openai-env-never-elsewhere"
JUDGE_KEY = "sk-judge-configured-only"


@pytest.fixture(autouse=True)
def _openai_key_in_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.parametrize("url", [
    "https://judge.example.com/v1", "https://api.openai.com.evil.example/v1",
    "https://evil.example/api.openai.com/v1", "http://api.openai.com/v1",
    "http://127.0.0.1:8080/v1", "https://api.openai.co/v1",
])
def test_the_environment_key_never_goes_to_a_host_that_is_not_openai(url):
    assert api_key(JudgeSettings(base_url=url)) == NO_KEY


def test_the_environment_key_goes_to_openai_over_https():
    assert api_key(JudgeSettings(base_url="https://api.openai.com/v1")) == ENV_KEY
    assert api_key(JudgeSettings()) == ENV_KEY  # unset: the openai client's own default, OpenAI


def test_openai_base_url_from_the_environment_is_checked_too(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example/v1")
    assert api_key(JudgeSettings()) == NO_KEY


@pytest.mark.parametrize("url", [
    "http://judge.internal:8000/v1", "http://10.0.0.5/v1", "http://127.0.0.1.evil.example/v1",
    "http://localhost.evil.example/v1", "http://[2001:db8::1]:8000/v1", "http://0.0.0.0:8000/v1",
])
def test_a_key_over_plain_http_to_a_host_that_is_not_loopback_is_refused(url):
    settings = JudgeSettings(base_url=url, api_key=JUDGE_KEY)
    with pytest.raises(JudgeKeyRefused) as refused:
        JudgeClient(settings)
    assert JUDGE_KEY not in str(refused.value) and "KASPER_JUDGE_ALLOW_PLAINTEXT_KEY" in str(refused.value)
    assert api_key(settings.updated(allow_plaintext_key=True)) == JUDGE_KEY


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/v1", "http://127.9.9.9/v1", "http://localhost:8080/v1",
    "http://[::1]:8080/v1", "https://judge.example.com/v1",
])
def test_a_key_goes_to_loopback_or_https(url):
    assert api_key(JudgeSettings(base_url=url, api_key=JUDGE_KEY)) == JUDGE_KEY


def _judge(settings: JudgeSettings):
    async def run():
        async with JudgeClient(settings) as client:
            try:
                return await client.judge(JudgeRequest("A text to judge."))
            except Exception as exc:  # the test inspects it
                return exc
    return asyncio.run(run())


def test_a_server_the_url_points_at_never_sees_the_environment_key():
    with FaultServer() as server:
        server.cycle("ok")
        _judge(JudgeSettings(base_url=server.base_url, model="m", cache_path=None, timeout_s=5))
        assert server.requests, "the judge was never called"
        seen = " ".join(str(r["headers"]) for r in server.requests)
    assert ENV_KEY not in seen and f"Bearer {NO_KEY}" in seen


class _Recorder(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.server.redirect_to:
            self.send_response(307)
            self.send_header("Location", self.server.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()


def _recorder(redirect_to: str | None = None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen, server.redirect_to = [], redirect_to
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_redirecting_judge_passes_the_key_nowhere():
    elsewhere = _recorder()
    judge = _recorder(redirect_to=f"http://127.0.0.1:{elsewhere.server_port}")
    try:
        out = _judge(JudgeSettings(base_url=f"http://127.0.0.1:{judge.server_port}/v1", model="m",
                                   api_key=JUDGE_KEY, cache_path=None, timeout_s=5, max_retries=0))
    finally:
        judge.shutdown()
        elsewhere.shutdown()
    assert judge.seen and judge.seen[0][1]["authorization"] == f"Bearer {JUDGE_KEY}"
    assert elsewhere.seen == []  # the redirect was not followed
    assert isinstance(out, Exception) and "307" in str(out) and JUDGE_KEY not in str(out)
