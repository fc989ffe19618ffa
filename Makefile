# One entry point for people and CI. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint unit bench install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	bash scripts/install-test-system-deps.sh

demo: install
	$(BIN)/rights demo

lint: install-test
	$(BIN)/ruff check indexes rights workers benchmarks tests
	$(BIN)/ruff format --check indexes rights workers benchmarks tests
	$(BIN)/mypy

unit: install-test
	$(BIN)/python -m pytest -q

test: lint unit

bench: install-test
	$(BIN)/python -m benchmarks detection

clean:
	rm -rf $(VENV) rights-data .pytest_cache .mypy_cache .ruff_cache
