# The two commands the README starts with:
#   make demo   set up .venv, install resilient_dask and run `resilient-dask demo`
#   make test   set up .venv, install with the test extras, run ruff, mypy --strict and the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
PYTEST_ARGS ?=

.PHONY: demo test venv lint typecheck docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files make re-runs cheap; they are redone when the package metadata changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e ".[dev]"
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed-test

# The demo's persisted array needs numpy: the `demo` extra.
$(VENV)/.installed-demo: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e ".[demo]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed-demo
	$(BIN)/resilient-dask demo

test: $(VENV)/.installed-test lint typecheck docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check resilient_dask tests examples benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# The docs site (mkdocs.yml): --strict fails on any warning, such as a broken link or
# anchor, or a page missing from the nav.
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

# Every benchmark side by side; prints one table and rewrites docs/benchmarks*.md.
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
