# Two commands: `make run` sets up a fresh machine and serves the API on the
# embedded default (SQLite); `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KEYSTONE := .venv-keystone/bin/keystone-manage
PYTEST_ARGS ?=

.PHONY: setup run test check unit functional scenario browser bench clean constraints

setup: $(STAMP)
	@$(BIN)/lbaas db upgrade >/dev/null

# constraints.txt pins every package to the versions the suite last passed
# with (OpenStack's upper-constraints, for this tree): a release on PyPI
# cannot break a fresh clone. `make constraints` moves them to the newest.
$(STAMP): pyproject.toml constraints.txt
	@./scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet -e '.[test]'
	.venv-constraints/bin/pip freeze --exclude-editable > constraints.txt
	rm -rf .venv-constraints

# A real Keystone for the tests that log in to one (best effort: they skip without it).
$(KEYSTONE):
	@PYTHON=$(PYTHON) ./scripts/setup-keystone.sh .venv-keystone

run: setup
	$(BIN)/lbaas serve

# Each browser test file runs in a process of its own (tests/browser/conftest.py).
BROWSER_FILES := $(wildcard tests/browser/test_*.py)

test: $(STAMP) $(KEYSTONE)
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)
	@for f in $(BROWSER_FILES); do $(BIN)/python -m pytest $$f $(PYTEST_ARGS) || exit 1; done

check: $(STAMP)
	@./scripts/check

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

functional: $(STAMP)
	$(BIN)/python -m pytest tests/functional $(PYTEST_ARGS)

scenario: $(STAMP)
	$(BIN)/python -m pytest tests/scenario $(PYTEST_ARGS)

browser: $(STAMP)
	@for f in $(BROWSER_FILES); do $(BIN)/python -m pytest $$f $(PYTEST_ARGS) || exit 1; done

bench: $(STAMP)
	$(BIN)/python benchmarks/api.py

clean:
	rm -rf $(VENV) .venv-keystone .venv-keystone.log state
