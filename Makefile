PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-slow test-hpc lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sofi_dask.demo --output demo_output

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

DOCS_STAMP = $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e ".[docs]"
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the site test"; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	   -o DPkg::Lock::Timeout=600 chromium) >/dev/null || \
	  echo "could not install chromium (apt-get as root); the site test will say so"; }
	touch $(DOCS_STAMP)

# the documentation site (warnings are errors), then the built pages checked in headless Chromium
docs: $(DOCS_STAMP)
	rm -rf docs/_build/html
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(BIN)/python -m pytest -q -m docs tests/docs
	@echo "the site: docs/_build/html/index.html"

# a single-node SLURM on 127.0.0.1 (root, apt-get), the cluster/ recipes run on it
test-hpc: $(STAMP)
	PYTHON=$(BIN)/python tests/hpc/run.sh

lint: $(STAMP)
	$(BIN)/ruff check sofi_dask tests bench
	$(BIN)/ruff format --check sofi_dask tests bench

clean:
	rm -rf demo_output .pytest_cache docs/_build docs/api/generated docs/_generated_notebooks
