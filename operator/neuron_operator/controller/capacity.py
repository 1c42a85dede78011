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
from neuron_operator.sizing.catalog import load_catalog

NODEPOOL_GROUP, NODEPOOL_VERSION, NODEPOOL_PLURAL = "karpenter.sh", "v1", "nodepools"
# Families whose nodes may run the Neuron DRA driver instead of the device plugin (dra.py).
DRA_SERVED = frozenset({"trn2"})
# Karpenter's NodePool limits and status.resources use these names; memory in bytes.
LIMITED = ("cpu", "memory", NEURON_DEVICE)
TERMINAL_PHASES = ("Succeeded", "Failed")


# The labels the operator puts on its pods (controller/render.py; not imported: render needs
# the catalog, this module only the objects' words).
OWNER_LABEL = "neuron.dev/neurondeployment"
PLAN_TYPE_LABEL = "neuron.dev/instance-type"
MANAGED_BY_LABEL = ("app.kubernetes.io/managed-by", "neuron-operator")
SCHEDULER_MESSAGE = 300  # characters of the scheduler's words kept for the status


class PodClaim(NamedTuple):
    """A pod as the capacity decision sees it. The operator's own pods also say whose they
    are, the instance type their plan chose, and since when the scheduler has found no node
    for them; other pods leave those empty."""

    node: str  # "" while unscheduled
    cores: int
    devices: int
    owner: str = ""  # the NeuronDeployment's name (the pod's namespace is its namespace)
    instance_type: str = ""
    unschedulable_since: str = ""  # RFC 3339, from the PodScheduled condition
    why: str = ""  # the scheduler's message, e.g. "0/3 nodes are available: ..."


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
    node = str(spec.get("nodeName") or "")
    labels = (pod.get("metadata") or {}).get("labels") or {}
    owner = labels.get(OWNER_LABEL)
    if labels.get(MANAGED_BY_LABEL[0]) != MANAGED_BY_LABEL[1] or not isinstance(owner, str):
        return PodClaim(node, cores, devices)
    since, why = "", ""
    if not node:
        for condition in status.get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                since = str(condition.get("lastTransitionTime") or "")
                # Its first sentence says why no node fits; the rest is about preemption.
                why = str(condition.get("message") or "").split(". ")[0][:SCHEDULER_MESSAGE]
    instance_type = str(labels.get(PLAN_TYPE_LABEL) or "")
    return PodClaim(node, cores, devices, owner, instance_type, since, why)


def node_capacity(node: Mapping[str, Any], used: tuple[int, int] = (0, 0)) -> NodeCapacity | None:
    """A Neuron node's type and the cores and devices left after `used` (its pods' claims);
    None for nodes without Neuron resources or an instance-type label."""
    metadata = node.get("metadata") or {}
    instance_type = (metadata.get("labels") or {}).get(INSTANCE_TYPE_LABEL)
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    cores, devices = _count(allocatable.get(NEURONCORE)), _count(allocatable.get(NEURON_DEVICE))
    if instance_type and not (cores or devices):
        # A node the Neuron DRA driver serves has no extended resources: its devices are in
        # ResourceSlices, and the scheduler counts them itself. It exists, at its full size.
        known = load_catalog().get(str(instance_type))
        if known is not None and known.family in DRA_SERVED:
            cores, devices = known.allocatable_neuroncore, known.allocatable_neuron
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
    nodes: Iterable[NodeCapacity],
    claims: Iterable[PodClaim],
    node_pools: Iterable[NodePool] | None,
) -> Capacity:
    """The Capacity of nodes as `node_capacity` read them (all free), less what the pods
    bound to them claim; `node_pools` None when Karpenter's CRDs are absent."""
    used = claimed_by_node(claims)
    left = []
    for node in nodes:
        cores, devices = used.get(node.name, (0, 0))
        left.append(
            NodeCapacity(
                node.name,
                node.instance_type,
                max(0, node.free_cores - cores),
                max(0, node.free_devices - devices),
            )
        )
    return Capacity(nodes=tuple(left), node_pools=None if node_pools is None else tuple(node_pools))


def capacity_of(
    nodes: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    node_pools: Iterable[Mapping[str, Any]] | None,
) -> Capacity:
    """The Capacity of whole objects, as `kubectl get -o json` lists them."""
    return build_capacity(
        (n for n in map(node_capacity, nodes) if n is not None),
        (c for c in map(pod_claim, pods) if c is not None),
        None if node_pools is None else map(node_pool, node_pools),
    )
