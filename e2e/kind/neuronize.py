"""Make kind workers look like Neuron nodes: the instance-type and Karpenter labels, the
aws.amazon.com/neuron taint, and aws.amazon.com/neuron{,core} capacity in the node status (the
documented way to advertise extended resources; the kubelet keeps them). Uses the same
generator as the local control plane's simulated nodes (hack/simnodes.py).

    python e2e/kind/neuronize.py KUBECONFIG WORKER=INSTANCE_TYPE ...
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hack.simnodes import neuron_node
from kubernetes import client, config

from neuron_operator.sizing.catalog import load_catalog

NEURON_RESOURCES = ("aws.amazon.com/neuron", "aws.amazon.com/neuroncore")


def neuronize(core: client.CoreV1Api, node_name: str, instance_type: str) -> None:
    instance = load_catalog().get(instance_type)
    if instance is None:
        raise SystemExit(f"unknown instance type {instance_type}")
    simulated = neuron_node(instance)
    labels = {
        key: value
        for key, value in simulated["metadata"]["labels"].items()
        if key != "kubernetes.io/hostname"
    }
    core.patch_node(
        node_name, {"metadata": {"labels": labels}, "spec": {"taints": simulated["spec"]["taints"]}}
    )
    resources = {k: simulated["status"]["capacity"][k] for k in NEURON_RESOURCES}
    core.patch_node_status(node_name, {"status": {"capacity": resources, "allocatable": resources}})
    print(f"{node_name}: now a simulated {instance_type}")


def main() -> None:
    kubeconfig, *assignments = sys.argv[1:]
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))  # type: ignore[no-untyped-call]
    for assignment in assignments:
        node_name, instance_type = assignment.split("=", 1)
        neuronize(core, node_name, instance_type)


if __name__ == "__main__":
    main()
