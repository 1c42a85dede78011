"""The cluster schedules Neuron workloads as EKS does: by the device plugin's extended
resources, the instance-type label and the aws.amazon.com/neuron taint.

Runs against the local control plane (kwok-simulated nodes) in `make test`, and against kind
with patched worker nodes in `make e2e-kind`.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import pytest
from kubernetes import client
from tests.kube import plain, wait_until

# Simulated nodes never pull it; on kind it must exist, so the default is the pause image.
POD_IMAGE = os.environ.get("E2E_POD_IMAGE", "registry.k8s.io/pause:3.10")
NEURON_TOLERATION = client.V1Toleration(
    key="aws.amazon.com/neuron", operator="Exists", effect="NoSchedule"
)


def neuron_pod(name: str, cores: int, instance_type: str | None, tolerate: bool = True) -> Any:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            node_selector={"node.kubernetes.io/instance-type": instance_type}
            if instance_type
            else None,
            tolerations=[NEURON_TOLERATION] if tolerate else None,
            containers=[
                client.V1Container(
                    name="server",
                    image=POD_IMAGE,
                    resources=client.V1ResourceRequirements(
                        limits={"aws.amazon.com/neuroncore": str(cores)} if cores else None,
                    ),
                )
            ],
        ),
    )


def create(kube: Any, namespace: str, pod: Any) -> None:
    client.CoreV1Api(kube).create_namespaced_pod(namespace, pod)


def read_pod(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = plain(client.CoreV1Api(kube).read_namespaced_pod(name, namespace))
    return result


def node_labels(kube: Any, node: str) -> dict[str, str]:
    labels = plain(client.CoreV1Api(kube).read_node(node))["metadata"]["labels"]
    return dict(labels or {})


def running_on(kube: Any, namespace: str, name: str) -> str | None:
    pod = read_pod(kube, namespace, name)
    return str(pod["spec"]["nodeName"]) if pod["status"].get("phase") == "Running" else None


def unschedulable(kube: Any, namespace: str, name: str) -> str | None:
    for condition in read_pod(kube, namespace, name)["status"].get("conditions") or []:
        if condition["type"] == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return str(condition.get("message") or "Unschedulable")
    return None


def node_instance_type(kube: Any, node: str) -> str:
    return node_labels(kube, node)["node.kubernetes.io/instance-type"]


def test_pod_requesting_16_cores_runs_on_trn1_32xlarge(kube: Any, namespace: str) -> None:
    create(kube, namespace, neuron_pod("trainer", 16, "trn1.32xlarge"))
    node = wait_until("pod trainer Running", lambda: running_on(kube, namespace, "trainer"))
    assert node_instance_type(kube, node) == "trn1.32xlarge"


def test_two_16_core_pods_fit_a_trn1_32xlarge_and_a_third_does_not(
    kube: Any, namespace: str
) -> None:
    for name in ("a", "b"):
        create(kube, namespace, neuron_pod(name, 16, "trn1.32xlarge"))
    nodes = [
        wait_until(f"pod {name} Running", partial(running_on, kube, namespace, name))
        for name in ("a", "b")
    ]
    assert nodes[0] == nodes[1], "both fit the 32 cores of one trn1.32xlarge"
    create(kube, namespace, neuron_pod("c", 16, "trn1.32xlarge"))
    message = wait_until("pod c Unschedulable", lambda: unschedulable(kube, namespace, "c"))
    assert "aws.amazon.com/neuroncore" in message


def test_more_cores_than_any_node_has_stays_pending(kube: Any, namespace: str) -> None:
    create(kube, namespace, neuron_pod("huge", 129, None))
    message = wait_until("pod huge Unschedulable", lambda: unschedulable(kube, namespace, "huge"))
    assert "Insufficient aws.amazon.com/neuroncore" in message
    assert read_pod(kube, namespace, "huge")["status"]["phase"] == "Pending"


@pytest.mark.parametrize("cores", [0, 1])
def test_pod_without_the_toleration_never_lands_on_a_neuron_node(
    kube: Any, namespace: str, cores: int
) -> None:
    create(kube, namespace, neuron_pod("plain", cores, None, tolerate=False))
    if cores:
        # Only Neuron nodes have cores, and their taint is not tolerated.
        message = wait_until(
            "pod plain Unschedulable", lambda: unschedulable(kube, namespace, "plain")
        )
        assert "untolerated taint" in message
    else:
        node = wait_until("pod plain Running", lambda: running_on(kube, namespace, "plain"))
        assert "karpenter.k8s.aws/instance-accelerator-count" not in node_labels(kube, node)
