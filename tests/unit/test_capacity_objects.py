"""The engine's Capacity built from API objects (controller/capacity.py): pods reduced to their
Neuron claims, nodes to their free cores and devices, NodePools to requirements and room."""

from __future__ import annotations

from typing import Any

from neuron_operator.controller.capacity import build_capacity, capacity_of, node_pool, pod_claim
from neuron_operator.sizing.capacity import NodeCapacity, Requirement


def pod(node: str, cores: str | None = None, devices: str | None = None, **status: str) -> Any:
    limits = {}
    if cores:
        limits["aws.amazon.com/neuroncore"] = cores
    if devices:
        limits["aws.amazon.com/neuron"] = devices
    return {
        "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"limits": limits}}]},
        "status": status,
    }


def node(name: str, instance_type: str | None, cores: str, devices: str, **spec: Any) -> Any:
    labels = {"node.kubernetes.io/instance-type": instance_type} if instance_type else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {
            "allocatable": {"aws.amazon.com/neuroncore": cores, "aws.amazon.com/neuron": devices}
        },
    }


def test_a_pod_claims_its_neuron_requests_until_it_finishes() -> None:
    claim = pod_claim(pod("a", cores="4", phase="Running"))
    assert claim is not None and (claim.node, claim.cores, claim.devices) == ("a", 4, 0)
    assert pod_claim(pod("a", cores="4", phase="Succeeded")) is None
    assert pod_claim(pod("a", phase="Running")) is None  # no Neuron resources: not kept
    pending = pod_claim(pod("", devices="1", phase="Pending"))
    assert pending is not None and pending.node == ""


def test_the_operators_own_pending_pod_says_whose_it_is_and_since_when() -> None:
    body = pod("", cores="2", phase="Pending")
    body["metadata"] = {
        "labels": {
            "app.kubernetes.io/managed-by": "neuron-operator",
            "neuron.dev/neurondeployment": "bert",
            "neuron.dev/instance-type": "inf2.xlarge",
        }
    }
    body["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "lastTransitionTime": "2026-11-30T10:00:00Z",
            "message": "0/3 nodes are available: 3 Insufficient aws.amazon.com/neuroncore. "
            "preemption: 0/3 nodes are available: 3 No preemption victims found.",
        }
    ]
    claim = pod_claim(body)
    assert claim is not None
    assert (claim.owner, claim.instance_type) == ("bert", "inf2.xlarge")
    assert claim.unschedulable_since == "2026-11-30T10:00:00Z"
    assert claim.why == "0/3 nodes are available: 3 Insufficient aws.amazon.com/neuroncore"
    body["spec"]["nodeName"] = "n1"  # scheduled after all: no longer waiting
    claim = pod_claim(body)
    assert claim is not None and (claim.node, claim.unschedulable_since) == ("n1", "")
    del body["metadata"]["labels"]["app.kubernetes.io/managed-by"]  # not the operator's pod
    claim = pod_claim(body)
    assert claim is not None and claim.owner == ""


def test_an_init_container_larger_than_the_containers_sets_the_claim() -> None:
    body = pod("a", cores="1")
    body["spec"]["initContainers"] = [
        {"name": "warm", "resources": {"requests": {"aws.amazon.com/neuroncore": "8"}}}
    ]
    claim = pod_claim(body)
    assert claim is not None and claim.cores == 8


def test_free_capacity_is_allocatable_less_the_claims_of_the_nodes_pods() -> None:
    pods = [pod("a", cores="4"), pod("a", cores="2"), pod("b", devices="1"), pod("a")]
    capacity = capacity_of(
        [
            node("a", "trn1.32xlarge", "32", "16"),
            node("b", "inf2.xlarge", "2", "1"),
            node("cpu", "m5.large", "0", "0"),  # no Neuron resources: not a Neuron node
            node("unlabelled", None, "2", "1"),
            node("cordoned", "inf2.xlarge", "2", "1", unschedulable=True),
        ],
        pods,
        None,
    )
    assert capacity.nodes == (
        NodeCapacity("a", "trn1.32xlarge", 26, 16),
        NodeCapacity("b", "inf2.xlarge", 2, 0),
        NodeCapacity("cordoned", "inf2.xlarge", 0, 0),
    )
    assert capacity.node_pools is None


def test_a_nodepool_keeps_its_requirements_and_what_its_limits_leave() -> None:
    pool = node_pool(
        {
            "metadata": {"name": "neuron"},
            "spec": {
                "template": {
                    "spec": {
                        "requirements": [
                            {
                                "key": "karpenter.k8s.aws/instance-family",
                                "operator": "In",
                                "values": ["trn1", "inf2"],
                            },
                        ]
                    }
                },
                "limits": {"cpu": "1000", "memory": "1000Gi", "aws.amazon.com/neuron": "64"},
            },
            "status": {
                "resources": {"cpu": "128", "memory": "512Gi", "aws.amazon.com/neuron": "16"}
            },
        }
    )
    assert pool.name == "neuron"
    assert pool.requirements == (
        Requirement("karpenter.k8s.aws/instance-family", "In", ("trn1", "inf2")),
    )
    assert pool.remaining == {"cpu": 872.0, "memory": 488 * 2**30, "aws.amazon.com/neuron": 48.0}
    assert build_capacity([], [], []).node_pools == ()
