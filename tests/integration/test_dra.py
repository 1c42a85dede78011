"""Dynamic Resource Allocation on the real API server and scheduler: with the Neuron DRA driver's
DeviceClass in the cluster and a simulated trn2.48xlarge node whose devices are published in a
ResourceSlice as the driver would (hack/simnodes.py), a trn2 plan's pods claim connected
devices through the operator's ResourceClaimTemplate, and kube-scheduler allocates them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hack.simnodes import dra_device_class, dra_node, dra_resource_slice
from kubernetes import client
from tests.kube import (
    Cluster,
    add_node,
    create_ndep,
    neurondeployment,
    pods,
    remove_node,
    wait_until,
)

from neuron_operator.sizing.catalog import load_catalog

TRN2: dict[str, Any] = {
    "model": {"family": "transformer-decoder", "parameters": "8B", "sequenceLength": 2048},
    "objective": "latency",
    "overrides": {"instanceType": "trn2.48xlarge", "coresPerReplica": 16, "replicas": 1},
    "template": {
        "spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]}
    },
}


@pytest.fixture
def dra_cluster(cluster: Cluster) -> Iterator[str]:
    """The driver's DeviceClass, a trn2.48xlarge node it serves and that node's ResourceSlice;
    all removed afterwards. Yields the node's name."""
    instance = load_catalog().get("trn2.48xlarge")
    assert instance is not None
    node = dra_node(instance)
    resource_slice = dra_resource_slice(node["metadata"]["name"], instance)
    cluster.run("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(dra_device_class()))
    name = add_node(cluster, node)
    cluster.run("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(resource_slice))
    try:
        yield name
    finally:
        # Devices first: nothing new lands on the node while its pods go.
        cluster.run("delete", "resourceslice", resource_slice["metadata"]["name"], check=False)
        remove_node(cluster, name)
        cluster.run("delete", "deviceclass", "neuron.aws.com", check=False)


def claims(kube: Any, namespace: str) -> list[dict[str, Any]]:
    found: Any = client.CustomObjectsApi(kube).list_namespaced_custom_object(
        "resource.k8s.io", "v1", namespace, "resourceclaims"
    )
    return list(found.get("items") or [])


def test_a_trn2_plan_is_allocated_connected_devices_by_the_scheduler(
    kube: Any, namespace: str, operator: Any, dra_cluster: str
) -> None:
    create_ndep(kube, namespace, neurondeployment("llama", TRN2))

    def running_with_a_claim() -> dict[str, Any] | None:
        for pod in pods(kube, namespace, "neuron.dev/neurondeployment=llama"):
            spec = pod["spec"]
            if (
                spec.get("resourceClaims")
                and spec.get("nodeName")
                and pod["status"].get("phase") == "Running"
            ):
                return pod
        return None

    pod = wait_until("a pod running on its claimed devices", running_with_a_claim, timeout=90)
    assert pod["spec"]["nodeName"] == dra_cluster  # the only node whose devices can be claimed
    limits = pod["spec"]["containers"][0]["resources"].get("limits") or {}
    assert "aws.amazon.com/neuroncore" not in limits
    (claim,) = claims(kube, namespace)
    results = claim["status"]["allocation"]["devices"]["results"]
    assert len(results) == 4
    assert {r["driver"] for r in results} == {"neuron.aws.com"}
    assert {r["pool"] for r in results} == {dra_cluster}
    # Connected: all four in one group of four, as the template's constraint asks.
    groups = {int(r["device"].removeprefix("neurondevice")) // 4 for r in results}
    assert len(groups) == 1
    config = claim["status"]["allocation"]["devices"]["config"][0]["opaque"]["parameters"]
    assert config["logicalNeuronCore"] == 2
