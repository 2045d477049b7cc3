"""The sampler's top-k from block maxima: the same tokens as a partition of the whole row."""

from __future__ import annotations

import numpy as np
import pytest

from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.mlx_engine import top_k


def _full(logits: np.ndarray, k: int) -> list[set[int]]:
    return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in logits]


def _check(logits: np.ndarray, k: int, block: int = 32) -> None:
    ids, vals = top_k(mx.array(logits), k, block)
    ids, vals = np.array(ids), np.array(vals)
    assert ids.shape == vals.shape == (logits.shape[0], k)
    for row, (got, values) in enumerate(zip(ids, vals)):
        assert len(set(got.tolist())) == k, "a token taken twice"
        np.testing.assert_array_equal(values, logits[row, got])
    assert [set(r.tolist()) for r in ids] == _full(logits, k)


@pytest.mark.parametrize("rows,vocab,k", [(1, 49152, 64), (32, 49152, 64), (3, 4096, 1), (5, 4096, 100)])
def test_random_logits_give_the_same_tokens_as_a_full_partition(rows, vocab, k):
    rng = np.random.default_rng(rows * vocab + k)
    _check((rng.standard_normal((rows, vocab)) * 4).astype(np.float32), k)


def test_the_best_tokens_packed_into_neighbouring_blocks_are_all_found():
    # An attacker's layout for a block scheme: every winner in two blocks, and decoy blocks
    # whose maxima are just below the winners' smallest value, so one decoy too many would
    # push a winner out.
    rng = np.random.default_rng(7)
    logits = rng.uniform(-10, -5, (4, 8192)).astype(np.float32)
    logits[:, 64:128] = np.linspace(10, 20, 64, dtype=np.float32)
    for b in range(10, 200):
        logits[:, b * 32] = 9.99
    _check(logits, 64)


def test_masked_tokens_and_ties_keep_the_set_of_values():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2, 4096)).astype(np.float32)
    logits[:, ::3] = -np.inf  # a logit bias that masks a third of the vocabulary
    logits[0, 100:140] = 5.0  # 40 equal best values
    ids, vals = top_k(mx.array(logits), 64)
    full = np.sort(-np.sort(-logits, axis=1)[:, :64], axis=1)
    np.testing.assert_array_equal(np.sort(np.array(vals), axis=1), full)


def test_a_vocabulary_not_a_multiple_of_the_block_or_too_few_blocks_falls_back():
    rng = np.random.default_rng(11)
    _check(rng.standard_normal((3, 49157)).astype(np.float32), 64)  # not a multiple of 32
    _check(rng.standard_normal((3, 2048)).astype(np.float32), 64)  # 64 blocks: no fewer than k
