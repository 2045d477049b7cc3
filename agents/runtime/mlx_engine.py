"""Generation on one MLX model: shared-prefix prefill, continuous batches, seeded sampling.

The decode loop and the admission of rows into a running batch are in
``scheduler.py`` and ``decode.py``; this module holds what they call back: the
prefill (with the prefix cache) and the sampler.

Why not ``mlx_lm.batch_generate`` / ``BatchGenerator`` as is (compared with
``bench/bench_generate.py`` on the shipped model, float32 + OpenBLAS):

- its decode step normalises the logits over the whole 49k vocabulary and splits
  them per row every step; this loop only needs the sampled token;
- top-p sorts the whole vocabulary per row per step; here top-p runs
  inside the ``top_k`` most likely tokens, llama.cpp's default sampler chain, and
  those are found from the vocabulary's block maxima (:func:`top_k`), not by a
  partition of the whole vocabulary;
- every insight prompt starts with the same system message (~45% of its tokens):
  its KV cache is computed once per model and read once per batch
  (``prefix_attention.py``; copied into each row for other architectures).

What we reuse from mlx-lm: the model, its KV caches (``BatchKVCache`` does the
padding and masking, exactly as ``BatchGenerator`` drives it) and its streaming
detokenizer. These modules know nothing about Kafka, prompts or tiers.

Sampling is reproducible per row: the noise of token ``t`` of a row comes from the
key ``(seed, t)``, so a row's text does not depend on the other rows of its batch,
nor on when it was admitted (up to float rounding in differently shaped matmuls). Temperature 0 is greedy.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future

from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.decode import (  # noqa: F401  (Row & co. are imported from here)
    Cancelled,
    EngineStats,
    OnDelta,
    OnRow,
    Params,
    Row,
    RowOutput,
)
from kasper.agents.runtime import fast_mlp, host_decode
from kasper.agents.runtime.prefix_attention import compact, grouped, install
from kasper.agents.runtime.scheduler import DEFAULT_SLOTS, Scheduler
from mlx_lm.models.cache import BatchKVCache, KVCache, make_prompt_cache

DEFAULT_TOP_K = 64
# A shorter shared prefix is not worth a separate forward pass.
MIN_PREFIX = 16
# One per domain's few-shot prefix, and a few more.
MAX_PREFIXES = 16
# Tokens per prefill forward pass (rows x columns): bigger passes measured slower.
PREFILL_CHUNK_TOKENS = 2048
# Vocabulary entries per block in top_k (32 measured fastest of 32-256).
TOP_K_BLOCK = 32


class Engine:
    """Generates rows on one model: prefill with a prefix cache, continuous batches, sampling.

    Not thread-safe except :meth:`submit` and :meth:`cancel`: one thread owns MLX and
    runs :meth:`drain` (or :meth:`generate`, which is both).
    """

    def __init__(self, model, tokenizer, top_k: int = DEFAULT_TOP_K, max_slots: int = DEFAULT_SLOTS,
                 continuous: bool = True, shared_prefixes: bool = True, serving: bool = True) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.top_k = top_k
        self.eos = set(tokenizer.eos_token_ids)
        self.vocab = _vocab_size(model)
        # Shared prompt prefixes (the system message) -> their single-row KV caches.
        self._prefixes: OrderedDict[tuple[int, ...], list[KVCache]] = OrderedDict()
        # Rows attend to a shared prefix once per batch, not once each (prefix_attention.py);
        # False for architectures it does not know: prefixes are then copied into every row.
        self.shared_prefixes_available = install(model)
        fast_mlp.install(model)
        self.shared_prefixes = shared_prefixes and self.shared_prefixes_available
        # Decode steps in numpy where it reproduces the model (host_decode.py); None: MLX's.
        self.host = host_decode.HostDecoder.of(model) if self.shared_prefixes else None
        self.scheduler = Scheduler(self, max_slots, continuous, serving=serving)

    @property
    def last_stats(self) -> EngineStats:
        """The work of the last drain (all rows it decoded, whoever submitted them)."""
        return self.scheduler.last_stats

    def submit(self, rows: list[Row], on_delta: OnDelta | None = None,
               on_row: OnRow | None = None) -> tuple[Future, bool]:
        """Queue rows (thread-safe); their outputs' future, and whether a drain must be started.
        ``on_row`` gets each row's index and output as soon as it is done (this thread)."""
        return self.scheduler.submit(rows, on_delta, on_row)

    def drain(self) -> None:
        """Decode every queued row, admitting rows submitted meanwhile (the MLX thread)."""
        self.scheduler.drain()

    def cancel(self) -> None:
        """Fail the queued and running rows at the next step (thread-safe); later rows run again."""
        self.scheduler.cancel()

    def generate(self, rows: list[Row], on_delta: OnDelta | None = None) -> list[RowOutput]:
        """Generate ``rows`` on this thread (up to ``max_slots`` at a time); outputs in order."""
        future, start = self.submit(rows, on_delta)
        if start:
            self.drain()
        return future.result()

    # --- prefill -------------------------------------------------------------

    def prefill(self, rows: list[Row], stats: EngineStats,
                between: Callable[[], object] | None = None) -> tuple[list, mx.array]:
        """KV caches holding every prompt but its last token, and those last tokens.
        ``between`` runs after each pass (the scheduler's thread count follows the machine)."""
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
                if between is not None:
                    between()
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
        sizes = [len(p[0]) if p else 0 for p in prefixes]
        if self.shared_prefixes:
            return grouped(prefixes, len(self.model.layers)), sizes
        if all(p is None for p in prefixes):
            return [BatchKVCache([0] * len(rows)) for _ in make_prompt_cache(self.model)], sizes
        empty = make_prompt_cache(self.model)
        singles = [p[1] if p else empty for p in prefixes]
        # Prefixes of different lengths are left-padded to the longest (BatchKVCache.merge).
        cache = [BatchKVCache.merge([single[layer] for single in singles]) for layer in range(len(empty))]
        return cache, sizes

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
        if self.shared_prefixes:
            compact(single)
        mx.eval([c.state for c in single])
        stats.prefill_tokens += len(tokens)
        self._prefixes[tokens] = single
        while len(self._prefixes) > MAX_PREFIXES:
            self._prefixes.popitem(last=False)
        return tokens, single

    # --- sampling ------------------------------------------------------------

    def sample(self, logits: mx.array, params: Params) -> mx.array:
        """Next token per row: greedy where temperature is 0, else top-k/top-p sampling."""
        greedy = mx.argmax(logits, axis=-1)
        if not params.any_sampling:
            return greedy
        k = min(self.top_k, logits.shape[-1])
        ids, vals = top_k(logits, k)
        order = mx.argsort(-vals, axis=-1)
        ids = mx.take_along_axis(ids, order, axis=-1)
        scaled = mx.take_along_axis(vals, order, axis=-1) / params.temperature[:, None]
        probs = mx.softmax(scaled, axis=-1)
        # Keep the smallest set of top tokens whose mass reaches top_p (the first always).
        keep = (mx.cumsum(probs, axis=-1) - probs) < params.top_p[:, None]
        scaled = mx.where(keep, scaled, -mx.inf)
        keys = mx.stack([params.seeds, params.steps], axis=1)
        noise = mx.vmap(lambda key: mx.random.gumbel(shape=(k,), key=key))(keys)
        choice = mx.argmax(scaled + noise, axis=-1)
        sampled = mx.take_along_axis(ids, choice[:, None], axis=-1)[:, 0]
        return mx.where(params.greedy, greedy, sampled)


def top_k(logits: mx.array, k: int, block: int = TOP_K_BLOCK) -> tuple[mx.array, mx.array]:
    """The ``k`` largest logits of each row and their token ids (in no particular order).

    Why blocks: MLX's CPU ``argpartition`` over the whole vocabulary cost about a tenth
    of a 32-row decode step. Each of the ``k`` largest values lies in a block whose
    maximum is at least that value, so the ``k`` blocks with the largest maxima hold
    them all: partition the block maxima, then only those blocks' entries. The same
    set as a partition of the whole row (up to which of equal values is taken).
    """
    rows, vocab = logits.shape
    blocks = vocab // block
    if vocab % block or blocks <= k:
        ids = mx.argpartition(-logits, kth=k - 1, axis=-1)[:, :k]
        return ids, mx.take_along_axis(logits, ids, axis=-1)
    grid = logits.reshape(rows, blocks, block)
    best = mx.argpartition(-grid.max(axis=-1), kth=k - 1, axis=-1)[:, :k]
    candidates = mx.take_along_axis(grid, best[..., None], axis=1).reshape(rows, k * block)
    pick = mx.argpartition(-candidates, kth=k - 1, axis=-1)[:, :k]
    token_ids = (best[..., None] * block + mx.arange(block)).reshape(rows, k * block)
    return mx.take_along_axis(token_ids, pick, axis=-1), mx.take_along_axis(candidates, pick, axis=-1)


def _vocab_size(model) -> int:
    args = getattr(model, "args", None)
    if args is not None and getattr(args, "vocab_size", None):
        return int(args.vocab_size)
    return int(model(mx.array([[0]]))[0, -1].shape[-1])


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
