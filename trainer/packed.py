"""Answer log-probs with each prompt computed once: the preference losses' forward pass.

Why: a preference batch scores several answers per prompt. KTO scores each thumbed
answer and, for its KL estimate, another example's answer after the same prompt;
DPO scores a chosen and a rejected answer after one prompt. The prompts (system
message, the domain's few-shot turns, the user's context) are several times longer
than the answers, so running every row as a whole sequence spends most of a step,
and of the reference pass, on prompts computed twice, and on vocabulary logits for
prompt positions whose loss is masked anyway.

Here a batch is two passes of the same model:

1. **prompts**: each distinct prompt once, up to (not including) its last token,
   through the transformer without the output head; each layer's keys and values
   are kept (:class:`_Keep`);
2. **answers**: each row's last prompt token and its answer, with rotary positions
   continuing from its prompt's length, attending to its prompt's kept keys and
   values (gathered by index, padding masked) and causally to its own tokens
   (:class:`_AfterPrompt`). Every logit of this pass predicts an answer token.

Both passes are ordinary differentiable MLX ops, so gradients reach the LoRA weights
through the prompt's keys and values as they do through a whole sequence; the
result equals :func:`sequence_logps` on the whole rows up to float rounding (a test
compares them on the shipped model). It needs an mlx-lm model whose ``model.model``
takes a per-layer cache list and whose attention reads ``cache.offset``,
``cache.update_and_fetch`` and ``cache.make_mask`` (the Llama family, among others).

Layouts follow mlx-lm's: widths padded to 1 + a multiple of 32 (fewer distinct shapes
for the compiled step), a sequence as ``(tokens, answer start)``.

**The frozen blocks once.** LoRA trains the last few transformer blocks only (a tier's
``num_layers``); the embedding and every block below them are frozen, so what they
make of a batch is the same at every step. :func:`lower_states` runs them once and
keeps both passes' hidden states where the first trainable block starts; a pack
carrying them (:func:`with_states`) runs only the trainable blocks each step. The
forward pass is linear in the blocks it runs, so a step of the standard tier (8 of
30 blocks) computes about a third of it, and the backward pass is unchanged. The
states cost the model's hidden size in float32 per token (2.3 KB on the shipped
model). Same values and gradients as the whole pass, up to float rounding (tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kasper.agents.runtime.blas import mx  # first: OpenBLAS must load before mlx.core
from kasper.agents.runtime import forward_only

import mlx.nn as nn  # noqa: E402
import numpy as np  # noqa: E402
from mlx.utils import tree_flatten  # noqa: E402
from mlx_lm.models.base import create_attention_mask  # noqa: E402
from mlx_lm.tuner.trainer import default_loss  # noqa: E402

Seq = tuple[list[int], int]  # (tokens, where the answer starts): mlx-lm's prompt-masked layout


def _width(n: int, max_len: int) -> int:
    return max(1, min(1 + 32 * ((n + 31) // 32), max_len))


def pad(seqs: Sequence[Seq], max_len: int) -> tuple[Any, Any]:
    """Whole rows in mlx-lm's batch layout: padded to 1 + a multiple of 32, lengths as [offset, length]."""
    lengths = [min(len(t), max_len) for t, _ in seqs]
    width = _width(max(lengths), max_len)
    arr = np.zeros((len(seqs), width), np.int32)
    for j, (tokens, _) in enumerate(seqs):
        arr[j, :lengths[j]] = tokens[:lengths[j]]
    return mx.array(arr), mx.array([[offset, n] for (_, offset), n in zip(seqs, lengths)])


def sequence_logps(model: Any, tokens: Any, lengths: Any) -> tuple[Any, Any]:
    """Per whole row: the answer's summed log-prob and its token count (prompt and padding
    masked): what :func:`packed_logps` computes in two passes, the plain way.

    The answer's tokens only: mlx-lm's ``default_loss`` mask (``steps <= length``) also
    takes the padding token after a row's end as a target."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps < lengths[:, 1:])
    logps = -nn.losses.cross_entropy(logits, targets) * mask
    return logps.astype(mx.float32).sum(axis=-1), mask.sum(axis=-1)


def pack(seqs: Sequence[Seq], max_len: int) -> tuple[Any, ...]:
    """``(prompts, prompt_lengths, answers, answer_lengths, prompt_of)`` for rows ``seqs``.

    Rows whose prompts are equal share one prompt row. A row's answer part is its last
    prompt token and its answer (cut at ``max_len`` as a whole row would be); its
    targets are the answer tokens. Every row's answer must start before ``max_len - 1``.
    """
    index: dict[tuple[int, ...], int] = {}
    prompt_of, answers = [], []
    for tokens, offset in seqs:
        if not 1 <= offset < max_len:
            raise ValueError(f"an answer starts at {offset}, outside [1, {max_len})")
        prompt_of.append(index.setdefault(tuple(tokens[:offset - 1]), len(index)))
        answers.append(tokens[offset - 1:min(len(tokens), max_len)])
    prompts = list(index)
    p_len = [len(p) for p in prompts]
    # Inputs exclude each answer part's last token (nothing after it to predict).
    a_len = [len(a) - 1 for a in answers]
    p_arr = np.zeros((len(prompts), _width(max(p_len), max_len)), np.int32)
    for j, p in enumerate(prompts):
        p_arr[j, :len(p)] = p
    a_arr = np.zeros((len(answers), _width(max(len(a) for a in answers), max_len)), np.int32)
    for j, a in enumerate(answers):
        a_arr[j, :len(a)] = a
    return (mx.array(p_arr), mx.array(p_len), mx.array(a_arr), mx.array(a_len),
            mx.array(prompt_of, mx.int32))


class _Keep:
    """Pass 1's per-layer cache: keeps the prompts' rotated keys and values."""

    offset = 0

    def update_and_fetch(self, keys: Any, values: Any) -> tuple[Any, Any]:
        self.keys, self.values = keys, values
        return keys, values


class _AfterPrompt:
    """Pass 2's per-layer cache: each row's prompt keys and values before its own."""

    def __init__(self, kept: _Keep, prompt_of: Any, offset: Any, mask: Any) -> None:
        self.prompt_keys = mx.take(kept.keys, prompt_of, axis=0)
        self.prompt_values = mx.take(kept.values, prompt_of, axis=0)
        self.offset, self._mask = offset, mask

    def update_and_fetch(self, keys: Any, values: Any) -> tuple[Any, Any]:
        return (mx.concatenate([self.prompt_keys, keys], axis=2),
                mx.concatenate([self.prompt_values, values], axis=2))

    def make_mask(self, n: int, **_kw: Any) -> Any:
        return self._mask


def packed_logps(model: Any, prompts: Any, prompt_lengths: Any, answers: Any, answer_lengths: Any,
                 prompt_of: Any, prompt_states: Any = None, answer_states: Any = None, *,
                 frozen: int | None = None) -> tuple[Any, Any]:
    """Per row (arrays from :func:`pack`): the answer's summed log-prob and its token count.

    With the frozen blocks' states (:func:`with_states`; empty arrays mean none), only
    the blocks above them run: above ``frozen`` blocks (None: :func:`frozen_blocks`)."""
    mask = _answer_mask(prompts, prompt_lengths, answers, prompt_of)
    width = answers.shape[1] - 1
    if prompt_states is None or prompt_states.size == 0:
        frozen = 0
    elif frozen is None:
        frozen = frozen_blocks(model)
    if frozen:
        inner = model.model
        _, hidden = _two_passes(inner.layers[frozen:], prompt_states, answer_states,
                                prompt_lengths, prompt_of, mask)
        logits = _logits(model, inner.norm(hidden))
    else:
        inner = model.model
        kept = [_Keep() for _ in inner.layers]
        inner(prompts, cache=kept)
        caches = [_AfterPrompt(k, prompt_of, prompt_lengths[prompt_of], mask) for k in kept]
        logits = model(answers[:, :-1], cache=caches)
    valid = mx.arange(width)[None, :] < answer_lengths[:, None]
    logps = -nn.losses.cross_entropy(logits, answers[:, 1:]) * valid
    return logps.astype(mx.float32).sum(axis=-1), valid.sum(axis=-1)


def _answer_mask(prompts: Any, prompt_lengths: Any, answers: Any, prompt_of: Any) -> Any:
    """Query i of a row sees its prompt's real tokens and its own tokens 0..i."""
    row_len = prompt_lengths[prompt_of]
    width = answers.shape[1] - 1
    steps = mx.arange(width)
    sees_prompt = mx.arange(prompts.shape[1])[None, None, :] < row_len[:, None, None]
    sees_own = steps[None, None, :] <= steps[None, :, None]
    return mx.concatenate([mx.broadcast_to(sees_prompt, (answers.shape[0], width, prompts.shape[1])),
                           mx.broadcast_to(sees_own, (answers.shape[0], width, width))], axis=2)[:, None]


def _two_passes(blocks: Sequence[Any], prompt_h: Any, answer_h: Any, prompt_lengths: Any,
                prompt_of: Any, mask: Any) -> tuple[Any, Any]:
    """The prompts' and the answers' hidden states after ``blocks``, from those before them."""
    kept = [_Keep() for _ in blocks]
    prompt_mask = create_attention_mask(prompt_h, kept[0])
    for block, cache in zip(blocks, kept):
        prompt_h = block(prompt_h, prompt_mask, cache=cache)
    row_len = prompt_lengths[prompt_of]
    for block, k in zip(blocks, kept):
        answer_h = block(answer_h, mask, cache=_AfterPrompt(k, prompt_of, row_len, mask))
    return prompt_h, answer_h


def _logits(model: Any, hidden: Any) -> Any:
    if getattr(model, "lm_head", None) is not None:
        return model.lm_head(hidden)
    return model.model.embed_tokens.as_linear(hidden)


# Models whose blocks run as ``block(h, mask, cache=)`` between ``embed_tokens`` and ``norm``,
# with the output head ``lm_head`` or the tied embedding (what _two_passes and _logits do).
_SPLITTABLE = {"mlx_lm.models.llama"}
NO_STATES = mx.zeros((0,), mx.float32)


def _blocks(model: Any) -> list:
    """``model``'s transformer blocks when this module can split it, else none."""
    blocks = getattr(getattr(model, "model", None), "layers", None)
    return list(blocks) if type(model).__module__ in _SPLITTABLE and blocks else []


def measuring(model: Any) -> Any:
    """A ``with`` block for passes of ``model`` that nothing differentiates (reference values,
    held-out losses): its blocks compute attention and activation in numpy
    (:mod:`~kasper.agents.runtime.forward_only`)."""
    return forward_only.blocks(_blocks(model))


def frozen_blocks(model: Any) -> int:
    """How many of ``model``'s first blocks (and its embedding) have nothing to train: 0 for
    a model this module cannot split, or one whose every block trains (or none)."""
    blocks = _blocks(model)
    if not blocks or tree_flatten(model.model.embed_tokens.trainable_parameters()):
        return 0
    for i, block in enumerate(blocks):
        if tree_flatten(block.trainable_parameters()):
            return i
    return 0


def first_adapted(model: Any) -> int:
    """The index of ``model``'s first block holding a LoRA layer (the block count when none
    does); 0 for a model this module cannot split. The blocks below it are the base
    model's, whatever adapter is loaded."""
    blocks = _blocks(model)
    for i, block in enumerate(blocks):
        if any(hasattr(m, "lora_a") for _, m in block.named_modules()):
            return i
    return len(blocks)


def lower_states(model: Any, rows: tuple, frozen: int, start: int = 0,
                 states: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """The prompts' and the answers' hidden states after the first ``frozen`` blocks
    (evaluated); from ``states``, those after the first ``start`` blocks, when given."""
    prompts, prompt_lengths, answers, _answer_lengths, prompt_of = rows[:5]
    inner = model.model
    mask = _answer_mask(prompts, prompt_lengths, answers, prompt_of)
    if states is None:
        start, states = 0, (inner.embed_tokens(prompts), inner.embed_tokens(answers[:, :-1]))
    with forward_only.blocks(inner.layers[start:frozen]):
        states = _two_passes(inner.layers[start:frozen], *states, prompt_lengths, prompt_of, mask)
    states = tuple(mx.stop_gradient(s) for s in states)
    mx.eval(states)
    return states


def row_states(model: Any, batch: Any, frozen: int) -> Any:
    """Whole rows' hidden states after the first ``frozen`` blocks (evaluated): the inputs
    ``batch[:, :-1]`` of mlx-lm's ``default_loss``, causal."""
    inner = model.model
    h = inner.embed_tokens(batch[:, :-1])
    mask = create_attention_mask(h, None)
    with forward_only.blocks(inner.layers[:frozen]):
        for block in inner.layers[:frozen]:
            h = block(h, mask, cache=None)
    h = mx.stop_gradient(h)
    mx.eval(h)
    return h


def keeping_row_states(batches: Any, model: Any) -> Any:
    """SFT training batches with their frozen blocks' states (:func:`row_states`),
    made the first time a batch comes and kept: mlx-lm's batching forms the same batches
    every epoch, in another order. Validation batches are left as they are."""
    frozen = frozen_blocks(model)
    kept: dict[bytes, Any] = {}

    def iterate(dataset, batch_size, max_seq_length, loop=False, **kw):
        source = batches(dataset, batch_size, max_seq_length, loop=loop, **kw)
        if not loop or not frozen:
            yield from source
            return
        for batch, lengths in source:
            key = np.asarray(batch).tobytes() + np.asarray(lengths).tobytes()
            if key not in kept:
                kept[key] = row_states(model, batch, frozen)
            yield batch, lengths, kept[key]
    return iterate


def sft_loss(model: Any, batch: Any, lengths: Any, states: Any = None) -> tuple[Any, Any]:
    """mlx-lm's ``default_loss`` (the same mask and mean), from the frozen blocks' states
    when given (:func:`row_states`): only the blocks above them run."""
    frozen = 0 if states is None else frozen_blocks(model)
    if not frozen:
        return default_loss(model, batch, lengths)
    inner = model.model
    h = states
    mask = create_attention_mask(h, None)
    for block in inner.layers[frozen:]:
        h = block(h, mask, cache=None)
    logits = _logits(model, inner.norm(h))
    targets = batch[:, 1:]
    mask = default_mask(lengths, targets.shape[1])
    ntoks = mask.sum()
    ce = (nn.losses.cross_entropy(logits, targets) * mask).astype(mx.float32).sum() / ntoks
    return ce, ntoks


def default_mask(lengths: Any, width: int) -> Any:
    """mlx-lm's ``default_loss`` mask over ``width`` targets: from the answer's start through
    the row's length, so the padding token after a row's end is a target too."""
    steps = mx.arange(1, width + 1)
    return mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])


def with_states(model: Any, rows: tuple) -> tuple:
    """A pack (:func:`pack`, 5 arrays) as 7: with the frozen blocks' states when ``model``
    has frozen blocks, else two empty arrays (the whole pass runs)."""
    frozen = frozen_blocks(model)
    states = lower_states(model, rows, frozen) if frozen else (NO_STATES, NO_STATES)
    return (*rows[:5], *states)


def without_states(rows: tuple) -> tuple:
    """A pack as 7 arrays, the states left for :func:`with_states` to fill."""
    return (*rows[:5], NO_STATES, NO_STATES)


def has_states(rows: tuple) -> bool:
    return len(rows) > 5 and rows[5].size > 0


def mean_nll(model: Any, *rows: Any) -> Any:
    """Each packed row's mean token loss over its answer."""
    logps, ntoks = packed_logps(model, *rows)
    return -logps / mx.maximum(ntoks, 1)
