"""A prefill's attention and activation in numpy (agents/runtime/host_simd.py).

Against MLX's own path on the same inputs: the shared-prefix attention (groups of
different sizes and prefix lengths, rows without a prefix, left padding, a query that
sees only its prefix, no mask); the SwiGLU is checked with fast_exp's in
tests/test_fast_exp.py (the edges of the float range included).
Which passes take it: prefill chunks in float32 on the CPU, never a decode step. numpy's
own OpenBLAS is held at one thread. On the shipped model: the engine writes the same
greedy tokens with the numpy path on and off, rows joining a running batch.
"""

from __future__ import annotations

import ctypes
import glob
import os
import random

import numpy as np
import pytest

from kasper.agents.runtime import host_simd
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.prefix_attention import PrefixBatchCache, attend
from mlx_lm.models.base import create_causal_mask

KV, REP, D = 3, 3, 16


def _inputs(n_queries: int, row_group: list[int | None], seed: int):
    mx.random.seed(seed)
    groups = [(f"p{i}", mx.random.normal((KV, n, D)), mx.random.normal((KV, n, D)))
              for i, n in enumerate([7, 12, 3])]
    B, own = len(row_group), 9
    q = mx.random.normal((B, KV * REP, n_queries, D)) * 3
    k, v = mx.random.normal((B, KV, own, D)), mx.random.normal((B, KV, own, D))
    padding = mx.array([0, 2, 4, 1, 0, 3, 5, 4][:B])
    mask = create_causal_mask(n_queries, offset=own - n_queries, left_padding=padding)
    return PrefixBatchCache(groups, row_group), q, k, v, mask


@pytest.mark.parametrize("row_group", [[1, None, 0, 1, 2, 0, 1, None], [0, 0, 0, 0], [None, None, None],
                                       [2, 1, 0, 2, 1, 0, 2, 1]])
@pytest.mark.parametrize("masked", [True, False])
def test_numpy_attention_equals_mlx_attention(monkeypatch, row_group, masked):
    cache, q, k, v, mask = _inputs(6, row_group, seed=len(row_group))
    mask = mask if masked else None
    got = host_simd.attend(q, k, v, cache, 0.25, mask)
    monkeypatch.setattr(host_simd, "ON_CPU", False)  # prefix_attention's own MLX steps
    want = attend(q, k, v, cache, 0.25, mask)
    assert got.shape == want.shape and got.dtype == mx.float32
    assert mx.abs(got - want).max().item() < 1e-5


def test_a_prefill_chunk_on_the_cpu_takes_the_numpy_path_and_a_decode_step_does_not(monkeypatch):
    calls = []
    real = host_simd.attend
    monkeypatch.setattr(host_simd, "attend", lambda *a: calls.append(a[0].shape) or real(*a))
    for n_queries in (1, 4):
        cache, q, k, v, mask = _inputs(n_queries, [0, None, 1], seed=n_queries)
        attend(q, k, v, cache, 0.25, mask)
    assert calls == [(3, KV * REP, 4, D)]
    assert host_simd.wanted(2, mx.float32) is host_simd.ON_CPU
    assert not host_simd.wanted(1, mx.float32)
    assert not host_simd.wanted(8, mx.float16)  # numpy would compute another dtype's rounding


def test_numpys_openblas_runs_one_thread():
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libscipy_openblas*.so*"))
    if not libs:
        assert host_simd.pin_numpy_blas(1) is False  # another BLAS build: nothing to pin
        return
    lib = ctypes.CDLL(libs[0])
    getter = getattr(lib, "scipy_openblas_get_num_threads64_", None) or lib.scipy_openblas_get_num_threads
    assert getter() == 1  # pinned when the module was imported (on the CPU)
    assert host_simd.pin_numpy_blas(2) is True and getter() == 2
    assert host_simd.pin_numpy_blas(1) is True and getter() == 1


@pytest.mark.model
def test_the_engine_writes_the_same_greedy_tokens_with_the_numpy_prefill(shipped_model, monkeypatch):
    from kasper.agents.runtime import model_store
    from kasper.agents.runtime.mlx_engine import Engine, Row

    assert host_simd.ON_CPU  # these machines: the path under test is the one that runs
    rnd = random.Random(7)
    prefixes = [[rnd.randrange(100, 30000) for _ in range(60 + 11 * i)] for i in range(3)]
    rows = []
    for i in range(10):
        own = [rnd.randrange(100, 30000) for _ in range(4 + rnd.randrange(30))]
        if i % 4 == 3:  # no named prefix
            rows.append(Row(own + own, 6 + i % 7, 0.0, 1.0, i))
        else:
            rows.append(Row(prefixes[i % 3] + own, 6 + i % 7, 0.0, 1.0, i, prefix=len(prefixes[i % 3])))
    tokens = {}
    for numpy_path in (False, True):
        monkeypatch.setattr(host_simd, "ON_CPU", numpy_path)
        model, tokenizer = model_store.load(shipped_model)
        engine = Engine(model, tokenizer, max_slots=6)
        # 10 rows through 6 slots: later rows are prefilled while others decode.
        tokens[numpy_path] = [o.tokens for o in engine.generate(rows)]
        assert engine.last_stats.joined > 0
    assert tokens[True] == tokens[False]
    assert all(len(t) > 0 for t in tokens[True])


@pytest.mark.parametrize("mask", ["none", "causal", "bool", "bool2d", "additive", "per_head", "row"])
def test_numpy_sdpa_equals_mlxs(mask):
    mx.random.seed(5)
    B, H, L, S, Dh = 3, KV * REP, 5, 12, D
    q, k, v = mx.random.normal((B, H, L, Dh)) * 2, mx.random.normal((B, KV, S, Dh)), mx.random.normal((B, KV, S, Dh))
    masks = {"none": None, "causal": "causal",
             "bool": mx.random.uniform(shape=(B, 1, L, S)) > 0.3,
             "bool2d": mx.random.uniform(shape=(L, S)) > 0.2,
             "additive": mx.random.normal((B, 1, L, S)) * 3,
             "per_head": mx.random.uniform(shape=(B, H, L, S)) > 0.3,
             "row": mx.random.uniform(shape=(B, 1, 1, S)) > 0.3}
    m = masks[mask]
    if isinstance(m, mx.array) and m.dtype == mx.bool_:
        m = m | (mx.arange(S) == S - 1)  # every query may attend somewhere (else MLX gives NaN)
    want = mx.fast.scaled_dot_product_attention(q, k, v, scale=0.3, mask=m)
    got = host_simd.sdpa(q, k, v, 0.3, m)
    assert got.shape == want.shape and got.dtype == mx.float32
    assert mx.abs(got - want).max().item() < 1e-5
    if mask != "none":  # the mask is applied: without it the result differs
        assert mx.abs(host_simd.sdpa(q, k, v, 0.3, None) - want).max().item() > 1e-2


def test_numpy_sdpa_rejects_an_unknown_mask_name():
    q = mx.zeros((1, KV * REP, 2, D))
    with pytest.raises(ValueError, match="unknown attention mask"):
        host_simd.sdpa(q, mx.zeros((1, KV, 2, D)), mx.zeros((1, KV, 2, D)), 1.0, "sliding")
