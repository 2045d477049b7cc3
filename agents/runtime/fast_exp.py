"""``exp(x - m)`` for attention weights, three times cheaper than ``mx.exp`` on the CPU.

Why: MLX's CPU ``exp`` is scalar (about 20-25 ns per element on this project's
machines, against about 1 ns for a fused multiply-add), and attention takes one per
score: with the few-shot exemplars in every prompt it is the largest cost that
grows with the context (docs/model-runtime.md). Softmax weights only need
``exp(z)`` for ``z = x - max <= 0``, and only to a relative precision far below
what decides a sampled token, so:

    exp(z) = (1 / T(-z / 32)) ** 32

with ``T`` the degree-9 Taylor polynomial of ``exp`` (all terms positive, so
``T >= 1`` and the result stays in ``[0, 1]`` however negative ``z`` is: a masked
score of -1e30 gives exactly 0) and five squarings. Relative error below 2e-5
wherever the weight is above 1e-14; smaller weights are below anything float32
attention adds up. ``mx.compile`` fuses the 25 operations into a few passes over
memory; where it cannot compile, the same formula runs op by op (still correct).

The same exp serves :func:`swiglu`, the activation of a SwiGLU MLP (``silu(gate) * up``):
MLX's CPU ``sigmoid`` is scalar too, and an MLP takes one per hidden unit and token
(:mod:`~kasper.agents.runtime.fast_mlp`), and :func:`gelu`, BERT's erf GELU for the
quality gates' sentence encoder: MLX's CPU ``erf`` is scalar as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from kasper.agents.runtime.blas import mx

_COEFFICIENTS = tuple(1.0 / math.factorial(i) for i in range(10))
_SQUARINGS = 5


def _exp_shifted(x: mx.array, m: mx.array) -> mx.array:
    u = (x - m) * (-1.0 / 2 ** _SQUARINGS)
    q = _COEFFICIENTS[-1]
    for c in reversed(_COEFFICIENTS[:-1]):
        q = q * u + c
    p = 1.0 / q
    for _ in range(_SQUARINGS):
        p = p * p
    return p


_fused: Callable[[mx.array, mx.array], mx.array] | None = None


def exp_shifted(x: mx.array, m: mx.array) -> mx.array:
    """``exp(x - m)`` for ``x <= m`` (``m`` broadcast against ``x``: its row maxima)."""
    global _fused
    if _fused is None:
        _fused = _compiled()
    return _fused(x, m)


def _swiglu(gate: mx.array, up: mx.array) -> mx.array:
    # sigmoid(g) from e = exp(-|g|) <= 1: 1 / (1 + e) for g >= 0, e / (1 + e) below.
    e = _exp_shifted(-mx.abs(gate), 0.0)
    return gate * (mx.where(gate >= 0, 1.0, e) / (1.0 + e)) * up


_fused_swiglu: Callable[[mx.array, mx.array], mx.array] | None = None


def swiglu(gate: mx.array, up: mx.array) -> mx.array:
    """``silu(gate) * up`` (a SwiGLU MLP's activation) with the sigmoid's exp as above."""
    global _fused_swiglu
    if _fused_swiglu is None:
        _fused_swiglu = _compiled(_swiglu)
    return _fused_swiglu(gate, up)


# Abramowitz and Stegun 7.1.26: erf(z) = 1 - t (a1 + a2 t + ... + a5 t^4) exp(-z^2) for
# z >= 0, t = 1 / (1 + p z), absolute error below 1.5e-7.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _gelu(x: mx.array) -> mx.array:
    size = mx.abs(x)
    z = size * (1.0 / math.sqrt(2.0))
    t = 1.0 / (1.0 + _ERF_P * z)
    poly = _ERF_A[-1]
    for a in reversed(_ERF_A[:-1]):
        poly = poly * t + a
    # tail = 1 - erf(|x| / sqrt 2), so x (1 + erf(x / sqrt 2)) / 2 = max(x, 0) - |x| tail / 2:
    # below zero exactly -|x| tail / 2 (no 1 - 1 cancellation), and no ``where`` (slow in
    # MLX's compiled CPU kernels).
    tail = t * poly * _exp_shifted(-(z * z), 0.0)
    return mx.maximum(x, 0.0) - 0.5 * size * tail


_fused_gelu: Callable[[mx.array], mx.array] | None = None


def gelu(x: mx.array) -> mx.array:
    """BERT's exact GELU ``0.5 x (1 + erf(x / sqrt 2))`` to about 1e-6 absolute."""
    global _fused_gelu
    if _fused_gelu is None:
        _fused_gelu = _compiled(_gelu, arity=1)
    return _fused_gelu(x)


def _compiled(fn: Callable[..., mx.array] = _exp_shifted, arity: int = 2) -> Callable[..., mx.array]:
    # Compiled on first use (MLX builds CPU kernels with the system's C++ compiler into
    # its cache under the temporary directory), and tried once: a compile error shows
    # only when the result is evaluated.
    try:
        fused = mx.compile(fn, shapeless=True)
        mx.eval(fused(*(mx.zeros((2, 3)), mx.zeros((2, 1)))[:arity]))
        return fused
    except Exception:  # noqa: BLE001  (no compiler for MLX's CPU kernels: the same formula, unfused)
        return fn
