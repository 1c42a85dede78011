#!/usr/bin/env bash
# Make a Docker engine available for the kind path (`make e2e-kind`), or say why there is none.
#
#   exit 0  `docker info` answers (it already did, or this script started dockerd)
#   exit 3  no engine here and none can be had; the message says why (callers skip kind)
#
# Where dockerd is installed but not running and we are root, start it. Where it is not installed
# and we are root on Debian, install Debian's docker.io first. Where this machine's capability
# bounding set lacks capabilities that privileged containers ask for (every kind node is
# privileged), register hack/runc_nocap.py as dockerd's default runtime; elsewhere leave the
# runtime alone. dockerd's log: /var/log/neuron-operator-dockerd.log.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }
skip() { printf 'kind: %s\n' "$*" >&2; exit 3; }

engine_up() { docker info >/dev/null 2>&1; }

engine_up && exit 0
command -v docker >/dev/null || [ "$(id -u)" = 0 ] || skip "no docker command, and not root to install one"
[ "$(id -u)" = 0 ] || skip "Docker is not running, and only root can start it here (docker info failed)"

if ! command -v dockerd >/dev/null; then
  [ -r /etc/debian_version ] && command -v apt-get >/dev/null ||
    skip "no dockerd, and this is not Debian: install Docker, then run make e2e-kind"
  log "installing Debian's docker.io (dockerd, containerd, runc)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends docker.io >/dev/null; } ||
    skip "apt-get install docker.io failed"
fi

# Capabilities a privileged container gets (all up to cap_last_cap) that the host cannot grant.
last=$(cat /proc/sys/kernel/cap_last_cap)
bounding=$((16#$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)))
mkdir -p /etc/docker
if [ "$bounding" != $(((1 << (last + 1)) - 1)) ]; then
  log "this host's capability bounding set lacks some capabilities: runc wrapped to drop them"
  install -D -m 0755 hack/runc_nocap.py /usr/local/libexec/neuron-operator/runc-nocap
  # Merge into any daemon.json already there rather than replace it.
  python3 - <<'PY'
import json, pathlib
path = pathlib.Path("/etc/docker/daemon.json")
config = json.loads(path.read_text()) if path.exists() else {}
config.setdefault("runtimes", {})["runc-nocap"] = {
    "path": "/usr/local/libexec/neuron-operator/runc-nocap"
}
config["default-runtime"] = "runc-nocap"
path.write_text(json.dumps(config, indent=2) + "\n")
PY
fi

# Four kind nodes each run systemd, containerd and a kubelet: kind's known-issues page asks for
# these inotify limits (Debian's default of 128 instances is too few).
sysctl -qw fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288 || true

log "starting dockerd (log: /var/log/neuron-operator-dockerd.log)"
setsid dockerd >/var/log/neuron-operator-dockerd.log 2>&1 </dev/null &
for _ in $(seq 60); do engine_up && { log "Docker is up: $(docker version --format '{{.Server.Version}}')"; exit 0; }; sleep 1; done
tail -20 /var/log/neuron-operator-dockerd.log >&2
skip "dockerd did not answer within 60 s (log above)"
