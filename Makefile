# The two commands (see README): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-test bench faults clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

## Set everything up and run the service on its embedded default (SQLite under ./var/).
run: install
	$(BIN)/meyasubako serve $(ARGS)

## Run the whole test suite (browser tests need Debian's chromium: .ci/run installs it).
test: install-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## Benchmarks (numbers and machine go into bench/README.md); `make bench ARGS=--quick` for a smoke run.
bench: install-test
	$(BIN)/python bench/run_all.py $(ARGS)

## Only the fault and hostile-input tests (SIGKILL loop, disk full, shutdown, fuzzers); also part of `make test`.
faults: install-test
	$(BIN)/python -m pytest -q tests/faults tests/fuzz $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
