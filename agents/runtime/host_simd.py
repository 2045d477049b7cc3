"""A prefill's elementwise work in numpy, whose kernels use the CPU's SIMD; MLX's CPU ones do not.

Why: on Linux, MLX's CPU backend runs elementwise math one float at a time. Its
``exp`` costs about ten times numpy's, whose loops use AVX2 or AVX-512 where the CPU
has them (figures in docs/model-runtime.md, "The prefill's softmax and activation in
numpy"). A prefill pass is where that work piles up: each of a chunk's tokens takes
one exp per score over its whole context (the shared few-shot prefix included) and one
per hidden unit of every MLP.

So for a prefill pass on the CPU (more than one query per row, float32):

- :func:`attend` computes the shared-prefix attention of
  :mod:`~kasper.agents.runtime.prefix_attention` (each group's prefix read once, the
  rows' own tokens per row, merged by their log-sum-exp) in numpy;
- :func:`swiglu` computes the MLP's ``silu(gate) * up`` in numpy.

Both read MLX's evaluated arrays without a copy (the buffer protocol) and hand back a
new MLX array. A decode step is not taken apart this way (an evaluation in the middle
of MLX's step costs what the numpy part saves); it is computed whole in numpy by
:mod:`~kasper.agents.runtime.host_decode`, which shares :func:`merge_prefixes`.

numpy's matmuls run on its own OpenBLAS, a second pool of threads beside the one MLX
uses (:mod:`~kasper.agents.runtime.blas`); OpenBLAS threads spin while they wait, so
two pools of two threads on two cores starve each other. :func:`pin_numpy_blas` keeps
numpy's to one thread (the engine's matmuls stay on MLX's pool, which follows the
machine).
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os

import numpy as np

from kasper.agents.runtime.blas import mx, on_cpu

_LOG = logging.getLogger(__name__)
_NEG = np.float32(-1e30)


def wanted(tokens: int, dtype: mx.Dtype) -> bool:
    """Whether a pass of ``tokens`` queries per row in ``dtype`` takes the numpy path."""
    return ON_CPU and tokens > 1 and dtype == mx.float32


def attend(queries: mx.array, keys: mx.array, values: mx.array, cache, scale: float,
           mask: mx.array | None) -> mx.array:
    """:func:`~kasper.agents.runtime.prefix_attention.attend` in numpy (same arguments, same result
    up to float rounding): ``queries`` (B, heads, N, D), the rows' own ``keys``/``values``
    (B, kv heads, S, D), ``cache`` a ``PrefixBatchCache``, ``mask`` (B, 1, N, S) or None."""
    mx.eval(queries, keys, values, *(() if mask is None else (mask,)))
    B, n_heads, N, D = queries.shape
    n_kv = keys.shape[1]
    rep = n_heads // n_kv
    # A kv head's rep query heads and N queries as one block of rows: one matmul per kv head.
    q = np.asarray(queries).reshape(B, n_kv, rep * N, D) * np.float32(scale)
    scores = np.matmul(q, np.asarray(keys).swapaxes(-1, -2))  # (B, kv, rep*N, S)
    if mask is not None:
        S = scores.shape[-1]
        np.copyto(scores.reshape(B, n_kv, rep, N, S), _NEG, where=~np.asarray(mask)[:, :, None])
    m_own, l_own = softmax_parts(scores)
    out = np.matmul(scores, np.asarray(values))  # unnormalised, (B, kv, rep*N, D)
    return mx.array(merge_prefixes(q, out, m_own, l_own, cache).reshape(B, n_heads, N, D))


def sdpa(queries: mx.array, keys: mx.array, values: mx.array, scale: float, mask) -> mx.array:
    """``mx.fast.scaled_dot_product_attention`` in numpy (same arguments and result up to float
    rounding): ``queries`` (B, heads, L, D), ``keys``/``values`` (B, kv heads, S, D); ``mask``
    None, ``"causal"`` (queries aligned to the end of the keys), a boolean array (True: may
    attend) or an additive one, broadcastable to (B, heads, L, S)."""
    arrays = [a for a in (queries, keys, values, mask) if isinstance(a, mx.array)]
    mx.eval(*arrays)
    B, n_heads, L, D = queries.shape
    n_kv, S = keys.shape[1], keys.shape[2]
    rep = n_heads // n_kv
    q = np.asarray(queries).reshape(B, n_kv, rep * L, D) * np.float32(scale)
    scores = np.matmul(q, np.asarray(keys).swapaxes(-1, -2)).reshape(B, n_kv, rep, L, S)
    if isinstance(mask, str):
        if mask != "causal":
            raise ValueError(f"unknown attention mask {mask!r}")
        allowed = np.arange(S)[None, :] <= np.arange(S - L, S)[:, None]  # (L, S)
        np.copyto(scores, _NEG, where=~allowed)
    elif mask is not None:
        m = np.asarray(mask)
        m = m.reshape((1,) * (4 - m.ndim) + m.shape)  # (B or 1, heads or 1, L or 1, S or 1)
        # A mask per head splits like the queries: heads -> (kv heads, rep).
        m = m.reshape(m.shape[0], n_kv, rep, *m.shape[2:]) if m.shape[1] == n_heads > 1 else m[:, :, None]
        if m.dtype == np.bool_:
            np.copyto(scores, _NEG, where=~m)
        else:
            scores += m.astype(np.float32)
    scores = scores.reshape(B, n_kv, rep * L, S)
    _, total = softmax_parts(scores)
    out = np.matmul(scores, np.asarray(values))
    out /= total
    return mx.array(out.reshape(B, n_heads, L, D))


def merge_prefixes(q: np.ndarray, out: np.ndarray, m_own: np.ndarray, l_own: np.ndarray, cache) -> np.ndarray:
    """Attention over each row's prefix merged into its own tokens' (in place, and returned).

    ``q`` (B, kv heads, rep * N, D), scaled; ``out`` the own tokens' unnormalised output
    (same shape), ``m_own``/``l_own`` their score maximum and weight sum per query (B, kv
    heads, rep * N, 1); ``cache`` a ``PrefixBatchCache``. Each group's prefix is read once
    for all its rows, and the two parts merge by their log-sum-exp."""
    B, n_kv, rows_q, D = q.shape
    plan = cache.plan()  # rows ordered by group, as prefix_attention.attend reads them
    order = np.asarray(plan.order)
    for g, start, end in plan.spans:
        _, prefix_keys, prefix_values = cache.groups[g]
        rows, n = order[start:end], end - start
        # The group's rows' queries (all heads) against its prefix, once per kv head.
        qg = q[rows].transpose(1, 0, 2, 3).reshape(n_kv, n * rows_q, D)
        s = np.matmul(qg, np.asarray(prefix_keys).swapaxes(-1, -2))
        m_pre, l_pre = softmax_parts(s)
        o_pre = np.matmul(s, np.asarray(prefix_values))

        def per_row(a: np.ndarray) -> np.ndarray:
            return a.reshape(n_kv, n, rows_q, -1).transpose(1, 0, 2, 3)

        m_pre, l_pre, o_pre = per_row(m_pre), per_row(l_pre), per_row(o_pre)
        m_own_g = m_own[rows]
        top = np.maximum(m_own_g, m_pre)
        a_own, a_pre = np.exp(m_own_g - top), np.exp(m_pre - top)
        out[rows] = (out[rows] * a_own + o_pre * a_pre) / (l_own[rows] * a_own + l_pre * a_pre)
    if plan.bare:  # rows without a prefix: their own tokens only
        bare = order[len(order) - plan.bare:]
        out[bare] /= l_own[bare]
    return out


def softmax_parts(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn ``scores`` in place into ``exp(scores - max)``; the max and the sum per query."""
    top = scores.max(axis=-1, keepdims=True)
    scores -= top
    np.exp(scores, out=scores)
    return top, scores.sum(axis=-1, keepdims=True)


def swiglu(gate: mx.array, up: mx.array) -> mx.array:
    """``silu(gate) * up`` in numpy (:func:`swiglu_np`), for MLX arrays."""
    mx.eval(gate, up)
    return mx.array(swiglu_np(np.asarray(gate), np.asarray(up)))


def swiglu_np(g: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``silu(g) * up``: ``g * up / (1 + exp(-g))``, in a new array."""
    out = np.negative(g)
    # exp(-g) is inf below g = -88 (g / inf = -0, the limit) and 0 far above zero (g / 1).
    with np.errstate(over="ignore", under="ignore"):
        np.exp(out, out=out)
    out += 1.0
    np.divide(g, out, out=out)
    out *= up
    return out


def pin_numpy_blas(threads: int = 1) -> bool:
    """Set the thread count of numpy's bundled OpenBLAS (see the module doc); False if numpy
    was built against another BLAS (nothing to do then)."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libscipy_openblas*.so*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads"):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(threads)
                return True
    _LOG.debug("numpy's BLAS is not a scipy-openblas build: its threads left as they are")
    return False


ON_CPU = on_cpu()
if ON_CPU:
    pin_numpy_blas(1)
