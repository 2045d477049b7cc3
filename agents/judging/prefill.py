"""Scoring in a prefill: each criterion's G-Eval score from one forward pass, no decoding.

The judge's prompt (:func:`~kasper.agents.judging.request.build_messages`: the rubric
instructions and the two worked examples) is the same for every insight: its KV
cache is computed once per model and copied into every batch.  Per batch of insights:

1. prefill each insight's user message after that cached prefix (one padded pass;
   the hidden states only, no vocabulary projection);
2. per criterion, the opening of the answer the worked examples taught
   (``<|im_start|>assistant`` + ``{"clarity": ``; what all criteria share is
   prefilled with the insight) plus the token ``1``: the next-token distribution at
   its last two positions gives p(1..9) and p(0 | 1).  The expected score is
   ``sum p(s) * s`` over the score tokens, renormalised over them; ``10`` is written
   ``1`` then ``0`` by tokenizers that split digits, so p(10) = p(1) * p(0 | 1) and
   p(1) keeps the rest (as :mod:`~kasper.agents.judging.logprobs` reads a decoded answer);
3. the safety flag the same way after ``{"safety": "``: the flag whose first token is
   most likely (first tokens only: "hateful" starts with ``h``, a prefix of many words).

Steps 2 and 3 run as one pass: every opening side by side after the insight, a block
mask letting each see the prefix, its insight and itself only (:meth:`_together`);
models whose layers take no mask run one pass per opening.  Then the openings are
trimmed off the cache.  So a verdict costs its insight's tokens plus 34, in two
passes per batch.  Not thread-safe: call it from one thread (an :class:`MLXThread`).

Error policy: a tokenizer that cannot express the scores this way (a score that is not
one token after the answer's opening) is a ``ModelError`` at construction; a prompt
that does not start with the cached prefix is a ``JudgeRequestError``; MLX failures
propagate to the caller (:mod:`~kasper.agents.judging.local`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from kasper.agents.judging.errors import JudgeRequestError
from kasper.agents.judging.request import CRITERIA, SAFETY_FLAGS, JudgeRequest, build_messages
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime import fast_mlp
from kasper.agents.runtime.errors import ModelError
from kasper.agents.runtime.prefix_attention import compact, grouped, install
from mlx_lm.models.cache import BatchKVCache, make_prompt_cache

# Tokens per prefill forward pass (rows x columns), as the generation engine chunks.
PREFILL_CHUNK_TOKENS = 2048


@dataclass(frozen=True)
class Scored:
    """One insight's scores: expected 1-10 per criterion, and what they rest on."""

    scores: dict[str, float]
    # Probability the model put on score tokens where a score was due (0-1): low means
    # it wanted to write something else there.
    score_mass: dict[str, float]
    safety: str
    safety_p: dict[str, float]
    prompt_tokens: int


@dataclass
class PrefillStats:
    """Work done by the last :meth:`PrefillScorer.score` call."""

    rows: int = 0
    prefill_tokens: int = 0
    branch_tokens: int = 0
    seconds: float = 0.0
    per_pass: list[float] = field(default_factory=list)


def expected_score(p_first: dict[int, float], p_zero_after_one: float = 0.0) -> tuple[float, float]:
    """(expected score, mass on score tokens) from the probabilities of the first score
    token (1..9, and 10 where it is one token) and of ``0`` after ``1``."""
    mass = dict(p_first)
    if 10 not in mass:  # a digit-by-digit tokenizer: "1" is 1 or the start of 10
        zero = min(max(p_zero_after_one, 0.0), 1.0)
        one = mass.get(1, 0.0)
        mass[1], mass[10] = one * (1.0 - zero), one * zero
    total = sum(mass.values())
    if total <= 0 or math.isnan(total):
        return float("nan"), 0.0
    return sum(s * p for s, p in mass.items()) / total, total


class PrefillScorer:
    """Scores insights on ``model`` in prefill passes (see the module docstring)."""

    def __init__(self, model, tokenizer) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.last_stats = PrefillStats()
        encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
        probe = build_messages(JudgeRequest("probe", "general"))
        self.prefix = list(tokenizer.apply_chat_template(probe[:-1]))
        opening = _generation_prompt(tokenizer, probe)
        # Per criterion: the tokens that open its answer, the score tokens that may follow,
        # and, for tokenizers that write 10 as 1 + 0, the token of that 0.
        self.branches: dict[str, tuple[list[int], dict[int, int], int | None]] = {}
        for criterion in CRITERIA:
            answer = '{"%s": ' % criterion
            branch, ids = _common_stem([encode(answer + str(s)) for s in range(1, 10)], answer)
            ten = encode(answer + "10")
            if ten[:-1] == branch:  # 10 is one token
                ids[10], zero = ten[-1], None
            elif ten[:-2] == branch and ten[-2] == ids[1]:
                zero = ten[-1]
            else:
                raise ModelError(f"the tokenizer writes {answer + '10'!r} in a way the prefill judge cannot "
                                 "score; use KASPER_JUDGE_ENGINE=server")
            self.branches[criterion] = (opening + branch, ids, zero)
        answer = '{"safety": "'
        flags = [encode(answer + flag) for flag in SAFETY_FLAGS]
        stem = encode(answer)
        if not all(f[:len(stem)] == stem and len(f) > len(stem) for f in flags):
            raise ModelError(f"the tokenizer merges {answer!r} with the safety flags' first letters; "
                             "use KASPER_JUDGE_ENGINE=server")
        self.safety_branch = opening + stem
        self.flag_ids = {flag: f[len(stem)] for flag, f in zip(SAFETY_FLAGS, flags)}
        # What every branch starts with (the assistant's turn, "{\"") is prefilled with the
        # insight, once per row instead of once per branch.
        self.shared = _shared_start([b for b, _, _ in self.branches.values()] + [self.safety_branch])
        n = len(self.shared)
        self.branches = {c: (b[n:], ids, zero) for c, (b, ids, zero) in self.branches.items()}
        self.safety_branch = self.safety_branch[n:]
        # (name, tokens, positions read at its end): each criterion's opening and the "1"
        # whose next token says 1 or 10; the safety flag's opening.
        self.specs = [(c, b + ([ids[1]] if zero is not None else []), 2 if zero is not None else 1)
                      for c, (b, ids, zero) in self.branches.items()] + [("safety", self.safety_branch, 1)]
        self.together = _layered(model)
        # The rubric prefix read once per batch instead of once per row (prefix_attention.py);
        # False for an architecture that module does not know: the prefix is copied per row.
        self.grouped = install(model)
        fast_mlp.install(model)
        self._prefix_cache: list | None = None

    # --- the passes ------------------------------------------------------------

    def score(self, requests: list[JudgeRequest]) -> list[Scored]:
        """Every request scored, in order (one batch)."""
        if not requests:
            return []
        started = time.perf_counter()
        self.last_stats = stats = PrefillStats(rows=len(requests))
        rows = [self._insight_tokens(r) for r in requests]
        cache = self._prefill(rows, stats)
        read = self._together(cache, stats) if self.together else \
            {name: self._branch(cache, tokens, last, stats) for name, tokens, last in self.specs}
        scores: list[dict[str, float]] = [{} for _ in rows]
        masses: list[dict[str, float]] = [{} for _ in rows]
        for criterion, (_, ids, zero) in self.branches.items():
            logp = read[criterion]
            first = mx.exp(logp[:, 0, mx.array([ids[s] for s in sorted(ids)])])
            zeros = mx.exp(logp[:, 1, zero]) if zero is not None else mx.zeros((len(rows),))
            for i, (p, z) in enumerate(zip(first.tolist(), zeros.tolist())):
                value, mass = expected_score(dict(zip(sorted(ids), p)), z)
                scores[i][criterion], masses[i][criterion] = value, mass
        flag_p = mx.exp(read["safety"][:, 0, mx.array(list(self.flag_ids.values()))]).tolist()
        out = []
        for i, row in enumerate(rows):
            total = sum(flag_p[i]) or 1.0
            safety_p = {flag: p / total for flag, p in zip(self.flag_ids, flag_p[i])}
            out.append(Scored(scores[i], masses[i], max(safety_p, key=safety_p.get), safety_p,
                              len(row) + stats.branch_tokens))
        stats.seconds = time.perf_counter() - started
        return out

    def _insight_tokens(self, request: JudgeRequest) -> list[int]:
        tokens = list(self.tokenizer.apply_chat_template(build_messages(request)))
        if tokens[:len(self.prefix)] != self.prefix or len(tokens) <= len(self.prefix):
            raise JudgeRequestError("the judge prompt for this insight does not start with the cached rubric "
                                    "prefix (a chat template that rewrites earlier turns?)", reason="prefix")
        return tokens[len(self.prefix):] + self.shared

    def warm(self) -> None:
        """Compute the rubric prefix's KV cache now rather than in the first batch."""
        self._prefix_single()

    def _prefix_single(self) -> list:
        if self._prefix_cache is None:
            single = make_prompt_cache(self.model)
            _body(self.model, mx.array([self.prefix]), single)
            if self.grouped:
                compact(single)
            mx.eval([c.state for c in single])
            self._prefix_cache = single
        return self._prefix_cache

    def _prefill(self, rows: list[list[int]], stats: PrefillStats) -> list:
        """A batch KV cache holding the prefix and each row's insight tokens."""
        single = self._prefix_single()
        if self.grouped:
            cache = grouped([(tuple(self.prefix), single)] * len(rows), len(single))
        else:
            cache = [BatchKVCache.merge([layer] * len(rows)) for layer in single]
        lengths = [len(r) for r in rows]
        width = max(lengths)
        padding = [width - n for n in lengths]
        if max(padding):  # right-pad, then the cache rolls the padding to the left
            for c in cache:
                c.prepare(lengths=lengths, right_padding=padding)
        tokens = mx.array([r + [0] * p for r, p in zip(rows, padding)])
        step = max(1, PREFILL_CHUNK_TOKENS // len(rows))
        for start in range(0, width, step):
            _body(self.model, tokens[:, start:start + step], cache)
            mx.eval([c.state for c in cache])
        if max(padding):
            for c in cache:
                c.finalize()
        stats.prefill_tokens += sum(lengths)
        return cache

    def _together(self, cache: list, stats: PrefillStats) -> dict[str, mx.array]:
        """Every branch in one pass: their tokens side by side, each seeing the prefix, its
        row's insight and itself only (a block mask).  The later branches sit a few
        positions further from the insight than when run alone (RoPE positions follow the
        pass); one pass instead of six costs a fraction of the time (docs/judge.md)."""
        started = time.perf_counter()
        tokens = [t for _, branch, _ in self.specs for t in branch]
        owner = mx.array([k for k, (_, branch, _) in enumerate(self.specs) for _ in branch])
        n = len(tokens)
        steps = mx.arange(n)
        block = (owner[:, None] == owner[None, :]) & (steps[:, None] >= steps[None, :])
        # What every branch may see among the cache's own tokens: the insight (and the prefix
        # where it is copied per row; a PrefixBatchCache shows it to every row unmasked).
        # Left padding is masked below.
        seen = cache[0]._idx
        mask = cache[0].make_mask(n, return_array=True) & mx.concatenate(
            [mx.ones((n, seen), dtype=mx.bool_), block], axis=1)
        inner = self.model.model
        hidden = inner.embed_tokens(mx.array([tokens] * cache[0].offset.shape[0]))
        for layer, c in zip(inner.layers, cache):
            hidden = layer(hidden, mask, cache=c)
        hidden = inner.norm(hidden)
        ends, at = [], 0
        for _, branch, last in self.specs:
            at += len(branch)
            ends.append(list(range(at - last, at)))
        logits = _head(self.model, hidden[:, mx.array([i for e in ends for i in e]), :]).astype(mx.float32)
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        mx.eval(logp)
        for c in cache:
            c.trim(n)
        stats.branch_tokens += n
        stats.per_pass.append(time.perf_counter() - started)
        out, at = {}, 0
        for (name, _, last) in self.specs:
            out[name] = logp[:, at:at + last, :]
            at += last
        return out

    def _branch(self, cache: list, tokens: list[int], last: int, stats: PrefillStats) -> mx.array:
        """Log-probabilities at the last ``last`` positions after ``tokens`` on every row;
        the cache is trimmed back afterwards."""
        started = time.perf_counter()
        batch = cache[0].offset.shape[0]
        hidden = _body(self.model, mx.array([tokens] * batch), cache)[:, -last:, :]
        logits = _head(self.model, hidden).astype(mx.float32)
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        mx.eval(logp)
        for c in cache:
            c.trim(len(tokens))
        stats.branch_tokens += len(tokens)
        stats.per_pass.append(time.perf_counter() - started)
        return logp


def _layered(model) -> bool:
    """True when the branches can share one pass: an mlx-lm decoder whose layers take
    an attention mask (``model.model``: ``embed_tokens``, ``layers``, ``norm``) and none
    of them attends through a sliding window."""
    inner = getattr(model, "model", None)
    return (all(hasattr(inner, name) for name in ("embed_tokens", "layers", "norm"))
            and not any(getattr(layer, "use_sliding", False) for layer in inner.layers))


def _generation_prompt(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """The tokens the chat template adds to open the assistant's turn."""
    plain = list(tokenizer.apply_chat_template(messages))
    opened = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    if opened[:len(plain)] != plain:
        raise ModelError("the chat template's generation prompt is not a suffix of the conversation; "
                         "use KASPER_JUDGE_ENGINE=server")
    return opened[len(plain):]


def _shared_start(branches: list[list[int]]) -> list[int]:
    """The tokens every branch starts with, leaving each at least one of its own."""
    size = min(len(b) for b in branches) - 1
    first = branches[0]
    for branch in branches[1:]:
        size = next((i for i in range(size) if branch[i] != first[i]), size)
    return first[:size]


def _common_stem(encoded: list[list[int]], answer: str) -> tuple[list[int], dict[int, int]]:
    """The tokens ``answer + "1"`` .. ``answer + "9"`` share, and each digit's token after them."""
    stem = encoded[0][:-1]
    if any(e[:-1] != stem for e in encoded) or len({e[-1] for e in encoded}) != 9:
        raise ModelError(f"the tokenizer does not write the scores after {answer!r} as one token each; "
                         "use KASPER_JUDGE_ENGINE=server")
    return stem, {s: e[-1] for s, e in zip(range(1, 10), encoded)}


def _body(model, tokens: mx.array, cache: list) -> mx.array:
    """The transformer's hidden states, without the vocabulary projection where the model
    exposes them (mlx-lm's ``model.model``): prefill does not need logits."""
    inner = getattr(model, "model", None)
    return inner(tokens, cache=cache) if callable(inner) else model(tokens, cache=cache)


def _head(model, hidden: mx.array) -> mx.array:
    """Logits from :func:`_body`'s output (the tied embeddings or ``lm_head``)."""
    inner = getattr(model, "model", None)
    if not callable(inner):
        return hidden  # _body already returned logits
    head = getattr(model, "lm_head", None)
    return head(hidden) if head is not None else inner.embed_tokens.as_linear(hidden)
