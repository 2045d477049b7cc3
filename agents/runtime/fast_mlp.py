"""The MLP's SwiGLU with a cheap exp, for inference on the CPU.

Why: MLX's CPU ``exp`` is scalar, and so are its ``sigmoid`` and ``silu``. A SwiGLU
MLP takes one per element of its hidden layer (1,536 per token on the shipped model),
so in a prefill the activation cost more than the down projection's matmul
(docs/model-runtime.md, "The MLP's activation"). :func:`~kasper.agents.runtime.fast_exp.swiglu`
computes the same ``silu(gate) * up`` from the polynomial exp the attention already
uses, fused by ``mx.compile``.

:func:`install` swaps the MLP class of a model whose layers it knows (the Llama family of
mlx-lm) for a subclass that calls it; the parameter tree is unchanged, so weights,
adapters and fused LoRA layers stay as they are. The engine and the judge install it on
the models they serve; the trainer's models keep mlx-lm's exact activation.
"""

from __future__ import annotations

from typing import Any

from kasper.agents.runtime import host_simd, layer_swap
from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.fast_exp import swiglu

# mlx-lm MLP classes whose __call__ (down(swiglu(gate(x), up(x)))) this module reproduces.
KNOWN = {("mlx_lm.models.llama", "MLP")}


class _FastMLP:
    """Mixed into a known MLP class."""

    def __call__(self, x: mx.array) -> mx.array:
        gate, up = self.gate_proj(x), self.up_proj(x)  # type: ignore[attr-defined]
        # A prefill pass on the CPU: numpy's SIMD exp (host_simd.py); a decode step stays lazy.
        act = host_simd.swiglu if host_simd.wanted(x.shape[1], x.dtype) else swiglu
        return self.down_proj(act(gate, up))  # type: ignore[attr-defined]


def install(model: Any) -> bool:
    """Give ``model``'s MLP layers the fast activation; False (and nothing changed) if unknown."""
    return layer_swap.swap(model, "mlp", KNOWN, _FastMLP, "Fast")
