"""The attention weights' exp (agents/runtime/fast_exp.py) against MLX's exact one; the SwiGLU
from it, and numpy's (agents/runtime/host_simd.py, a prefill pass's), against MLX's sigmoid."""

from __future__ import annotations

import math

import pytest

import numpy as np

from kasper.agents.runtime import host_simd
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.fast_exp import _exp_shifted, exp_shifted, gelu, swiglu

# (the activation, its relative error bound): the polynomial exp's, and numpy's exact exp.
SWIGLUS = [pytest.param(swiglu, 2e-5, id="fast_exp"), pytest.param(host_simd.swiglu, 2e-6, id="numpy")]


def relative_error(got: mx.array, want: mx.array, floor: float = 1e-14) -> float:
    return (mx.abs(got - want) / mx.maximum(want, floor)).max().item()


@pytest.mark.parametrize("shape", [(4, 3, 1, 200), (4, 3, 1, 201), (2, 3, 3, 17, 96), (1, 7)])
def test_it_matches_exp_where_a_weight_counts_for_any_shape(shape):
    mx.random.seed(sum(shape))
    # Attention scores spread wider than real ones (real differences stay within ~30).
    x = mx.random.normal(shape) * 12
    m = x.max(axis=-1, keepdims=True)
    got, want = exp_shifted(x, m), mx.exp(x - m)
    assert got.shape == want.shape
    assert relative_error(got, want) < 2e-5
    # Where exp is below 1e-14 the weight is off by less than that, never by more.
    assert mx.abs(got - want).max().item() < 2e-5


def test_masked_and_far_scores_give_zero_or_a_tiny_weight_never_nan_or_more_than_one():
    z = mx.array([[0.0, -1e-6, -1.0, -31.9, -32.0, -64.0, -500.0, -1e30, -math.inf, -3.4e38]])
    got = exp_shifted(z, mx.zeros((1, 1)))
    values = got.tolist()[0]
    assert values[0] == 1.0 and all(0.0 <= v <= 1.0 for v in values)
    assert values[7:] == [0.0, 0.0, 0.0]
    assert relative_error(got[:, :5], mx.exp(z[:, :5])) < 2e-5
    assert values[5] < 1e-26 and values[6] < 1e-40


def test_the_unfused_formula_gives_the_same_weights():
    mx.random.seed(3)
    x = mx.random.normal((8, 64)) * 5
    m = x.max(axis=-1, keepdims=True)
    assert mx.abs(exp_shifted(x, m) - _exp_shifted(x, m)).max().item() < 1e-6


def test_softmax_from_it_sums_to_one_and_keeps_the_order():
    mx.random.seed(4)
    x = mx.random.normal((16, 300)) * 4
    w = exp_shifted(x, x.max(axis=-1, keepdims=True))
    p = w / w.sum(axis=-1, keepdims=True)
    assert mx.abs(p.sum(axis=-1) - 1).max().item() < 1e-5
    assert mx.abs(p - mx.softmax(x, axis=-1)).max().item() < 1e-5
    assert (mx.argmax(p, axis=-1) == mx.argmax(x, axis=-1)).all().item()


def reference_swiglu(gate: mx.array, up: mx.array) -> mx.array:
    return gate * mx.sigmoid(gate) * up  # MLX's own (scalar) sigmoid


@pytest.mark.parametrize("activation,bound", SWIGLUS)
@pytest.mark.parametrize("shape", [(236, 1536), (32, 1, 1536), (4, 9, 1536), (7,)])
def test_swiglu_matches_silu_times_up(shape, activation, bound):
    mx.random.seed(len(shape))
    gate, up = mx.random.normal(shape) * 6, mx.random.normal(shape)
    got, want = activation(gate, up), reference_swiglu(gate, up)
    assert got.shape == want.shape and got.dtype == mx.float32
    # Relative to the activation's own scale: where silu is tiny (gate far below 0) the
    # absolute error is tinier still.
    assert (mx.abs(got - want) / (mx.abs(up) * mx.maximum(mx.abs(gate), 1.0))).max().item() < bound


@pytest.mark.parametrize("activation,bound", SWIGLUS)
def test_swiglu_at_the_edges_is_finite_and_exact_where_it_is_known(activation, bound):
    gate = mx.array([0.0, -0.0, 1e-30, -1e-30, 30.0, -30.0, 88.0, -88.0, 1e4, -1e4, 3.4e38, -3.4e38])
    with np.errstate(all="raise"):  # numpy's: nothing but the overflow it expects and silences
        got = activation(gate, mx.ones(gate.shape)).tolist()
    assert not any(math.isnan(v) or math.isinf(v) for v in got)
    assert got[:4] == pytest.approx([0.0, 0.0, 5e-31, -5e-31], abs=1e-35)
    assert got[4] == pytest.approx(30.0) and got[6] == 88.0 and got[8] == 1e4 and got[10] == pytest.approx(3.4e38)
    assert -1e-11 < got[5] < 0 and -1e-30 < got[7] <= 0 and got[9] == 0.0 and got[11] == 0.0


def test_gelu_matches_berts_erf_gelu_across_the_range():
    x = mx.concatenate([mx.linspace(-40, 40, 80001), mx.random.normal((20000,)) * 4])
    want = 0.5 * x * (1.0 + mx.erf(x / math.sqrt(2.0)))  # MLX's own (scalar) erf
    assert mx.abs(gelu(x) - want).max().item() < 2e-6


def test_gelu_keeps_its_relative_precision_far_below_zero_and_is_finite_at_the_edges():
    # Below zero GELU is x * erfc(|x| / sqrt 2) / 2: tiny, and must not become a rounded 0 - 0.
    for v in (-5.0, -8.0, -10.0):
        want = 0.5 * v * math.erfc(-v / math.sqrt(2.0))
        assert gelu(mx.array([v])).item() == pytest.approx(want, rel=2e-2)
    got = gelu(mx.array([0.0, 1e-30, -1e-30, 50.0, -50.0, 3.4e38, -3.4e38])).tolist()
    assert not any(math.isnan(v) or math.isinf(v) for v in got)
    assert got[0] == 0.0 and got[3] == 50.0 and got[5] == pytest.approx(3.4e38)
    assert got[4] == 0.0 and got[6] == 0.0
