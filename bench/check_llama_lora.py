"""Does llama.cpp apply an exported adapter as MLX does? Next-token distributions, side by side.

A correctness check of ``kasper models gguf`` (trainer/export_gguf.py) against llama.cpp
itself, which CI cannot build: run it by hand after ``sh bench/build_llama_cpp.sh``.

The adapter is the one given (``--adapter DIR``, a version directory), or one made here:
the standard tier's LoRA layers on the shipped model with seeded random ``b``
(``--strength``), so the adapter moves the distribution far more than a short
training window does. For a few fixed texts it prints the top next tokens and their
probabilities under the base model and under base + adapter, from MLX in process
and from ``llama-server -m <shipped gguf> --lora <exported gguf>``, and the largest
difference on tokens both list. The base rows show what the engines' own numerics
differ by (llama.cpp multiplies Q4_1 weights with 8-bit activations; ours runs the
dequantized weights in float32); the adapter rows should differ by about as much.

    python bench/check_llama_lora.py [--llama-cpp-bin DIR] [--adapter DIR] [--strength 0.03]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from kasper.agents.runtime.blas import mx  # noqa: F401  (OpenBLAS before mlx.core)

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from mlx.utils import tree_flatten  # noqa: E402
from mlx_lm.tuner.utils import linear_to_lora_layers, load_adapters  # noqa: E402

from kasper.agents.runtime import model_store  # noqa: E402
from kasper.trainer.config import TrainerConfig  # noqa: E402
from kasper.trainer.export_gguf import to_gguf  # noqa: E402

import llama_anchor  # noqa: E402  (beside this script)

TEXTS = ("The card you drew today is the Hermit, and", "Your life path number is seven. Tonight,",
         "Breathe in slowly and", "You have been carrying a lot this week, so")


def make_adapter(out: Path, strength: float) -> Path:
    """The standard tier's LoRA layers on the shipped model, ``b`` drawn at ``strength``."""
    params = TrainerConfig.from_settings().tiers["standard"]
    model, _ = model_store.load(model_store.resolve_model_dir())
    model.freeze()
    linear_to_lora_layers(model, params.num_layers, params.lora_parameters())
    rng = np.random.default_rng(0)
    weights = {k: (mx.array(rng.normal(0, strength, v.shape).astype(np.float32)) if k.endswith("lora_b") else v)
               for k, v in tree_flatten(model.trainable_parameters())}
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / "adapters.safetensors"), weights)
    (out / "adapter_config.json").write_text(json.dumps({
        "fine_tune_type": "lora", "num_layers": params.num_layers, "lora_parameters": params.lora_parameters()}))
    return out


def mlx_top(model, ids: list[int], k: int = 5) -> dict[int, float]:
    probs = np.array(mx.softmax(model(mx.array([ids]))[0, -1].astype(mx.float32)))
    return {int(t): float(probs[t]) for t in np.argsort(-probs)[:k]}


def server_top(url: str, ids: list[int], k: int = 5) -> dict[int, float]:
    body = {"prompt": ids, "n_predict": 1, "n_probs": k, "temperature": 0, "cache_prompt": False}
    answer = httpx.post(f"{url}/completion", json=body, timeout=120).json()
    return {p["id"]: float(np.exp(p["logprob"])) for p in answer["completion_probabilities"][0]["top_logprobs"]}


def compare(label: str, tokenizer, ours: list[dict], theirs: list[dict]) -> float:
    worst = 0.0
    for text, mine, other in zip(TEXTS, ours, theirs):
        shared = set(mine) & set(other)
        gap = max((abs(mine[i] - other[i]) for i in shared), default=1.0)
        worst = max(worst, gap)
        show = lambda d: ", ".join(f"{tokenizer.decode([i])!r} {p:.3f}" for i, p in list(d.items())[:3])  # noqa: E731
        print(f"{label:<8} {text[:32]!r:<36} MLX {show(mine)}\n{'':<45} llama.cpp {show(other)}  "
              f"max |dp| {gap:.3f}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-cpp-bin", type=Path, default=None)
    parser.add_argument("--adapter", type=Path, default=None, help="a version directory (default: make one)")
    parser.add_argument("--strength", type=float, default=0.03, help="std of the made adapter's b")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    binary = llama_anchor.find_bin("llama-server", args.llama_cpp_bin)
    if binary is None:
        sys.exit(2)
    with tempfile.TemporaryDirectory(prefix="kasper-lora-check-") as tmp:
        adapter = args.adapter or make_adapter(Path(tmp) / "adapter", args.strength)
        exported = to_gguf(adapter, Path(tmp) / "adapter.gguf")
        model, tokenizer = model_store.load(model_store.resolve_model_dir())
        ids = [tokenizer.encode(t) for t in TEXTS]
        base = [mlx_top(model, i) for i in ids]
        load_adapters(model, str(adapter))
        tuned = [mlx_top(model, i) for i in ids]
        gguf = model_store.shipped_gguf()
        gaps = {}
        for label, extra, ours in (("base", [], base), ("adapter", ["--lora", str(exported)], tuned)):
            server = llama_anchor.ServerLeg(binary, gguf, 1, args.threads, 2048, extra=extra)
            try:
                gaps[label] = compare(label, tokenizer, ours, [server_top(server.url, i) for i in ids])
            finally:
                server.close()
        moved = sum(next(iter(b)) != next(iter(t)) for b, t in zip(base, tuned))
        print(f"largest |dp|: base {gaps['base']:.3f}, with the adapter {gaps['adapter']:.3f}; "
              f"the adapter changed MLX's top token on {moved} of {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
