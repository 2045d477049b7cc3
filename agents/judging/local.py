"""The local judge: verdicts from the worker's own copy of the model, scored in a prefill.

With ``KASPER_JUDGE_BASE_URL`` unset and ``KASPER_JUDGE_ENGINE=prefill`` (the default)
the judge role uses :class:`LocalJudge` where it would use :class:`JudgeClient`: same
call (``await judge(request)`` -> ``JudgeResult``), same verdict cache, same decision
policy, same errors.  No second process, no HTTP, no JSON decoding:

- the model is resolved and loaded through :mod:`kasper.agents.runtime.model_store` on
  the judge's own :class:`MLXThread` at the first verdict, and the rubric prefix's KV
  cache is computed once (:mod:`~kasper.agents.judging.prefill`);
- verdicts asked for while a batch is being scored wait and go together in the next
  one (up to ``KASPER_JUDGE_CONCURRENCY`` insights per batch);
- the answer: each criterion's expected score from the score tokens' probabilities
  (``score_mode`` ``logprobs``), the safety flag the model found most likely, no
  recommendation of its own (the decision policy decides from the scores, floor and
  flag: :mod:`~kasper.agents.judging.decision`), a templated rationale and no notes
  (a REVISE gets the policy's notes naming the two weakest criteria);
- the cache key names the model and this engine's version, so answers read from a
  decoded server answer are never served for it, nor the other way round.

Error policy (the role's policy, :mod:`kasper.agents.judge`, decides what follows):

- a model that cannot be found, prepared or loaded, or a tokenizer that cannot write
  scores as single tokens (``ModelError``) -> ``JudgeUnavailable`` (reason
  ``embedded_start``): not the record's fault, the record is held and the load is
  tried again at the next ask;
- a batch that fails in MLX is scored again one insight at a time, so one bad input
  fails only itself: an insight that fails alone is ``JudgeRequestError`` (reason
  ``local_error``; MLX, tokenizer and memory errors) -> DLQ;
- scores resting on almost no probability (the model wanted to write something else
  where a score was due) -> ``JudgeUnparseable`` (reason ``no_scores``) -> DLQ.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from prometheus_client import Histogram

from kasper.agents.judging.decision import JudgeResult, decide
from kasper.agents.judging.errors import JudgeError, JudgeRequestError, JudgeUnavailable, JudgeUnparseable
from kasper.agents.judging.limits import VerdictCache
from kasper.agents.judging.parse import JudgeAnswer
from kasper.agents.judging.prefill import PrefillScorer, Scored
from kasper.agents.judging.request import CRITERIA, JudgeRequest
from kasper.agents.runtime import model_store
from kasper.agents.runtime.blas import MLXThread
from kasper.agents.runtime.cores import MACHINE, CoreWatch
from kasper.agents.runtime.priority import GATE
from kasper.schemas.errors import KasperError
from kasper.streams.logs import get_logger
from kasper.streams.settings import JudgeSettings, ModelSettings

# Part of the judge's name in verdicts and cache keys: bump when the prompt or the reading changes.
ENGINE_VERSION = "prefill-1"
# Below this probability on the score tokens a criterion's expectation is noise.
MIN_SCORE_MASS = 0.01

log = get_logger(__name__)

BATCH_ROWS = Histogram("kasper_judge_prefill_batch_rows", "Insights scored per prefill batch.",
                       buckets=(1, 2, 4, 8, 16, 32))
BATCH_SECONDS = Histogram("kasper_judge_prefill_batch_seconds", "Duration of one prefill batch.",
                          buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))


def to_answer(scored: Scored, model: str) -> JudgeAnswer:
    """The parsed answer for ``scored``; ``JudgeUnparseable`` when a criterion's score
    tokens got (almost) no probability."""
    thin = [c for c in CRITERIA if not scored.score_mass[c] >= MIN_SCORE_MASS]
    if thin:
        raise JudgeUnparseable(f"the local judge ({model}) put under {MIN_SCORE_MASS:.0%} of its probability on "
                               f"score tokens for {', '.join(thin)}", reason="no_scores")
    scores = {c: round(min(10.0, max(1.0, scored.scores[c])), 3) for c in CRITERIA}
    ranked = sorted(scores.items(), key=lambda kv: kv[1])
    rationale = (f"Scored in one prefill by {model} from the score tokens' probabilities; no rationale is "
                 f"written. Weakest {ranked[0][0].replace('_', ' ')} ({ranked[0][1]:.1f}), strongest "
                 f"{ranked[-1][0].replace('_', ' ')} ({ranked[-1][1]:.1f}).")
    return JudgeAnswer(scores=scores, recommendation=None, rationale=rationale, revise_notes=None,
                       score_mode="logprobs", safety=scored.safety)


def _load_scorer(model_settings: ModelSettings | None) -> tuple[Path, PrefillScorer]:
    model_dir = model_store.resolve_model_dir(model_settings)
    # The generator's copy where this worker also generates on the base model.
    model, tokenizer = model_store.load_shared(model_dir)
    scorer = PrefillScorer(model, tokenizer)
    scorer.warm()
    return model_dir, scorer


class LocalJudge:
    """Judges insights on the local model in prefill passes (see the module docstring).

    ``async with LocalJudge(settings.judge, settings.model, cache_dir=...) as judge:
    result = await judge.judge(request)``
    """

    def __init__(self, settings: JudgeSettings, model_settings: ModelSettings | None = None, *,
                 cache_dir: Path | None = None, cache: VerdictCache | None = None) -> None:
        self.settings = settings
        self.cache = cache if cache is not None else VerdictCache(settings.cache_size,
                                                                  settings.cache_file(cache_dir))
        self.max_batch = max(1, settings.concurrency)
        self.model: str | None = None  # the judge's name, once its model is loaded
        self._model_settings = model_settings
        self._mlx = MLXThread("kasper-judge")
        self._scorer: PrefillScorer | None = None
        self._cores: CoreWatch | None = None
        self._loading = asyncio.Lock()
        self._pending: list[tuple[JudgeRequest, asyncio.Future]] = []
        self._runner: asyncio.Task | None = None
        self._inflight: dict[str, asyncio.Future] = {}

    async def __aenter__(self) -> LocalJudge:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Load the model (first call only); ``JudgeUnavailable`` when it cannot be."""
        async with self._loading:
            if self._scorer is not None:
                return
            try:
                model_dir, scorer = await self._mlx.run(_load_scorer, self._model_settings)
            except KasperError as exc:  # ModelError: missing, unpreparable, unloadable, odd tokenizer
                raise JudgeUnavailable(f"the local judge could not load its model: {exc}",
                                       reason="embedded_start") from exc
            self._scorer, self.model = scorer, f"{model_dir.name}:{ENGINE_VERSION}"
            # Watching from now on, so the first batch already knows what the machine leaves free.
            self._cores = CoreWatch(peers=GATE.others, history=MACHINE)
            log.info("no judge configured: judging in process from score-token probabilities",
                     model=self.model, prefix_tokens=len(scorer.prefix), max_batch=self.max_batch)

    async def judge(self, request: JudgeRequest) -> JudgeResult:
        """The verdict for ``request``: from the cache, else scored in the next batch."""
        started = time.perf_counter()
        await self.start()
        assert self.model is not None
        key = request.cache_key(self.model, "logprobs")
        while (answer := self.cache.get(key)) is None and key in self._inflight:
            await asyncio.wait([self._inflight[key]])  # the same input is being scored: share it
        if answer is not None:
            return self._result(answer, started, 0, cached=True)
        self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            scored = await self._submit(request)
            answer = to_answer(scored, self.model)
            self.cache.put(key, answer)
        finally:
            self._inflight.pop(key).set_result(None)
        return self._result(answer, started, scored.prompt_tokens)

    def _result(self, answer: JudgeAnswer, started: float, prompt_tokens: int, cached: bool = False) -> JudgeResult:
        overall, decision, notes = decide(answer, self.settings.approve_threshold)
        # A local model has no price: cost 0 whatever prices are configured for a remote judge.
        return JudgeResult(answer, overall, decision, notes, self.model or "", prompt_tokens, 0, 0.0,
                           (time.perf_counter() - started) * 1000, cached)

    # --- batching -----------------------------------------------------------------

    async def _submit(self, request: JudgeRequest) -> Scored:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain(), name="kasper-judge-prefill")
        return await future

    async def _drain(self) -> None:
        """Score what is pending, ``max_batch`` at a time, until nothing is."""
        while self._pending:
            batch = [(r, f) for r, f in self._pending[:self.max_batch] if not f.done()]
            del self._pending[:self.max_batch]
            if not batch:
                continue
            started = time.perf_counter()
            try:
                results = await self._mlx.run(self._serve, [r for r, _ in batch])
            except BaseException as exc:  # cancelled (closing), or a bug: every waiter learns it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else JudgeUnavailable(
                            "the local judge is closing", reason="closing"))
                if not isinstance(exc, Exception):
                    raise
                continue
            BATCH_ROWS.observe(len(batch))
            BATCH_SECONDS.observe(time.perf_counter() - started)
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _serve(self, requests: list[JudgeRequest]) -> list[Scored | JudgeError]:
        with GATE.serving():  # a window's training waits meanwhile (priority.py)
            # Every core the machine and this process's other serving work leave free,
            # decided at the start of the batch (cores.py); the base count after it.
            assert self._cores is not None
            self._cores.tick()
            try:
                return self._score(requests)
            finally:
                self._cores.close()

    def _score(self, requests: list[JudgeRequest]) -> list[Scored | JudgeError]:
        """On the MLX thread: the batch's scores; a failed batch is scored one by one."""
        assert self._scorer is not None
        try:
            return list(self._scorer.score(requests))
        except (JudgeError, RuntimeError, ValueError, MemoryError) as exc:
            if len(requests) > 1:
                log.warning("prefill batch failed: scoring its insights one by one", rows=len(requests),
                            error=f"{type(exc).__name__}: {exc}"[:300])
                return [self._score([r])[0] for r in requests]
            if isinstance(exc, JudgeError):
                return [exc]
            return [JudgeRequestError(f"the local judge ({self.model}) failed on this insight: "
                                      f"{type(exc).__name__}: {exc}"[:500], reason="local_error")]

    @property
    def last_stats(self):
        """The scorer's figures for its last batch (for benchmarks)."""
        return self._scorer.last_stats if self._scorer is not None else None

    async def aclose(self) -> None:
        """Stop scoring, end the MLX thread and close the cache; waiters get ``JudgeUnavailable``."""
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        for _, future in self._pending:
            if not future.done():
                future.set_exception(JudgeUnavailable("the local judge is closing", reason="closing"))
        self._pending.clear()
        await self._mlx.close()
        self._scorer = None
        self.cache.close()
