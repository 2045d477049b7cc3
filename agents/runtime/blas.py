"""The one place that makes MLX fast: import ``mx`` from here, never ``mlx.core`` first.

**Importing this module has a side effect**: on Linux it loads OpenBLAS (from the
``cmeel-openblas`` wheel) into the process with global symbols, then imports
``mlx.core``.  The ``mlx[cpu]`` wheel links the reference (netlib) BLAS; because
``libmlx.so`` resolves ``cblas_*``/LAPACK symbols through the global scope first,
an OpenBLAS loaded *before* it takes over every matmul, an order of magnitude
faster for prefill and batched decode (figures in docs/model-runtime.md and
bench/RESULTS.md).  Once ``mlx.core`` is loaded
its symbols are bound, so the swap is impossible; we then log a warning and
carry on with whatever BLAS is there (slow, but correct).

``cmeel-openblas`` needs ``libgfortran.so.5``, which the wheel does not ship and
a fresh Linux machine often lacks.  When it is missing we borrow the copy that
``mlx[cpu]`` bundles (auditwheel renamed its SONAME, so the dynamic loader would
not match it): a private copy with the SONAME set back to ``libgfortran.so.5``
goes to ``<cache_dir>/blas/`` and is loaded first.  Installing the system package
(``apt-get install libgfortran5``) makes that step unnecessary.

Environment: ``KASPER_BLAS=reference`` skips the swap (for A/B measurements);
``OPENBLAS_NUM_THREADS`` is respected, else set to 1: with one other busy process,
spinning BLAS threads collapse while 1 thread keeps its speed
(``bench/bench_mlx_blas.py``), and the pipeline shares its cores (broker, workers,
trainer).  On an idle machine more threads do help a batch, so unless the user set
``OPENBLAS_NUM_THREADS`` (or ``KASPER_BLAS_THREADS=N``), ``KASPER_BLAS_THREADS`` is
``auto``: the engine raises the count while no other process is busy and puts it
back after (:mod:`kasper.agents.runtime.cores`).

Usage::

    from kasper.agents.runtime.blas import mx          # MLX with the fast BLAS
    cmd = server_command(model_dir, "127.0.0.1", 8081)   # mlx_lm.server, same setup
    subprocess.Popen(cmd, env=server_env())
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib.metadata
import logging
import os
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType

_LOG = logging.getLogger(__name__)

_GFORTRAN = "libgfortran.so.5"


@dataclass(frozen=True)
class BlasInfo:
    """Which BLAS MLX's matmuls run on: ``openblas``, ``reference``, ``accelerate``."""

    name: str
    path: str | None = None
    config: str | None = None
    threads: int | None = None


_blas: BlasInfo | None = None


def import_mlx() -> ModuleType:
    """Load the fast BLAS once (before ``mlx.core``), then return ``mlx.core``."""
    global _blas
    if _blas is None:
        _blas = _setup()
        _LOG.info("mlx blas: %s", _blas)
    import mlx.core

    return mlx.core


def blas_info() -> BlasInfo:
    """The BLAS chosen by :func:`import_mlx` (runs the setup if needed)."""
    import_mlx()
    assert _blas is not None
    return _blas


def on_cpu() -> bool:
    """True when MLX computes on the CPU (Linux ``mlx[cpu]``), False on Metal or CUDA."""
    mx = import_mlx()
    return mx.default_device().type == mx.cpu


def preferred_dtype():
    """The dtype for model weights: ``mx.float32`` on CPU, ``None`` (keep as stored) on a GPU.

    MLX's CPU quantized matmul is a scalar kernel, several times slower than float32
    through OpenBLAS (docs/model-runtime.md); on Metal, quantized kernels are the
    fast path, so quantized weights stay quantized.
    """
    mx = import_mlx()
    return mx.float32 if on_cpu() else None


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process running MLX: same BLAS thread setting as ours."""
    env = dict(os.environ if base is None else base)
    env.setdefault("OPENBLAS_NUM_THREADS", str(_default_threads()))
    return env


def server_command(model_dir: str | os.PathLike, host: str, port: int, *extra: str) -> list[str]:
    """Argv that runs ``mlx_lm.server`` for ``model_dir`` with the fast-CPU setup first."""
    return [
        sys.executable, "-m", "kasper.agents.runtime.blas",
        "--model", str(model_dir), "--host", host, "--port", str(port), *extra,
    ]  # fmt: skip


# --- setup -------------------------------------------------------------------


class MLXThread:
    """One thread that owns MLX work off the event loop, ended by :meth:`close`.

    Why not ``asyncio.to_thread``: an MLX thread that is still alive when the
    interpreter starts finalizing (the default executor's threads are joined
    only then) aborts the process at exit ("terminate called without an active
    exception", exit -6), measured with a model loaded in such a thread.
    Joining it while the event loop still runs exits cleanly.
    """

    def __init__(self, name: str = "kasper-mlx") -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` on the MLX thread; awaits its result."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, partial(fn, *args, **kwargs))

    async def close(self) -> None:
        """Wait for the running call (queued ones are dropped) and end the thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)


def _setup() -> BlasInfo:
    if sys.platform == "darwin":
        return BlasInfo("accelerate")
    if sys.platform != "linux" or os.environ.get("KASPER_BLAS", "").lower() == "reference":
        return BlasInfo("reference")
    if "mlx.core" in sys.modules:
        _LOG.warning(
            "mlx.core was imported before kasper.agents.runtime.blas: OpenBLAS cannot be "
            "swapped in, MLX keeps its reference BLAS (prefill and batches ~10x slower on CPU)"
        )
        return _probe()
    # OpenBLAS reads its thread count once, when the library initialises; set_threads()
    # changes it later. Children inherit both variables, so they decide as we did.
    _choose_threads(os.environ)
    for lib in _candidates():
        try:
            if _load_openblas(lib):
                return _probe()
        except OSError as exc:
            _LOG.warning("could not load OpenBLAS from %s (%s)", lib, exc)
    _LOG.warning("no OpenBLAS that runs on this CPU: MLX keeps its reference BLAS "
                 "(prefill and batches ~10x slower); `sh tests/setup_system.sh` installs one")
    return BlasInfo("reference")


def _candidates() -> list[str]:
    """The pip-installed OpenBLAS, then the system's (Debian's is built for every CPU)."""
    found = [str(lib)] if (lib := _dist_file("cmeel-openblas", "libopenblas.so")) else []
    # A full path: opened by its name, the loader would hand back the pip copy (same SONAME).
    arch = sysconfig.get_config_var("MULTIARCH")
    folders = ([f"/usr/lib/{arch}"] if arch else []) + ["/usr/lib64", "/usr/lib", "/usr/local/lib"]
    system = next((Path(f) / "libopenblas.so.0" for f in folders if (Path(f) / "libopenblas.so.0").exists()), None)
    return found + ([os.path.realpath(system)] if system else [])


def _default_threads() -> int:
    # See the module docstring: spinning BLAS threads lose badly when cores are shared.
    return 1


def _choose_threads(environ) -> None:
    """Fill in ``OPENBLAS_NUM_THREADS`` and ``KASPER_BLAS_THREADS`` (see the module doc)."""
    wanted = environ.get("KASPER_BLAS_THREADS", "").strip().lower()
    if wanted in ("", "auto"):
        if wanted == "auto" or "OPENBLAS_NUM_THREADS" not in environ:
            # Ours to adapt: start at one thread, the engine raises it while the cores are free.
            environ.setdefault("OPENBLAS_NUM_THREADS", str(_default_threads()))
            environ["KASPER_BLAS_THREADS"] = "auto"
    elif wanted.isdigit() and int(wanted) > 0:
        environ.setdefault("OPENBLAS_NUM_THREADS", wanted)
    else:
        raise ValueError(f"KASPER_BLAS_THREADS must be 'auto' or a positive number, got {wanted!r}")


def _load_openblas(lib: str) -> bool:
    """Make ``lib``'s symbols global if its kernels run on this CPU; False if they cannot.

    The cmeel wheels are built for their build machine's CPU, not for every CPU: one
    built for AVX-512 (``SKYLAKEX``) dies of SIGILL at its first matmul on a CPU
    without it. So the library is first opened privately and asked what it was built
    for (asking runs no kernel); only then are its symbols promoted to the global scope.
    """
    try:
        local = ctypes.CDLL(lib, mode=ctypes.RTLD_LOCAL)
    except OSError as exc:
        if _GFORTRAN not in str(exc):
            raise
        _LOG.info("no system %s: borrowing the copy bundled with mlx-cpu", _GFORTRAN)
        _preload_bundled_gfortran()
        local = ctypes.CDLL(lib, mode=ctypes.RTLD_LOCAL)
    local.openblas_get_config.restype = ctypes.c_char_p
    config = local.openblas_get_config().decode()
    missing = missing_cpu_features(config, cpu_flags())
    if missing:
        _LOG.info("OpenBLAS at %s (%s) needs %s, which this CPU lacks: not used",
                     lib, config, ", ".join(sorted(missing)))
        return False
    ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
    return True


# The instruction sets an OpenBLAS built for one core target (not DYNAMIC_ARCH) executes.
_AVX512 = frozenset({"avx512f", "avx512bw", "avx512dq", "avx512vl"})
_AVX2 = frozenset({"avx2", "fma"})
_TARGET_NEEDS = {
    "SKYLAKEX": _AVX512, "COOPERLAKE": _AVX512 | {"avx512_bf16"},
    "SAPPHIRERAPIDS": _AVX512 | {"avx512_bf16"}, "HASWELL": _AVX2, "ZEN": _AVX2,
}


def missing_cpu_features(config: str, flags: frozenset[str] | None) -> set[str]:
    """The CPU flags ``config``'s build target needs and ``flags`` lacks (none if unknown)."""
    words = config.upper().split()
    if flags is None or "DYNAMIC_ARCH" in words:
        return set()
    for word in words:
        if word in _TARGET_NEEDS:
            return set(_TARGET_NEEDS[word] - flags)
    return set()


def cpu_flags() -> frozenset[str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), None)
    return frozenset(line.split(":", 1)[1].split()) if line else None


def _preload_bundled_gfortran() -> None:
    """Satisfy OpenBLAS's ``libgfortran.so.5`` with the copy ``mlx[cpu]`` bundles."""
    libs = {p.name.split("-")[0]: p for p in _dist_files("mlx-cpu", ".so", under="mlx_cpu.libs")}
    if "libgfortran" not in libs or "libquadmath" not in libs:
        raise OSError(f"{_GFORTRAN} is missing and mlx-cpu bundles no libgfortran")
    # The renamed SONAME of libquadmath matches libgfortran's NEEDED entry as is.
    ctypes.CDLL(str(libs["libquadmath"]), mode=ctypes.RTLD_GLOBAL)
    ctypes.CDLL(str(_soname_patched_copy(libs["libgfortran"])), mode=ctypes.RTLD_GLOBAL)


def _soname_patched_copy(src: Path) -> Path:
    """A cached copy of ``src`` whose SONAME reads ``libgfortran.so.5``.

    The dynamic loader satisfies a NEEDED name with an already loaded library whose
    SONAME equals it; the new name is shorter, so it is written in place, NUL-padded.
    """
    dest_dir = _cache_dir() / "blas" / src.name
    dest = dest_dir / _GFORTRAN
    if dest.is_file():
        return dest
    data = src.read_bytes()
    old = src.name.encode() + b"\0"
    if data.count(old) != 1:
        raise OSError(f"unexpected layout of {src}: its SONAME string is not unique")
    dest_dir.mkdir(parents=True, exist_ok=True)
    # A fresh file (never written through a link: the bundled original stays untouched),
    # renamed into place so concurrent processes never load a half-written copy.
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{_GFORTRAN}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.replace(old, _GFORTRAN.encode().ljust(len(old), b"\0")))
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    return dest


def _cache_dir() -> Path:
    # Read the env var directly: importing the settings stack here would be heavy.
    raw = os.environ.get("KASPER_CACHE_DIR")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "kasper"


def _dist_files(dist: str, suffix: str, under: str = "") -> list[Path]:
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return []
    return [
        Path(str(f.locate()))
        for f in files
        if str(f).startswith(under) and (f.name.endswith(suffix) or suffix + "." in f.name)
    ]


def _dist_file(dist: str, name: str) -> Path | None:
    return next((p for p in _dist_files(dist, name) if p.name == name), None)


def _probe() -> BlasInfo:
    """Ask the dynamic loader which library the global ``cblas_sgemm`` comes from."""
    if not _symbol_path("openblas_get_config"):
        return BlasInfo("reference")
    lib = ctypes.CDLL(None)
    lib.openblas_get_config.restype = ctypes.c_char_p
    return BlasInfo(
        name="openblas",
        path=_symbol_path("cblas_sgemm"),
        config=lib.openblas_get_config().decode(),
        threads=int(lib.openblas_get_num_threads()),
    )


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def _symbol_path(symbol: str) -> str | None:
    """Path of the library that provides ``symbol`` in the global scope, if any."""
    try:
        addr = ctypes.cast(getattr(ctypes.CDLL(None), symbol), ctypes.c_void_p).value
    except AttributeError:
        return None
    info = _DlInfo()
    if not _libdl().dladdr(ctypes.c_void_p(addr), ctypes.byref(info)):
        return None
    return os.path.realpath(info.dli_fname.decode())


def _libdl() -> ctypes.CDLL:
    # glibc >= 2.34 has dladdr in libc (already global); older ones keep it in libdl.
    main = ctypes.CDLL(None)
    return main if hasattr(main, "dladdr") else ctypes.CDLL("libdl.so.2")


def _serve() -> None:
    """``python -m kasper.agents.runtime.blas ARGS``: ``mlx_lm.server ARGS`` after the setup."""
    # Go through the canonical module, not this ``__main__`` copy, so state is shared.
    from kasper.agents.runtime.blas import import_mlx as canonical_import_mlx

    canonical_import_mlx()
    from mlx_lm.server import main

    sys.argv[0] = "mlx_lm.server"
    main()


if __name__ == "__main__":
    _serve()
else:
    # The import-time side effect documented above: ``from kasper.agents.runtime.blas import mx``.
    mx = import_mlx()
