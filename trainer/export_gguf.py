"""A trained adapter as a llama.cpp LoRA GGUF, so llama-server can serve a model version.

The trainer writes MLX LoRA adapters (``adapters.safetensors`` + ``adapter_config.json``,
:mod:`.lora`). llama.cpp loads LoRA adapters from a GGUF of its own layout
(``llama-server -m BASE.gguf --lora ADAPTER.gguf``), which :func:`to_gguf` writes:

- names: ``model.layers.N.self_attn.q_proj.lora_a`` becomes ``blk.N.attn_q.weight.lora_a``
  (llama.cpp's tensor names for the seven projections of a llama block);
- layout: MLX computes ``y += scale * (x @ a) @ b`` with ``a`` (in, rank) and ``b``
  (rank, out); llama.cpp stores A as (rank, in) and B as (out, rank) and adds
  ``(alpha / rank) * B (A x)``, so both are transposed and ``adapter.lora.alpha`` is
  ``scale * rank``;
- Q and K need no permutation: the MLX model is converted from the same GGUF
  (:mod:`kasper.agents.runtime.gguf` keeps llama.cpp's interleaved Q/K layout and
  sets ``rope_traditional``), so an adapter trained on it is in llama.cpp's layout.

docs/model-runtime.md ("llama.cpp as the generation engine") says how it was checked
against llama.cpp itself.

Error policy: :class:`AdapterExportError` for an adapter directory that cannot be
exported (a missing or unreadable file, a fine-tune type other than LoRA, a tensor
with no llama.cpp name, an ``a``/``b`` pair that does not fit), naming the directory
and what is wrong; nothing is written then. Write errors (``OSError``) propagate.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from kasper.agents.runtime.blas import mx  # first: OpenBLAS must load before mlx.core

import numpy as np  # noqa: E402

from .adapters import ADAPTER_CONFIG, ADAPTER_FILE  # noqa: E402
from .errors import AdapterExportError  # noqa: E402

_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down"}
_KEY = re.compile(r"^model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.lora_([ab])$")


def gguf_name(mlx_key: str) -> str | None:
    """llama.cpp's name for an MLX LoRA tensor, or None when it has none."""
    match = _KEY.match(mlx_key)
    if match is None:
        return None
    layer, projection, side = match.groups()
    return f"blk.{layer}.{_NAMES[projection]}.weight.lora_{side}"


def to_gguf(adapter_dir: Path, out: Path | None = None) -> Path:
    """Write the adapter in ``adapter_dir`` as a llama.cpp LoRA GGUF (default
    ``adapter_dir/adapter.gguf``) and return its path."""
    adapter_dir = Path(adapter_dir)
    out = Path(out) if out is not None else adapter_dir / "adapter.gguf"
    try:
        config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        weights = mx.load(str(adapter_dir / ADAPTER_FILE))
    except (OSError, ValueError, RuntimeError) as exc:
        raise AdapterExportError(f"{adapter_dir}: cannot read the adapter: {exc}") from exc
    if config.get("fine_tune_type", "lora") != "lora":
        raise AdapterExportError(f"{adapter_dir}: fine_tune_type {config['fine_tune_type']!r}; "
                                 "only LoRA adapters have a llama.cpp form")
    params = config.get("lora_parameters") or {}
    if not isinstance(params.get("rank"), int) or not isinstance(params.get("scale"), (int, float)):
        raise AdapterExportError(f"{adapter_dir}: {ADAPTER_CONFIG} has no lora_parameters rank and scale")
    rank, scale = params["rank"], float(params["scale"])
    arrays = {}
    for key, value in weights.items():
        name = gguf_name(key)
        if name is None:
            raise AdapterExportError(f"{adapter_dir}: tensor {key!r} has no llama.cpp name")
        if value.ndim != 2 or rank not in ((value.shape[1],) if key.endswith("_a") else (value.shape[0],)):
            raise AdapterExportError(f"{adapter_dir}: tensor {key!r} of shape {tuple(value.shape)} "
                                     f"does not fit rank {rank}")
        arrays[name] = mx.array(np.ascontiguousarray(np.array(value.astype(mx.float32)).T))
    missing = sorted({n[:-1] + ("b" if n.endswith("a") else "a") for n in arrays} - set(arrays))
    if missing or not arrays:
        raise AdapterExportError(f"{adapter_dir}: LoRA tensors without their pair: {missing or 'no tensors'}")
    metadata = {"general.type": "adapter", "general.architecture": "llama", "adapter.type": "lora",
                "adapter.lora.alpha": mx.array(scale * rank, dtype=mx.float32)}
    tmp = out.with_name(f".{out.name}.tmp.gguf")  # save_gguf adds .gguf to any other name
    mx.save_gguf(str(tmp), arrays, metadata)
    os.replace(tmp, out)
    return out
