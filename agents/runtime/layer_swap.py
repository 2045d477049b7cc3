"""Swap a model's layers of one kind for subclasses that add a faster ``__call__``.

Why a class swap rather than new modules: the parameter tree stays the one mlx-lm built,
so weights, LoRA adapters, fusing and the trainer see the same model. Used by the
shared-prefix attention (:mod:`~kasper.agents.runtime.prefix_attention`) and the fast
MLP (:mod:`~kasper.agents.runtime.fast_mlp`).
"""

from __future__ import annotations

from typing import Any

# (mixin, original class) -> the subclass made for them, made once.
_MIXED: dict[tuple[type, type], type] = {}


def swap(model: Any, attribute: str, known: set[tuple[str, str]], mixin: type, prefix: str) -> bool:
    """Give every layer's ``attribute`` module ``mixin`` in front of its class; False (and
    nothing changed) unless every one is of a ``known`` (module, class name) or has it already."""
    layers = getattr(model, "layers", None)
    if not layers:
        return False
    modules = [getattr(layer, attribute, None) for layer in layers]
    if any(m is None or (type(m).__module__, type(m).__name__) not in known and not isinstance(m, mixin)
           for m in modules):
        return False
    for module in modules:
        if not isinstance(module, mixin):
            module.__class__ = mixed(mixin, type(module), prefix)
    return True


def mixed(mixin: type, cls: type, prefix: str) -> type:
    """``cls`` with ``mixin`` in front of it, made once per pair."""
    if (mixin, cls) not in _MIXED:
        _MIXED[mixin, cls] = type(f"{prefix}{cls.__name__}", (mixin, cls), {})
    return _MIXED[mixin, cls]
