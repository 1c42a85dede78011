#!/usr/bin/env bash
# Create (or reuse) the kind cluster for `make e2e-kind`: a Docker engine (hack/container-engine.sh),
# the images, the cluster, Neuron identities on two workers, the operator's and the model
# server's images loaded, and the chart installed with that operator image.
#
# Images: NEURON_E2E_IMAGES=public uses kind's kindest/node and python:3.11-slim from their
# registries (GitHub Actions sets it); =local builds them here with no registry
# (hack/kind_images.py, which needs root for debootstrap and chroot). Unset: local as root,
# else public.
#
# Exit 3 when no container engine can run here: `make e2e-kind` fails with the reason, and
# `make test` (e2e-kind-where-possible) prints it and goes on.
set -euo pipefail
# One compound command: bash parses it whole before running it, so editing this file while a
# run is under way cannot change what that run does.
{
cd "$(dirname "$0")/../.."
NAME=${KIND_CLUSTER_NAME:-neuron-operator}
KIND=.cluster/bin/kind
KUBECTL=.cluster/bin/kubectl
HELM=.cluster/bin/helm
KUBECONFIG_FILE=.cluster/kind-kubeconfig
STATE=.cluster/kind-images.env
PY=.venv/bin/python
log() { printf '==> %s\n' "$*"; }

hack/container-engine.sh || exit $?
source hack/versions.env

images=${NEURON_E2E_IMAGES:-}
if [ -z "$images" ]; then
  if [ "$(id -u)" = 0 ]; then images=local; else images=public; fi
fi
start=$SECONDS
if [ "$images" = local ]; then
  if ! command -v debootstrap >/dev/null; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
      { echo "error: building the images here needs debootstrap, as root" >&2; exit 1; }
    log "installing Debian's debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null
  fi
  log "building the images here (no registry): node, operator, model server"
  hack/tools.sh kind
  node_image=$($PY hack/kind_images.py node)
  operator_image=$($PY hack/kind_images.py operator)
  server_image=$($PY hack/kind_images.py model-server)
  config=.cluster/kind-cluster.yaml
  sed "s/ETCD_IMAGE_TAG/$ETCD_VERSION-0/" e2e/kind/cluster-local.yaml > "$config"
else
  # kind's own default node image for its release (kind v0.33.0: Kubernetes 1.37), unless named
  node_image=${NEURON_E2E_NODE_IMAGE:-}
  operator_image=neuron-operator:e2e
  server_image=neuron-operator/model-server:e2e
  log "building the operator's and the model server's images on python:3.11-slim"
  docker build -q -t "$operator_image" -f operator/Dockerfile . >/dev/null
  docker build -q -t "$server_image" e2e/kind/model-server >/dev/null
  config=e2e/kind/cluster.yaml
fi
log "images ready in $((SECONDS - start)) s: ${node_image:-the default node image of this kind release}, $operator_image, $server_image"
printf 'OPERATOR_IMAGE=%s\nMODEL_SERVER_IMAGE=%s\nNODE_IMAGE=%s\n' \
  "$operator_image" "$server_image" "$node_image" > "$STATE"

start=$SECONDS
# A cluster of this name on the node image wanted (any, where kind picks it) is reused.
reusable() {
  "$KIND" get clusters 2>/dev/null | grep -qx "$NAME" || return 1
  [ -z "$node_image" ] && return 0
  [ "$(docker inspect -f '{{.Config.Image}}' "$NAME-control-plane" 2>/dev/null)" = "$node_image" ]
}
if reusable; then
  log "reusing kind cluster $NAME"
  "$KIND" get kubeconfig --name "$NAME" > "$KUBECONFIG_FILE"
else
  "$KIND" delete cluster --name "$NAME" >/dev/null 2>&1 || true
  log "creating kind cluster $NAME on ${node_image:-the default node image of this kind release}"
  if [ "$images" = local ]; then
    # no default CNI: nodes become Ready once network.py has given them one
    "$KIND" create cluster --name "$NAME" --config "$config" --image "$node_image" \
      --kubeconfig "$KUBECONFIG_FILE" --retain
    $PY e2e/kind/network.py "$KUBECONFIG_FILE"
  else
    "$KIND" create cluster --name "$NAME" --config "$config" ${node_image:+--image "$node_image"} \
      --kubeconfig "$KUBECONFIG_FILE" --wait 180s
  fi
fi
"$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" wait --for=condition=Ready nodes --all --timeout=180s

workers=$("$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get nodes \
  -l '!node-role.kubernetes.io/control-plane' -o name | sed 's#node/##' | sort)
set -- $workers
[ $# -ge 3 ] || { echo "error: expected 3 workers, found: $workers" >&2; exit 1; }
$PY e2e/kind/neuronize.py "$KUBECONFIG_FILE" "$1=trn1.32xlarge" "$2=inf2.xlarge"

log "loading $operator_image and $server_image into the nodes"
"$KIND" load docker-image "$operator_image" "$server_image" --name "$NAME"

log "installing the chart with $operator_image"
"$HELM" --kubeconfig "$KUBECONFIG_FILE" upgrade --install neuron-operator charts/neuron-operator \
  --namespace neuron-operator-system --create-namespace --wait --timeout 180s \
  --set image.repository="${operator_image%:*}" --set image.tag="${operator_image##*:}" \
  --set image.pullPolicy=Never
log "kind cluster ready in $((SECONDS - start)) s: KUBECONFIG=$KUBECONFIG_FILE"
exit
}
