"""`plan --cluster`: the current kubectl context's capacity, read with kubectl (as `kubectl
neuron explain` reads objects), for the engine. Read-only: nodes, pods, and Karpenter NodePools
where their CRD exists."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from neuron_operator.controller.capacity import (
    NODEPOOL_GROUP,
    NODEPOOL_PLURAL,
    TERMINAL_PHASES,
    capacity_of,
)
from neuron_operator.sizing.capacity import Capacity


class ClusterUnreadable(Exception):
    """kubectl could not read what planning against the cluster needs."""


def _get(*args: str) -> tuple[int, str, str]:
    kubectl = os.environ.get("KUBECTL", "kubectl")
    done = subprocess.run(
        [kubectl, "get", *args, "-o", "json"], capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout, done.stderr


def _items(*args: str) -> list[dict[str, Any]]:
    code, out, err = _get(*args)
    if code:
        raise ClusterUnreadable(f"kubectl get {' '.join(args)}: {err.strip()}")
    items: list[dict[str, Any]] = json.loads(out).get("items") or []
    return items


def read_capacity() -> Capacity:
    nodes = _items("nodes")
    phases = ",".join(f"status.phase!={phase}" for phase in TERMINAL_PHASES)
    pods = _items("pods", "--all-namespaces", f"--field-selector={phases}")
    code, out, err = _get(f"{NODEPOOL_PLURAL}.{NODEPOOL_GROUP}")
    if code == 0:
        node_pools: list[dict[str, Any]] | None = json.loads(out).get("items") or []
    elif "the server doesn't have a resource type" in err:
        node_pools = None  # no Karpenter here
    else:
        raise ClusterUnreadable(f"kubectl get {NODEPOOL_PLURAL}.{NODEPOOL_GROUP}: {err.strip()}")
    return capacity_of(nodes, pods, node_pools)
