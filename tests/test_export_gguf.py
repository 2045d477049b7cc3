"""A trained adapter written as a llama.cpp LoRA GGUF (trainer/export_gguf.py).

llama.cpp itself is a bench-only source build here (bench/build_llama_cpp.sh), so
these tests check the file against llama.cpp's rules as its loader states them
(general.type, adapter.type, adapter.lora.alpha, ``blk.N.<proj>.weight.lora_a/b``,
A of shape (rank, in) and B of shape (out, rank), the update ``alpha / rank * B A x``)
and that the update it describes is the one MLX applies. The check against
llama-server itself, next-token distributions with and without the adapter, is in
docs/model-runtime.md.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kasper.agents.runtime.blas import mx
from kasper.trainer.errors import AdapterExportError, KasperError
from kasper.trainer.export_gguf import gguf_name, to_gguf

# SmolLM2-135M's shapes: hidden 576, 3 KV heads of 64, MLP 1536.
SHAPES = {"self_attn.q_proj": (576, 576), "self_attn.k_proj": (576, 192), "self_attn.v_proj": (576, 192),
          "self_attn.o_proj": (576, 576), "mlp.gate_proj": (576, 1536), "mlp.up_proj": (576, 1536),
          "mlp.down_proj": (1536, 576)}


def _adapter(path: Path, layers=(22, 23), rank=8, scale=20.0, extra: dict | None = None,
             config: dict | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    arrays = {}
    for layer in layers:
        for proj, (fan_in, fan_out) in SHAPES.items():
            arrays[f"model.layers.{layer}.{proj}.lora_a"] = rng.normal(0, 0.05, (fan_in, rank)).astype(np.float32)
            arrays[f"model.layers.{layer}.{proj}.lora_b"] = rng.normal(0, 0.05, (rank, fan_out)).astype(np.float32)
    arrays.update(extra or {})
    path.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(path / "adapters.safetensors"), {k: mx.array(v) for k, v in arrays.items()})
    cfg = {"fine_tune_type": "lora", "num_layers": len(layers),
           "lora_parameters": {"rank": rank, "scale": scale, "dropout": 0.0}} | (config or {})
    (path / "adapter_config.json").write_text(json.dumps(cfg))
    return arrays


def test_every_projection_gets_llama_cpps_name():
    assert gguf_name("model.layers.3.self_attn.q_proj.lora_a") == "blk.3.attn_q.weight.lora_a"
    assert gguf_name("model.layers.29.self_attn.o_proj.lora_b") == "blk.29.attn_output.weight.lora_b"
    assert gguf_name("model.layers.0.mlp.down_proj.lora_a") == "blk.0.ffn_down.weight.lora_a"
    # Not a LoRA tensor of a block projection: no name, so the export refuses it.
    assert gguf_name("model.embed_tokens.lora_a") is None
    assert gguf_name("model.layers.3.self_attn.q_proj.weight") is None
    assert gguf_name("model.layers.3.self_attn.qq_proj.lora_a") is None


def test_the_file_holds_the_adapter_in_llama_cpps_layout(tmp_path):
    arrays = _adapter(tmp_path / "v", rank=8, scale=20.0)
    out = to_gguf(tmp_path / "v")
    assert out == tmp_path / "v" / "adapter.gguf"
    tensors, meta = mx.load(str(out), return_metadata=True)
    assert meta["general.type"] == "adapter" and meta["adapter.type"] == "lora"
    assert meta["general.architecture"] == "llama"
    assert float(meta["adapter.lora.alpha"].item()) == pytest.approx(160.0)  # scale * rank
    assert len(tensors) == len(arrays) == 28
    a = np.array(tensors["blk.23.ffn_down.weight.lora_a"])
    b = np.array(tensors["blk.23.ffn_down.weight.lora_b"])
    assert a.shape == (8, 1536) and b.shape == (576, 8)  # A (rank, in), B (out, rank)
    np.testing.assert_array_equal(a, arrays["model.layers.23.mlp.down_proj.lora_a"].T)


def test_the_update_llama_cpp_computes_is_the_one_mlx_applies(tmp_path):
    arrays = _adapter(tmp_path / "v", rank=4, scale=12.5)
    tensors, meta = mx.load(str(to_gguf(tmp_path / "v")), return_metadata=True)
    alpha, rank = float(meta["adapter.lora.alpha"].item()), 4
    x = np.random.default_rng(9).normal(size=(5, 576)).astype(np.float32)
    for layer, proj, name in ((22, "self_attn.k_proj", "attn_k"), (23, "mlp.up_proj", "ffn_up")):
        a, b = arrays[f"model.layers.{layer}.{proj}.lora_a"], arrays[f"model.layers.{layer}.{proj}.lora_b"]
        mlx_delta = 12.5 * (x @ a) @ b  # mlx_lm's LoRALinear
        big_a = np.array(tensors[f"blk.{layer}.{name}.weight.lora_a"])
        big_b = np.array(tensors[f"blk.{layer}.{name}.weight.lora_b"])
        llama_delta = (alpha / rank) * (x @ big_a.T) @ big_b.T  # ggml_mul_mat(B, ggml_mul_mat(A, x)) * scale
        np.testing.assert_allclose(llama_delta, mlx_delta, rtol=1e-4, atol=1e-5)


def test_out_path_is_where_the_file_goes(tmp_path):
    _adapter(tmp_path / "v")
    out = to_gguf(tmp_path / "v", tmp_path / "elsewhere.gguf")
    assert out == tmp_path / "elsewhere.gguf" and out.is_file()
    assert not (tmp_path / "v" / "adapter.gguf").exists()


@pytest.mark.parametrize("case,match", [
    ("unknown tensor", "tensor 'model.embed_tokens.lora_a' has no llama.cpp name"),
    ("missing pair", "without their pair"),
    ("wrong rank", "does not fit rank 8"),
    ("dora", "only LoRA adapters"),
    ("no rank", "no lora_parameters rank and scale"),
    ("no weights", "cannot read the adapter"),
])
def test_an_adapter_that_cannot_be_exported_is_named_and_nothing_is_written(tmp_path, case, match):
    d = tmp_path / "v"
    if case == "unknown tensor":
        _adapter(d, extra={"model.embed_tokens.lora_a": np.zeros((576, 8), np.float32)})
    elif case == "missing pair":
        arrays = _adapter(d)
        del arrays["model.layers.22.mlp.up_proj.lora_b"]
        mx.save_safetensors(str(d / "adapters.safetensors"), {k: mx.array(v) for k, v in arrays.items()})
    elif case == "wrong rank":
        _adapter(d, extra={"model.layers.22.mlp.up_proj.lora_a": np.zeros((576, 4), np.float32)})
    elif case == "dora":
        _adapter(d, config={"fine_tune_type": "dora"})
    elif case == "no rank":
        _adapter(d, config={"lora_parameters": {"scale": 20.0}})
    else:
        _adapter(d)
        (d / "adapters.safetensors").unlink()
    with pytest.raises(AdapterExportError, match=match) as caught:
        to_gguf(d)
    assert str(d) in str(caught.value) and isinstance(caught.value, KasperError)
    assert not list(d.glob("*.gguf")) and not list(d.glob(".*.gguf"))


@pytest.mark.model
def test_kasper_models_gguf_exports_the_serving_version_of_the_shipped_model(shipped_model, tmp_path):
    from kasper.trainer.adapters import Registry
    from tests.helpers import KASPER, clean_env, lora_adapter

    def run_kasper(*args: str, env: dict) -> subprocess.CompletedProcess:
        return subprocess.run([KASPER, *args], env=env, capture_output=True, text=True, timeout=180)

    cache = tmp_path / "cache"
    registry = Registry(cache / "adapters")
    fields = {"base_model": str(shipped_model), "window_id": "standard-w1", "metrics": {"test_loss": 1.5},
              "promoted": True, "reason": "test", "created_at": 1_700_000_000_000}
    source = lora_adapter(shipped_model, tmp_path / "src", seed=1)
    entry = registry.add("standard", fields, source)
    env = clean_env(KASPER_CACHE_DIR=str(cache), KASPER_MODEL=str(shipped_model))

    done = run_kasper("models", "gguf", "standard", env=env)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == Path(entry["adapter_path"]) / "adapter.gguf" and "--lora" in done.stderr
    tensors, meta = mx.load(str(path), return_metadata=True)
    trained = mx.load(str(source / "adapters.safetensors"))
    assert len(tensors) == len(trained) == 28  # 2 layers x 7 projections x (a, b)
    assert float(meta["adapter.lora.alpha"].item()) == pytest.approx(40.0)  # scale 10 x rank 4
    for key, value in trained.items():
        np.testing.assert_array_equal(np.array(tensors[gguf_name(key)]), np.array(value).T)

    missing = run_kasper("models", "gguf", "standard", "standard-0042", env=env)
    assert missing.returncode == 1 and "tier standard has no version 'standard-0042'" in missing.stderr
    base_only = run_kasper("models", "gguf", "pro", env=env)
    assert base_only.returncode == 1 and "tier pro serves the base model" in base_only.stderr
    typo = run_kasper("models", "gguf", "standrad", env=env)
    assert typo.returncode == 1 and "unknown tier 'standrad'" in typo.stderr
