"""What the cluster can run, as the engine sees it, and the decisions taken from it.

The operator builds a `Capacity` from its watch-fed store (nodes with their free Neuron
resources; Karpenter NodePools where the Karpenter CRDs exist) and the engine reads it as a plain
value: no client, no I/O. Two questions are asked of it:
- can an instance type exist here at all: a node of that type exists, or a NodePool allows it
  and its limits leave room for one more such node;
- how many of a plan's replicas fit the free capacity of existing nodes now, so that a plan
  that runs at once ranks ahead of an equal one that waits for new nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from neuron_operator.sizing.catalog import InstanceType

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
INSTANCE_FAMILY_LABEL = "karpenter.k8s.aws/instance-family"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
NEURONCORE = "aws.amazon.com/neuroncore"
NEURON_DEVICE = "aws.amazon.com/neuron"


@dataclass(frozen=True)
class Requirement:
    """One of a NodePool's node-selector requirements (Kubernetes' NodeSelectorRequirement)."""

    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist, Gt, Lt
    values: tuple[str, ...] = ()

    def admits(self, value: str | None) -> bool:
        if self.operator == "In":
            return value in self.values
        if self.operator == "NotIn":
            return value not in self.values
        if self.operator == "Exists":
            return value is not None
        if self.operator == "DoesNotExist":
            return value is None
        if self.operator in ("Gt", "Lt") and value is not None and self.values:
            try:
                number, bound = int(value), int(self.values[0])
            except ValueError:
                return False
            return number > bound if self.operator == "Gt" else number < bound
        return False


def instance_labels(instance: InstanceType) -> dict[str, str]:
    """The well-known labels a node of this type carries that NodePools select on."""
    return {INSTANCE_TYPE_LABEL: instance.name, INSTANCE_FAMILY_LABEL: instance.family}


@dataclass(frozen=True)
class NodePool:
    """A Karpenter NodePool, reduced to what decides which instance types it can launch."""

    name: str
    requirements: tuple[Requirement, ...] = ()
    # What its limits leave: resource name -> amount still allowed (cpu in cores, memory in
    # bytes, aws.amazon.com/neuron in devices). Absent: no limit on that resource.
    remaining: Mapping[str, float] = field(default_factory=dict)

    def __hash__(self) -> int:
        # Hashable like the rest of a Capacity, which the operator keys plans by.
        return hash((self.name, self.requirements, tuple(sorted(self.remaining.items()))))

    def admits_type(self, instance: InstanceType) -> bool:
        """Whether its requirements on the instance labels admit this type."""
        labels = instance_labels(instance)
        return all(r.admits(labels.get(r.key)) for r in self.requirements if r.key in labels)

    def allows(self, instance: InstanceType) -> bool:
        return self.admits_type(instance) and self.room_for(instance)

    def room_for(self, instance: InstanceType) -> bool:
        """Whether the pool's limits leave room for one more node of this type."""
        needs = {
            "cpu": float(instance.vcpus),
            "memory": instance.host_memory_gib * 2**30,
            NEURON_DEVICE: float(instance.devices),
        }
        return all(
            self.remaining.get(name, float("inf")) >= amount for name, amount in needs.items()
        )

    def describe(self) -> str:
        """What the pool allows, in the words of its requirements: "trn1.*", "inf2.xlarge"."""
        allowed: list[str] = []
        excluded: list[str] = []
        for r in self.requirements:
            if r.key == INSTANCE_TYPE_LABEL:
                (allowed if r.operator == "In" else excluded).extend(r.values)
            elif r.key == INSTANCE_FAMILY_LABEL:
                names = [f"{v}.*" for v in r.values]
                (allowed if r.operator == "In" else excluded).extend(names)
        text = ", ".join(allowed) if allowed else "any instance type"
        if excluded:
            text += f" but {', '.join(excluded)}"
        return f"NodePool {self.name} allows {text}"


@dataclass(frozen=True)
class NodeCapacity:
    """An existing node: its type and the Neuron resources its bound pods leave free."""

    name: str
    instance_type: str
    free_cores: int
    free_devices: int


@dataclass(frozen=True)
class Capacity:
    """The cluster's capacity for Neuron workloads, as read by the operator."""

    nodes: tuple[NodeCapacity, ...] = ()
    # None when Karpenter's CRDs are absent: then only the types of existing nodes can run.
    node_pools: tuple[NodePool, ...] | None = None
    # Instance types this workload's pods already waited on in vain (fallback), with why: not
    # planned again until the cluster's capacity changes.
    failed: tuple[tuple[str, str], ...] = ()

    def failed_here(self, instance: InstanceType) -> str | None:
        """Why this type was given up for this workload; None if it was not."""
        return next((why for name, why in self.failed if name == instance.name), None)

    def without(self, failed: tuple[tuple[str, str], ...]) -> Capacity:
        """The same capacity, with these types given up."""
        return Capacity(self.nodes, self.node_pools, failed)

    @cached_property
    def nodes_by_type(self) -> dict[str, tuple[NodeCapacity, ...]]:
        """The nodes of each instance type: a plan asks about one type many times over."""
        grouped: dict[str, list[NodeCapacity]] = {}
        for node in self.nodes:
            grouped.setdefault(node.instance_type, []).append(node)
        return {name: tuple(nodes) for name, nodes in grouped.items()}

    def unprovisionable(self, instance: InstanceType) -> str | None:
        """None if a node of this type exists or can be made; else why not."""
        if instance.name in self.nodes_by_type:
            return None
        pools = self.node_pools
        if pools is None:
            present = sorted({n.instance_type for n in self.nodes})
            have = f"its Neuron nodes are {', '.join(present)}" if present else "it has none"
            return (
                f"no {instance.name} node in the cluster and no Karpenter NodePools to make "
                f"one ({have}); add such nodes, or allow the types it has"
            )
        admitting = [p for p in pools if p.admits_type(instance)]
        if any(p.room_for(instance) for p in admitting):
            return None
        if admitting:
            names = ", ".join(p.name for p in admitting)
            return (
                f"no {instance.name} node in the cluster, and the NodePools that allow one "
                f"({names}) are at their limits; raise spec.limits or free their nodes"
            )
        if not pools:
            return f"no {instance.name} node in the cluster and no NodePool to make one"
        return f"no NodePool allows {instance.name}; " + "; ".join(p.describe() for p in pools)

    def replicas_fitting_now(
        self, instance_type: str, resources: Mapping[str, int], replicas_per_node: int
    ) -> int:
        """Replicas of this request the free capacity of existing nodes holds now (first fit
        over nodes of the type, each at most `replicas_per_node`, as the plan places them)."""
        cores, devices = resources.get(NEURONCORE, 0), resources.get(NEURON_DEVICE, 0)
        total = 0
        for node in self.nodes_by_type.get(instance_type, ()):
            fits = replicas_per_node
            if cores:
                fits = min(fits, node.free_cores // cores)
            if devices:
                fits = min(fits, node.free_devices // devices)
            total += max(0, fits)
        return total
