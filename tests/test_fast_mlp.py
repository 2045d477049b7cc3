"""The MLP's fast SwiGLU (agents/runtime/fast_mlp.py) on the shipped model against mlx-lm's own.

The activation alone is checked in tests/test_fast_exp.py; here, on the real model: the
same hidden states and next-token distribution through all 30 layers, the same greedy
tokens from the engine, and an architecture the module does not know is left alone.
"""

from __future__ import annotations

import pytest

from kasper.agents.runtime import fast_mlp
from kasper.agents.runtime.blas import mx
from mlx.utils import tree_flatten


def test_an_unknown_architecture_is_left_alone():
    class Other:
        layers = [type("Layer", (), {"mlp": object()})()]

    assert fast_mlp.install(Other()) is False
    assert fast_mlp.install(object()) is False


def _mlp_classes(model) -> set[type]:
    return {type(layer.mlp) for layer in model.layers}


@pytest.mark.model
def test_the_model_computes_what_mlx_lm_computes(shipped_model):
    from kasper.agents.runtime import model_store

    model, tokenizer = model_store.load(shipped_model)
    tokens = mx.array([tokenizer.encode("Your Leo sun asks you to rest this week; write down one thing you "
                                        "will say no to, and say it by Friday.")])
    original = _mlp_classes(model)
    names = [name for name, _ in tree_flatten(model.parameters())]
    want = model(tokens)
    assert fast_mlp.install(model) is True
    assert fast_mlp.install(model) is True  # twice changes nothing
    fast = _mlp_classes(model)
    assert len(fast) == 1 and fast != original and issubclass(fast.pop(), tuple(original))
    got = model(tokens)
    logp_want = want - mx.logsumexp(want, axis=-1, keepdims=True)
    logp_got = got - mx.logsumexp(got, axis=-1, keepdims=True)
    # Float rounding of 30 layers, far below what a sampled token depends on.
    assert mx.abs(logp_got - logp_want).max().item() < 2e-3
    assert (mx.argmax(got, axis=-1) == mx.argmax(want, axis=-1)).all().item()
    # The parameter tree is the one mlx-lm built: adapters and the trainer see the same model.
    assert [name for name, _ in tree_flatten(model.parameters())] == names


@pytest.mark.model
def test_the_engine_writes_the_same_greedy_tokens(shipped_model):
    from kasper.agents.runtime import model_store
    from kasper.agents.runtime.mlx_engine import Engine, Row

    prompts = ["Write one sentence about the moon.", "Name three colours of autumn leaves.",
               "Give one tip for sleeping better."]
    tokens = {}
    for fast in (False, True):
        model, tokenizer = model_store.load(shipped_model)
        rows = [Row(list(tokenizer.apply_chat_template([{"role": "user", "content": p}],
                                                       add_generation_prompt=True)), 24, 0.0, 1.0, i)
                for i, p in enumerate(prompts)]
        original = [type(layer.mlp) for layer in model.layers]
        engine = Engine(model, tokenizer, max_slots=3)
        assert _mlp_classes(model) != set(original)  # the engine installed the fast MLP
        if not fast:  # back to mlx-lm's class: the exact activation
            for layer, cls in zip(model.layers, original):
                layer.mlp.__class__ = cls
        tokens[fast] = [o.tokens for o in engine.generate(rows)]
    assert tokens[True] == tokens[False]
    assert all(len(t) > 3 for t in tokens[True])
