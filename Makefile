# The two commands a newcomer needs (see README):
#   make up     set up, then run the main job on the embedded default
#   make test   set up, then run the test suite
# Both create .venv with everything they need; nothing has to be installed by hand.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: up test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

up: $(VENV)/.installed
	$(BIN)/kasper up

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/python bench/bench_produce.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
