"""The LLM judge client: one insight in, five scores and a decision out, over the OpenAI API.

Any OpenAI-compatible chat-completions server works: OpenAI (GPT-5), vLLM/Ollama/
llama.cpp serving a GPT-OSS model, or the embedded ``mlx_lm.server``
(:mod:`kasper.agents.judging.server`).  What a server does not support is detected,
not configured per vendor: a 400 naming an optional parameter (``response_format``,
``logprobs``, ``temperature``, ``max_tokens``) drops or renames it for the
rest of the client's life.

What is sent is in :mod:`~kasper.agents.judging.request`; how the answer is read and
scored (text or logprobs) in :mod:`~kasper.agents.judging.parse`, the decision and its
cost in :mod:`~kasper.agents.judging.decision`; the verdict cache, rate limiter and
backoff helpers in :mod:`~kasper.agents.judging.limits`.  Its settings are the
``judge`` section of :mod:`kasper.streams.settings` (``KASPER_JUDGE_*``), taken as is.

Error policy (the error tree is in :mod:`~kasper.agents.judging.errors`; messages never
contain the API key: server text is scrubbed, and HTTP errors are raised ``from None``
because the openai exception's body may echo request headers).

Retried here with jittered exponential backoff: 408/409/429/5xx, timeouts, closed
connections and non-JSON bodies (``JudgeUnavailable`` once exhausted);
``Retry-After``/``retry-after-ms`` is honoured and pauses every request of the client.
Re-asked ``parse_retries`` times, a little warmer: unparseable or empty answers.
Not retried: refusals and other 4xx.  What the caller does with each error is the
role's policy (:mod:`kasper.agents.judge`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import httpx
import openai
from prometheus_client import Counter, Gauge, Histogram

from kasper.agents.judging.decision import JudgeResult, cost_usd, decide
from kasper.agents.judging.errors import JudgeError, JudgeRefused, JudgeRequestError, JudgeUnavailable
from kasper.agents.judging.limits import RateLimiter, VerdictCache, backoff_delay, retry_after_s
from kasper.agents.judging.parse import JudgeAnswer, interpret
from kasper.agents.judging.request import RESPONSE_FORMAT, JudgeRequest, build_messages
from kasper.streams.logs import get_logger
from kasper.streams.settings import JudgeSettings

log = get_logger(__name__)

REQUESTS = Counter("kasper_judge_requests_total", "HTTP calls to the judge, by outcome.", ["outcome"])
RETRIES = Counter("kasper_judge_retries_total", "Judge calls retried or re-asked, by reason.", ["reason"])
ERRORS = Counter("kasper_judge_errors_total", "Judge failures, by reason.", ["reason"])
LATENCY = Histogram("kasper_judge_request_seconds", "Duration of one judge HTTP call.",
                    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
TOKENS = Counter("kasper_judge_tokens_total", "Tokens billed by the judge.", ["kind"])
COST = Counter("kasper_judge_cost_usd_total", "Estimated judge spend in US dollars.")
IN_FLIGHT = Gauge("kasper_judge_in_flight", "Judge HTTP calls in flight.")
THROTTLED = Counter("kasper_judge_throttled_seconds_total", "Time spent waiting on the rate limiter.")


OPENAI_URL = "https://api.openai.com/v1"
# The hosts OPENAI_API_KEY belongs to: it is never sent anywhere else.
OPENAI_HOSTS = frozenset({"api.openai.com"})
NO_KEY = "no-key"  # local servers ignore the key; the openai client insists on one


class JudgeKeyRefused(JudgeError):
    """The configured judge URL would receive the key where it must not (plain http)."""


def judge_url(settings: JudgeSettings) -> str:
    """Where the client sends requests: ``KASPER_JUDGE_BASE_URL``, else what the openai
    client would pick itself (``OPENAI_BASE_URL``, else OpenAI)."""
    return settings.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_key(settings: JudgeSettings, url: str | None = None) -> str:
    """The key to send to ``url`` (default :func:`judge_url`): ``KASPER_JUDGE_API_KEY``;
    else ``OPENAI_API_KEY`` when ``url`` is OpenAI's own host; else a placeholder.

    A real key over plain http to a host that is not loopback is refused
    (``JudgeKeyRefused``) unless ``KASPER_JUDGE_ALLOW_PLAINTEXT_KEY`` is set.
    """
    parsed = httpx.URL(url or judge_url(settings))
    host = parsed.host.lower()
    if settings.api_key is not None and settings.api_key.get_secret_value():
        key, name = settings.api_key.get_secret_value(), "KASPER_JUDGE_API_KEY"
    elif parsed.scheme == "https" and host in OPENAI_HOSTS:
        key, name = os.environ.get("OPENAI_API_KEY") or "", "OPENAI_API_KEY"
    else:
        return NO_KEY
    if not key:
        return NO_KEY
    if parsed.scheme != "https" and not _loopback(host) and not settings.allow_plaintext_key:
        raise JudgeKeyRefused(
            f"the judge at {parsed.scheme}://{host} would get {name} in clear text: use https, "
            "or set KASPER_JUDGE_ALLOW_PLAINTEXT_KEY=true for a trusted network")
    return key


# --- the client --------------------------------------------------------------

_OPTIONAL = ("response_format", "logprobs", "temperature", "max_tokens", "max_completion_tokens")
_ALSO_MEANS = {"json_schema": "response_format", "top_logprobs": "logprobs"}
_UNSUPPORTED = re.compile(r"unsupported|not supported|does not support|unrecognized|unknown|not allowed|extra", re.I)


class _Transient(Exception):
    """A failure worth retrying (internal: never leaves this module)."""

    def __init__(self, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason, self.retry_after = reason, retry_after


class _Unsupported(Exception):
    def __init__(self, param: str) -> None:
        super().__init__(param)
        self.param = param


class JudgeClient:
    """Judges insights over an OpenAI-compatible API: rate-limited, bounded, retried, cached.

    ``async with JudgeClient(settings.judge, cache_dir=...) as judge: result = await judge.judge(request)``;
    verdicts persist under ``cache_dir`` (:meth:`JudgeSettings.cache_file`), else in memory only.
    """

    def __init__(self, settings: JudgeSettings, *, cache_dir: Path | None = None,
                 cache: VerdictCache | None = None) -> None:
        self.settings = settings
        self.cache = cache if cache is not None else VerdictCache(settings.cache_size,
                                                                  settings.cache_file(cache_dir))
        url = judge_url(settings)
        self._secret = api_key(settings, url)
        # No redirects: the key goes to the configured URL and nowhere else.
        self._api = openai.AsyncOpenAI(
            base_url=url, api_key=self._secret, timeout=settings.timeout_s, max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(follow_redirects=False))
        self._host = self._api.base_url.host + (f":{self._api.base_url.port}" if self._api.base_url.port else "")
        self._limiter = RateLimiter(settings.requests_per_minute, settings.tokens_per_minute)
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        self._dropped: set[str] = set()
        self._inflight: dict[str, asyncio.Future] = {}

    async def __aenter__(self) -> JudgeClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._api.close()
        self.cache.close()

    @property
    def dropped(self) -> frozenset[str]:
        """Optional parameters this server turned out not to support."""
        return frozenset(self._dropped)

    async def judge(self, request: JudgeRequest) -> JudgeResult:
        """The verdict for ``request``: from the cache, else from the model (see module docstring)."""
        started = time.perf_counter()
        key = request.cache_key(self.settings.model, "logprobs" if self._wants_logprobs() else "text")
        while (answer := self.cache.get(key)) is None and key in self._inflight:
            await asyncio.wait([self._inflight[key]])  # the same input is being judged: share it
        if answer is not None:
            return self._result(answer, started, (0, 0), cached=True)
        self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            answer, usage = await self._ask(request)
            self.cache.put(key, answer)
        finally:
            self._inflight.pop(key).set_result(None)
        return self._result(answer, started, usage)

    def _result(self, answer: JudgeAnswer, started: float, usage: tuple[int, int],
                cached: bool = False) -> JudgeResult:
        overall, decision, notes = decide(answer, self.settings.approve_threshold)
        return JudgeResult(answer, overall, decision, notes, self.settings.model, usage[0], usage[1],
                           cost_usd(self.settings, *usage), (time.perf_counter() - started) * 1000, cached)

    async def _ask(self, request: JudgeRequest) -> tuple[JudgeAnswer, tuple[int, int]]:
        used = (0, 0)
        for attempt in range(self.settings.parse_retries + 1):
            want_logprobs = self._wants_logprobs()
            body, usage = await self._complete(request, warmer=attempt > 0)
            used = (used[0] + usage[0], used[1] + usage[1])
            try:
                return interpret(body, want_logprobs), used
            except JudgeError as exc:
                ERRORS.labels(exc.reason).inc()
                if isinstance(exc, JudgeRefused) or attempt == self.settings.parse_retries:
                    raise
                RETRIES.labels(exc.reason).inc()
                log.info("judge answer unusable, asking again", reason=exc.reason, attempt=attempt + 1)
        raise AssertionError("unreachable")

    async def _complete(self, request: JudgeRequest, warmer: bool) -> tuple[dict, tuple[int, int]]:
        failures = 0
        while True:
            try:
                return await self._call(self._params(request, warmer))
            except _Unsupported as exc:
                self._drop(exc.param)
            except _Transient as exc:
                ERRORS.labels(exc.reason).inc()
                if failures >= self.settings.max_retries:
                    ERRORS.labels("unavailable").inc()
                    raise JudgeUnavailable(f"judge unavailable after {failures + 1} attempts; last: {exc}",
                                           reason=exc.reason) from None
                delay = backoff_delay(failures, self.settings.backoff_base_s, self.settings.backoff_max_s,
                                      exc.retry_after)
                if exc.retry_after is not None:
                    self._limiter.pause(delay)
                RETRIES.labels(exc.reason).inc()
                log.warning("judge call failed, retrying", reason=exc.reason, attempt=failures + 1,
                            retry_in_s=round(delay, 3), error=str(exc)[:300])
                failures += 1
                await asyncio.sleep(delay)

    async def _call(self, params: dict[str, Any]) -> tuple[dict, tuple[int, int]]:
        estimate = sum(len(m["content"]) for m in params["messages"]) / 4 + self.settings.max_tokens
        THROTTLED.inc(await self._limiter.acquire(estimate))
        async with self._slots:
            IN_FLIGHT.inc()
            started = time.perf_counter()
            try:
                raw = await self._api.chat.completions.with_raw_response.create(**params)
                text = raw.http_response.text
            except openai.APIError as exc:
                REQUESTS.labels("error").inc()
                raise self._translate(exc) from None
            finally:
                IN_FLIGHT.dec()
                LATENCY.observe(time.perf_counter() - started)
        try:
            body = json.loads(text)
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            REQUESTS.labels("error").inc()
            raise _Transient("bad_response", f"the judge ({self._host}) sent a body that is not a JSON "
                             f"object: {self._scrub(text[:120])!r}") from None
        REQUESTS.labels("ok").inc()
        return body, self._account(body, params, estimate)

    def _account(self, body: dict, params: dict, estimate: float) -> tuple[int, int]:
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        if not isinstance(prompt, int) or not isinstance(completion, int):  # ~4 chars a token: never bill 0
            choice = (body.get("choices") or [{}])[0]
            content = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
            prompt = int(sum(len(m["content"]) for m in params["messages"]) / 4)
            completion = int(len(content or "") / 4)
        TOKENS.labels("prompt").inc(prompt)
        TOKENS.labels("completion").inc(completion)
        COST.inc(cost_usd(self.settings, prompt, completion))
        self._limiter.settle(estimate, prompt + completion)
        return prompt, completion

    def _wants_logprobs(self) -> bool:
        return self.settings.score_mode == "logprobs" and "logprobs" not in self._dropped

    def _params(self, request: JudgeRequest, warmer: bool) -> dict[str, Any]:
        c, dropped = self.settings, self._dropped
        params: dict[str, Any] = {"model": c.model, "messages": build_messages(request)}
        limit = "max_completion_tokens" if "max_tokens" in dropped else "max_tokens"
        if limit not in dropped:
            params[limit] = c.max_tokens
        if "temperature" not in dropped:  # a re-ask must not repeat a greedy answer word for word
            params["temperature"] = max(c.temperature, 0.7) if warmer else c.temperature
        if c.structured_output and "response_format" not in dropped:
            params["response_format"] = RESPONSE_FORMAT
        if self._wants_logprobs():
            params.update(logprobs=True, top_logprobs=c.top_logprobs)
        return params

    def _drop(self, param: str) -> None:
        if param in self._dropped:  # dropped already and still refused: not a capability issue
            raise JudgeRequestError(f"the judge ({self._host}) keeps refusing parameter {param!r}",
                                    reason="bad_request")
        self._dropped.add(param)
        RETRIES.labels("unsupported_parameter").inc()
        log.warning("judge server does not support a parameter: dropped", param=param, host=self._host)

    def _translate(self, exc: openai.APIError) -> Exception:
        if isinstance(exc, openai.APITimeoutError):
            return _Transient("timeout", f"the judge ({self._host}) did not answer within {self.settings.timeout_s}s")
        if not isinstance(exc, openai.APIStatusError):
            return _Transient("connection", f"cannot reach the judge ({self._host}): {type(exc).__name__}")
        status, headers = exc.status_code, exc.response.headers
        said = exc.body.get("message") if isinstance(exc.body, dict) else None
        where = f"the judge ({self._host}) answered HTTP {status}: {self._scrub(str(said or exc.message))[:300]}"
        if status == 429:
            return _Transient("rate_limited", where, retry_after_s(headers))
        if status in (408, 409) or status >= 500:
            return _Transient("server_error", where, retry_after_s(headers))
        if status in (401, 403, 404):
            ERRORS.labels("auth" if status != 404 else "not_found").inc()
            return JudgeUnavailable(where, reason="auth" if status != 404 else "not_found")
        param = self._unsupported_param(exc) if status in (400, 422) else None
        if param:
            return _Unsupported(param)
        ERRORS.labels("bad_request").inc()
        return JudgeRequestError(where, reason="bad_request")

    @staticmethod
    def _unsupported_param(exc: openai.APIStatusError) -> str | None:
        body = exc.body if isinstance(exc.body, dict) else {}
        named = body.get("param") if isinstance(body.get("param"), str) else ""
        message = str(exc.message)
        for word in (*_OPTIONAL, *_ALSO_MEANS):
            if word == named or (word in message and _UNSUPPORTED.search(message)):
                return _ALSO_MEANS.get(word, word)
        return None

    def _scrub(self, text: str) -> str:
        """Server text without the key, even when a proxy echoes request headers back."""
        if len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return re.sub(r"(?i)(bearer\s+)[^\s\"',}]+", r"\1***", text)
