"""Answer log-probs with each prompt computed once (trainer/packed.py) against the plain
whole-row computation, on the shipped model: the same values, the same gradients, and no
row reading another row's answer or a shorter prompt's padding."""

from __future__ import annotations

import pytest

from kasper.trainer import packed

MAX_LEN = 512


def test_pack_shares_equal_prompts_and_names_a_bad_offset():
    a = ([1, 2, 3, 4, 5, 6], 3)
    b = ([1, 2, 3, 9, 9], 3)  # the same prompt (tokens before the last prompt token)
    c = ([7, 2, 3, 4], 3)
    prompts, p_len, answers, a_len, prompt_of = packed.pack([a, b, c], MAX_LEN)
    assert prompt_of.tolist() == [0, 0, 1]
    assert p_len.tolist() == [2, 2]
    assert prompts[:, :2].tolist() == [[1, 2], [7, 2]]
    # An answer part: the last prompt token, then the answer; inputs drop its last token.
    assert answers[0, :4].tolist() == [3, 4, 5, 6] and a_len.tolist() == [3, 2, 1]
    # Cut at max_len as a whole row would be.
    assert packed.pack([([1, 2, 3, 4, 5, 6, 7, 8], 3)], 5)[3].tolist() == [2]
    with pytest.raises(ValueError, match="an answer starts at 0"):
        packed.pack([([1, 2], 0)], MAX_LEN)
    with pytest.raises(ValueError, match="an answer starts at 9, outside"):
        packed.pack([([1] * 12, 9)], 8)


def _rows(tokenizer):
    """Rows as the trainer builds them: two answers to one prompt, and a prompt of another
    length (so padding sits between a short prompt and its answer in the packed layout)."""
    from kasper.trainer.preference import encode

    system = {"role": "system", "content": "You write short personal insights to the reader."}
    long_prompt = [system, {"role": "user", "content": "Career, focus: a job offer in another city, "
                                                       "and a partner who would rather stay. Tarot: the Hermit."}]
    short_prompt = [system, {"role": "user", "content": "Sleep."}]
    answer = lambda t: [{"role": "assistant", "content": t}]  # noqa: E731
    return [encode(tokenizer, long_prompt, answer("Write down what the new city gives you that staying "
                                                  "cannot, and read it to your partner tonight.")),
            encode(tokenizer, long_prompt, answer("Everything happens for a reason.")),
            encode(tokenizer, short_prompt, answer("Put the phone in another room at ten, and keep the "
                                                   "lights low for the last hour before bed."))]


@pytest.mark.model
def test_packed_log_probs_equal_whole_rows(shipped_model):
    from kasper.agents.runtime import model_store

    model, tokenizer = model_store.load(shipped_model)
    rows = _rows(tokenizer)
    whole, whole_n = packed.sequence_logps(model, *packed.pad(rows, MAX_LEN))
    two_pass, two_pass_n = packed.packed_logps(model, *packed.pack(rows, MAX_LEN))
    assert two_pass_n.tolist() == whole_n.tolist() == [len(t) - o for t, o in rows]
    assert two_pass.tolist() == pytest.approx(whole.tolist(), rel=1e-4)
    # A row does not read its neighbour's answer: another second answer leaves the first's value.
    other = _rows(tokenizer)
    other[1] = (other[1][0][:other[1][1]] + other[0][0][other[0][1]:][::-1], other[1][1])
    changed, _ = packed.packed_logps(model, *packed.pack(other, MAX_LEN))
    assert changed[0].item() == pytest.approx(two_pass[0].item(), rel=1e-5)
    assert changed[1].item() != pytest.approx(two_pass[1].item(), rel=1e-2)
    # Cut at max_len: the same tokens scored as the whole row cut there.
    cut = rows[0][1] + 5
    assert packed.packed_logps(model, *packed.pack(rows[:1], cut))[1].tolist() == [5]
    assert packed.packed_logps(model, *packed.pack(rows[:1], cut))[0].item() == pytest.approx(
        packed.sequence_logps(model, *packed.pad(rows[:1], cut))[0].item(), rel=1e-4)


@pytest.mark.model
def test_packed_gradients_equal_whole_rows(shipped_model):
    """The LoRA weights' gradients through the kept prompt keys and values, as through whole rows."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from kasper.agents.runtime import model_store

    model, tokenizer = model_store.load(shipped_model)
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 4, "scale": 20.0, "dropout": 0.0})
    # LoRA's B starts at zero, which would leave A's gradient zero: give B values.
    lora = [m for _, m in model.named_modules() if hasattr(m, "lora_b")]
    for i, module in enumerate(lora):
        module.lora_b = mx.random.normal(module.lora_b.shape, key=mx.random.key(i)) * 0.01
    rows = _rows(tokenizer)
    whole = nn.value_and_grad(model, lambda m, *a: packed.sequence_logps(m, *a)[0][:2].sum())
    two_pass = nn.value_and_grad(model, lambda m, *a: packed.packed_logps(m, *a)[0][:2].sum())
    v1, g1 = whole(model, *packed.pad(rows, MAX_LEN))
    v2, g2 = two_pass(model, *packed.pack(rows, MAX_LEN))
    assert v2.item() == pytest.approx(v1.item(), rel=1e-4)
    _same_gradients(g1, g2, len(lora), 1e-3)


def _lora_model(shipped_model, layers: int):
    """The shipped model with LoRA on its last ``layers`` blocks, B given values (it starts at
    zero, which would leave A's gradient zero)."""
    import mlx.core as mx
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from kasper.agents.runtime import model_store

    model, tokenizer = model_store.load(shipped_model)
    model.freeze()
    linear_to_lora_layers(model, layers, {"rank": 4, "scale": 20.0, "dropout": 0.0})
    lora = [m for _, m in model.named_modules() if hasattr(m, "lora_b")]
    for i, module in enumerate(lora):
        module.lora_b = mx.random.normal(module.lora_b.shape, key=mx.random.key(i)) * 0.01
    return model, tokenizer, lora


@pytest.mark.model
def test_frozen_block_states_give_the_same_values_and_gradients(shipped_model):
    """A pack carrying the frozen blocks' states runs the trainable blocks only, with the
    whole pass's log-probs and LoRA gradients; a model with nothing to train, or every block
    training, carries none."""
    import mlx.nn as nn

    model, tokenizer, lora = _lora_model(shipped_model, 3)
    blocks = len(model.model.layers)
    assert packed.frozen_blocks(model) == blocks - 3
    rows = packed.pack(_rows(tokenizer), MAX_LEN)
    carried = packed.with_states(model, rows)
    assert len(carried) == 7 and packed.has_states(carried)
    assert carried[5].shape[:2] == rows[0].shape and carried[6].shape[0] == rows[2].shape[0]
    assert not packed.has_states(packed.without_states(rows))
    whole = nn.value_and_grad(model, lambda m, *a: packed.packed_logps(m, *a)[0][:2].sum())
    v1, g1 = whole(model, *rows)
    v2, g2 = whole(model, *carried)
    assert v2.item() == pytest.approx(v1.item(), rel=1e-5)
    values = packed.packed_logps(model, *rows)[0].tolist()
    assert packed.packed_logps(model, *carried)[0].tolist() == pytest.approx(values, rel=1e-5)
    _same_gradients(g1, g2, len(lora), 1e-4)
    # The states are what the trainable blocks read: other states, other values.
    shifted = (*rows, carried[5] * 1.5, carried[6] * 1.5)
    assert packed.packed_logps(model, *shifted)[0].tolist() != pytest.approx(values, rel=1e-3)

    from kasper.agents.runtime import model_store

    plain, _ = model_store.load(shipped_model)
    assert packed.frozen_blocks(plain) == 0  # nothing trains: no split
    plain.freeze()
    assert packed.frozen_blocks(plain) == 0
    assert not packed.has_states(packed.with_states(plain, rows))
    every, _, _ = _lora_model(shipped_model, blocks)
    assert packed.frozen_blocks(every) == 0


@pytest.mark.model
def test_evaluation_loss_is_the_answer_tokens_loss(shipped_model):
    """The held-out loss (trainer/evaluate.py) takes the packed pass for prompt-masked
    examples: each example's summed loss over its answer tokens, as the whole row gives it,
    in the caller's order; an unmasked example (offset 0) still counts every token."""
    from kasper.agents.runtime import model_store
    from kasper.trainer.evaluate import per_example_loss

    model, tokenizer = model_store.load(shipped_model)
    rows = _rows(tokenizer)
    losses, counts = per_example_loss(model, rows, 2, MAX_LEN)
    whole, whole_n = packed.sequence_logps(model, *packed.pad(rows, MAX_LEN))
    assert counts == whole_n.tolist() == [len(t) - o for t, o in rows]
    assert losses == pytest.approx([-v for v in whole.tolist()], rel=1e-4)
    unmasked, n = per_example_loss(model, [(rows[2][0], 0)], 2, MAX_LEN)
    assert n[0] >= len(rows[2][0]) - 1 and unmasked[0] > losses[2]


@pytest.mark.model
def test_sft_loss_from_frozen_block_states_equals_mlx_lm_default_loss(shipped_model):
    """An SFT step from the frozen blocks' states (trainer/lora.py's SFT batches) has mlx-lm's
    ``default_loss`` value and LoRA gradients; without states it is ``default_loss`` itself."""
    import mlx.nn as nn
    from mlx_lm.tuner.trainer import default_loss

    model, tokenizer, lora = _lora_model(shipped_model, 3)
    batch, lengths = packed.pad(_rows(tokenizer), MAX_LEN)
    states = packed.row_states(model, batch, packed.frozen_blocks(model))
    assert states.shape[:2] == (batch.shape[0], batch.shape[1] - 1)
    plain = nn.value_and_grad(model, lambda m, *a: default_loss(m, *a)[0])
    ours = nn.value_and_grad(model, lambda m, *a: packed.sft_loss(m, *a)[0])
    (v1, g1), (v2, g2) = plain(model, batch, lengths), ours(model, batch, lengths, states)
    assert v2.item() == pytest.approx(v1.item(), rel=1e-5)
    assert packed.sft_loss(model, batch, lengths)[0].item() == v1.item()
    assert packed.sft_loss(model, batch, lengths, states)[1].item() == default_loss(model, batch, lengths)[1].item()
    _same_gradients(g1, g2, len(lora), 1e-4)
    # The states are what the blocks above read: others give another loss.
    assert packed.sft_loss(model, batch, lengths, states * 1.5)[0].item() != pytest.approx(v1.item(), rel=1e-3)


def _same_gradients(g1, g2, lora_layers: int, tolerance: float) -> None:
    """Every LoRA weight's gradient nonzero in ``g1`` and within ``tolerance`` of its scale in ``g2``."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    g1, g2 = dict(tree_flatten(g1)), dict(tree_flatten(g2))
    assert g1.keys() == g2.keys() and len(g1) == 2 * lora_layers
    for name in g1:
        scale = mx.abs(g1[name]).max().item()
        assert scale > 0, name
        assert mx.abs(g1[name] - g2[name]).max().item() <= tolerance * scale, name
