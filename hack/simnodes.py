"""Simulated Neuron nodes for the local control plane, generated from the engine's catalog.

One Node per instance type, as a real EKS node with the Neuron device plugin reports it (facts
§2.1, §2.2): capacity and allocatable of `aws.amazon.com/neuron` (devices) and
`aws.amazon.com/neuroncore` (cores), CPU, memory and pods; the labels EKS and Karpenter put on
it; the `aws.amazon.com/neuron=true:NoSchedule` taint Neuron node pools carry. Plus one plain
CPU node. kwok (annotation `kwok.x-k8s.io/node: fake`) then keeps them Ready and runs their pods.
"""

from __future__ import annotations

from typing import Any

from neuron_operator.controller.render import node_allocatable
from neuron_operator.sizing.catalog import InstanceType, load_catalog

NEURON_TAINT = {"key": "aws.amazon.com/neuron", "value": "true", "effect": "NoSchedule"}
KWOK_ANNOTATION = {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}
ZONE = "us-east-1a"
# The plain CPU node: an m5.xlarge (4 vCPUs, 16 GiB, 58 pods on EKS).
CPU_NODE_NAME = "cpu-m5-xlarge-0"
CPU_NODE_TYPE = "m5.xlarge"
CPU_NODE_VCPUS = 4
CPU_NODE_MEMORY_GIB = 16.0
CPU_NODE_MAX_PODS = 58


def node_name(instance_type: str, index: int = 0) -> str:
    return f"{instance_type.replace('.', '-')}-{index}"


def _resources(
    vcpus: int, memory_gib: float, max_pods: int
) -> tuple[dict[str, str], dict[str, str]]:
    allocatable = node_allocatable(vcpus, memory_gib, max_pods)
    capacity = {
        "cpu": str(vcpus),
        "memory": f"{int(memory_gib * 1024)}Mi",
        "pods": str(max_pods),
        "ephemeral-storage": "100Gi",
    }
    return capacity, {
        "cpu": f"{allocatable.cpu_millicores}m",
        "memory": f"{allocatable.memory_mib}Mi",
        "pods": str(max_pods),
        "ephemeral-storage": "90Gi",
    }


def _node(
    name: str,
    labels: dict[str, str],
    capacity: dict[str, str],
    allocatable: dict[str, str],
    taints: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "annotations": dict(KWOK_ANNOTATION), "labels": labels},
        "spec": {"taints": taints} if taints else {},
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "osImage": "kwok",
                "kernelVersion": "",
                "containerRuntimeVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }


def _common_labels(name: str, instance_type: str) -> dict[str, str]:
    return {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/region": "us-east-1",
        "topology.kubernetes.io/zone": ZONE,
        "karpenter.sh/capacity-type": "on-demand",
        "type": "kwok",
    }


def neuron_node(instance: InstanceType, index: int = 0) -> dict[str, Any]:
    name = node_name(instance.name, index)
    family = instance.family
    labels = _common_labels(name, instance.name) | {
        "karpenter.k8s.aws/instance-family": family,
        "karpenter.k8s.aws/instance-category": family[:3],
        "karpenter.k8s.aws/instance-generation": family[3],
        "karpenter.k8s.aws/instance-size": instance.name.split(".", 1)[1],
        "karpenter.k8s.aws/instance-cpu": str(instance.vcpus),
        "karpenter.k8s.aws/instance-memory": str(int(instance.host_memory_gib * 1024)),
        "karpenter.k8s.aws/instance-accelerator-manufacturer": "aws",
        "karpenter.k8s.aws/instance-accelerator-count": str(instance.devices),
    }
    if instance.accelerator_name:
        labels["karpenter.k8s.aws/instance-accelerator-name"] = instance.accelerator_name
    max_pods = instance.max_pods or 110
    capacity, allocatable = _resources(instance.vcpus, instance.host_memory_gib, max_pods)
    neuron = {
        "aws.amazon.com/neuron": str(instance.allocatable_neuron),
        "aws.amazon.com/neuroncore": str(instance.allocatable_neuroncore),
    }
    if instance.efa_interfaces:  # as the EFA device plugin advertises them
        neuron["vpc.amazonaws.com/efa"] = str(instance.efa_interfaces)
    return _node(name, labels, capacity | neuron, allocatable | neuron, [dict(NEURON_TAINT)])


def cpu_node() -> dict[str, Any]:
    name, instance_type = CPU_NODE_NAME, CPU_NODE_TYPE
    labels = _common_labels(name, instance_type) | {
        "karpenter.k8s.aws/instance-family": instance_type.split(".")[0],
        "karpenter.k8s.aws/instance-category": instance_type[0],
    }
    capacity, allocatable = _resources(CPU_NODE_VCPUS, CPU_NODE_MEMORY_GIB, CPU_NODE_MAX_PODS)
    return _node(name, labels, capacity, allocatable, [])


def all_nodes() -> list[dict[str, Any]]:
    """One node per catalog instance type, then the CPU node."""
    return [neuron_node(instance) for instance in load_catalog().instances] + [cpu_node()]


# --- Dynamic Resource Allocation (operator/neuron_operator/controller/dra.py) ---------------

DRA_DRIVER = "neuron.aws.com"
DRA_DRIVER_VERSION = "2.26.7.0"  # what the simulated driver reports as neuronDriverVersion


def dra_node(instance: InstanceType, index: int = 0) -> dict[str, Any]:
    """A node the Neuron DRA driver serves instead of the device plugin: no extended
    resources; its devices are in a ResourceSlice (dra_resource_slice)."""
    node = neuron_node(instance, index)
    name = f"{node_name(instance.name, index)}-dra"
    node["metadata"]["name"] = name
    node["metadata"]["labels"]["kubernetes.io/hostname"] = name
    for resources in (node["status"]["capacity"], node["status"]["allocatable"]):
        for resource in ("aws.amazon.com/neuron", "aws.amazon.com/neuroncore"):
            resources.pop(resource, None)  # EFA stays: its device plugin is another
    return node


def dra_resource_slice(node: str, instance: InstanceType) -> dict[str, Any]:
    """The ResourceSlice the Neuron DRA driver publishes for a node: one device per Neuron
    device, with the attributes its claims select on (Neuron SDK deploy/eks/dra.rst): the
    instance type, the driver version, and the connected groups of 1, 4, 8 and 16 devices
    (groups of devices with consecutive numbers; the driver's own grouping follows the
    torus, which the scheduler does not need to know)."""
    devices = []
    for index in range(instance.devices):
        attributes: dict[str, Any] = {
            "instanceType": {"string": instance.name},
            "neuronDriverVersion": {"string": DRA_DRIVER_VERSION},
        }
        for size in (1, 4, 8, 16):
            if size <= instance.devices:
                attributes[f"resource.aws.com/devicegroup{size}_id"] = {"int": index // size}
        devices.append({"name": f"neurondevice{index}", "attributes": attributes})
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node}-{DRA_DRIVER}"},
        "spec": {
            "driver": DRA_DRIVER,
            "nodeName": node,
            "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
            "devices": devices,
        },
    }


def dra_device_class() -> dict[str, Any]:
    """The DeviceClass the Neuron DRA driver's chart installs."""
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": DRA_DRIVER},
        "spec": {"selectors": [{"cel": {"expression": f"device.driver == '{DRA_DRIVER}'"}}]},
    }
