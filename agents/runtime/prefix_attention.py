"""Attention over shared prompt prefixes, read once per prefix instead of once per row.

Why: every insight prompt starts with the system message and its domain's few-shot
turns (the exemplars), so the rows of a batch share a handful of long prefixes, one
per domain. The engine computes each prefix's keys and values once (its prefix
cache), but merged into a batch KV cache every row holds its own copy, and each
decode step's attention reads all of them: on the CPU that read, not the projection
matmuls, is what grows a step's cost with the context (docs/model-runtime.md).

Here a batch's cache (:class:`PrefixBatchCache`, one per layer) keeps each prefix's
keys and values once (a *group*) and only the rows' own tokens (their context block
and what they generated) per row. A step's attention (:func:`attend`) is, per
group, one matmul of the group's rows' queries (all their query heads at once)
against the prefix, and per row the usual attention over its own tokens; the two
parts are merged exactly by their log-sum-exp (the rule flash attention uses to
merge blocks), so the result equals attention over the whole context up to float
rounding. Known elsewhere as cascade attention (FlashInfer) or Hydragen. The same
function serves decode steps (one query per row) and prefill chunks (many). Its
weights take :func:`~kasper.agents.runtime.fast_exp.exp_shifted`, not MLX's
scalar ``exp``, the largest cost of a long context on the CPU; a prefill chunk on the
CPU takes the same steps in numpy instead (:mod:`~kasper.agents.runtime.host_simd`).

Rows join and leave between steps as with ``BatchKVCache`` (:meth:`filter`,
:meth:`extend`): the groups follow the rows. A row's rotary positions continue
from the end of its own prefix (``offset`` starts at the prefix's length).

:func:`install` turns this on for a model whose attention layers it knows (the
Llama family of mlx-lm: grouped-query attention, rotary embeddings, no norms on
queries or keys); for any other architecture it returns False and the engine
merges prefixes into a plain batch cache as before. Layers given any other cache
(the trainer, the judge's scorer, a plain ``BatchKVCache``) compute as before.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from kasper.agents.runtime import host_simd, layer_swap
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.fast_exp import exp_shifted
from mlx_lm.models.cache import BatchKVCache, KVCache

# mlx-lm attention classes whose __call__ this module reproduces (see :func:`install`).
KNOWN = {("mlx_lm.models.llama", "Attention")}
# Stands in for -inf where a maximum must stay finite (masked scores, a row without a prefix).
_NEG = -1e30


class PrefixBatchCache(BatchKVCache):
    """A layer's batch cache: shared prefixes once per group, each row's own tokens per row.

    ``groups`` are ``(key, keys, values)`` with keys and values of shape
    ``(kv heads, length, head dim)``; ``row_group`` names each row's group (None: the
    row has no prefix).
    """

    def __init__(self, groups: list[tuple[Hashable, mx.array, mx.array]], row_group: list[int | None]) -> None:
        super().__init__([0] * len(row_group))
        self.groups = list(groups)
        self.row_group = list(row_group)
        lengths = [0 if g is None else self.groups[g][1].shape[1] for g in self.row_group]
        self.offset = mx.array(lengths)
        self._plan: Plan | None = None

    def filter(self, batch_indices: mx.array) -> None:
        keep = batch_indices.tolist()
        super().filter(batch_indices)
        self.row_group = [self.row_group[i] for i in keep]
        used = sorted({g for g in self.row_group if g is not None})
        if len(used) < len(self.groups):
            renumber = {old: new for new, old in enumerate(used)}
            self.groups = [self.groups[g] for g in used]
            self.row_group = [None if g is None else renumber[g] for g in self.row_group]
        self._plan = None

    def extend(self, other: "PrefixBatchCache") -> None:
        super().extend(other)
        known = {key: i for i, (key, _, _) in enumerate(self.groups)}
        mapped = []
        for key, keys, values in other.groups:
            if key not in known:
                known[key] = len(self.groups)
                self.groups.append((key, keys, values))
            mapped.append(known[key])
        self.row_group += [None if g is None else mapped[g] for g in other.row_group]
        self._plan = None

    def plan(self) -> "Plan":
        """Rows ordered by group (rebuilt when rows change)."""
        if self._plan is None:
            self._plan = Plan.of(self.row_group, len(self.groups))
        return self._plan


class Plan:
    """Rows ordered by group: ``order`` lists group 0's rows, then group 1's, ..., then the
    rows without a prefix; ``spans`` are (group, start, end) in that order; ``inverse``
    puts them back in batch order."""

    def __init__(self, order: mx.array, spans: list[tuple[int, int, int]], bare: int, inverse: mx.array) -> None:
        self.order, self.spans, self.bare, self.inverse = order, spans, bare, inverse

    @classmethod
    def of(cls, row_group: list[int | None], n_groups: int) -> "Plan":
        order: list[int] = []
        spans = []
        for g in range(n_groups):
            rows = [i for i, rg in enumerate(row_group) if rg == g]
            if rows:
                spans.append((g, len(order), len(order) + len(rows)))
            order += rows
        bare = [i for i, rg in enumerate(row_group) if rg is None]
        order += bare
        inverse = [0] * len(order)
        for pos, row in enumerate(order):
            inverse[row] = pos
        return cls(mx.array(order), spans, len(bare), mx.array(inverse))


def attend(queries: mx.array, keys: mx.array, values: mx.array, cache: PrefixBatchCache,
           scale: float, mask: mx.array | None) -> mx.array:
    """Attention of ``queries`` (B, heads, N, D) over each row's prefix and its own ``keys``/``values``."""
    B, n_heads, N, D = queries.shape
    if host_simd.wanted(N, queries.dtype):
        return host_simd.attend(queries, keys, values, cache, scale, mask)
    n_kv = keys.shape[1]
    rep = n_heads // n_kv
    q = (queries * scale).reshape(B, n_kv, rep, N, D)
    # The rows' own tokens: (B, kv heads, rep, N, S).
    own = q @ mx.expand_dims(keys.swapaxes(-1, -2), 2)
    if mask is not None:
        # Finite: a query whose own tokens are all masked still takes its prefix (not NaN).
        own = mx.where(mx.expand_dims(mask, 2), own, _NEG)
    m_own = own.max(axis=-1, keepdims=True)
    e_own = exp_shifted(own, m_own)
    l_own = e_own.sum(axis=-1, keepdims=True)
    o_own = e_own @ mx.expand_dims(values, 2)
    if not cache.groups:
        return (o_own / l_own).reshape(B, n_heads, N, D)
    # Per group, its rows' queries (all their heads) against its prefix: one matmul each.
    # (Stacking the groups into one padded matmul measured slower: domains are unevenly
    # spread over a batch, and the padding rows cost as much as real ones.)
    plan = cache.plan()
    grouped = q[plan.order]
    outs, maxes, sums = [], [], []
    for g, start, end in plan.spans:
        _, pk, pv = cache.groups[g]
        n = end - start
        qg = grouped[start:end].transpose(1, 0, 2, 3, 4).reshape(n_kv, n * rep * N, D)
        s = qg @ pk.swapaxes(-1, -2)
        m = s.max(axis=-1, keepdims=True)
        e = exp_shifted(s, m)
        for part, array in ((outs, e @ pv), (maxes, m), (sums, e.sum(axis=-1, keepdims=True))):
            part.append(array.reshape(n_kv, n, rep, N, -1).transpose(1, 0, 2, 3, 4))
    if plan.bare:
        shape = (plan.bare, n_kv, rep, N, 1)
        outs.append(mx.zeros((plan.bare, n_kv, rep, N, D), dtype=o_own.dtype))
        maxes.append(mx.full(shape, _NEG, dtype=m_own.dtype))
        sums.append(mx.zeros(shape, dtype=l_own.dtype))
    o_pre, m_pre, l_pre = (mx.concatenate(p, axis=0)[plan.inverse] for p in (outs, maxes, sums))
    top = mx.maximum(m_own, m_pre)
    a_own, a_pre = mx.exp(m_own - top), mx.exp(m_pre - top)
    out = (o_own * a_own + o_pre * a_pre) / (l_own * a_own + l_pre * a_pre)
    return out.reshape(B, n_heads, N, D)


class PrefixAttention:
    """Mixed into a known attention class: :func:`attend` when the cache is a PrefixBatchCache."""

    def __call__(self, x: mx.array, mask: Any = None, cache: Any = None) -> mx.array:
        if not isinstance(cache, PrefixBatchCache):
            return super().__call__(x, mask=mask, cache=cache)  # type: ignore[misc]
        queries, keys, values = project(self, x, cache)
        mask = mask if isinstance(mask, mx.array) else None
        out = attend(queries, keys, values, cache, self.scale, mask)
        B, L, _ = x.shape
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1))


def project(attn: Any, x: mx.array, cache: Any) -> tuple[mx.array, mx.array, mx.array]:
    """What mlx-lm's Llama attention does before its scaled dot-product: the queries (B,
    heads, L, D), and the keys and values the cache returns (B, kv heads, S, D), rotated
    from ``cache.offset`` (from 0 without a cache, which then keeps nothing)."""
    B, L, _ = x.shape
    queries = attn.q_proj(x).reshape(B, L, attn.n_heads, -1).transpose(0, 2, 1, 3)
    keys = attn.k_proj(x).reshape(B, L, attn.n_kv_heads, -1).transpose(0, 2, 1, 3)
    values = attn.v_proj(x).reshape(B, L, attn.n_kv_heads, -1).transpose(0, 2, 1, 3)
    if cache is None:
        return attn.rope(queries), attn.rope(keys), values
    queries = attn.rope(queries, offset=cache.offset)
    keys = attn.rope(keys, offset=cache.offset)
    keys, values = cache.update_and_fetch(keys, values)
    return queries, keys, values


def compact(single: list) -> None:
    """Trim a prefix's single-row caches (one per layer) to exactly its tokens, contiguous:
    every step reads them as they are stored."""
    for layer in single:
        n = layer.offset
        layer.keys, layer.values = (mx.contiguous(a[..., :n, :]) for a in (layer.keys, layer.values))


def grouped(prefixes: list, layers: int) -> list[PrefixBatchCache]:
    """Per layer, a batch cache holding each distinct prefix once and no row tokens yet.

    ``prefixes`` has one entry per row: ``(tokens, single)`` (a tuple of the prefix's
    tokens and its :func:`compact` single-row caches, one per layer), or None.
    """
    distinct: dict[tuple[int, ...], int] = {}
    singles: list[list[KVCache]] = []
    row_group: list[int | None] = []
    for prefix in prefixes:
        if prefix is None:
            row_group.append(None)
            continue
        tokens, single = prefix
        if tokens not in distinct:
            distinct[tokens] = len(singles)
            singles.append(single)
        row_group.append(distinct[tokens])
    keys = list(distinct)
    return [PrefixBatchCache([(key, s[layer].keys[0], s[layer].values[0]) for key, s in zip(keys, singles)],
                             row_group) for layer in range(layers)]


def install(model: Any) -> bool:
    """Let ``model``'s attention layers take a :class:`PrefixBatchCache`; False if unknown.

    The layers' classes are swapped for subclasses (:mod:`~kasper.agents.runtime.layer_swap`).
    """
    return layer_swap.swap(model, "self_attn", KNOWN, PrefixAttention, "Prefix")
