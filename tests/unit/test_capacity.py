"""The cluster's capacity as the engine sees it (sizing/capacity.py): which instance types can
exist, how many replicas fit free capacity now, and what that does to a plan."""

from __future__ import annotations

from typing import Any

import pytest

from neuron_operator.api.reasons import ReasonCode
from neuron_operator.sizing import plan
from neuron_operator.sizing.capacity import (
    INSTANCE_FAMILY_LABEL,
    INSTANCE_TYPE_LABEL,
    NEURON_DEVICE,
    NEURONCORE,
    Capacity,
    NodeCapacity,
    NodePool,
    Requirement,
)
from neuron_operator.sizing.catalog import load_catalog

CATALOG = load_catalog()
TRN1_ONLY = NodePool("neuron", (Requirement(INSTANCE_FAMILY_LABEL, "In", ("trn1",)),))
BERT: dict[str, Any] = {
    "model": {"family": "transformer-encoder", "parameters": "110M", "sequenceLength": 128},
    "objective": "cost",
    "slo": {"throughput": 2000, "latencyMs": 50},
}


def instance(name: str) -> Any:
    found = CATALOG.get(name)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("operator", "values", "value", "admitted"),
    [
        ("In", ("trn1", "inf2"), "inf2", True),
        ("In", ("trn1",), "inf2", False),
        ("NotIn", ("inf1",), "inf2", True),
        ("NotIn", ("inf1",), "inf1", False),
        ("Exists", (), "inf2", True),
        ("Exists", (), None, False),
        ("DoesNotExist", (), None, True),
        ("Gt", ("4",), "8", True),
        ("Lt", ("4",), "8", False),
        ("Gt", ("4",), "large", False),
    ],
)
def test_a_requirement_admits_as_kubernetes_node_selectors_do(
    operator: str, values: tuple[str, ...], value: str | None, admitted: bool
) -> None:
    assert Requirement("k", operator, values).admits(value) is admitted


def test_a_nodepool_admits_the_types_its_requirements_allow() -> None:
    assert TRN1_ONLY.allows(instance("trn1.32xlarge"))
    assert not TRN1_ONLY.allows(instance("inf2.xlarge"))
    pinned = NodePool("pinned", (Requirement(INSTANCE_TYPE_LABEL, "In", ("inf2.xlarge",)),))
    assert pinned.allows(instance("inf2.xlarge"))
    assert not pinned.allows(instance("inf2.8xlarge"))
    # requirements on other labels (zones, capacity type) do not decide the type
    zonal = NodePool("zonal", (Requirement("topology.kubernetes.io/zone", "In", ("us-east-1a",)),))
    assert zonal.allows(instance("inf2.xlarge"))


def test_a_nodepool_at_its_limits_cannot_make_another_node() -> None:
    trn1 = instance("trn1.32xlarge")
    roomy = NodePool("neuron", TRN1_ONLY.requirements, {NEURON_DEVICE: trn1.devices})
    full = NodePool("neuron", TRN1_ONLY.requirements, {NEURON_DEVICE: trn1.devices - 1})
    assert roomy.allows(trn1)
    assert not full.allows(trn1)
    assert full.allows(instance("trn1.2xlarge"))  # a smaller node still fits under the limit


def test_a_type_can_exist_if_a_node_of_it_exists_or_a_nodepool_allows_it() -> None:
    existing = NodeCapacity("node-a", "inf2.xlarge", free_cores=0, free_devices=0)
    with_pools = Capacity(nodes=(existing,), node_pools=(TRN1_ONLY,))
    assert with_pools.unprovisionable(instance("inf2.xlarge")) is None
    assert with_pools.unprovisionable(instance("trn1.2xlarge")) is None
    assert with_pools.unprovisionable(instance("inf2.8xlarge")) == (
        "no NodePool allows inf2.8xlarge; NodePool neuron allows trn1.*"
    )
    without_karpenter = Capacity(nodes=(existing,), node_pools=None)
    message = without_karpenter.unprovisionable(instance("trn1.2xlarge"))
    assert message is not None
    assert "no Karpenter NodePools" in message and "inf2.xlarge" in message


def test_replicas_fitting_now_pack_each_node_up_to_the_plans_replicas_per_node() -> None:
    capacity = Capacity(
        nodes=(
            NodeCapacity("a", "trn1.32xlarge", free_cores=32, free_devices=16),
            NodeCapacity("b", "trn1.32xlarge", free_cores=5, free_devices=1),
            NodeCapacity("c", "inf2.xlarge", free_cores=2, free_devices=1),
        )
    )
    assert capacity.replicas_fitting_now("trn1.32xlarge", {NEURONCORE: 2}, 16) == 16 + 2
    assert capacity.replicas_fitting_now("trn1.32xlarge", {NEURONCORE: 2}, 4) == 4 + 2
    assert capacity.replicas_fitting_now("trn1.32xlarge", {NEURON_DEVICE: 4}, 16) == 4
    assert capacity.replicas_fitting_now("inf2.48xlarge", {NEURONCORE: 1}, 24) == 0


def test_a_plan_against_the_cluster_uses_only_types_it_can_have_and_says_why_not() -> None:
    offline = plan(BERT)
    assert offline.feasible and offline.replicas_fitting_now is None
    assert offline.instance_type is not None and not offline.instance_type.startswith("trn1")
    capacity = Capacity(nodes=(), node_pools=(TRN1_ONLY,))
    against = plan(BERT, capacity=capacity)
    assert against.feasible
    assert against.instance_type is not None and against.instance_type.startswith("trn1")
    refused = {r.instance_type: r for r in against.rejections()}
    assert refused[offline.instance_type].reason == ReasonCode.NOT_PROVISIONABLE
    assert refused[offline.instance_type].message == (
        f"no NodePool allows {offline.instance_type}; NodePool neuron allows trn1.*"
    )
    assert against.replicas_fitting_now == 0  # no node yet: all of them wait for new nodes


def test_nothing_provisionable_is_infeasible_with_the_reason() -> None:
    inf1_only = NodePool("old", (Requirement(INSTANCE_FAMILY_LABEL, "In", ("inf1",)),))
    spec = {**BERT, "model": {"family": "transformer-decoder", "parameters": "8B"}}
    result = plan(spec, capacity=Capacity(node_pools=(inf1_only,)))
    assert not result.feasible
    assert ReasonCode.NOT_PROVISIONABLE in {r.reason for r in result.reasons}


def test_an_equal_plan_that_fits_free_capacity_now_ranks_first() -> None:
    # Two sizes of trn1 nodes cost the same per core; pin replicas so the objective ties on
    # hourly cost only where the nodes do.
    spec = {
        "model": {"family": "transformer-encoder", "parameters": "110M", "sequenceLength": 128},
        "objective": "latency",
        "constraints": {"instanceTypes": ["trn1.32xlarge", "trn1n.32xlarge"]},
        "overrides": {"replicas": 2},
    }
    offline = plan(spec)
    assert offline.feasible and offline.instance_type is not None
    assert offline.estimate is not None
    tied = [
        a.instance_type
        for a in offline.alternatives
        if a.estimate.latency_ms == offline.estimate.latency_ms
        and a.instance_type != offline.instance_type
    ]
    assert tied, "the two instance types tie on the objective"
    other = tied[0]
    # Both types have a node, so both can run: only free capacity tells them apart.
    free = Capacity(
        nodes=(
            NodeCapacity("full", offline.instance_type, free_cores=0, free_devices=0),
            NodeCapacity("free", other, free_cores=128, free_devices=16),
        )
    )
    against = plan(spec, capacity=free)
    assert not any(r.reason == ReasonCode.NOT_PROVISIONABLE for r in against.rejections())
    assert against.instance_type == other
    assert against.replicas_fitting_now == 2
