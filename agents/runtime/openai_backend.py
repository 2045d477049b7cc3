"""The OpenAI-compatible backend: the same chat prompts sent to any chat-completions server.

OpenAI itself, or a GPT-OSS model behind vLLM, Ollama or llama.cpp's server, or
``mlx_lm.server``. Every tier is served by the configured model; ModelVersion
events (local LoRA adapters) do not apply to it and are ignored, canaries too: the
server has one model and no adapter versions to split a tier between, so a canary
event is logged as ignored and every insight names the configured model with no
adapter version (the live watch counts them as the base model's).

With ``guards="llama.cpp"`` the decoding guards go along as llama-server's own
sampler fields (:func:`llama_cpp_samplers`); other servers would refuse them, so
they are sent only then.

Concurrency is bounded by a semaphore (``concurrency`` requests in flight per
worker); each request has a timeout. Error policy, per request:

- 408/409/429/5xx, timeouts and connection errors: retried ``max_retries`` times
  with jittered exponential backoff (at least the server's ``Retry-After``); when
  they run out -> :class:`BackendUnavailable` (the worker stops, nothing is lost);
- 401/403/404 (key, permissions, model name): :class:`BackendUnavailable` at once;
- any other 4xx: the server refused this prompt -> :class:`GenerationError`
  (the stage retries it once, then dead-letters it).

Error messages carry the status and the exception type, never the request
headers (the API key).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
import openai

from kasper.agents.runtime.backend import (
    FIRST_PERSON,
    BackendUnavailable,
    GenerationError,
    GenRequest,
    GenResult,
    OnDelta,
    OnResult,
    Sampling,
    Served,
)
from kasper.streams.logs import get_logger
from kasper.streams.settings import OpenAIGenerateSettings

BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 20.0
_RETRYABLE_STATUS = {408, 409, 429}
_FATAL_STATUS = {401, 403, 404}

log = get_logger(__name__)


def llama_cpp_samplers(s: Sampling, first_person_ids: tuple[int, ...] = ()) -> dict[str, Any]:
    """The decoding guards (agents/runtime/guards.py) as llama-server's own sampler fields.

    llama.cpp has no guard that stops a row, so each becomes the nearest sampler:
    the repetition penalty as ``repeat_penalty`` over the last 64 tokens; the loop and
    copy guards as DRY, which penalizes a token that would extend a sequence already
    in the context (the prompt included, so copies too); the template labels as stop
    strings; the first-person bias as ``logit_bias`` on ``first_person_ids``, the
    words that are one token in the server's vocabulary, as the MLX engine does
    (:func:`single_token_ids`; a string would bias every piece of " myself", "self"
    too). A guard turned off (1.0 / 0 / empty) sends nothing.
    """
    body: dict[str, Any] = {}
    if s.repetition_penalty != 1.0:
        body.update(repeat_penalty=s.repetition_penalty, repeat_last_n=64)
    if s.loop_ngram or s.copy_ngram:
        # llama.cpp's suggested DRY values, over the last 4,096 tokens: the whole prompt and
        # draft (its chat endpoint refuses -1, "the whole context").
        body.update(dry_multiplier=0.8, dry_base=1.75, dry_allowed_length=2, dry_penalty_last_n=4096)
    if s.stop_at_labels:
        body["stop"] = list(s.stop_at_labels)
    if s.first_person_bias and first_person_ids:
        body["logit_bias"] = [[token, s.first_person_bias] for token in first_person_ids]
    return body


async def single_token_ids(base_url: str, texts: Sequence[str], timeout_s: float) -> tuple[int, ...]:
    """The ids of ``texts`` that are one token, from llama-server's ``/tokenize``."""
    root = base_url.rstrip("/").removesuffix("/v1")
    ids = set()
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        for text in texts:
            response = await client.post(f"{root}/tokenize", json={"content": text})
            response.raise_for_status()
            if len(tokens := response.json()["tokens"]) == 1:
                ids.add(tokens[0])
    return tuple(sorted(ids))


class OpenAIBackend:
    """Chat completions against an OpenAI-compatible server, bounded and retried."""

    name = "openai"

    def __init__(self, settings: OpenAIGenerateSettings | None = None) -> None:
        self.settings = settings or OpenAIGenerateSettings()
        self._client: openai.AsyncOpenAI | None = None
        self._slots = asyncio.Semaphore(max(1, self.settings.concurrency))
        self.retries = 0  # requests retried, for tests and logs
        self._first_person: tuple[int, ...] = ()  # guards=llama.cpp: one-token first-person words

    async def start(self) -> None:
        s = self.settings
        key = s.api_key.get_secret_value() if s.api_key else None
        # Local servers need no key, but the client insists on one.
        self._client = openai.AsyncOpenAI(base_url=s.base_url, api_key=key or "no-key",
                                          timeout=s.timeout_s, max_retries=0)
        if s.guards == "llama.cpp":
            if not s.base_url:
                raise BackendUnavailable("KASPER_GENERATE_OPENAI_GUARDS=llama.cpp needs "
                                         "KASPER_GENERATE_OPENAI_BASE_URL: the llama-server to call")
            try:
                self._first_person = await single_token_ids(s.base_url, FIRST_PERSON, s.timeout_s)
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise BackendUnavailable(
                    f"llama-server at {s.base_url} did not tokenize for the guards "
                    f"(KASPER_GENERATE_OPENAI_GUARDS=llama.cpp): {type(exc).__name__}: {exc}") from None

    def serving(self, tier: str) -> Served:
        return Served(self.settings.model, None)

    async def apply_version(self, version: dict[str, Any]) -> Served | None:
        """LoRA adapters are local files: nothing to swap on a remote server."""
        if version.get("canary_share"):
            log.warning("canary ignored: the openai-compatible backend serves one model for every tier",
                        tier=version.get("tier"), version=version.get("version"),
                        canary_share=version.get("canary_share"), model=self.settings.model)
        return None

    async def generate(self, requests: list[GenRequest], on_delta: OnDelta | None = None,
                       on_result: OnResult | None = None) -> list[GenResult]:
        """All requests concurrently (at most ``concurrency`` in flight), results in order;
        each to ``on_result`` as soon as it is answered."""
        if self._client is None:
            await self.start()
        tasks = [self._reported(i, r, on_delta, on_result) for i, r in enumerate(requests)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:  # an outage first, then anything unexpected
            if isinstance(result, BackendUnavailable):
                raise result
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, GenerationError):
                raise result
        return list(results)  # GenerationErrors stay in place: they fail their request only

    async def _reported(self, index: int, request: GenRequest, on_delta: OnDelta | None,
                        on_result: OnResult | None) -> GenResult:
        result = await self._one(index, request, on_delta)
        if on_result is not None:
            on_result(index, result)
        return result

    async def _one(self, index: int, request: GenRequest, on_delta: OnDelta | None) -> GenResult:
        params = {
            "model": self.settings.model,
            "messages": request.messages,
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "max_tokens": request.sampling.max_tokens,
            "seed": request.seed,
        }
        if self.settings.guards == "llama.cpp":
            params["extra_body"] = llama_cpp_samplers(request.sampling, self._first_person)
        async with self._slots:
            for attempt in range(self.settings.max_retries + 1):
                started = time.perf_counter()
                try:
                    if on_delta is None:
                        return await self._complete(params, started)
                    return await self._stream(params, started, lambda d, done: on_delta(index, d, done))
                except openai.APIError as exc:
                    delay = self._retry_delay(exc, attempt)
                    if delay is None:
                        raise _translate(exc) from None
                    self.retries += 1
                    log.warning("openai retry", attempt=attempt + 1, delay_s=round(delay, 2),
                                error=_describe(exc))
                    await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _complete(self, params: dict[str, Any], started: float) -> GenResult:
        assert self._client is not None
        response = await self._client.chat.completions.create(**params)
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        usage = response.usage
        return GenResult(text.strip(), usage.prompt_tokens if usage else 0,
                         usage.completion_tokens if usage else 0,
                         (time.perf_counter() - started) * 1000.0,
                         (choice.finish_reason if choice else None) or "stop")

    async def _stream(self, params: dict[str, Any], started: float, emit: Any) -> GenResult:
        assert self._client is not None
        stream = await self._client.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True})
        parts, usage, finish = [], None, "stop"
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                if choice.delta and choice.delta.content:
                    parts.append(choice.delta.content)
                    emit(choice.delta.content, False)
        emit("", True)
        return GenResult("".join(parts).strip(), usage.prompt_tokens if usage else 0,
                         usage.completion_tokens if usage else len(parts),
                         (time.perf_counter() - started) * 1000.0, finish)

    def _retry_delay(self, exc: openai.APIError, attempt: int) -> float | None:
        """Seconds to wait before retrying ``exc``, or None when it must not be retried."""
        status = getattr(exc, "status_code", None)
        transient = isinstance(exc, openai.APIConnectionError) or (
            status is not None and (status in _RETRYABLE_STATUS or status >= 500))
        if not transient or attempt >= self.settings.max_retries:
            return None
        delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** attempt) * random.uniform(0.5, 1.0)
        return max(delay, _retry_after(exc))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _retry_after(exc: openai.APIError) -> float:
    response = getattr(exc, "response", None)
    raw = response.headers.get("retry-after") if response is not None else None
    try:
        return min(float(raw), BACKOFF_MAX_S * 3) if raw else 0.0
    except ValueError:  # an HTTP date: fall back to our own backoff
        return 0.0


def _describe(exc: openai.APIError) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")


def _translate(exc: openai.APIError) -> Exception:
    """Our error for an openai error that will not be retried (see the module docstring)."""
    status = getattr(exc, "status_code", None)
    what = _describe(exc)
    if status is None or status in _FATAL_STATUS or status in _RETRYABLE_STATUS or status >= 500:
        return BackendUnavailable(f"openai-compatible server unavailable: {what}")
    body = getattr(exc, "message", "") or ""
    return GenerationError(f"openai-compatible server refused the prompt: {what}: {body[:300]}")
