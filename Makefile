# One entry point for people and CI. `make test` is what .ci/run calls.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint typecheck unit bench demo catalog calibrate clean

setup: $(STAMP)

# Reinstall when the project metadata changes; editable, so source edits need nothing.
$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing neuron-operator (editable) with dev tools"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -m "not cluster"

test: lint typecheck
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/plan_bench.py --write docs/benchmarks.md

# Offline demo: size every example in examples/ with the engine.
demo: setup
	@for f in examples/*.yaml; do \
	  echo "==> $(BIN)/neuron-operator plan -f $$f"; \
	  $(BIN)/neuron-operator plan -f $$f || true; echo; \
	done

# Regenerate the checked-in instance catalog from the research notes beside the repo.
catalog: setup
	$(BIN)/python scripts/build_catalog.py ../shared/neuron/catalog.yaml operator/neuron_operator/sizing/data/catalog.json

# Refit the performance model's constants on the published benchmarks in calibration/data.
calibrate: setup
	$(BIN)/python calibration/fit.py --write
	$(BIN)/python calibration/report.py --write docs/sizing.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
