"""Planning against the cluster's capacity on the real API server (issue 12, capacity-aware
planning): `neuron-operator plan --cluster` reads the simulated Neuron nodes, the pods holding
their cores, and Karpenter NodePools installed from Karpenter's own CRD (karpenter/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.kube import Cluster, plain, wait_until

ROOT = Path(__file__).resolve().parents[2]
NODEPOOL_CRD = Path(__file__).parent / "karpenter" / "karpenter.sh_nodepools.yaml"
BERT: dict[str, Any] = {
    "apiVersion": "neuron.dev/v1alpha1",
    "kind": "NeuronDeployment",
    "metadata": {"name": "bert"},
    "spec": {
        "model": {"family": "transformer-encoder", "parameters": "110M", "sequenceLength": 128},
        "objective": "cost",
        "slo": {"throughput": 2000, "latencyMs": 50},
    },
}


def plan_cluster(cluster: Cluster, tmp_path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(manifest))
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "KUBECTL": str(cluster.kubectl)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "neuron_operator",
            "plan",
            "-f",
            str(path),
            "-o",
            "json",
            "--cluster",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode in (0, 3), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def nodepool(name: str, families: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "default",
                    },
                    "requirements": [
                        {
                            "key": "karpenter.k8s.aws/instance-family",
                            "operator": "In",
                            "values": families,
                        },
                    ],
                }
            },
            "limits": {"aws.amazon.com/neuron": "64"},
        },
    }


def offline_choice() -> str:
    """The instance type the engine picks for BERT with no cluster in view (not a trn1)."""
    done = subprocess.run(
        [sys.executable, "-m", "neuron_operator", "plan", "-f", "-", "-o", "json"],
        input=yaml.safe_dump(BERT),
        capture_output=True,
        text=True,
        check=True,
    )
    preferred: str = json.loads(done.stdout)["instanceType"]
    assert not preferred.startswith("trn1")
    return preferred


@contextmanager
def relabelled_away(cluster: Cluster, instance_type: str) -> Iterator[None]:
    """The local control plane has a node of every type: relabel this type's away for a while,
    so that the cluster has none of it."""
    label = "node.kubernetes.io/instance-type"
    nodes = cluster.run("get", "nodes", "-l", f"{label}={instance_type}", "-o", "name").split()
    assert nodes
    for node in nodes:
        cluster.run("label", node, "--overwrite", f"{label}=elsewhere.test")
    try:
        yield
    finally:
        for node in nodes:
            cluster.run("label", node, "--overwrite", f"{label}={instance_type}")


@pytest.fixture
def karpenter(cluster: Cluster) -> Iterator[None]:
    """Karpenter's NodePool CRD, as Karpenter publishes it; removed afterwards."""
    cluster.run("apply", "--server-side", "-f", str(NODEPOOL_CRD))
    cluster.run(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/nodepools.karpenter.sh"
    )
    try:
        yield
    finally:
        cluster.run("delete", "-f", str(NODEPOOL_CRD), "--wait=true", check=False)


def test_without_karpenter_only_the_types_of_existing_nodes_are_planned(
    cluster: Cluster, tmp_path: Path
) -> None:
    preferred = offline_choice()
    with relabelled_away(cluster, preferred):
        result = plan_cluster(cluster, tmp_path, BERT)
    assert result["feasible"]
    assert result["instanceType"] != preferred
    refusals = {r["instanceType"]: r for r in result["rejected"]}
    assert refusals[preferred]["reason"] == "NotProvisionable"
    assert "no Karpenter NodePools" in refusals[preferred]["message"]


def test_a_type_with_no_node_that_no_nodepool_allows_is_not_provisionable(
    cluster: Cluster, karpenter: None, tmp_path: Path
) -> None:
    preferred = offline_choice()
    cluster.run("apply", "-f", "-", stdin=yaml.safe_dump(nodepool("neuron", ["trn1"])))
    try:
        with relabelled_away(cluster, preferred):
            result = plan_cluster(cluster, tmp_path, BERT)
    finally:
        cluster.run("delete", "nodepool", "neuron", check=False)
    assert result["feasible"]
    assert result["instanceType"] != preferred
    refusals = {r["instanceType"]: r for r in result["rejected"]}
    assert refusals[preferred]["reason"] == "NotProvisionable"
    assert refusals[preferred]["message"] == (
        f"no NodePool allows {preferred}; NodePool neuron allows trn1.*"
    )
    # every other type still has its node
    assert [r for r in result["rejected"] if r["reason"] == "NotProvisionable"] == [
        refusals[preferred]
    ]


def test_pods_holding_a_nodes_cores_leave_no_replica_fitting_now(
    cluster: Cluster, kube: Any, namespace: str, tmp_path: Path
) -> None:
    pinned = {
        **BERT,
        "spec": {
            **BERT["spec"],
            "constraints": {"instanceTypes": ["inf2.xlarge"]},
            "slo": {},
            "overrides": {"replicas": 1},
        },
    }
    assert plan_cluster(cluster, tmp_path, pinned)["replicasFittingNow"] == 1
    holder = client.V1Pod(
        metadata=client.V1ObjectMeta(name="holder"),
        spec=client.V1PodSpec(
            node_selector={"node.kubernetes.io/instance-type": "inf2.xlarge"},
            tolerations=[client.V1Toleration(key="aws.amazon.com/neuron", operator="Exists")],
            containers=[
                client.V1Container(
                    name="c",
                    image="registry.k8s.io/pause:3.10",
                    resources=client.V1ResourceRequirements(
                        limits={"aws.amazon.com/neuroncore": "2"}
                    ),
                )
            ],
        ),
    )
    client.CoreV1Api(kube).create_namespaced_pod(namespace, holder)
    core = client.CoreV1Api(kube)
    wait_until(
        "the holder pod bound",
        lambda: plain(core.read_namespaced_pod("holder", namespace))["spec"].get("nodeName"),
    )
    assert plan_cluster(cluster, tmp_path, pinned)["replicasFittingNow"] == 0
