"""Decode steps in numpy (agents/runtime/host_decode.py).

Against MLX's own step on the same cache, on the shipped model: the logits and the cache
each step leaves (two prefix groups, a row without a prefix, rows of different lengths so
left padding is masked; the base model and one with a fused adapter); the engine writes
the same greedy tokens with the path on and off, rows joining a running batch. The parts:
the rotary embedding (both layouts, a position per row) against ``mx.fast.rope``, the
matrix product on MLX's OpenBLAS against numpy's. Models it does not reproduce (attention
not installed, an unfused LoRA layer, quantized weights) and ``KASPER_HOST_DECODE=off``
keep MLX's step.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from kasper.agents.runtime import host_decode
from kasper.agents.runtime.blas import mx


@pytest.mark.parametrize("traditional", [True, False])
def test_the_rotary_embedding_equals_mlxs_at_each_rows_position(traditional):
    import mlx.nn as nn

    mx.random.seed(3)
    x = mx.random.normal((4, 5, 1, 16))  # (B, heads, 1 query, D), as a decode step's queries
    offset = mx.array([0, 7, 600, 4095])
    rope = nn.RoPE(16, traditional=traditional, base=100000.0)
    want = np.asarray(rope(x, offset=offset))[:, :, 0]
    decoder = host_decode.HostDecoder.__new__(host_decode.HostDecoder)
    decoder.rope_scale, decoder.traditional = 1.0, traditional
    decoder.inv_freq = 100000.0 ** (-np.arange(0, 16, 2, dtype=np.float64) / 16)
    cos, sin = decoder._rotation(np.asarray(offset))
    got = host_decode._rope(np.asarray(x)[:, :, 0], cos, sin, traditional)
    assert np.abs(got - want).max() < 1e-4 * np.abs(want).max()
    # The other layout is a different function: the check can tell them apart.
    other = host_decode._rope(np.asarray(x)[:, :, 0], cos, sin, not traditional)
    assert np.abs(other - want).max() > 0.1


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_the_matrix_product_equals_numpys(rows):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 48), dtype=np.float32)
    weight = mx.array(rng.standard_normal((80, 48), dtype=np.float32))
    layer = host_decode._Weight(weight)
    got = host_decode._linear(x, layer)
    want = x @ np.asarray(weight).T
    assert got.shape == (rows, 80) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-4
    # A weight stored transposed (not row-major) is read right too.
    layer = host_decode._Weight(mx.array(rng.standard_normal((48, 80), dtype=np.float32)).T)
    assert np.abs(host_decode._linear(x, layer) - x @ np.asarray(layer.weight).T).max() < 1e-4


def _rows(seed: int):
    from kasper.agents.runtime.mlx_engine import Row

    rnd = random.Random(seed)
    prefixes = [[rnd.randrange(100, 30000) for _ in range(50 + 13 * i)] for i in range(2)]
    rows = []
    for i in range(5):
        own = [rnd.randrange(100, 30000) for _ in range(3 + 9 * i)]  # different lengths: left padding
        if i == 2:  # no named prefix
            rows.append(Row(own + own, 4 + 3 * i, 0.0, 1.0, i))
        else:
            rows.append(Row(prefixes[i % 2] + own, 4 + 3 * i, 0.0, 1.0, i, prefix=len(prefixes[i % 2])))
    return rows


def _compare_steps(model, tokenizer, steps: int = 3) -> None:
    from kasper.agents.runtime.decode import EngineStats, Live, Slots
    from kasper.agents.runtime.mlx_engine import Engine

    engine = Engine(model, tokenizer)
    assert engine.host is not None  # the path under test is the one the engine takes
    rows = _rows(5)
    cache, last = engine.prefill(rows, EngineStats())
    slots = Slots(engine)
    current = slots.admit([Live(r, i, None, lambda: None, 0.0, tokenizer) for i, r in enumerate(rows)],
                          cache, last, None)
    assert len(slots.cache[0].groups) == 2 and np.asarray(slots.cache[0].left_padding).any()
    for _ in range(steps):
        want = model(current[:, None], cache=slots.cache)[:, -1, :]
        mx.eval(want, [c.state for c in slots.cache])
        after = [(np.array(c.keys[:, :, c._idx - 1]), np.array(c.values[:, :, c._idx - 1]),
                  np.array(c.offset), c._idx) for c in slots.cache]
        for c in slots.cache:
            c.trim(1)
        got = engine.host.logits(current, slots.cache)
        mx.eval(got, [c.state for c in slots.cache])
        scale = np.abs(np.asarray(want)).max()
        assert np.abs(np.asarray(got) - np.asarray(want)).max() < 1e-4 * scale
        assert (np.asarray(got).argmax(-1) == np.asarray(want).argmax(-1)).all()
        for c, (keys, values, offset, idx) in zip(slots.cache, after):
            assert c._idx == idx and (np.asarray(c.offset) == offset).all()
            assert np.abs(np.asarray(c.keys[:, :, idx - 1]) - keys).max() < 1e-3
            assert np.abs(np.asarray(c.values[:, :, idx - 1]) - values).max() < 1e-3
        current = mx.argmax(got, axis=-1)


@pytest.mark.model
def test_a_numpy_step_equals_mlxs_and_leaves_the_same_cache(shipped_model):
    from kasper.agents.runtime import model_store

    _compare_steps(*model_store.load(shipped_model))


@pytest.mark.model
def test_a_numpy_step_reads_a_fused_adapters_weights(shipped_model, tmp_path):
    from tests.helpers import lora_adapter

    from kasper.agents.runtime import model_store
    from kasper.agents.runtime.mlx_backend import fuse_lora

    adapter = lora_adapter(shipped_model, tmp_path / "adapter", seed=11, layers=4)
    model, tokenizer = model_store.load(shipped_model, adapter)
    fuse_lora(model)
    _compare_steps(model, tokenizer, steps=2)


@pytest.mark.model
def test_the_engine_writes_the_same_greedy_tokens_with_numpy_decode_steps(shipped_model, monkeypatch):
    from kasper.agents.runtime import model_store
    from kasper.agents.runtime.mlx_engine import Engine

    rows = _rows(9) + _rows(10)
    tokens = {}
    for enabled in (False, True):
        monkeypatch.setattr(host_decode, "ENABLED", enabled)
        model, tokenizer = model_store.load(shipped_model)
        engine = Engine(model, tokenizer, max_slots=6)
        assert (engine.host is not None) is enabled
        # 10 rows through 6 slots: later rows are prefilled while others decode.
        tokens[enabled] = [o.tokens for o in engine.generate(rows)]
        assert engine.last_stats.joined > 0
    assert tokens[True] == tokens[False]
    assert all(len(t) > 0 for t in tokens[True])


@pytest.mark.model
def test_models_it_does_not_reproduce_keep_mlxs_step(shipped_model, tmp_path):
    import mlx.nn as nn
    from tests.helpers import lora_adapter

    from kasper.agents.runtime import model_store
    from kasper.agents.runtime.prefix_attention import install

    model, _ = model_store.load(shipped_model)
    assert host_decode.HostDecoder.of(model) is None  # its attention does not take shared prefixes
    assert install(model) and host_decode.HostDecoder.of(model) is not None
    adapter = lora_adapter(shipped_model, tmp_path / "adapter", seed=3, layers=2)
    unfused, _ = model_store.load(shipped_model, adapter)  # LoRA layers beside the weights
    assert install(unfused) and host_decode.HostDecoder.of(unfused) is None
    nn.quantize(model, group_size=64, bits=8)
    assert host_decode.HostDecoder.of(model) is None
