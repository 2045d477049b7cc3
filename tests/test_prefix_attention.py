"""Shared-prefix attention: the same attention as over each row's whole context.

The function alone (random keys and values, no model): rows in groups of different
sizes and prefix lengths, a row without a prefix, one query token (decode) and
several (a prefill chunk with its causal mask and left padding), compared with
``mx.fast.scaled_dot_product_attention`` over each row's prefix and own tokens
concatenated. The cache's bookkeeping: rows leaving (``filter``) and joining
(``extend``) keep each row with its own prefix. On the shipped model: the engine
writes the same greedy tokens with shared prefixes as with prefixes copied into
every row, also when rows join a running batch.
"""

from __future__ import annotations

import random

import pytest

from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.prefix_attention import PrefixBatchCache, attend, install
from mlx_lm.models.base import create_causal_mask

KV, REP, D = 3, 3, 16


def _groups(lengths: list[int], seed: int) -> list[tuple[str, mx.array, mx.array]]:
    mx.random.seed(seed)
    return [(f"p{i}", mx.random.normal((KV, n, D)), mx.random.normal((KV, n, D))) for i, n in enumerate(lengths)]


def _reference(q, own_k, own_v, groups, row_group, mask):
    """Plain attention per row over [its prefix; its own tokens]."""
    outs = []
    for b, g in enumerate(row_group):
        k, v, m = own_k[b:b + 1], own_v[b:b + 1], mask[b:b + 1]
        if g is not None:
            _, pk, pv = groups[g]
            k = mx.concatenate([pk[None], k], axis=2)
            v = mx.concatenate([pv[None], v], axis=2)
            m = mx.concatenate([mx.ones((1, 1, m.shape[2], pk.shape[1]), dtype=mx.bool_), m], axis=-1)
        outs.append(mx.fast.scaled_dot_product_attention(q[b:b + 1], k, v, scale=0.25, mask=m))
    return mx.concatenate(outs, axis=0)


@pytest.mark.parametrize("n_queries", [1, 5])
def test_attention_equals_attention_over_the_whole_context(n_queries):
    groups = _groups([7, 12, 3], seed=1)
    row_group = [1, None, 0, 1, 2, 0, 1, None]
    B, own = len(row_group), 9
    cache = PrefixBatchCache(groups, row_group)
    mx.random.seed(2)
    q = mx.random.normal((B, KV * REP, n_queries, D))
    k, v = mx.random.normal((B, KV, own, D)), mx.random.normal((B, KV, own, D))
    # Rows left-padded by different amounts; causal over the last n_queries tokens.
    # Row 6's first query lies in its padding: it sees its prefix only (a row without a
    # prefix has no such query in a real batch).
    padding = mx.array([0, 2, 4, 1, 0, 3, 5, 4])
    mask = create_causal_mask(n_queries, offset=own - n_queries, left_padding=padding)
    want = _reference(q, k, v, groups, row_group, mask)
    got = attend(q, k, v, cache, 0.25, mask)
    assert got.shape == want.shape
    assert mx.abs(got - want).max().item() < 1e-5


def test_rows_without_any_prefix_get_plain_attention():
    cache = PrefixBatchCache([], [None, None, None])
    mx.random.seed(3)
    q = mx.random.normal((3, KV * REP, 1, D))
    k, v = mx.random.normal((3, KV, 6, D)), mx.random.normal((3, KV, 6, D))
    mask = create_causal_mask(1, offset=5, left_padding=mx.array([0, 1, 2]))
    want = mx.fast.scaled_dot_product_attention(q, k, v, scale=0.25, mask=mask)
    assert mx.abs(attend(q, k, v, cache, 0.25, mask) - want).max().item() < 1e-5


def test_rows_keep_their_prefix_when_rows_leave_and_join():
    groups = _groups([4, 6, 8], seed=4)
    cache = PrefixBatchCache(groups[:2], [0, 1, 0, None])
    assert cache.offset.tolist() == [4, 6, 4, 0]
    cache.filter(mx.array([1, 3]))  # group 0 has no row left: dropped, group 1 renumbered
    assert [key for key, _, _ in cache.groups] == ["p1"]
    assert cache.row_group == [0, None]
    other = PrefixBatchCache([groups[2], groups[1]], [0, 1, 1])
    cache.extend(other)
    assert [key for key, _, _ in cache.groups] == ["p1", "p2"]
    assert cache.row_group == [0, None, 1, 0, 0]
    assert cache.offset.tolist() == [6, 0, 8, 6, 6]
    plan = cache.plan()
    assert plan.order.tolist() == [0, 3, 4, 2, 1] and plan.bare == 1
    assert plan.spans == [(0, 0, 3), (1, 3, 4)]
    assert [plan.inverse.tolist()[row] for row in plan.order.tolist()] == list(range(5))


def test_an_unknown_architecture_is_left_alone():
    class Other:
        layers = [type("Layer", (), {"self_attn": object()})()]

    assert install(Other()) is False
    assert install(object()) is False


@pytest.mark.model
def test_the_engine_writes_the_same_tokens_with_shared_prefixes():
    from kasper.agents.runtime import model_store
    from kasper.agents.runtime.mlx_engine import Engine, Row
    from kasper.streams.settings import ModelSettings

    directory = model_store.resolve_model_dir(ModelSettings())
    rnd = random.Random(5)
    prefixes = [[rnd.randrange(100, 30000) for _ in range(40 + 9 * i)] for i in range(3)]

    def rows(seed: int, n: int) -> list[Row]:
        r = random.Random(seed)
        out = []
        for i in range(n):
            own = [r.randrange(100, 30000) for _ in range(5 + r.randrange(12))]
            if i % 4 == 3:  # no named prefix
                out.append(Row(own + own, 6 + i % 7, 0.0, 1.0, i))
            else:
                prefix = prefixes[i % 3]
                out.append(Row(prefix + own, 6 + i % 7, 0.0, 1.0, i, prefix=len(prefix)))
        return out

    tokens = {}
    for shared in (False, True):
        model, tokenizer = model_store.load(directory, None)
        engine = Engine(model, tokenizer, max_slots=6, shared_prefixes=shared)
        assert engine.shared_prefixes is shared
        # 10 rows of different lengths through 6 slots: later rows join the running batch.
        tokens[shared] = [o.tokens for o in engine.generate(rows(6, 10))]
        assert engine.last_stats.joined > 0
    assert tokens[True] == tokens[False]
    assert all(len(t) > 0 for t in tokens[True])
