#!/bin/sh
# Build llama.cpp's own tools (llama-bench, llama-batched-bench, llama-server) for the
# generation anchor in bench/bench_generate.py, from the llama.cpp tree vendored in
# llama-cpp-python's sdist on PyPI (the only registry these machines reach).
#
#   sh bench/build_llama_cpp.sh [DIR]        # DIR defaults to /tmp/kasper-llama-cpp
#
# The flags name the x86 features instead of -DGGML_NATIVE=ON: the native build
# compiled on these machines but crashed at the first token (docs/benchmarks.md).
# About 10 minutes on 2 cores. Prints the bin directory to pass as --llama-cpp-bin.
set -eu
VERSION=0.3.36
DIR=${1:-/tmp/kasper-llama-cpp}
PIP=${PIP:-$(dirname "$0")/../.venv/bin/pip}
JOBS=${JOBS:-$(nproc)}

mkdir -p "$DIR"
if [ ! -d "$DIR/llama_cpp_python-$VERSION" ]; then
    "$PIP" download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$DIR" >&2
    tar -xzf "$DIR/llama_cpp_python-$VERSION.tar.gz" -C "$DIR"
fi
cmake -S "$DIR/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF >&2
cmake --build "$DIR/build" -j "$JOBS" --target llama-bench llama-batched-bench llama-server >&2
echo "$DIR/build/bin"
