# The two commands the README starts with:
#   make demo   set up .venv, install resilient_dask and run `resilient-dask demo`
#   make test   set up .venv, install with the test extras, run ruff, mypy --strict and the whole suite
PYTHON ?= python3
PYTEST_ARGS ?=

# Another distributed release: `make test DISTRIBUTED=2026.3.0` (or smoke, demo, ...) runs in
# a venv of its own, .venv-2026.3.0, with that distributed and the dask of the same
# version (DASK=... to choose another); everything else as pinned in constraints.txt.
DISTRIBUTED ?=
DASK ?= $(DISTRIBUTED)
ifeq ($(DISTRIBUTED),)
VENV := .venv
CONSTRAINTS := constraints.txt
else
VENV := .venv-$(DISTRIBUTED)
CONSTRAINTS := $(VENV)/constraints.txt
endif
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c $(CONSTRAINTS)

# The releases `make test-matrix` runs the smoke set on: the oldest supported, the oldest
# of the last twelve months, one between, the newest (docs/compatibility.md).
MATRIX ?= 2025.4.0 2025.12.0 2026.3.0 2026.8.0

.PHONY: demo test venv lint typecheck docs bench clean test-upstream smoke test-matrix

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# constraints.txt with distributed and dask replaced by the chosen release.
$(VENV)/constraints.txt: constraints.txt | $(BIN)/python
	grep -v -E '^(dask|distributed)==' constraints.txt > $@
	echo "distributed==$(DISTRIBUTED)" >> $@
	echo "dask==$(DASK)" >> $@

# Stamp files make re-runs cheap; they are redone when the package metadata changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) -e ".[dev]"
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed-test

# The demo's persisted array needs numpy: the `demo` extra.
$(VENV)/.installed-demo: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) -e ".[demo]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed-demo
	$(BIN)/resilient-dask demo

test: $(VENV)/.installed-test lint typecheck docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The compat tests and a real-process smoke set (typed errors on every result path, the
# frozen-scheduler detection, replay through a scheduler restart, the lint): what
# `make test-matrix` runs on each release (add DISTRIBUTED=... for one of them).
smoke: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "compat or smoke" $(PYTEST_ARGS)

test-matrix:
	@for version in $(MATRIX); do \
	  echo "== distributed $$version"; \
	  $(MAKE) --no-print-directory smoke DISTRIBUTED=$$version || exit 1; \
	done

lint: $(VENV)/.installed-test
	$(BIN)/ruff check resilient_dask tests examples benchmarks tools

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# The docs site (mkdocs.yml): --strict fails on any warning, such as a broken link or
# anchor, or a page missing from the nav.
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

# Every benchmark side by side; prints one table and rewrites docs/benchmarks*.md.
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run.py

# distributed's own test files, run plain and with ResilientClient swapped in (both import
# orders); prints the tests whose outcome differs. The files come from a checkout of
# dask/distributed at the installed version (docs/compatibility.md says how to get one):
#   make test-upstream DISTRIBUTED_TESTS="path/to/distributed/tests/test_client.py"
DISTRIBUTED_TESTS ?=
test-upstream: $(VENV)/.installed-test
	@test -n "$(DISTRIBUTED_TESTS)" || { echo "set DISTRIBUTED_TESTS=path/to/distributed/tests/test_x.py (see docs/compatibility.md)"; exit 2; }
	$(BIN)/python tools/compare_upstream.py $(DISTRIBUTED_TESTS) $(PYTEST_ARGS)

clean:
	rm -rf .venv .venv-* build *.egg-info .pytest_cache .mypy_cache
