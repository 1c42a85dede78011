"""The simulated nodes are generated from the catalog and match what real nodes report."""

from __future__ import annotations

from hack.simnodes import all_nodes, neuron_node

from neuron_operator.controller.render import (
    kube_reserved_cpu_millicores,
    kube_reserved_memory_mib,
)
from neuron_operator.sizing.catalog import load_catalog


def test_one_node_per_catalog_instance_type_plus_a_cpu_node() -> None:
    nodes = all_nodes()
    types = [n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in nodes]
    assert types[:-1] == [i.name for i in load_catalog().instances]
    cpu = nodes[-1]
    assert "aws.amazon.com/neuroncore" not in cpu["status"]["capacity"]
    assert not cpu["spec"].get("taints")


def test_neuron_node_reports_device_plugin_resources_labels_and_taint() -> None:
    instance = load_catalog().get("trn1.32xlarge")
    assert instance is not None
    node = neuron_node(instance)
    for key in ("capacity", "allocatable"):
        assert node["status"][key]["aws.amazon.com/neuroncore"] == "32"
        assert node["status"][key]["aws.amazon.com/neuron"] == "16"
        assert node["status"][key]["vpc.amazonaws.com/efa"] == "8"
    small = load_catalog().get("trn1.2xlarge")
    assert small is not None
    assert "vpc.amazonaws.com/efa" not in neuron_node(small)["status"]["allocatable"]
    labels = node["metadata"]["labels"]
    assert labels["node.kubernetes.io/instance-type"] == "trn1.32xlarge"
    assert labels["karpenter.k8s.aws/instance-family"] == "trn1"
    assert labels["karpenter.k8s.aws/instance-accelerator-name"] == "trainium"
    assert labels["karpenter.k8s.aws/instance-accelerator-count"] == "16"
    assert node["spec"]["taints"] == [
        {"key": "aws.amazon.com/neuron", "value": "true", "effect": "NoSchedule"}
    ]
    assert node["status"]["capacity"]["pods"] == "247"


def test_allocatable_subtracts_the_eks_reservations() -> None:
    # 4 vCPUs: 60 + 10 + 5 + 5 millicores; 58 pods: 11 × 58 + 255 MiB.
    assert kube_reserved_cpu_millicores(4) == 80
    assert kube_reserved_memory_mib(58) == 893
    instance = load_catalog().get("inf2.xlarge")
    assert instance is not None
    status = neuron_node(instance)["status"]
    assert status["allocatable"]["cpu"] == "3920m"
    assert status["allocatable"]["memory"] == f"{16 * 1024 - 893 - 100}Mi"
