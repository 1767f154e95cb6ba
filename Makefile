# niva: the two commands are `make run` and `make test`; each sets up what it needs.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test soak figures lint format clean bench

# The venv is (re)installed when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

# bpmn-js for the diagram pages and their browser tests, camunda-bpmn-js (Camunda Modeler's
# Camunda 8 modeler) for the properties-panel tests; skipped where npm is missing (the pages
# then list the state without the diagram, the browser tests skip).
node_modules/.package-lock.json: package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: no diagrams on the diagram pages, the bpmn-js browser tests will be skipped"; fi

install: $(STAMP)

run: install node_modules/.package-lock.json
	$(BIN)/niva dev

test: install node_modules/.package-lock.json
	$(BIN)/python -m pytest

# The long form of the reliability suite (50+ worker kills, up to an hour) and of the generated
# executions (2,000 cases). Test runs write their figures to build/reliability/ (untracked);
# soak publishes them to docs/RELIABILITY.md.
soak: install
	$(BIN)/python -m pytest tests/reliability tests/workflows/test_generated_executions.py -m soak --timeout=0
	$(BIN)/python -m tests.reliability.figures

# Publish the figures of the last test run into docs/RELIABILITY.md.
figures: install
	$(BIN)/python -m tests.reliability.figures

# Performance measurements (not run in CI): tables on stdout, JSON in benchmarks/results/.
bench: install
	$(BIN)/python -m pip install --quiet -e ".[test,dev,bench]"
	$(BIN)/python -m benchmarks

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
