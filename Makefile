# niva: the two commands are `make run` and `make test`; each sets up what it needs.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test soak lint format clean bench

# The venv is (re)installed when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

# bpmn-js for the browser tests; skipped (and those tests with it) where npm is missing.
node_modules/.package-lock.json: package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the bpmn-js browser tests will be skipped"; fi

install: $(STAMP)

run: install
	$(BIN)/niva dev

test: install node_modules/.package-lock.json
	$(BIN)/python -m pytest

# The long form of the reliability suite: 50+ worker kills, up to an hour.
soak: install
	$(BIN)/python -m pytest tests/reliability -m soak

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
