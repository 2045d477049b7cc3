"""GGUF -> mlx-lm: one llama GGUF file written out as a standard mlx-lm model directory.

:func:`convert` reads the GGUF with MLX and writes into the directory it is given:
float32 ``model.safetensors`` (quantized tensors dequantized, names mapped to Hugging
Face llama names, tied embeddings kept without an ``lm_head``), ``config.json``
(``model_type: llama``, ``rope_traditional: true`` because GGUF permutes Q/K for
interleaved RoPE) and the tokenizer files (a ``PreTrainedTokenizerFast`` rebuilt from
the GGUF's byte-level BPE vocab, merges and special tokens).  Finding the GGUF, the
manifest, locking and the atomic rename into the cache are :func:`kasper.agents.runtime.model_store.prepare`'s;
bump ``model_store.FORMAT_VERSION`` whenever what is written here changes.

Error policy: what the GGUF itself makes impossible (unreadable file, not a llama
model, an unexpected tensor name, an unsupported tokenizer) is a
:class:`~kasper.agents.runtime.errors.ModelPrepareError` saying so; write errors
(``OSError``, MLX's ``RuntimeError``) propagate and ``prepare`` wraps them.  Nothing
is retried.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kasper.agents.runtime.blas import import_mlx
from kasper.agents.runtime.errors import ModelPrepareError

# GGML quantizes in blocks of 32; MLX's GGUF reader keeps that as the group size.
_GGUF_GROUP_SIZE = 32

_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_BLOCK_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
# llama.cpp pre-tokenizer names -> split every digit on its own (StarCoder-style regex).
_PRE_TOKENIZERS = {"smollm": True, "starcoder": True, "refact": True, "gpt2": False}
# GGUF token types CONTROL (3) and USER_DEFINED (4) are never split by BPE.
_SPECIAL_TOKEN_TYPES = (3, 4)


def convert(gguf: Path, out: Path) -> None:
    mx = import_mlx()
    try:
        weights, meta = mx.load(str(gguf), return_metadata=True)
    except (RuntimeError, ValueError) as exc:
        raise ModelPrepareError(f"cannot read the GGUF file {gguf}: {exc}") from exc
    if meta.get("general.architecture") != "llama":
        raise ModelPrepareError(f"{gguf}: only llama GGUF files are supported")
    tensors = _float32_weights(weights)
    mx.save_safetensors(str(out / "model.safetensors"), tensors, metadata={"format": "mlx"})
    config = _config(meta, tied="lm_head.weight" not in tensors)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    _tokenizer(meta).save_pretrained(str(out))


def _float32_weights(weights: dict) -> dict:
    """GGUF tensors (MLX affine-quantized) -> float32 tensors under Hugging Face llama names."""
    mx = import_mlx()
    out = {}
    for key, value in weights.items():
        base, _, kind = key.rpartition(".")
        if kind in ("scales", "biases"):
            continue
        scales = weights.get(f"{base}.scales")
        if scales is not None:
            groups = scales.shape[-1]
            bits = value.shape[-1] // groups  # a group of 32 b-bit values packs into b uint32s
            value = mx.dequantize(
                value, scales, weights[f"{base}.biases"], group_size=_GGUF_GROUP_SIZE, bits=bits
            )
        out[f"{_hf_name(base)}.{kind}"] = value.astype(mx.float32)
    return out


def _hf_name(gguf_name: str) -> str:
    if gguf_name in _TOP_NAMES:
        return _TOP_NAMES[gguf_name]
    match = re.fullmatch(r"blk\.(\d+)\.(\w+)", gguf_name)
    if match is None or match.group(2) not in _BLOCK_NAMES:
        raise ModelPrepareError(f"unexpected tensor {gguf_name!r} in the GGUF file")
    return f"model.layers.{match.group(1)}.{_BLOCK_NAMES[match.group(2)]}"


def _num(meta: dict, key: str, default: Any = None) -> Any:
    value = meta.get(key, default)
    return value.item() if hasattr(value, "item") else value


def _config(meta: dict, tied: bool) -> dict[str, Any]:
    heads = int(_num(meta, "llama.attention.head_count"))
    hidden = int(_num(meta, "llama.embedding_length"))
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": hidden,
        "intermediate_size": int(_num(meta, "llama.feed_forward_length")),
        "num_hidden_layers": int(_num(meta, "llama.block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(_num(meta, "llama.attention.head_count_kv", heads)),
        "head_dim": int(_num(meta, "llama.rope.dimension_count", hidden // heads)),
        # GGUF stores float32: print 1e-05, not 9.999999747378752e-06.
        "rms_norm_eps": float(f"{_num(meta, 'llama.attention.layer_norm_rms_epsilon'):.7g}"),
        "rope_theta": float(f"{_num(meta, 'llama.rope.freq_base', 10000.0):.7g}"),
        "rope_traditional": True,  # GGUF permuted Q/K rows for interleaved RoPE
        "max_position_embeddings": int(_num(meta, "llama.context_length")),
        "vocab_size": len(meta["tokenizer.ggml.tokens"]),
        "tie_word_embeddings": tied,
        "bos_token_id": int(_num(meta, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(_num(meta, "tokenizer.ggml.eos_token_id")),
        "pad_token_id": int(_num(meta, "tokenizer.ggml.padding_token_id", 0)),
        "torch_dtype": "float32",
    }


def _tokenizer(meta: dict):
    """A ``PreTrainedTokenizerFast`` from the GGUF's byte-level BPE vocab and merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pre = meta.get("tokenizer.ggml.pre", "gpt2")
    if meta.get("tokenizer.ggml.model") != "gpt2" or pre not in _PRE_TOKENIZERS:
        raise ModelPrepareError(f"unsupported GGUF tokenizer (model/pre = gpt2/{pre} expected)")
    tokens = list(meta["tokenizer.ggml.tokens"])
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    digits = [pre_tokenizers.Digits(individual_digits=True)] if _PRE_TOKENIZERS[pre] else []
    tok.pre_tokenizer = pre_tokenizers.Sequence([*digits, byte_level])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    types = meta["tokenizer.ggml.token_type"].tolist()
    specials = [t for t, kind in zip(tokens, types) if kind in _SPECIAL_TOKEN_TYPES]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])

    def token(key: str, default: int = 0) -> str:
        return tokens[int(_num(meta, key, default))]

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=token("tokenizer.ggml.bos_token_id"),
        eos_token=token("tokenizer.ggml.eos_token_id"),
        pad_token=token("tokenizer.ggml.padding_token_id"),
        unk_token=token("tokenizer.ggml.unknown_token_id"),
        chat_template=meta.get("tokenizer.chat_template"),
        model_max_length=int(_num(meta, "llama.context_length")),
        clean_up_tokenization_spaces=False,
    )
