"""Passes nothing differentiates, with attention and activation in numpy (agents/runtime/forward_only.py).

The swap lasts for its ``with`` block only (the classes come back after an error too),
touches only the classes it reproduces, and does nothing off the CPU. On the shipped
model, against MLX's own path: the frozen blocks' states the trainer keeps
(``packed.lower_states``, prompts shared by two rows), the answers' log-probs and the
held-out loss from them; and a training step's gradient after a measured pass is
MLX's (the blocks are MLX's again).
"""

from __future__ import annotations

import numpy as np
import pytest

from kasper.agents.runtime import forward_only, host_simd
from kasper.agents.runtime.blas import mx


class _Other:
    def __call__(self, x):
        return x


class _Layer:
    def __init__(self, attn, mlp):
        self.self_attn, self.mlp = attn, mlp


def _llama_block():
    from mlx_lm.models import llama

    args = llama.ModelArgs(model_type="llama", hidden_size=64, num_hidden_layers=1, intermediate_size=96,
                           num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, vocab_size=50)
    return llama.TransformerBlock(args)


def test_the_swap_lasts_for_its_block_only_even_after_an_error(monkeypatch):
    monkeypatch.setattr(host_simd, "ON_CPU", True)
    block, other = _llama_block(), _Layer(_Other(), _Other())
    attn_cls, mlp_cls = type(block.self_attn), type(block.mlp)
    with pytest.raises(RuntimeError, match="boom"):
        with forward_only.blocks([block, other]):
            assert isinstance(block.self_attn, forward_only.HostAttention)
            assert isinstance(block.mlp, forward_only.HostMLP)
            assert type(other.self_attn) is _Other and type(other.mlp) is _Other  # unknown: untouched
            raise RuntimeError("boom")
    assert type(block.self_attn) is attn_cls and type(block.mlp) is mlp_cls


def test_a_swapped_block_computes_what_mlxs_computes(monkeypatch):
    monkeypatch.setattr(host_simd, "ON_CPU", True)
    block = _llama_block()
    mx.random.seed(2)
    x = mx.random.normal((2, 7, 64))
    for mask in ("causal", None):
        want = block(x, mask, cache=None)
        with forward_only.blocks([block]):
            got = block(x, mask, cache=None)
        assert mx.abs(got - want).max().item() < 1e-4 * mx.abs(want).max().item()


def test_off_the_cpu_nothing_is_swapped(monkeypatch):
    monkeypatch.setattr(host_simd, "ON_CPU", False)
    block = _llama_block()
    cls = type(block.self_attn)
    with forward_only.blocks([block]):
        assert type(block.self_attn) is cls


def _rows():
    from kasper.trainer import packed

    rng = np.random.default_rng(0)
    seqs = []
    for i in range(3):
        prompt = rng.integers(100, 30000, 120 + 30 * i).tolist()
        seqs.append((prompt + rng.integers(100, 30000, 20 + 7 * i).tolist(), len(prompt)))
    seqs.append((seqs[0][0][:120] + rng.integers(100, 30000, 15).tolist(), 120))  # the first row's prompt
    return packed.pack(seqs, 512)


@pytest.mark.model
def test_the_trainers_measured_passes_equal_mlxs(shipped_model, monkeypatch):
    from kasper.agents.runtime import model_store
    from kasper.trainer import packed

    model, _ = model_store.load(shipped_model)
    rows = _rows()
    results = {}
    for numpy_path in (False, True):
        monkeypatch.setattr(host_simd, "ON_CPU", numpy_path)
        states = packed.lower_states(model, rows, 20)
        with packed.measuring(model):
            logps, _ = packed.packed_logps(model, *rows, *states, frozen=20)
            mx.eval(logps)
        results[numpy_path] = [np.array(s) for s in states] + [np.array(logps)]
    for got, want in zip(results[True], results[False]):
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    assert (np.asarray(results[True][-1]) < 0).all()


@pytest.mark.model
def test_a_training_gradient_after_a_measured_pass_is_mlxs(shipped_model, monkeypatch):
    import mlx.nn as nn
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from kasper.agents.runtime import model_store
    from kasper.trainer import packed

    monkeypatch.setattr(host_simd, "ON_CPU", True)
    model, _ = model_store.load(shipped_model)
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 4, "scale": 10.0, "dropout": 0.0})
    rows = _rows()
    with packed.measuring(model):
        mx.eval(packed.packed_logps(model, *rows)[0])
    assert not any(isinstance(layer.mlp, forward_only.HostMLP) for layer in model.model.layers)

    def loss(m):
        return -packed.packed_logps(m, *rows)[0].sum()

    _, grads = nn.value_and_grad(model, loss)(model)
    values = [np.array(g) for _, g in tree_flatten(grads)]
    assert values and all(np.isfinite(v).all() for v in values)
    assert any(np.abs(v).max() > 0 for v in values)  # the LoRA layers get a gradient
