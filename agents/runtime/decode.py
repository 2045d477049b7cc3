"""The running batch of the MLX engine: its slots, KV cache and per-row decoding state.

A :class:`Slots` holds the rows decoding together on one model. Rows join it
(:meth:`Slots.admit`: their prefilled KV caches are merged into the batch cache,
right-aligned at its current length, as ``BatchKVCache.extend`` does for mlx-lm's
``BatchGenerator``) and leave it (:meth:`Slots.drop_finished`) between steps, so a
slot freed by a finished row can take a waiting row while the others keep decoding
(the scheduler, ``scheduler.py``, decides when).

Every piece of per-row state that the device uses (sampling parameters, the row's
own step counter that keys its sampling noise, the repetition-penalty ``seen`` mask,
the logit bias) is an array with one row per slot, filtered and extended with the
cache, so a row samples the same tokens whichever rows it shares the batch with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from kasper.agents.runtime.backend import START_TOKENS
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.guards import GuardSpec, RowGuard, mark_seen, penalize

# Called from the generation thread: (row, delta text, done).
OnDelta = Callable[[int, str, bool], None]
# (row index, its output): a row is done (called on the generation thread).
OnRow = Callable[[int, "RowOutput"], None]


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
    # A row a guard stops at its start is drawn again once with this seed, in the same
    # running batch (None: it is returned as it is, ``stopped_at_start`` set).
    redraw_seed: int | None = None


@dataclass
class RowOutput:
    """What one row produced; ``seconds`` counts from its submission."""

    text: str
    tokens: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    finish_reason: str = "length"
    seconds: float = 0.0
    # A guard fired within the row's first START_TOKENS tokens with nothing to cut back
    # to (its tokens are kept).
    stopped_at_start: bool = False
    # 2: the row was drawn again (``Row.redraw_seed``); this is the second draw unless
    # that one stopped at its start or wrote nothing, and then the first. ``seed`` is the
    # seed of the draw kept.
    draws: int = 1
    seed: int = 0


@dataclass
class EngineStats:
    """Work done by one run of the decode loop (prefix-cache hits excluded)."""

    prefill_tokens: int = 0
    prefill_s: float = 0.0
    generated_tokens: int = 0
    decode_s: float = 0.0
    # Rows that joined a batch while other rows of it were decoding.
    joined: int = 0
    # Most BLAS threads a step ran with, and how often the count changed (cores.py).
    threads: int = 1
    thread_changes: int = 0


class Cancelled(Exception):
    """:meth:`Engine.cancel` stopped the rows that were queued or running (the worker is stopping)."""


class Live:
    """One row in (or waiting for) a slot: its output so far and host-side state.

    A row with a ``redraw_seed`` holds its token deltas back until it is past the point
    where a guard can stop it at its start: a reader of the stream sees only the draw
    that is kept.
    """

    def __init__(self, row: Row, index: int, on_delta: OnDelta | None, done: Callable[[], None],
                 submitted: float, tokenizer: Any) -> None:
        self.index, self.on_delta, self.done = index, on_delta, done
        self.submitted = submitted
        # Admission by prefix (admission.py): the row's prefix, and admissions it was passed over.
        self.prefix_key = hash(tuple(row.tokens[:row.prefix])) if row.prefix else None
        self.skipped = 0
        self.tokenizer = tokenizer
        # The first draw (its output and held deltas) while the row is drawn again.
        self.first: tuple[RowOutput, list[tuple[str, bool]]] | None = None
        self._start(row)

    def _start(self, row: Row) -> None:
        self.row = row
        self.out = RowOutput("", prompt_tokens=len(row.tokens), seed=row.seed)
        self.detok = self.tokenizer.detokenizer if self.on_delta else None
        self.guard = RowGuard(row.guard, self.tokenizer.decode) if row.guard.active else None
        self.held: list[tuple[str, bool]] | None = (
            [] if self.on_delta and (row.redraw_seed is not None or self.first is not None) else None)
        # The slot's first token read after admission is the prompt's last one, not generated.
        self.fresh = True

    @property
    def urgent(self) -> bool:
        """Drawn again: its caller waits for it alone, so it goes first (admission.py)."""
        return self.first is not None

    def emit(self, token: int | None, done: bool) -> None:
        """Stream the text ``token`` adds (None: the row stopped without writing one)."""
        detok = self.detok
        if detok is None:
            return
        if token is not None:
            detok.add_token(token)
        if done:
            detok.finalize()
        text = detok.last_segment
        if not (text or done):
            return
        if self.held is None:
            self.on_delta(self.index, text, done)
            return
        self.held.append((text, done))
        if not done and len(self.out.tokens) > START_TOKENS:
            held, self.held = self.held, None
            for delta in held:
                self.on_delta(self.index, *delta)

    def redraw(self) -> bool:
        """Start the second draw if a guard stopped this one at its start (and may redraw)."""
        seed = self.row.redraw_seed
        if seed is None or not self.out.stopped_at_start:
            return False
        self.first = (self.out, self.held or [])
        self._start(replace(self.row, seed=seed, redraw_seed=None))
        return True

    def finish(self) -> None:
        """Settle the output (of two draws, the second unless it failed too) and report it."""
        kept, held = self.out, self.held or []
        if self.first is not None:
            if self.out.stopped_at_start or not self.out.text.strip():
                kept, held = self.first
            kept.draws = 2
        kept.seconds = time.perf_counter() - self.submitted
        self.out = kept
        for delta in held:
            self.on_delta(self.index, *delta)
        self.done()


@dataclass
class Params:
    """Per-slot sampling parameters as arrays (filtered and extended with the batch)."""

    temperature: mx.array
    top_p: mx.array
    seeds: mx.array
    # Each row's own token index: the noise of its token t comes from key (seed, t).
    steps: mx.array
    greedy: mx.array
    penalty: mx.array
    any_sampling: bool
    any_penalty: bool

    @classmethod
    def of(cls, rows: list[Row]) -> "Params":
        temps = [r.temperature for r in rows]
        return cls(
            temperature=mx.array([t if t > 0 else 1.0 for t in temps], dtype=mx.float32),
            top_p=mx.array([r.top_p if 0 < r.top_p <= 1 else 1.0 for r in rows], dtype=mx.float32),
            seeds=mx.array([r.seed & 0xFFFFFFFF for r in rows], dtype=mx.uint32),
            steps=mx.zeros((len(rows),), dtype=mx.uint32),
            greedy=mx.array([t <= 0 for t in temps]),
            penalty=mx.array([max(r.repetition_penalty, 1.0) for r in rows], dtype=mx.float32),
            any_sampling=any(t > 0 for t in temps),
            any_penalty=any(r.repetition_penalty > 1.0 for r in rows),
        )

    def take(self, keep: mx.array) -> "Params":
        return Params(self.temperature[keep], self.top_p[keep], self.seeds[keep], self.steps[keep],
                      self.greedy[keep], self.penalty[keep], self.any_sampling, self.any_penalty)

    def join(self, other: "Params") -> "Params":
        cat = mx.concatenate
        return Params(cat([self.temperature, other.temperature]), cat([self.top_p, other.top_p]),
                      cat([self.seeds, other.seeds]), cat([self.steps, other.steps]),
                      cat([self.greedy, other.greedy]), cat([self.penalty, other.penalty]),
                      self.any_sampling or other.any_sampling, self.any_penalty or other.any_penalty)


class Slots:
    """The rows decoding together: batch position -> :class:`Live` (None once finished)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.cache: list | None = None
        self.params: Params | None = None
        self.slots: list[Live | None] = []
        # Tokens each slot's row generated (for the repetition penalty), on the device.
        self.seen: mx.array | None = None
        self.bias: mx.array | None = None
        # Rows that left their slot to be drawn again: the scheduler queues them.
        self.redrawn: list[Live] = []

    @property
    def live(self) -> int:
        return sum(s is not None for s in self.slots)

    def admit(self, rows: list[Live], cache: list, last: mx.array, inputs: mx.array | None) -> mx.array:
        """Add prefilled rows (their KV caches, their prompts' last tokens); the next inputs."""
        params = Params.of([r.row for r in rows])
        vocab = self.engine.vocab
        bias = _bias([r.row for r in rows], vocab) if any(r.row.logit_bias for r in rows) else None
        if self.cache is None or inputs is None:
            self.cache, self.params, self.slots = cache, params, list(rows)
            self.seen, self.bias = None, bias
            return last
        old = len(self.slots)
        for mine, theirs in zip(self.cache, cache):
            mine.extend(theirs)
        self.params = self.params.join(params)
        if self.seen is not None:
            self.seen = mx.concatenate([self.seen, mx.zeros((len(rows), self.seen.shape[1]), dtype=mx.bool_)])
        if self.bias is not None or bias is not None:
            mine = self.bias if self.bias is not None else mx.zeros((old, vocab), dtype=mx.float32)
            theirs = bias if bias is not None else mx.zeros((len(rows), vocab), dtype=mx.float32)
            self.bias = mx.concatenate([mine, theirs])
        self.slots.extend(rows)
        return mx.concatenate([inputs, last])

    def drop_finished(self, inputs: mx.array) -> mx.array:
        """Remove finished rows from every per-slot array (copies the KV cache)."""
        keep = [pos for pos, live in enumerate(self.slots) if live is not None]
        index = mx.array(keep)
        for c in self.cache:
            c.filter(index)
        self.params = self.params.take(index)
        if self.seen is not None:
            self.seen = self.seen[index]
        if self.bias is not None:
            self.bias = self.bias[index]
        self.slots = [self.slots[pos] for pos in keep]
        return inputs[index]

    def forward(self, tokens: mx.array) -> mx.array:
        """Queue one decode step: each slot's next token (lazy; on the numpy path the model's
        pass is computed here, the sampling stays lazy)."""
        host = self.engine.host
        if host is not None and host.wanted(self.cache):
            logits = host.logits(tokens, self.cache)
        else:
            logits = self.engine.model(tokens[:, None], cache=self.cache)[:, -1, :]
        if self.bias is not None:
            logits = logits + self.bias
        params = self.params
        if params.any_penalty:
            if self.seen is None:
                self.seen = mx.zeros(logits.shape, dtype=mx.bool_)
            logits = penalize(logits, self.seen, params.penalty[:, None])
        sampled = self.engine.sample(logits, params)
        if params.any_penalty:
            self.seen = mark_seen(self.seen, sampled)
        params.steps = params.steps + 1
        return sampled

    def record(self, tokens: list[int], stats: Any) -> None:
        """Book one token for every live slot (``stats.generated_tokens`` counts them)."""
        for pos, token in enumerate(tokens):
            live = self.slots[pos]
            if live is None:
                continue
            if live.fresh:
                live.fresh = False
                continue
            stats.generated_tokens += 1
            if self._book(live, token):
                self.slots[pos] = None

    def _book(self, live: Live, token: int) -> bool:
        out = live.out
        stop = token in self.engine.eos
        guarded = None
        if not stop:
            out.tokens.append(token)
            guarded = live.guard.feed(token) if live.guard is not None else None
            # A row that copied from its first token keeps what it wrote and says so:
            # the caller draws again, and keeps this only if that fails too.
            if guarded is not None and guarded[1] > 0:
                del out.tokens[guarded[1]:]
            elif guarded is not None:
                out.stopped_at_start = len(out.tokens) <= START_TOKENS
        done = stop or guarded is not None or len(out.tokens) >= live.row.max_tokens
        live.emit(None if stop else token, done)
        if done:
            out.finish_reason = "stop" if stop else guarded[0] if guarded else "length"
            out.text = self.engine.tokenizer.decode(out.tokens)
            if live.redraw():
                self.redrawn.append(live)
            else:
                live.finish()
        return done


def _bias(rows: list[Row], vocab: int) -> mx.array:
    """The rows' logit biases as one (rows, vocabulary) array."""
    matrix = mx.zeros((len(rows), vocab), dtype=mx.float32)
    for i, row in enumerate(rows):
        if row.logit_bias:
            ids, values = zip(*row.logit_bias)
            matrix[i, mx.array(ids)] = mx.array(values, dtype=mx.float32)
    return matrix
