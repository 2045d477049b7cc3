"""The llama.cpp anchor's plumbing in bench/ (bench/llama_anchor.py).

The binaries are a bench-only source build (bench/build_llama_cpp.sh, about 10
minutes), so these tests do not run them: they check what the bench reads from
llama-batched-bench's table (the sample below is that tool's real output on the
shipped GGUF) and that a missing build is a message, not a crash.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import llama_anchor  # noqa: E402

SAMPLE = """
llama_batched_bench: n_kv_max = 4096, n_batch = 2048, n_ubatch = 512, flash_attn = -1, is_pp_shared = 0, \
is_tg_separate = 0, n_gpu_layers = -1, n_threads = 2, n_threads_batch = 2

|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |
|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|
|   128 |     32 |    4 |    640 |    1.470 |   348.28 |    0.647 |   197.82 |    2.117 |   302.29 |
"""


def test_batched_bench_row_becomes_generated_tokens_over_the_whole_wall_time():
    leg = llama_anchor.parse_batched_bench(SAMPLE)
    # 4 sequences of 32 generated tokens over 2.117 s, prompts included: the figure
    # ours reports (generated tokens / wall), not S t/s (which counts prompt tokens).
    assert leg == {"tokens": 128, "seconds": 2.117, "prompts": 4, "prompt_tokens": 128,
                   "prefill_seconds": 1.47, "decode_seconds": 0.647}
    assert leg["tokens"] / leg["seconds"] == pytest.approx(60.5, abs=0.1)


def test_batched_bench_without_a_result_row_names_what_it_printed():
    with pytest.raises(RuntimeError, match="(?s)no result row.*failed to load"):
        llama_anchor.parse_batched_bench("main: error: failed to load model\n")


def test_missing_binary_is_a_message_with_the_build_command(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KASPER_LLAMA_CPP_BIN", raising=False)
    assert llama_anchor.find_bin("llama-server", tmp_path) is None
    err = capsys.readouterr().err
    assert f"no llama-server in {tmp_path}" in err and "bench/build_llama_cpp.sh" in err


def test_binary_found_in_the_directory_the_environment_names(tmp_path, monkeypatch):
    (tmp_path / "llama-batched-bench").write_text("")
    monkeypatch.setenv("KASPER_LLAMA_CPP_BIN", str(tmp_path))
    assert llama_anchor.find_bin("llama-batched-bench", None) == tmp_path / "llama-batched-bench"
