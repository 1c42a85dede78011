"""Autoscaling from the plan (spec.autoscaling): the bounds, what they cost, and the
HorizontalPodAutoscaler. Pure: values in, a plain dict out.

The plan's replica count is where the HPA starts. Without maxReplicas, the most replicas are
those budget.maxHourlyCost pays for (whole nodes of the plan's type, each holding as many
replicas as the plan puts on one), so that nothing autoscales past the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from neuron_operator.api.plan import PlanRecord, Range
from neuron_operator.api.v1alpha1 import (
    NEURONCORE_UTILIZATION_METRIC,
    Autoscaling,
    MetricType,
    NeuronDeploymentSpec,
)
from neuron_operator.controller.render import owner_reference

HPA_API_VERSION = "autoscaling/v2"
# The field manager that hands the Deployment's replicas over to the HPA: it sets them once,
# to the plan's count, and the HPA's own writes take them over from it.
SEED_SUFFIX = "-initial-replicas"


@dataclass(frozen=True)
class Bounds:
    min_replicas: int
    max_replicas: int
    start: int  # the plan's replicas, within the bounds
    hourly_cost: Range | None  # USD per hour at the fewest and at the most replicas

    def describe(self) -> str:
        cost = (
            f", USD {self.hourly_cost.low:.2f}–{self.hourly_cost.high:.2f}/h"
            if self.hourly_cost
            else ""
        )
        return f"{self.min_replicas}–{self.max_replicas} replicas{cost}"


def _node_price(plan: PlanRecord) -> float | None:
    cost = plan.estimate.hourly_cost if plan.estimate else None
    if cost is None or not plan.nodes:
        return None
    return cost / plan.nodes


def _nodes(replicas: int, per_node: int) -> int:
    return math.ceil(replicas / max(1, per_node))


def bounds(spec: NeuronDeploymentSpec, plan: PlanRecord) -> Bounds | str:
    """The bounds, or why there are none (a message naming the field to set)."""
    scaling = spec.autoscaling
    assert scaling is not None
    per_node = plan.replicas_per_node or 1
    price = _node_price(plan)
    budget = spec.budget.max_hourly_cost
    most = scaling.max_replicas
    if most is None:
        if budget is None:
            return (
                "spec.autoscaling.maxReplicas: set it, or set budget.maxHourlyCost to bound the "
                "replicas by what they cost"
            )
        if price is None:
            return (
                f"spec.autoscaling.maxReplicas: {plan.instance_type} has no known price, so "
                "budget.maxHourlyCost cannot bound the replicas; set maxReplicas"
            )
        most = int(budget // price) * per_node
    if most < scaling.min_replicas:
        return (
            f"spec.autoscaling: budget.maxHourlyCost (USD {budget}/h) pays for {most} "
            f"replica(s) on {plan.instance_type}, fewer than minReplicas "
            f"({scaling.min_replicas}); lower minReplicas or raise the budget"
        )
    start = min(max(plan.replicas or 1, scaling.min_replicas), most)
    cost = None
    if price is not None:
        low = _nodes(scaling.min_replicas, per_node) * price
        high = _nodes(most, per_node) * price
        cost = Range(low=round(low, 4), high=round(high, 4))
    return Bounds(scaling.min_replicas, most, start, cost)


def metric(scaling: Autoscaling) -> dict[str, Any]:
    """The HPA's metric (autoscaling/v2 MetricSpec)."""
    wanted = scaling.metric
    if wanted.type == MetricType.CPU:
        return {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": int(wanted.target)},
            },
        }
    name = wanted.name if wanted.type == MetricType.PODS else NEURONCORE_UTILIZATION_METRIC
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": name},
            "target": {"type": "AverageValue", "averageValue": wanted.target},
        },
    }


def describe_metric(scaling: Autoscaling) -> str:
    wanted = scaling.metric
    if wanted.type == MetricType.CPU:
        return f"CPU at {wanted.target} % of requests"
    name = wanted.name if wanted.type == MetricType.PODS else NEURONCORE_UTILIZATION_METRIC
    return f"{name} at {wanted.target} per pod"


def render_autoscaler(
    body: dict[str, Any], scaling: Autoscaling, found: Bounds, labels: dict[str, str]
) -> dict[str, Any]:
    """The HorizontalPodAutoscaler of a NeuronDeployment `body`, scaling its Deployment."""
    metadata = body["metadata"]
    name = metadata["name"]
    return {
        "apiVersion": HPA_API_VERSION,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": metadata["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(body)],
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": found.min_replicas,
            "maxReplicas": found.max_replicas,
            "metrics": [metric(scaling)],
        },
    }
