"""A decode step in numpy: the whole model in one pass over its weights.

Why: a decode step moves the model's weights once and does little arithmetic with
them, so its floor is the memory bandwidth. MLX's CPU backend pays well above that
floor: each of a layer's sixty-odd small operations costs its own dispatch, and with
one row its matrix product takes OpenBLAS's general path rather than the matrix-vector
one. Here every operation of the step is a numpy call on arrays read in place, the
matrix products on the very OpenBLAS MLX uses (its thread count following the machine,
cores.py), so one evaluation per step remains. Measured faster at every batch size the
engine runs (docs/model-runtime.md, "Decode steps in numpy"); most of all with a few
rows, where the latency of a pipeline lives: the last revisions of a run, decoded one
or two at a time, and the trainer's golden answers, four rows a model.

:class:`HostDecoder` reads the model's own arrays without a copy through the buffer
protocol at every step (fused adapters included: a model version loaded later has its
own engine), and writes each layer's new keys and values into the rows'
:class:`~kasper.agents.runtime.prefix_attention.PrefixBatchCache` with the cache's own
``update_and_fetch``, so the cache is exactly what MLX's step leaves. Attention takes
the shared-prefix layout (:func:`~kasper.agents.runtime.host_simd.merge_prefixes`).
The logits go back to MLX, whose sampler draws the token as before; the results agree
with MLX's step up to float rounding (tests/test_host_decode.py).

:meth:`HostDecoder.of` returns None (MLX's step then serves) for a model this module
does not reproduce exactly: anything but the Llama family of mlx-lm with plain float32
linear layers without biases, RMS norms and ``nn.RoPE`` over the whole head; a device
other than the CPU; or ``KASPER_HOST_DECODE=off``.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from kasper.agents.runtime import blas, host_simd  # blas first: OpenBLAS must load before mlx.core
from kasper.agents.runtime.blas import mx

import mlx.nn as nn  # noqa: E402
import numpy as np  # noqa: E402

from kasper.agents.runtime.prefix_attention import PrefixBatchCache, PrefixAttention

# ``KASPER_HOST_DECODE=off`` keeps every step on MLX (for A/B measurements, as KASPER_BLAS).
ENABLED = os.environ.get("KASPER_HOST_DECODE", "on").lower() not in ("off", "0", "false", "no")
_NEG = np.float32(-1e30)


class HostDecoder:
    """Decode steps of ``model`` in numpy (see the module doc); build with :meth:`of`."""

    def __init__(self, model: Any) -> None:
        self.model = model
        inner = model.model
        attn = inner.layers[0].self_attn
        self.n_heads, self.n_kv, self.scale = attn.n_heads, attn.n_kv_heads, attn.scale
        rope = attn.rope
        self.rope_scale, self.traditional = rope.scale, rope.traditional
        self.inv_freq = (rope.base ** (-np.arange(0, rope.dims, 2, dtype=np.float64) / rope.dims))
        self.tied = getattr(model, "lm_head", None) is None

    @classmethod
    def of(cls, model: Any) -> "HostDecoder | None":
        """A decoder for ``model``, or None where this module does not reproduce it."""
        return cls(model) if ENABLED and host_simd.ON_CPU and _known(model) else None

    @staticmethod
    def wanted(cache: list) -> bool:
        """Whether a step over ``cache`` takes numpy: a batch cache of shared prefixes (at any
        batch size: measured faster from one row to 32)."""
        return bool(cache) and isinstance(cache[0], PrefixBatchCache)

    def logits(self, tokens: mx.array, cache: list[PrefixBatchCache]) -> mx.array:
        """One decode step: each row's next-token logits (B, vocabulary); each layer's cache
        takes the step's keys and values, as the MLX model's step would leave it."""
        mx.eval(tokens, [(c.keys, c.values, c.offset, c.left_padding) for c in cache])
        inner = self.model.model
        ids = np.asarray(tokens).reshape(-1)
        h = np.asarray(inner.embed_tokens.weight)[ids]  # (B, hidden), a copy
        cos, sin = self._rotation(np.asarray(cache[0].offset))
        for layer, c in zip(inner.layers, cache):
            h = h + self._attention(layer.self_attn, _rms(h, layer.input_layernorm), c, cos, sin)
            mlp = layer.mlp
            x = _rms(h, layer.post_attention_layernorm)
            gate, up = _linear(x, mlp.gate_proj), _linear(x, mlp.up_proj)
            h += _linear(host_simd.swiglu_np(gate, up), mlp.down_proj)
        x = _rms(h, inner.norm)
        head = inner.embed_tokens.weight if self.tied else self.model.lm_head.weight
        return mx.array(_linear(x, _Weight(head)))

    def _rotation(self, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cos and sin of each row's rotary angles at its position ``offset`` (B, dims / 2)."""
        angles = (offset.astype(np.float64) * self.rope_scale)[:, None] * self.inv_freq[None, :]
        return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)

    def _attention(self, attn: Any, x: np.ndarray, cache: PrefixBatchCache, cos: np.ndarray,
                   sin: np.ndarray) -> np.ndarray:
        B = x.shape[0]
        n_kv, rep = self.n_kv, self.n_heads // self.n_kv
        q = _rope(_linear(x, attn.q_proj).reshape(B, self.n_heads, -1), cos, sin, self.traditional)
        k = _rope(_linear(x, attn.k_proj).reshape(B, n_kv, -1), cos, sin, self.traditional)
        v = _linear(x, attn.v_proj).reshape(B, n_kv, -1)
        D = q.shape[-1]
        q = q.reshape(B, n_kv, rep, D) * np.float32(self.scale)
        # Scores over each row's own tokens so far (left padding masked), then the new one's.
        idx = cache._idx if cache.keys is not None else 0
        new = np.einsum("bhrd,bhd->bhr", q, k)[..., None]  # (B, kv, rep, 1)
        if idx:
            old_k = np.asarray(cache.keys)[:, :, :idx]
            old_v = np.asarray(cache.values)[:, :, :idx]
            scores = np.concatenate([np.matmul(q, old_k.swapaxes(-1, -2)), new], axis=-1)
            pad = np.asarray(cache.left_padding)
            if pad.any():
                masked = np.arange(idx)[None, :] < pad[:, None]  # (B, idx)
                np.copyto(scores[..., :idx], _NEG, where=masked[:, None, None, :])
        else:
            scores = new
        m_own, l_own = host_simd.softmax_parts(scores)
        out = scores[..., -1:] * v[:, :, None, :]
        if idx:
            out += np.matmul(scores[..., :idx], old_v)
            del old_k, old_v  # no view of the cache's buffers outlives the step (MLX may reuse them)
        host_simd.merge_prefixes(q, out, m_own, l_own, cache)
        cache.update_and_fetch(mx.array(k[:, :, None, :]), mx.array(v[:, :, None, :]))
        return _linear(out.reshape(B, -1), attn.o_proj)


def _linear(x: np.ndarray, layer: Any) -> np.ndarray:
    """``x @ weight.T``, the weight read in place: one row by numpy's matrix-vector product (its
    BLAS keeps one thread, the fastest for it), more on MLX's OpenBLAS, whose thread count
    follows the machine (cores.py); numpy's where that library is not there."""
    weight = np.asarray(layer.weight)
    if x.shape[0] == 1 or _SGEMM is None or not weight.flags.c_contiguous:
        return x @ weight.T
    x = np.ascontiguousarray(x, dtype=np.float32)
    (rows, inner), outer = x.shape, weight.shape[0]
    out = np.empty((rows, outer), dtype=np.float32)
    _SGEMM(_ROW_MAJOR, _NO_TRANS, _TRANS, rows, outer, inner, 1.0, x.ctypes.data, inner,
           weight.ctypes.data, inner, 0.0, out.ctypes.data, outer)
    return out


def _sgemm() -> Any:
    """``cblas_sgemm`` of the OpenBLAS that MLX's matmuls run on (blas.py loads it into the
    global scope), or None. numpy's own OpenBLAS is pinned to one thread (host_simd.py), and
    with a few rows its general path packs every weight matrix first: on two cores MLX's
    library with two threads reads the weights about twice as fast."""
    if blas.blas_info().name != "openblas":
        return None
    fn = getattr(ctypes.CDLL(None), "cblas_sgemm", None)
    if fn is None:
        return None
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    fn.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
    fn.restype = None
    return fn


_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SGEMM = _sgemm()


class _Weight:
    """A bare weight where :func:`_linear` wants a layer."""

    def __init__(self, weight: mx.array) -> None:
        self.weight = weight


def _rms(x: np.ndarray, norm: Any) -> np.ndarray:
    scale = 1.0 / np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + np.float32(norm.eps))
    return (x * scale) * np.asarray(norm.weight)


def _rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, traditional: bool) -> np.ndarray:
    """The rotary embedding of ``x`` (B, heads, D): adjacent pairs rotated (``traditional``),
    else the first half against the second, as ``mx.fast.rope``."""
    half = x.shape[-1] // 2
    first, second = (x[..., 0::2], x[..., 1::2]) if traditional else (x[..., :half], x[..., half:])
    c, s = cos[:, None, :], sin[:, None, :]
    out = np.empty_like(x)
    out_first, out_second = (out[..., 0::2], out[..., 1::2]) if traditional else (out[..., :half], out[..., half:])
    out_first[...] = first * c - second * s
    out_second[...] = first * s + second * c
    return out


def _known(model: Any) -> bool:
    """Whether every part :class:`HostDecoder` reads is one it reproduces exactly."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if not layers or not isinstance(getattr(inner, "embed_tokens", None), nn.Embedding):
        return False
    if type(getattr(inner, "norm", None)) is not nn.RMSNorm:
        return False
    head = getattr(model, "lm_head", None)
    if head is not None and not _plain(head):
        return False
    if getattr(getattr(model, "args", None), "tie_word_embeddings", head is None) != (head is None):
        return False
    if inner.embed_tokens.weight.dtype != mx.float32:
        return False
    for layer in layers:
        attn, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
        if not isinstance(attn, PrefixAttention) or getattr(layer, "use_sliding", False):
            return False
        rope = getattr(attn, "rope", None)
        if type(rope) is not nn.RoPE or rope.dims != attn.head_dim:
            return False
        parts = [getattr(attn, n, None) for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
        parts += [getattr(mlp, n, None) for n in ("gate_proj", "up_proj", "down_proj")]
        if not all(_plain(p) for p in parts):
            return False
        if any(type(getattr(layer, n, None)) is not nn.RMSNorm
               for n in ("input_layernorm", "post_attention_layernorm")):
            return False
    return True


def _plain(layer: Any) -> bool:
    """A float32 ``nn.Linear`` without a bias (not quantized, no unfused LoRA)."""
    return type(layer) is nn.Linear and "bias" not in layer and layer.weight.dtype == mx.float32
