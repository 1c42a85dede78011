"""The fit-and-sizing engine. Pure: standard library and pydantic only, no I/O but reading
its own catalog file. Public API: `plan(spec) -> Plan`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuron_operator.api.plan import Plan
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec
from neuron_operator.sizing.capacity import Capacity
from neuron_operator.sizing.catalog import Catalog, load_catalog
from neuron_operator.sizing.choose import search
from neuron_operator.sizing.explain import build_plan
from neuron_operator.sizing.profile import build_profile

__all__ = ["Capacity", "Catalog", "Plan", "load_catalog", "plan"]


def plan(
    spec: NeuronDeploymentSpec | Mapping[str, Any],
    catalog: Catalog | None = None,
    capacity: Capacity | None = None,
    leader_worker_set: bool = True,
) -> Plan:
    """Size a NeuronDeployment spec; with the cluster's `capacity`, only instance types it can
    have, and plans that fit its free capacity now ahead of equal ones that need new nodes.
    `leader_worker_set`: whether the cluster can run a replica across nodes (a
    LeaderWorkerSet); offline, it is assumed. Raises pydantic.ValidationError on invalid input."""
    if not isinstance(spec, NeuronDeploymentSpec):
        spec = NeuronDeploymentSpec.model_validate(spec)
    catalog = catalog or load_catalog()
    profile = build_profile(spec.model, spec.workload)
    found = search(spec, profile, catalog, capacity, leader_worker_set)
    return build_plan(
        spec,
        profile,
        found,
        catalog.version,
        capacity,
        pricing=catalog.pricing,
        capacity_type=catalog.capacity_type,
    )
