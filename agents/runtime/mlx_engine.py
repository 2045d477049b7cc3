"""Batched generation on one MLX model: shared-prefix prefill, a lean decode loop, seeded sampling.

(One module, about 300 lines: prefill, the decode loop and the sampler share the
rows' state, which is faster kept together than passed between modules.)

Why not ``mlx_lm.batch_generate`` / ``BatchGenerator`` as is (compared with
``bench/bench_generate.py`` on the shipped model, float32 + OpenBLAS):

- its decode step normalises the logits over the whole 49k vocabulary and splits
  them per row every step; this loop only needs the sampled token;
- top-p sorts the whole vocabulary per row per step; here top-p runs
  inside the ``top_k`` most likely tokens, llama.cpp's default sampler chain;
- every insight prompt starts with the same system message (~45% of its tokens):
  its KV cache is computed once per model and copied into each row.

What we reuse from mlx-lm: the model, its KV caches (``BatchKVCache`` does the
padding and masking, exactly as ``BatchGenerator`` drives it) and its streaming
detokenizer. This module knows nothing about Kafka, prompts or tiers.

Sampling is reproducible per row: the noise of token ``t`` of a row comes from the
key ``(seed, t)``, so a row's text does not depend on the other rows of its batch
(up to float rounding in differently shaped matmuls). Temperature 0 is greedy.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from kasper.agents.runtime.backend import START_TOKENS
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.guards import GuardSpec, RowGuard, mark_seen, penalize
from mlx_lm.models.cache import BatchKVCache, KVCache, make_prompt_cache

DEFAULT_TOP_K = 64
# A shorter shared prefix is not worth a separate forward pass.
MIN_PREFIX = 16
# One per domain's few-shot prefix, and a few more.
MAX_PREFIXES = 16
# Tokens per prefill forward pass (rows x columns): bigger passes measured slower.
PREFILL_CHUNK_TOKENS = 2048
# Called from the generation thread: (row, delta text, done).
OnDelta = Callable[[int, str, bool], None]


@dataclass(frozen=True)
class Row:
    """One sequence to generate: its prompt tokens and sampling parameters."""

    tokens: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    # 1.0: off; see guards.penalize.
    repetition_penalty: float = 1.0
    guard: GuardSpec = GuardSpec()
    # (token id, value) added to that token's logit at every step.
    logit_bias: tuple[tuple[int, float], ...] = ()
    # The first ``prefix`` tokens are worth caching for later batches (0: the engine finds
    # the prefix every row of the batch shares).
    prefix: int = 0


@dataclass
class RowOutput:
    """What one row produced; ``seconds`` counts from the start of its batch."""

    text: str
    tokens: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    finish_reason: str = "length"
    seconds: float = 0.0
    # A guard fired at the row's first token (its tokens are kept: nothing to cut back to).
    stopped_at_start: bool = False


@dataclass
class EngineStats:
    """Work done by one :meth:`Engine.generate` call (prefix-cache hits excluded)."""

    prefill_tokens: int = 0
    prefill_s: float = 0.0
    generated_tokens: int = 0
    decode_s: float = 0.0


class Cancelled(Exception):
    """:meth:`Engine.cancel` stopped the batch that was running (the worker is stopping)."""


class Engine:
    """Generates a batch of rows on one model; not thread-safe (one thread owns MLX)."""

    def __init__(self, model, tokenizer, top_k: int = DEFAULT_TOP_K) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.top_k = top_k
        self.eos = set(tokenizer.eos_token_ids)
        # Shared prompt prefixes (the system message) -> their single-row KV caches.
        self._prefixes: OrderedDict[tuple[int, ...], list[KVCache]] = OrderedDict()
        self.last_stats = EngineStats()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop the running batch at its next step (thread-safe); later batches run again."""
        self._cancel.set()

    def generate(self, rows: list[Row], on_delta: OnDelta | None = None) -> list[RowOutput]:
        """Generate every row as one batch; outputs in the order of ``rows``."""
        if not rows:
            return []
        self.last_stats = stats = EngineStats()
        self._cancel.clear()
        started = time.perf_counter()
        cache, last = self._prefill(rows, stats)
        stats.prefill_s = time.perf_counter() - started
        outputs = _Decode(self, rows, cache, on_delta, started).run(last)
        stats.decode_s = time.perf_counter() - started - stats.prefill_s
        stats.generated_tokens = sum(len(o.tokens) for o in outputs)
        return outputs

    # --- prefill -------------------------------------------------------------

    def _prefill(self, rows: list[Row], stats: EngineStats) -> tuple[list, mx.array]:
        """KV caches holding every prompt but its last token, and those last tokens."""
        cache, sizes = self._batch_cache(rows, stats)
        rests = [r.tokens[size:-1] for r, size in zip(rows, sizes)]
        lengths = [len(r) for r in rests]
        width = max(lengths)
        padding = [width - n for n in lengths]
        if width:
            # Right-pad, then let the cache roll the padding to the left (BatchGenerator's way).
            if max(padding):
                for c in cache:
                    c.prepare(lengths=lengths, right_padding=padding)
            tokens = mx.array([r + [0] * p for r, p in zip(rests, padding)])
            step = max(1, PREFILL_CHUNK_TOKENS // len(rows))
            for start in range(0, width, step):
                self.model(tokens[:, start:start + step], cache=cache)
                mx.eval([c.state for c in cache])
            if max(padding):
                for c in cache:
                    c.finalize()
            stats.prefill_tokens += sum(lengths)
        return cache, mx.array([r.tokens[-1] for r in rows])

    def _batch_cache(self, rows: list[Row], stats: EngineStats) -> tuple[list, list[int]]:
        """A batch KV cache already holding each row's cached prefix, and the prefix sizes.

        Rows that name their prefix (``Row.prefix``: the system message and the few-shot
        turns of their domain) get that one, computed once; otherwise every row gets
        the longest prefix the whole batch shares.
        """
        if any(r.prefix for r in rows):
            prefixes = [self._own_prefix(r, stats) for r in rows]
        else:
            prefix = self._known_prefix(rows)
            if prefix is None and len(rows) > 1:
                size = _shared_prefix(rows)
                if size >= MIN_PREFIX:
                    prefix = self._compute_prefix(tuple(rows[0].tokens[:size]), stats)
            prefixes = [prefix] * len(rows)
        if all(p is None for p in prefixes):
            return [BatchKVCache([0] * len(rows)) for _ in make_prompt_cache(self.model)], [0] * len(rows)
        empty = make_prompt_cache(self.model)
        singles = [p[1] if p else empty for p in prefixes]
        # Prefixes of different lengths are left-padded to the longest (BatchKVCache.merge).
        cache = [BatchKVCache.merge([single[layer] for single in singles]) for layer in range(len(empty))]
        return cache, [len(p[0]) if p else 0 for p in prefixes]

    def _own_prefix(self, row: Row, stats: EngineStats) -> tuple[tuple[int, ...], list] | None:
        if row.prefix < MIN_PREFIX or len(row.tokens) < row.prefix + 2:
            return None
        tokens = tuple(row.tokens[:row.prefix])
        single = self._prefixes.get(tokens)
        if single is None:
            return self._compute_prefix(tokens, stats)
        self._prefixes.move_to_end(tokens)
        return tokens, single

    def _known_prefix(self, rows: list[Row]) -> tuple[tuple[int, ...], list] | None:
        best = None
        for tokens, single in self._prefixes.items():
            n = len(tokens)
            if all(len(r.tokens) >= n + 2 and tuple(r.tokens[:n]) == tokens for r in rows):
                if best is None or n > len(best[0]):
                    best = (tokens, single)
        if best is not None:
            self._prefixes.move_to_end(best[0])
        return best

    def _compute_prefix(self, tokens: tuple[int, ...], stats: EngineStats) -> tuple[tuple[int, ...], list]:
        single = make_prompt_cache(self.model)
        self.model(mx.array([tokens]), cache=single)
        mx.eval([c.state for c in single])
        stats.prefill_tokens += len(tokens)
        self._prefixes[tokens] = single
        while len(self._prefixes) > MAX_PREFIXES:
            self._prefixes.popitem(last=False)
        return tokens, single

    # --- sampling ------------------------------------------------------------

    def sample(self, logits: mx.array, params: "_Params", step: int) -> mx.array:
        """Next token per row: greedy where temperature is 0, else top-k/top-p sampling."""
        greedy = mx.argmax(logits, axis=-1)
        if not params.any_sampling:
            return greedy
        k = min(self.top_k, logits.shape[-1])
        ids = mx.argpartition(-logits, kth=k - 1, axis=-1)[:, :k]
        vals = mx.take_along_axis(logits, ids, axis=-1)
        order = mx.argsort(-vals, axis=-1)
        ids = mx.take_along_axis(ids, order, axis=-1)
        scaled = mx.take_along_axis(vals, order, axis=-1) / params.temperature[:, None]
        probs = mx.softmax(scaled, axis=-1)
        # Keep the smallest set of top tokens whose mass reaches top_p (the first always).
        keep = (mx.cumsum(probs, axis=-1) - probs) < params.top_p[:, None]
        scaled = mx.where(keep, scaled, -mx.inf)
        keys = mx.stack([params.seeds, mx.full(params.seeds.shape, step, mx.uint32)], axis=1)
        noise = mx.vmap(lambda key: mx.random.gumbel(shape=(k,), key=key))(keys)
        choice = mx.argmax(scaled + noise, axis=-1)
        sampled = mx.take_along_axis(ids, choice[:, None], axis=-1)[:, 0]
        return mx.where(params.greedy, greedy, sampled)


@dataclass
class _Params:
    """Per-row sampling parameters as arrays (filtered with the batch)."""

    temperature: mx.array
    top_p: mx.array
    seeds: mx.array
    greedy: mx.array
    any_sampling: bool
    penalty: mx.array
    any_penalty: bool

    @classmethod
    def of(cls, rows: list[Row]) -> "_Params":
        temps = [r.temperature for r in rows]
        return cls(
            temperature=mx.array([t if t > 0 else 1.0 for t in temps], dtype=mx.float32),
            top_p=mx.array([r.top_p if 0 < r.top_p <= 1 else 1.0 for r in rows], dtype=mx.float32),
            seeds=mx.array([r.seed & 0xFFFFFFFF for r in rows], dtype=mx.uint32),
            greedy=mx.array([t <= 0 for t in temps]),
            any_sampling=any(t > 0 for t in temps),
            penalty=mx.array([max(r.repetition_penalty, 1.0) for r in rows], dtype=mx.float32),
            any_penalty=any(r.repetition_penalty > 1.0 for r in rows),
        )

    def take(self, keep: mx.array) -> "_Params":
        return _Params(self.temperature[keep], self.top_p[keep], self.seeds[keep],
                       self.greedy[keep], self.any_sampling, self.penalty[keep], self.any_penalty)


class _Decode:
    """The decode loop of one batch; rows that finish are dropped from the batch."""

    def __init__(self, engine: Engine, rows: list[Row], cache: list, on_delta: OnDelta | None,
                 started: float) -> None:
        self.engine, self.rows, self.cache = engine, rows, cache
        self.on_delta, self.started = on_delta, started
        self.params = _Params.of(rows)
        # Batch position -> row index; None once the row finished (until it is dropped).
        self.slots: list[int | None] = list(range(len(rows)))
        self.live = len(rows)
        self.out = [RowOutput("", prompt_tokens=len(r.tokens)) for r in rows]
        self.detok = [engine.tokenizer.detokenizer for _ in rows] if on_delta else []
        decode = engine.tokenizer.decode
        self.guards = [RowGuard(r.guard, decode) if r.guard.active else None for r in rows]
        # Tokens each row generated (for the repetition penalty), on the device.
        self.seen: mx.array | None = None
        # Built at the first step, when the vocabulary size is known from the logits.
        self.bias: mx.array | None = None
        self.any_bias = any(r.logit_bias for r in rows)

    def _forward(self, tokens: mx.array, step: int) -> mx.array:
        logits = self.engine.model(tokens[:, None], cache=self.cache)[:, -1, :]
        if self.any_bias:
            if self.bias is None:
                self.bias = _bias(self.rows, logits.shape[-1])
            logits = logits + self.bias
        if self.params.any_penalty:
            if self.seen is None:
                self.seen = mx.zeros(logits.shape, dtype=mx.bool_)
            logits = penalize(logits, self.seen, self.params.penalty[:, None])
        sampled = self.engine.sample(logits, self.params, step)
        if self.params.any_penalty:
            self.seen = mark_seen(self.seen, sampled)
        return sampled

    def run(self, last: mx.array) -> list[RowOutput]:
        step = 0
        current = self._forward(last, step)
        mx.async_eval(current)
        while True:
            # Queue the next step before reading this one: MLX computes while Python books.
            following = self._forward(current, step + 1)
            mx.async_eval(following)
            self._record(current.tolist())
            if self.engine._cancel.is_set():
                raise Cancelled("generation cancelled")
            if not self.live:
                return self.out
            # Dropping rows copies every KV cache: wait until enough rows are done.
            idle = len(self.slots) - self.live
            if idle * 8 >= len(self.slots):
                following = self._drop_finished(following)
            current = following
            step += 1

    def _record(self, tokens: list[int]) -> None:
        """Book one token for every live row."""
        for pos, token in enumerate(tokens):
            row = self.slots[pos]
            if row is None:
                continue
            out = self.out[row]
            stop = token in self.engine.eos
            guarded = None
            if not stop:
                out.tokens.append(token)
                guard = self.guards[row]
                guarded = guard.feed(token) if guard is not None else None
                # A row that copied from its first token keeps what it wrote and says so:
                # the caller draws again, and keeps this only if that fails too.
                if guarded is not None and guarded[1] > 0:
                    del out.tokens[guarded[1]:]
                elif guarded is not None:
                    out.stopped_at_start = len(out.tokens) <= START_TOKENS
            done = stop or guarded is not None or len(out.tokens) >= self.rows[row].max_tokens
            if self.on_delta:
                self._delta(row, None if stop else token, done)
            if done:
                out.finish_reason = "stop" if stop else guarded[0] if guarded else "length"
                out.text = self.engine.tokenizer.decode(out.tokens)
                out.seconds = time.perf_counter() - self.started
                self.slots[pos] = None
                self.live -= 1

    def _delta(self, row: int, token: int | None, done: bool) -> None:
        detok = self.detok[row]
        if token is not None:
            detok.add_token(token)
        if done:
            detok.finalize()
        text = detok.last_segment
        if text or done:
            self.on_delta(row, text, done)

    def _drop_finished(self, following: mx.array) -> mx.array:
        keep = [pos for pos, row in enumerate(self.slots) if row is not None]
        index = mx.array(keep)
        for c in self.cache:
            c.filter(index)
        self.params = self.params.take(index)
        if self.seen is not None:
            self.seen = self.seen[index]
        if self.bias is not None:
            self.bias = self.bias[index]
        self.slots = [self.slots[pos] for pos in keep]
        return following[index]


def _bias(rows: list[Row], vocab: int) -> mx.array:
    """The rows' logit biases as one (rows, vocabulary) array."""
    matrix = mx.zeros((len(rows), vocab), dtype=mx.float32)
    for i, row in enumerate(rows):
        if row.logit_bias:
            ids, values = zip(*row.logit_bias)
            matrix[i, mx.array(ids)] = mx.array(values, dtype=mx.float32)
    return matrix


def _shared_prefix(rows: list[Row]) -> int:
    """Length of the token prefix every row shares, leaving each row >= 2 tokens of its own."""
    first = rows[0].tokens
    size = min(len(r.tokens) for r in rows) - 2
    for row in rows[1:]:
        n = 0
        limit = min(size, len(row.tokens))
        while n < limit and row.tokens[n] == first[n]:
            n += 1
        size = n
    return max(size, 0)
