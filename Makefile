# Two commands: `make run` sets up a fresh machine and serves the API on the
# embedded default (SQLite); `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup run test check unit functional scenario bench clean

setup: $(STAMP)
	@$(BIN)/lbaas db upgrade >/dev/null

$(STAMP): pyproject.toml
	@./scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: setup
	$(BIN)/lbaas serve

test: $(STAMP)
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

check: $(STAMP)
	@./scripts/check

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

functional: $(STAMP)
	$(BIN)/python -m pytest tests/functional $(PYTEST_ARGS)

scenario: $(STAMP)
	$(BIN)/python -m pytest tests/scenario $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/api.py

clean:
	rm -rf $(VENV) state
