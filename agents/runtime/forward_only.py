"""Passes that need no gradient with their attention and activation in numpy.

Why: the trainer runs the frozen blocks of the model over every training row once per
window (their hidden states are kept: ``trainer/packed.py``, "The frozen blocks once"),
and again for the held-out loss. Those passes are prefills of several hundred tokens a
row, where MLX's scalar ``exp`` over the attention scores and the MLP's activation
cost most (docs/model-runtime.md, "The prefill's softmax and activation in numpy").
The engine takes numpy for them (:mod:`~kasper.agents.runtime.host_simd`); a training
model cannot keep such layers, since numpy ends the gradient.

:func:`blocks` gives the given transformer blocks, for the ``with`` block only, an
attention that computes its scaled dot-product in numpy (:func:`host_simd.sdpa`) and an
MLP whose ``silu(gate) * up`` is numpy's (:func:`host_simd.swiglu`): the same values up
to float rounding, the projections (LoRA layers included) still MLX's. Use it only
where nothing is differentiated: the result is a constant to MLX. Outside the CPU, for
another dtype, or for blocks of an architecture it does not know (mlx-lm's Llama
attention and MLP), the blocks stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kasper.agents.runtime import host_simd, layer_swap
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.prefix_attention import project

from mlx_lm.models.activations import swiglu  # noqa: E402
from mlx_lm.models.base import scaled_dot_product_attention  # noqa: E402

# mlx-lm classes whose __call__ the mixins below reproduce.
KNOWN_ATTENTION = ("mlx_lm.models.llama", "Attention")
KNOWN_MLP = ("mlx_lm.models.llama", "MLP")


class HostAttention:
    """mlx-lm's Llama attention with the scaled dot-product in numpy (float32, on the CPU)."""

    def __call__(self, x: mx.array, mask: Any = None, cache: Any = None) -> mx.array:
        queries, keys, values = project(self, x, cache)
        if queries.dtype == mx.float32:
            out = host_simd.sdpa(queries, keys, values, self.scale, mask)
        else:
            out = scaled_dot_product_attention(queries, keys, values, cache=cache, scale=self.scale, mask=mask)
        B, L, _ = x.shape
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1))


class HostMLP:
    """mlx-lm's Llama MLP with numpy's ``silu(gate) * up`` (float32, on the CPU)."""

    def __call__(self, x: mx.array) -> mx.array:
        gate, up = self.gate_proj(x), self.up_proj(x)
        act = host_simd.swiglu if gate.dtype == mx.float32 else swiglu
        return self.down_proj(act(gate, up))


@contextmanager
def blocks(layers: Sequence[Any]) -> Iterator[None]:
    """Within the ``with`` block, ``layers`` (transformer blocks) take :class:`HostAttention`
    and :class:`HostMLP` where they know them; their own classes come back after, whatever
    happens. A no-op off the CPU."""
    swapped: list[tuple[Any, type]] = []
    try:
        if host_simd.ON_CPU:
            for layer in layers:
                for name, known, mixin in (("self_attn", KNOWN_ATTENTION, HostAttention),
                                           ("mlp", KNOWN_MLP, HostMLP)):
                    module = getattr(layer, name, None)
                    cls = type(module)
                    if module is None or (cls.__module__, cls.__name__) != known:
                        continue
                    module.__class__ = layer_swap.mixed(mixin, cls, "Host")
                    swapped.append((module, cls))
        yield
    finally:
        for module, cls in swapped:
            module.__class__ = cls
