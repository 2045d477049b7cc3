"""The generate stage's logic: prompt events in, one Insight (or one reason) per prompt out.

No Kafka here: :class:`Generator` takes decoded PromptEvents and returns one
:class:`Outcome` per prompt, in order; the agent (``agents/generate.py``) sends
them. ``insight_id`` is a UUID-5 of prompt id + attempt, nothing that can change
between two deliveries of the same prompt (a hot-swapped model version does not),
so a redelivered prompt gets the same id (consumers dedupe by it); its seed, derived
from the id, makes the sampled text reproducible too.

What helps a small model write well goes into each request (docs/stages.md): the
few-shot exemplars of the prompt's domain (:mod:`kasper.agents.quality.exemplars`),
counted as the cacheable prefix with the system message, and the decoding guards
of the prompt's tier (``GenerateSettings``: repetition penalty, loop, copy and label
stops). The exemplar set's id is recorded in the Insight.

Error policy, per prompt:

- not fit for a model (unknown domain, empty or oversized context, an attempt to
  override the instructions) -> ``PromptRejected``, dead-lettered, never generated;
- the batch raised ``GenerationError`` or the text came back empty -> generated
  again on its own with the next seed; failing twice -> ``GenerationFailed``,
  dead-lettered with both reasons;
- a guard stopped the row at its first token (it opened with a field label or a
  copy of the prompt) -> generated again with the next seed: by the backend inside
  its running batch where it can (``GenRequest.redraw_seed``, the MLX engine), else
  in one batch with the batch's other such drafts; if the second draw fails too,
  the first text is kept (graded and sent back, like any weak draft);
- ``BackendUnavailable`` and anything unexpected propagate: the agent stops the
  worker without committing, and the batch is generated again after a restart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from kasper.agents.runtime.backend import (START_TOKENS, Backend, GenerationError, GenRequest, GenResult,
                                           Served)
from kasper.agents.quality.exemplars import ExemplarBook
from kasper.agents.quality.prompts import PromptRejected
from kasper.agents.runtime.prompting import chat, derive_seed, request_for, tier_sampling
from kasper.schemas.errors import KasperError
from kasper.streams import records
from kasper.streams.logs import get_logger
from kasper.streams.settings import GenerateSettings

# Fixed forever: changing it would change every insight_id.
INSIGHT_NAMESPACE = uuid.UUID("5f1d7c2e-3b4a-4e8f-9a61-7c0d2e4b8a13")

TOKENS = Counter("kasper_generate_tokens_total", "Tokens read and written by the generator.",
                 ["backend", "kind"])
TOKENS_PER_SECOND = Gauge("kasper_generate_tokens_per_second",
                          "Completion tokens per wall-clock second of the last batch.", ["backend"])
BATCH_SIZE = Histogram("kasper_generate_batch_size", "Prompts per generation batch.",
                       buckets=(1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128))
BATCH_SECONDS = Histogram("kasper_generate_batch_seconds", "Wall-clock time of one generation batch.",
                          buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300))
LATENCY = Histogram("kasper_generate_latency_seconds",
                    "Time from the start of its batch until an insight's text was complete.",
                    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300))
QUEUE_DEPTH = Gauge("kasper_generate_queue_depth",
                    "Prompts waiting behind the current batch on the partitions it read.")
ERRORS = Counter("kasper_generate_errors_total", "Generation problems, by reason.", ["reason"])

log = get_logger(__name__)

# (insight_id, prompt_id, index, delta, done); may be called from the generation thread.
DeltaSink = Callable[[str, str, int, str, bool], None]


class GenerationFailed(KasperError):
    """Generation errored or returned empty text on every try."""


def insight_id(prompt_id: str, attempt: int) -> str:
    """The deterministic id of the insight for this prompt attempt."""
    return str(uuid.uuid5(INSIGHT_NAMESPACE, f"{prompt_id}\x1f{attempt}"))


@dataclass
class Outcome:
    """What became of one prompt: an Insight record, or the error to dead-letter it with."""

    prompt: dict[str, Any]
    insight: dict[str, Any] | None = None
    error: KasperError | None = None
    tries: int = 0
    early: bool = False  # given to ``on_insight`` before its batch was done


@dataclass
class _Planned:
    index: int
    request: GenRequest
    insight_id: str
    served: Served
    exemplar_set: str | None = None
    first_error: str = ""
    # The text a guard stopped at its first token: kept if the retry fails, and then
    # its held-back token deltas are sent.
    fallback: GenResult | None = None
    release: Callable[[], None] = lambda: None


class Generator:
    """Turns a batch of PromptEvents into Insights with a backend (see the module doc)."""

    def __init__(self, backend: Backend, settings: GenerateSettings | None = None,
                 exemplars: ExemplarBook | None = None) -> None:
        self.backend = backend
        self.settings = s = settings or GenerateSettings()
        self.exemplars = exemplars if exemplars is not None else ExemplarBook(s.exemplars)
        self.sampling = {tier: tier_sampling(s, tier) for tier in ("lite", "standard", "pro")}

    async def run(self, prompts: list[dict[str, Any]], on_delta: DeltaSink | None = None,
                  on_insight: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """One Outcome per prompt, in order.

        ``on_insight`` gets each outcome whose insight is final on its first try as soon as
        its row is done (in the event loop), while the batch's other rows still generate: the
        next stages need not wait for the batch's longest row. The rest (drawn again,
        retried, failed) are only in the returned list.
        """
        outcomes = [Outcome(p) for p in prompts]
        planned = [p for p in (self._plan(i, o) for i, o in enumerate(outcomes)) if p is not None]
        if planned:
            BATCH_SIZE.observe(len(planned))
            started = time.perf_counter()
            retry = await self._generate(planned, outcomes, on_delta, tries=1, on_insight=on_insight)
            # Drafts a guard stopped at once are drawn again together; a failure is
            # retried alone, so one bad prompt cannot fail the others twice.
            stopped = [item for item in retry if item.fallback is not None]
            if stopped:
                await self._retry(stopped, outcomes, on_delta)
            for item in retry:
                if item.fallback is None:
                    await self._retry([item], outcomes, on_delta)
            self._observe_batch(outcomes, time.perf_counter() - started)
        return outcomes

    def chat(self, prompt: dict[str, Any]) -> tuple[str | None, int, list[dict[str, str]]]:
        """The exemplar set's id, how many exemplars it shows, and the chat messages for
        ``prompt``; ``PromptRejected`` when the prompt cannot be templated."""
        return chat(prompt, self.settings, self.exemplars)

    def _plan(self, index: int, outcome: Outcome) -> _Planned | None:
        prompt = outcome.prompt
        ident = insight_id(prompt["prompt_id"], prompt.get("attempt") or 0)
        try:
            # The tier is an Avro enum of exactly these three: every one has its sampling.
            set_id, request = request_for(prompt, ident, self.settings, self.exemplars,
                                          self.sampling[prompt["tier"]])
        except PromptRejected as exc:
            ERRORS.labels("rejected").inc()
            outcome.error = exc
            return None
        return _Planned(index, request, ident, self.backend.serving(prompt["tier"]), set_id)

    async def _generate(self, planned: list[_Planned], outcomes: list[Outcome],
                        on_delta: DeltaSink | None, tries: int,
                        on_insight: Callable[[Outcome], None] | None = None) -> list[_Planned]:
        """Generate ``planned`` as one batch; returns those to try again."""
        relay = None if on_delta is None else _Relay(planned, outcomes, on_delta)
        requests = [p.request for p in planned]
        try:
            if on_insight is None:
                results = await self.backend.generate(requests, relay)
            else:
                early = partial(self._early, planned, outcomes, relay, tries, on_insight)
                results = await self.backend.generate(requests, relay, on_result=early)
        except GenerationError as exc:
            ERRORS.labels("generation_error").inc(len(planned))
            log.warning("generation failed", prompts=len(planned), error=str(exc)[:300])
            results = [exc] * len(planned)
        failed = []
        for row, (item, result) in enumerate(zip(planned, results)):
            if outcomes[item.index].early:
                continue
            _count_tries(outcomes[item.index], result, tries)
            usable = isinstance(result, GenResult) and result.text.strip()
            release = (lambda: None) if relay is None else partial(relay.release, row)
            if _final(result):
                outcomes[item.index].insight = self._insight(item, outcomes[item.index].prompt, result)
                release()
                continue
            if usable:
                ERRORS.labels("stopped_at_start").inc()
                item.fallback, item.release = result, release
                item.first_error = f"{result.finish_reason} guard at the first token"
            elif isinstance(result, GenResult):
                ERRORS.labels("empty_text").inc()
                item.first_error = "empty text"
            else:
                item.first_error = str(result)
            failed.append(item)
        return failed

    def _early(self, planned: list[_Planned], outcomes: list[Outcome], relay: "_Relay | None", tries: int,
               on_insight: Callable[[Outcome], None], row: int, result: GenResult) -> None:
        """A row done before its batch: its insight now, if it is final (kept as drawn)."""
        item, outcome = planned[row], outcomes[planned[row].index]
        if not _final(result):
            return  # tried again once the batch is done
        _count_tries(outcome, result, tries)
        outcome.insight, outcome.early = self._insight(item, outcome.prompt, result), True
        if relay is not None:
            relay.release(row)
        on_insight(outcome)

    async def _retry(self, items: list[_Planned], outcomes: list[Outcome], on_delta: DeltaSink | None) -> None:
        """Once more, as one batch with fresh seeds; then keep a stopped draft or give up
        with both reasons."""
        again = [_Planned(item.index, replace(item.request, seed=derive_seed(item.insight_id, retry=1), redraw_seed=None),
                          item.insight_id, item.served, item.exemplar_set) for item in items]
        failed = {retry.index: retry for retry in await self._generate(again, outcomes, on_delta, tries=2)}
        for item in items:
            retry = failed.get(item.index)
            if retry is None:
                continue
            kept = next((tried for tried in (item, retry) if tried.fallback is not None), None)
            if kept is not None:
                outcomes[item.index].insight = self._insight(kept, outcomes[item.index].prompt, kept.fallback)
                kept.release()
                continue
            ERRORS.labels("dead_lettered").inc()
            outcomes[item.index].error = GenerationFailed(
                f"no text after 2 tries: first: {item.first_error[:300]}; retry: {retry.first_error[:300]}")

    def _insight(self, item: _Planned, prompt: dict[str, Any], result: GenResult) -> dict[str, Any]:
        sampling = item.request.sampling
        # The version that wrote it (a canary split picks one per prompt): live numbers
        # and feedback are attributed by this field.
        served = result.served or item.served
        return {
            "insight_id": item.insight_id,
            "prompt_id": prompt["prompt_id"],
            "attempt": prompt.get("attempt") or 0,
            "domain": prompt["domain"],
            "tier": prompt["tier"],
            "text": result.text.strip(),
            "model": served.model,
            "adapter_version": served.adapter_version,
            "template_version": self.settings.template_version,
            "exemplar_set": item.exemplar_set,
            "sampling": {"temperature": sampling.temperature, "top_p": sampling.top_p,
                         "max_tokens": sampling.max_tokens,
                         "seed": result.seed if result.seed is not None else item.request.seed,
                         "repetition_penalty": sampling.repetition_penalty if self.backend.name == "mlx" else None},
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "latency_ms": round(result.latency_ms, 3),
            "trace_id": prompt["trace_id"],
            "created_at": records.now(),
            "prompt": prompt,
        }

    def _observe_batch(self, outcomes: list[Outcome], seconds: float) -> None:
        made = [o.insight for o in outcomes if o.insight is not None]
        completion = sum(i["completion_tokens"] for i in made)
        backend = self.backend.name
        TOKENS.labels(backend, "prompt").inc(sum(i["prompt_tokens"] for i in made))
        TOKENS.labels(backend, "completion").inc(completion)
        TOKENS_PER_SECOND.labels(backend).set(completion / seconds if seconds > 0 else 0.0)
        BATCH_SECONDS.observe(seconds)
        for insight in made:
            LATENCY.observe(insight["latency_ms"] / 1000.0)
        log.info("batch generated", backend=backend, prompts=len(outcomes), insights=len(made),
                 completion_tokens=completion, seconds=round(seconds, 2),
                 tokens_per_s=round(completion / seconds, 1) if seconds > 0 else None)


def _final(result: GenResult | GenerationError) -> bool:
    """Whether ``result`` is kept as it is: text, and not stopped at its first token (unless
    that was already its second draw)."""
    return (isinstance(result, GenResult) and bool(result.text.strip())
            and (not result.stopped_at_start or result.draws > 1))


def _count_tries(outcome: Outcome, result: GenResult | GenerationError, tries: int) -> None:
    outcome.tries = tries
    if isinstance(result, GenResult) and result.draws > 1:
        # The backend drew it again itself, inside its running batch.
        ERRORS.labels("stopped_at_start").inc()
        outcome.tries = tries + result.draws - 1


class _Relay:
    """Backend deltas (request index) -> sink deltas (insight id, running index per insight).

    A row's first ``START_TOKENS`` deltas are held back: until then a guard can still
    stop it at its start and have it drawn again, and a reader of the stream should
    see only the draw that is kept. Held deltas go out once the row passes that
    point, or when its result is kept (:meth:`release`); a redrawn row's are dropped.
    """

    def __init__(self, planned: list[_Planned], outcomes: list[Outcome], sink: DeltaSink) -> None:
        self.planned, self.outcomes, self.sink = planned, outcomes, sink
        self.held: list[list[tuple[str, bool]]] = [[] for _ in planned]
        self.live = [False] * len(planned)
        self.sent = [0] * len(planned)

    def __call__(self, row: int, delta: str, done: bool) -> None:
        if self.live[row]:
            self._send(row, delta, done)
            return
        self.held[row].append((delta, done))
        if not done and len(self.held[row]) > START_TOKENS:
            self.release(row)

    def release(self, row: int) -> None:
        """Send what ``row`` has held back, and stream the rest as it comes."""
        self.live[row] = True
        held, self.held[row] = self.held[row], []
        for delta, done in held:
            self._send(row, delta, done)

    def _send(self, row: int, delta: str, done: bool) -> None:
        item = self.planned[row]
        self.sink(item.insight_id, self.outcomes[item.index].prompt["prompt_id"], self.sent[row], delta, done)
        self.sent[row] += 1
