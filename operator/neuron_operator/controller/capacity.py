"""The engine's Capacity (sizing/capacity.py) from the objects the API serves: nodes, the pods
bound to them, and Karpenter NodePools. Pure: plain dicts in, values out, no client.

A pod is reduced on receipt to what the decision needs (`PodClaim`: its node, its Neuron
requests, whether it still holds them), so a cluster of many pods costs a few dozen bytes each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from neuron_operator.controller.quantity import quantity
from neuron_operator.sizing.capacity import (
    INSTANCE_TYPE_LABEL,
    NEURON_DEVICE,
    NEURONCORE,
    Capacity,
    NodeCapacity,
    NodePool,
    Requirement,
)

NODEPOOL_GROUP, NODEPOOL_VERSION, NODEPOOL_PLURAL = "karpenter.sh", "v1", "nodepools"
# Karpenter's NodePool limits and status.resources use these names; memory in bytes.
LIMITED = ("cpu", "memory", NEURON_DEVICE)
TERMINAL_PHASES = ("Succeeded", "Failed")


class PodClaim(NamedTuple):
    """A pod as the capacity decision sees it."""

    node: str  # "" while unscheduled
    cores: int
    devices: int


def _count(value: Any) -> int:
    amount = quantity(value)
    return int(amount) if amount is not None else 0


def _requests(container: Mapping[str, Any]) -> tuple[int, int]:
    resources = container.get("resources") or {}
    # Extended resources have requests equal to limits; either may be the one written.
    asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return _count(asked.get(NEURONCORE)), _count(asked.get(NEURON_DEVICE))


def pod_claim(pod: Mapping[str, Any]) -> PodClaim | None:
    """What the pod holds of Neuron resources; None when it holds none (or no longer)."""
    status = pod.get("status") or {}
    if status.get("phase") in TERMINAL_PHASES:
        return None
    spec = pod.get("spec") or {}
    containers = [_requests(c) for c in spec.get("containers") or []]
    init = [_requests(c) for c in spec.get("initContainers") or []]
    # The effective request: the larger of the containers' sum and any one init container.
    cores = max([sum(c for c, _ in containers), *(c for c, _ in init)], default=0)
    devices = max([sum(d for _, d in containers), *(d for _, d in init)], default=0)
    if not cores and not devices:
        return None
    return PodClaim(str(spec.get("nodeName") or ""), cores, devices)


def node_capacity(node: Mapping[str, Any], used: tuple[int, int] = (0, 0)) -> NodeCapacity | None:
    """A Neuron node's type and the cores and devices left after `used` (its pods' claims);
    None for nodes without Neuron resources or an instance-type label."""
    metadata = node.get("metadata") or {}
    instance_type = (metadata.get("labels") or {}).get(INSTANCE_TYPE_LABEL)
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    cores, devices = _count(allocatable.get(NEURONCORE)), _count(allocatable.get(NEURON_DEVICE))
    if not instance_type or not (cores or devices):
        return None
    if (node.get("spec") or {}).get("unschedulable"):
        cores = devices = 0  # cordoned: nothing new lands there
    free_cores, free_devices = max(0, cores - used[0]), max(0, devices - used[1])
    return NodeCapacity(str(metadata.get("name")), str(instance_type), free_cores, free_devices)


def claimed_by_node(claims: Iterable[PodClaim]) -> dict[str, tuple[int, int]]:
    """Cores and devices the scheduled pods hold, by node."""
    totals: dict[str, tuple[int, int]] = {}
    for claim in claims:
        if claim.node:
            cores, devices = totals.get(claim.node, (0, 0))
            totals[claim.node] = (cores + claim.cores, devices + claim.devices)
    return totals


def node_pool(pool: Mapping[str, Any]) -> NodePool:
    """A NodePool's instance-type requirements and what its limits leave."""
    spec = pool.get("spec") or {}
    template = (spec.get("template") or {}).get("spec") or {}
    requirements = tuple(
        Requirement(
            str(r.get("key")), str(r.get("operator")), tuple(map(str, r.get("values") or ()))
        )
        for r in template.get("requirements") or []
    )
    limits = spec.get("limits") or {}
    used = (pool.get("status") or {}).get("resources") or {}
    remaining: dict[str, float] = {}
    for name in LIMITED:
        limit = quantity(limits.get(name))
        if limit is not None:
            remaining[name] = float(limit - (quantity(used.get(name)) or 0))
    return NodePool(str((pool.get("metadata") or {}).get("name")), requirements, remaining)


def build_capacity(
    nodes: Iterable[Mapping[str, Any]],
    claims: Iterable[PodClaim],
    node_pools: Iterable[Mapping[str, Any]] | None,
) -> Capacity:
    """The Capacity of these objects; `node_pools` None when Karpenter's CRDs are absent."""
    used = claimed_by_node(claims)
    found = (
        node_capacity(node, used.get(str((node.get("metadata") or {}).get("name")), (0, 0)))
        for node in nodes
    )
    return Capacity(
        nodes=tuple(n for n in found if n is not None),
        node_pools=None if node_pools is None else tuple(node_pool(p) for p in node_pools),
    )
