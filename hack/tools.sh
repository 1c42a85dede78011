#!/usr/bin/env bash
# Build the pinned tools (hack/versions.env) from the Go module proxy into
# ${NEURON_OPERATOR_CACHE:-~/.cache/neuron-operator}/<tool>-<version>/bin, skipping any that is
# already there, and link them under .cluster/bin. Each build happens in a scratch directory and
# is moved into place only when complete, so an interrupted build is simply redone.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source hack/versions.env

CACHE=${NEURON_OPERATOR_CACHE:-$HOME/.cache/neuron-operator}
LINKS=.cluster/bin
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath
mkdir -p "$CACHE" "$LINKS"

log() { printf '==> %s\n' "$*"; }

# `go build -v` / `go install -v` with a visible pulse: one line per 100 packages compiled (out
# of at most TOTAL, when known: a warm build cache compiles fewer), not minutes of silence.
go_pulse() {
  local total=$1; shift
  go "$@" 2>&1 | awk -v total="$total" '
    /^#|:/ { print "    " $0; next }  # errors: "# pkg" headers, file:line: messages
    { n++ }
    n % 100 == 0 {
      if (total > 0) printf "    ... %d of at most %d packages compiled\n", n, total
      else printf "    ... %d packages compiled\n", n
      fflush()
    }
    END { printf "    %d packages compiled\n", n }'
  return "${PIPESTATUS[0]}"
}

# go_build OUT LDFLAGS PACKAGE...: build in the current module, counting the packages first.
go_build() {
  local out=$1 ldflags=$2 total; shift 2
  total=$(go list -deps "$@" 2>/dev/null | wc -l) || total=0
  go_pulse "$total" build -v -ldflags "$ldflags" -o "$out" "$@"
}

# go_install PACKAGE@VERSION...: into ./bin; the package count is unknown before the download.
go_install() {
  GOBIN=$PWD/bin go_pulse 0 install -v "$@"
}

# install_tool NAME VERSION BUILD_FUNCTION BINARY...: run BUILD_FUNCTION in a scratch dir
# (it must leave the binaries in ./bin) unless every BINARY is already cached.
install_tool() {
  local name=$1 version=$2 build=$3; shift 3
  local dest="$CACHE/$name-$version" missing=0 bin
  for bin in "$@"; do [ -e "$dest/bin/$bin" ] || missing=1; done
  if [ "$missing" = 1 ]; then
    log "building $name $version ($*) — first time on this machine only"
    local scratch start=$SECONDS
    scratch=$(mktemp -d "$CACHE/.build-$name.XXXXXX")
    (cd "$scratch" && "$build" "$version")
    rm -rf "$dest" && mv "$scratch" "$dest"
    log "built $name $version in $((SECONDS - start))s"
  fi
  for bin in "$@"; do ln -sf "$dest/bin/$bin" "$LINKS/$bin"; done
}

# kubernetes_build VERSION CMD...: build k8s.io/kubernetes/cmd/<CMD> for each CMD into ./bin.
kubernetes_build() {
  local version=$1 minor proxy; shift
  minor=${version#1.}; minor=${minor%%.*}
  proxy=$(go env GOPROXY | cut -d, -f1)
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging;
  # a wrapper module must replace each with its published v0.<minor>.<patch>. The list comes
  # from the release's own go.mod, so it is right for whatever version is pinned.
  curl -fsSL "$proxy/k8s.io/kubernetes/@v/v$version.mod" -o kubernetes.mod
  local go_line godebug cmd packages=()
  go_line=$(sed -n 's/^go \(.*\)$/\1/p' kubernetes.mod)
  godebug=$(sed -n 's/^godebug \(.*\)$/\1/p' kubernetes.mod)
  {
    printf 'module local/kubernetes-tools\n\ngo %s\n\n' "$go_line"
    [ -n "$godebug" ] && printf 'godebug %s\n\n' "$godebug"
    printf 'require k8s.io/kubernetes v%s\n\nreplace (\n' "$version"
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' kubernetes.mod |
      while read -r module; do printf '\t%s => %s v0.%s\n' "$module" "$module" "${version#1.}"; done
    printf ')\n'
  } > go.mod
  for cmd in "$@"; do packages+=("k8s.io/kubernetes/cmd/$cmd"); done
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    printf '\t_ "%s"\n' "${packages[@]}"
    printf ')\n'
  } > tools.go
  go mod tidy
  local ldflags="-s -w" pkg
  for pkg in client-go/pkg/version component-base/version; do
    ldflags+=" -X k8s.io/$pkg.gitVersion=v$version -X k8s.io/$pkg.gitMajor=1"
    ldflags+=" -X k8s.io/$pkg.gitMinor=$minor -X k8s.io/$pkg.gitTreeState=clean"
  done
  go_build bin/ "$ldflags" "${packages[@]}"
}

build_kubernetes() {
  kubernetes_build "$1" kube-apiserver kube-controller-manager kube-scheduler kubectl
  ./bin/kube-apiserver --version
}

# The node side, only for the kind path: what a kind node runs besides the control plane.
build_kubernetes_node() {
  kubernetes_build "$1" kubelet kubeadm kube-proxy
  ./bin/kubelet --version
}

# crictl: kind's `load docker-image` and `export logs` call it inside the nodes.
build_crictl() {
  go_install -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v$1" \
    "sigs.k8s.io/cri-tools/cmd/crictl@v$1"
}

# pause, the pod sandbox: its C source ships in the Kubernetes module (build/pause/linux), built
# static as upstream's image does, with the host's gcc.
build_pause() {
  local source
  source="$(go env GOMODCACHE)/k8s.io/kubernetes@v$K8S_VERSION/build/pause/linux/pause.c"
  [ -f "$source" ] || GOFLAGS=-mod=mod go mod download "k8s.io/kubernetes@v$K8S_VERSION"
  mkdir -p bin
  gcc -Os -Wall -Werror -static -DVERSION="v$1" -o bin/pause "$source"
}

build_etcd() {
  local version=$1
  # Its own wrapper: inside the Kubernetes one, MVS would pin etcd to Kubernetes' client version.
  cat > go.mod <<MOD
module local/etcd-tools

go 1.25.0

require go.etcd.io/etcd/server/v3 v$version
MOD
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go mod tidy
  go_build bin/etcd "-s -w" go.etcd.io/etcd/server/v3
  ./bin/etcd --version | head -1
}

build_kwok() {
  local version=$1
  go_install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$version" \
    "sigs.k8s.io/kwok/cmd/kwokctl@v$version"
  # kwok needs stages to act on nodes and pods: the same set kwokctl uses by default (fast node
  # initialization, heartbeats through leases, pods ready/complete/deleted), from the module.
  local stages
  stages="$(go env GOMODCACHE)/sigs.k8s.io/kwok@v$version/kustomize/stage"
  for file in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '---\n'; cat "$stages/$file"
  done > bin/kwok-stages.yaml
}

# LeaderWorkerSet's controller and its CRD (the module ships config/crd). The proxy refuses
# sigs.k8s.io/lws's version list, which `go install pkg@version` asks for, so it is built in a
# wrapper module that requires the exact version.
build_lws() {
  local version=$1 dir
  cat > go.mod <<MOD
module local/lws-tools

go 1.24.0

require sigs.k8s.io/lws v$version
MOD
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/lws/cmd"\n' > tools.go
  GOFLAGS=-mod=mod go mod download "sigs.k8s.io/lws@v$version"
  dir="$(go env GOMODCACHE)/sigs.k8s.io/lws@v$version"
  cp "$dir/go.sum" go.sum && chmod u+w go.sum
  GOFLAGS=-mod=mod go mod download sigs.k8s.io/lws
  go_build bin/lws "-s -w -X sigs.k8s.io/lws/pkg/version.GitVersion=v$version" sigs.k8s.io/lws/cmd
  cp "$dir/config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml" bin/lws-crd.yaml
}

build_helm() {
  local version=$1
  go_install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$version" \
    "helm.sh/helm/v3/cmd/helm@v$version"
}

build_kind() {
  go_install -ldflags "-s -w" "sigs.k8s.io/kind@v$1"
}

only=${1:-all}
case "$only" in
  all|cluster)
    install_tool kubernetes "$K8S_VERSION" build_kubernetes \
      kube-apiserver kube-controller-manager kube-scheduler kubectl
    install_tool etcd "$ETCD_VERSION" build_etcd etcd
    install_tool kwok "$KWOK_VERSION" build_kwok kwok kwokctl kwok-stages.yaml
    install_tool lws "$LWS_VERSION" build_lws lws lws-crd.yaml
    ;;&
  all|helm) install_tool helm "$HELM_VERSION" build_helm helm ;;&
  all|kind) install_tool kind "$KIND_VERSION" build_kind kind ;;&
  kind)
    install_tool kubernetes-node "$K8S_VERSION" build_kubernetes_node kubelet kubeadm kube-proxy
    install_tool crictl "$CRICTL_VERSION" build_crictl crictl
    install_tool pause "$PAUSE_VERSION" build_pause pause
    ;;
  all|cluster|helm) ;;
  *) echo "usage: hack/tools.sh [all|cluster|helm|kind]" >&2; exit 2 ;;
esac
