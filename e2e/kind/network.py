"""Pod networking for kind nodes built here, in place of kindnetd (what kindnetd does, once):
each node gets Debian's ptp + host-local CNI plugins on its own pod CIDR, and a route to every
other node's pod CIDR through that node's address on the kind network.

    python e2e/kind/network.py KUBECONFIG
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

KUBECTL = str(Path(__file__).resolve().parents[2] / ".cluster" / "bin" / "kubectl")


def conflist(pod_cidr: str) -> str:
    # kindnetd's own template (images/kindnetd/cmd/kindnetd/cni.go): ptp with host-local, and
    # portmap; outbound traffic is masqueraded by the plugin.
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "kindnet",
            "plugins": [
                {
                    "type": "ptp",
                    "ipMasq": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": "/run/cni-ipam-state",
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "ranges": [[{"subnet": pod_cidr}]],
                    },
                    "mtu": 1500,
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        },
        indent=2,
    )


def node_addresses(kubeconfig: str) -> dict[str, tuple[str, str]]:
    """node name -> (pod CIDR, InternalIP), once the controller manager has given every CIDR."""
    for _ in range(120):
        listing = subprocess.run(
            [KUBECTL, "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
            capture_output=True,
            check=False,
        )
        nodes = json.loads(listing.stdout)["items"] if listing.returncode == 0 else []
        found = {
            n["metadata"]["name"]: (
                n["spec"]["podCIDR"],
                next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"),
            )
            for n in nodes
            if n["spec"].get("podCIDR")
        }
        if nodes and len(found) == len(nodes):
            return found
        time.sleep(1)
    raise SystemExit("error: nodes got no pod CIDRs within 120 s")


def docker_exec(node: str, script: str, stdin: str = "") -> None:
    subprocess.run(
        ["docker", "exec", "-i", node, "sh", "-c", script], input=stdin.encode(), check=True
    )


def main() -> None:
    addresses = node_addresses(sys.argv[1])
    for node, (cidr, _) in addresses.items():
        docker_exec(
            node,
            "mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-kindnet.conflist",
            conflist(cidr),
        )
        for other, (other_cidr, other_ip) in addresses.items():
            if other != node:
                docker_exec(node, f"ip route replace {other_cidr} via {other_ip}")
        print(f"==> {node}: pods on {cidr}")


if __name__ == "__main__":
    main()
