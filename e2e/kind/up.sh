#!/usr/bin/env bash
# Create (or reuse) the kind cluster for `make e2e-kind`, give two workers Neuron identities,
# then, where they exist, build and load the operator image and install the chart.
# Needs Docker; tools come from hack/tools.sh (.cluster/bin).
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=${KIND_CLUSTER_NAME:-neuron-operator}
KIND=.cluster/bin/kind
KUBECTL=.cluster/bin/kubectl
HELM=.cluster/bin/helm
KUBECONFIG_FILE=.cluster/kind-kubeconfig
IMAGE=${OPERATOR_IMAGE:-neuron-operator:e2e}

command -v docker >/dev/null && docker info >/dev/null 2>&1 ||
  { echo "error: kind needs a running Docker engine (docker info failed)" >&2; exit 1; }

if "$KIND" get clusters | grep -qx "$NAME"; then
  echo "==> reusing kind cluster $NAME"
  "$KIND" get kubeconfig --name "$NAME" > "$KUBECONFIG_FILE"
else
  echo "==> creating kind cluster $NAME"
  "$KIND" create cluster --name "$NAME" --config e2e/kind/cluster.yaml \
    --kubeconfig "$KUBECONFIG_FILE" --wait 180s
fi

workers=$("$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get nodes \
  -l '!node-role.kubernetes.io/control-plane' -o name | sed 's#node/##' | sort)
set -- $workers
[ $# -ge 3 ] || { echo "error: expected 3 workers, found: $workers" >&2; exit 1; }
.venv/bin/python e2e/kind/neuronize.py "$KUBECONFIG_FILE" "$1=trn1.32xlarge" "$2=inf2.xlarge"

if [ -f operator/Dockerfile ]; then
  echo "==> building and loading the operator image $IMAGE"
  docker build -t "$IMAGE" -f operator/Dockerfile .
  "$KIND" load docker-image "$IMAGE" --name "$NAME"
else
  echo "==> operator/Dockerfile not in this checkout yet: no operator image to load"
fi
if [ -d charts/neuron-operator ]; then
  echo "==> installing the chart"
  repo=${IMAGE%:*}; tag=${IMAGE##*:}
  "$HELM" --kubeconfig "$KUBECONFIG_FILE" upgrade --install neuron-operator charts/neuron-operator \
    --namespace neuron-operator-system --create-namespace --wait \
    --set image.repository="$repo" --set image.tag="$tag" --set image.pullPolicy=Never
else
  echo "==> charts/neuron-operator not in this checkout yet: nothing to install"
fi
echo "==> kind cluster ready: KUBECONFIG=$KUBECONFIG_FILE"
