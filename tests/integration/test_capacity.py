"""Planning against the cluster's capacity on the real API server (issue 12, capacity-aware
planning): `neuron-operator plan --cluster` reads the simulated Neuron nodes, the pods holding
their cores, and Karpenter NodePools installed from Karpenter's own CRD (karpenter/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.kube import (
    Cluster,
    condition,
    create_ndep,
    events_for,
    get_deployment,
    get_ndep,
    neurondeployment,
    node_instance_type,
    patch_ndep_spec,
    plain,
    pods,
    wait_until,
)

from neuron_operator.api.plan import PlanRecord

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
    refusals = {r.instance_type: r for r in PlanRecord.model_validate(result).rejections()}
    assert refusals[preferred].reason == "NotProvisionable"
    assert "no Karpenter NodePools" in refusals[preferred].message


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
    rejections = PlanRecord.model_validate(result).rejections()
    refusals = {r.instance_type: r for r in rejections}
    assert refusals[preferred].reason == "NotProvisionable"
    assert refusals[preferred].message == (
        f"no NodePool allows {preferred}; NodePool neuron allows trn1.*"
    )
    # every other type still has its node
    assert [r for r in rejections if r.reason == "NotProvisionable"] == [refusals[preferred]]


def hold_cores(kube: Any, namespace: str, name: str, instance_type: str, cores: int) -> None:
    """A pod that holds `cores` NeuronCores on the node of this type, bound before returning."""
    holder = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            node_selector={"node.kubernetes.io/instance-type": instance_type},
            tolerations=[client.V1Toleration(key="aws.amazon.com/neuron", operator="Exists")],
            containers=[
                client.V1Container(
                    name="c",
                    image="registry.k8s.io/pause:3.10",
                    resources=client.V1ResourceRequirements(
                        limits={"aws.amazon.com/neuroncore": str(cores)}
                    ),
                )
            ],
        ),
    )
    core = client.CoreV1Api(kube)
    core.create_namespaced_pod(namespace, holder)
    wait_until(
        f"pod {name} bound",
        lambda: plain(core.read_namespaced_pod(name, namespace))["spec"].get("nodeName"),
    )


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
    hold_cores(kube, namespace, "holder", "inf2.xlarge", 2)
    assert plan_cluster(cluster, tmp_path, pinned)["replicasFittingNow"] == 0


# --- the operator ---------------------------------------------------------------------------

SERVER = {"spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]}}


def status_plan(kube: Any, namespace: str, name: str) -> dict[str, Any] | None:
    body = get_ndep(kube, namespace, name) or {}
    generation = body.get("metadata", {}).get("generation")
    if (body.get("status") or {}).get("observedGeneration") != generation:
        return None
    found: dict[str, Any] | None = body["status"].get("plan")
    return found


def test_the_operator_plans_against_nodepools_and_the_nodes_it_watches(
    cluster: Cluster, kube: Any, namespace: str, operator: Any, karpenter: None
) -> None:
    preferred = offline_choice()
    cluster.run("apply", "-f", "-", stdin=yaml.safe_dump(nodepool("neuron", ["trn1"])))
    try:
        with relabelled_away(cluster, preferred):
            edits = iter(range(600, 10_000))
            last_edit = [time.monotonic()]

            def refused_preferred() -> dict[str, Any] | None:
                # The operator looks for the NodePool CRD again within its absent-retry period;
                # until then it plans as if there were no Karpenter: edit the spec to re-plan.
                plan = status_plan(kube, namespace, "bert")
                if plan is None:
                    return None
                refusals = {
                    r.instance_type: r.message for r in PlanRecord.model_validate(plan).rejections()
                }
                if "NodePool neuron allows trn1.*" in refusals.get(preferred, ""):
                    return plan
                if time.monotonic() - last_edit[0] > 3:
                    last_edit[0] = time.monotonic()
                    edit = {"progressDeadlineSeconds": next(edits)}
                    patch_ndep_spec(kube, namespace, "bert", edit)
                return None

            spec = {**BERT["spec"], "template": SERVER}
            create_ndep(kube, namespace, neurondeployment("bert", spec))
            plan = wait_until("a plan that names the NodePool", refused_preferred, timeout=90)
    finally:
        cluster.run("delete", "nodepool", "neuron", check=False)
    assert plan["instanceType"] != preferred
    refusals = {r.instance_type: r for r in PlanRecord.model_validate(plan).rejections()}
    assert refusals[preferred].reason == "NotProvisionable"
    assert refusals[preferred].message == (
        f"no NodePool allows {preferred}; NodePool neuron allows trn1.*"
    )
    assert plan["replicasFittingNow"] is not None  # planned with the cluster in view


FALLBACK: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25.6M", "gflopsPerInference": 8.2},
    "constraints": {"instanceFamilies": ["inf2"]},
    "overrides": {"replicas": 2},
    "placement": {"fallback": {"afterSeconds": 5}},
    "template": SERVER,
}


def running(kube: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    return [
        p
        for p in pods(kube, namespace, f"neuron.dev/neurondeployment={name}")
        if p["status"].get("phase") == "Running"
        and p["spec"].get("nodeName")
        and not p["metadata"].get("deletionTimestamp")
    ]


def test_pods_that_stay_unschedulable_fall_back_and_keep_what_runs(
    kube: Any, namespace: str, operator: Any
) -> None:
    """inf2.xlarge, the first choice, has one free core of the two replicas need: one replica
    runs, one waits; after afterSeconds the operator moves both to the next plan, the running
    pod serving until its replacements are available, and comes back only when asked."""
    hold_cores(kube, namespace, "holder", "inf2.xlarge", 1)
    create_ndep(kube, namespace, neurondeployment("resnet", FALLBACK))
    wait_until("one replica running", lambda: len(running(kube, namespace, "resnet")) == 1)
    first = status_plan(kube, namespace, "resnet")
    assert first is not None and first["instanceType"] == "inf2.xlarge"

    # From here until the move is done, the one running replica is never lost.
    def moved() -> dict[str, Any] | None:
        assert running(kube, namespace, "resnet"), "the running replica was taken down"
        body = get_ndep(kube, namespace, "resnet") or {}
        plan = (body.get("status") or {}).get("plan") or {}
        ready = condition(body, "Ready").get("status") == "True"
        return body if plan.get("instanceType") != "inf2.xlarge" and ready else None

    body = wait_until("the fallback plan Ready", moved, timeout=120)
    status = body["status"]
    assert status["plan"]["instanceType"].startswith("inf2.")
    (tried,) = status["placement"]["tried"]
    assert tried["instanceType"] == "inf2.xlarge"
    assert "Insufficient aws.amazon.com/neuroncore" in tried["message"]
    on = {
        node_instance_type(kube, p["spec"]["nodeName"]) for p in running(kube, namespace, "resnet")
    }
    assert on == {status["plan"]["instanceType"]}
    deployment = get_deployment(kube, namespace, "resnet")
    assert deployment is not None
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    def fell_back() -> int:
        return [e["reason"] for e in events_for(kube, namespace, "resnet")].count("FellBack")

    wait_until("the FellBack event", lambda: fell_back() == 1)  # posted after the status

    # Never flaps: the capacity that failed is still what it was, the plan stays.
    time.sleep(8)
    assert (status_plan(kube, namespace, "resnet") or {}).get("instanceType") == status["plan"][
        "instanceType"
    ]
    assert fell_back() == 1

    # The user frees the core and asks for the first choice back.
    client.CoreV1Api(kube).delete_namespaced_pod("holder", namespace, grace_period_seconds=0)
    client.CustomObjectsApi(kube).patch_namespaced_custom_object(
        "neuron.dev",
        "v1alpha1",
        namespace,
        "neurondeployments",
        "resnet",
        {"metadata": {"annotations": {"neuron.dev/retry-preferred": "1"}}},
    )

    def back() -> dict[str, Any] | None:
        body = get_ndep(kube, namespace, "resnet") or {}
        plan = (body.get("status") or {}).get("plan") or {}
        return body if plan.get("instanceType") == "inf2.xlarge" else None

    body = wait_until("the preferred plan back", back, timeout=60)
    assert "placement" not in body["status"]
    wait_until(
        "the PreferredPlanRestored event",
        lambda: (
            "PreferredPlanRestored" in [e["reason"] for e in events_for(kube, namespace, "resnet")]
        ),
    )
