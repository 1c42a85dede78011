# One entry point for people and CI. `make test` is what .ci/run calls.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint typecheck scan unit bench demo catalog calibrate clean tools cluster-up crds image \
	cluster-down e2e-kind e2e-kind-where-possible kind-down proxy chaos

setup: $(STAMP)

# Reinstall when the project metadata changes; editable, so source edits need nothing.
$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing neuron-operator (editable) with dev tools"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# $(call tool_venv,DIR,REQUIREMENT): a virtualenv of its own for one pinned tool, stamped
# DIR/.installed when complete.
define tool_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --upgrade pip
	$(1)/bin/pip install --quiet '$(2)'
	@touch $(1)/.installed
endef

# mitmproxy, the fault tests' reverse proxy, in a venv of its own: its pinned dependencies stay
# out of the operator's (tests/chaos/harness.py runs its mitmdump).
PROXY_VENV := .venv-proxy
PROXY_STAMP := $(PROXY_VENV)/.installed
MITMPROXY_VERSION := 11.0.2
proxy: $(PROXY_STAMP)

$(PROXY_STAMP): Makefile
	@echo "==> creating $(PROXY_VENV) with mitmproxy $(MITMPROXY_VERSION) (fault injection)"
	$(call tool_venv,$(PROXY_VENV),mitmproxy==$(MITMPROXY_VERSION))

# checkov, the independent scanner of hack/scan.py, in a venv of its own: its pins (packaging 23,
# python-dateutil 2) conflict with pytest 9's and the kubernetes client's. Pinned, so that a new
# release's new checks arrive by a reviewed change, not in the middle of CI.
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed
CHECKOV_VERSION := 3.3.30
$(SCAN_STAMP): Makefile
	@echo "==> creating $(SCAN_VENV) with checkov $(CHECKOV_VERSION) (the security scan)"
	$(call tool_venv,$(SCAN_VENV),checkov==$(CHECKOV_VERSION))

# The chart rendered with each ci/*-values.yaml and what the operator renders for each example,
# scanned offline by checkov; failures outside hack/checkov-allowlist.txt fail (docs/security.md).
scan: setup $(SCAN_STAMP)
	hack/tools.sh helm
	$(BIN)/python hack/scan.py --checkov $(SCAN_VENV)/bin/checkov

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -m "not cluster"

# Kubernetes, etcd, kwok, helm and kind, built from the Go module proxy (cached per version).
tools:
	hack/tools.sh all

cluster-up: setup tools
	$(BIN)/python hack/cluster.py up

cluster-down: setup
	$(BIN)/python hack/cluster.py down

# Everything, against a fresh local control plane that is torn down whatever the result.
# A fresh control plane: nothing left from a `make demo` (its operator watches every namespace).
# The fault suite's fast subset runs here; `make chaos` runs all of it.
test: lint typecheck scan tools proxy
	$(BIN)/python hack/cluster.py down
	$(BIN)/python hack/cluster.py up
	status=0; $(BIN)/pytest -m "not slow" || status=$$?; $(BIN)/python hack/cluster.py down; \
	  exit $$status
	$(MAKE) --no-print-directory e2e-kind-where-possible

# kind wherever a container engine runs or can be started (as root it always can: CI here);
# elsewhere say why not. The cluster is deleted afterwards; its images stay cached.
e2e-kind-where-possible: setup tools
	status=0; hack/container-engine.sh || status=$$?; \
	if [ $$status = 3 ]; then echo "==> kind e2e not run: no container engine (above)"; exit 0; fi; \
	[ $$status = 0 ]; \
	status=0; $(MAKE) --no-print-directory e2e-kind || status=$$?; $(MAKE) --no-print-directory kind-down; \
	  exit $$status

# Every fault and bad-input test (tests/chaos/) against a fresh local control plane, and their
# measurements into docs/reliability.md.
chaos: setup tools proxy
	$(BIN)/python hack/cluster.py down
	$(BIN)/python hack/cluster.py up
	rm -f .chaos/results.jsonl
	status=0; $(BIN)/pytest tests/chaos || status=$$?; $(BIN)/python hack/cluster.py down; \
	  $(BIN)/python tests/chaos/report.py --write docs/reliability.md; exit $$status

# The e2e/ suite against kind, with the tests only real kubelets can answer (see e2e/README.md).
# The cluster stays up for the next run (about 25 s then); `make kind-down` deletes it.
e2e-kind: setup tools
	e2e/kind/up.sh
	NEURON_E2E_KIND=1 NEURON_E2E_KUBECONFIG=$(CURDIR)/.cluster/kind-kubeconfig \
	  KUBECTL=$(CURDIR)/.cluster/bin/kubectl HELM=$(CURDIR)/.cluster/bin/helm $(BIN)/pytest e2e

kind-down:
	.cluster/bin/kind delete cluster --name $${KIND_CLUSTER_NAME:-neuron-operator}

# The operator's container image (needs Docker or another engine; none on the dev machine).
IMAGE ?= neuron-operator:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image:
	docker build -f operator/Dockerfile -t $(IMAGE) .

bench: setup tools
	$(BIN)/python bench/plan_bench.py --write docs/benchmarks.md
	$(BIN)/python bench/cluster_bench.py --write docs/benchmarks.md
	$(BIN)/python bench/operator_bench.py --write docs/benchmarks.md
	$(BIN)/python bench/capacity_bench.py --write docs/benchmarks.md

# Offline demo: size every example in examples/ with the engine.
# The samples in examples/ on the local control plane, with the chart's RBAC (hack/demo.py).
demo: setup tools
	$(BIN)/python hack/demo.py

# Regenerate the checked-in instance catalog from the research notes beside the repo.
# Regenerate the CRD from the API types, for crds/ and for the chart.
crds: setup
	$(BIN)/python -m neuron_operator crd --write crds/neuron.dev_neurondeployments.yaml
	cp crds/neuron.dev_neurondeployments.yaml charts/neuron-operator/files/

catalog: setup
	$(BIN)/python scripts/build_catalog.py ../shared/neuron/catalog.yaml operator/neuron_operator/sizing/data/catalog.json

# Refit the performance model's constants on the published benchmarks in calibration/data.
calibrate: setup
	$(BIN)/python calibration/fit.py --write
	$(BIN)/python calibration/report.py --write docs/sizing.md  # and sizing/data/uncertainty.json

clean:
	rm -rf $(VENV) $(PROXY_VENV) $(SCAN_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
