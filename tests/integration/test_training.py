"""Training on the real API server and Job controller: a `workload: training` object runs as an
Indexed Job whose pods take whole simulated trn1.32xlarge nodes with their EFA interfaces, the
status follows the Job, and a run that completed is never started again."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from tests.kube import (
    Cluster,
    condition,
    create_ndep,
    get_ndep,
    neurondeployment,
    node_instance_type,
    patch_ndep_spec,
    plain,
    pods,
    wait_until,
)

TRAINING: dict[str, Any] = {
    "workload": "training",
    "model": {"family": "transformer-encoder", "parameters": "340M", "sequenceLength": 128},
    "objective": "throughput",
    "overrides": {"instanceType": "trn1.32xlarge", "replicas": 64, "coresPerReplica": 1},
    "template": {
        "spec": {"containers": [{"name": "trainer", "image": "registry.k8s.io/pause:3.10"}]}
    },
}


def workers(kube: Any, namespace: str) -> list[dict[str, Any]]:
    return pods(kube, namespace, "batch.kubernetes.io/job-name=bert-run1")


def test_a_training_run_is_an_indexed_job_that_is_never_restarted(
    cluster: Cluster, kube: Any, namespace: str, operator: Any, second_trn1_node: str
) -> None:
    create_ndep(kube, namespace, neurondeployment("bert", TRAINING))

    def placed() -> list[dict[str, Any]] | None:
        found = [p for p in workers(kube, namespace) if p["spec"].get("nodeName")]
        return found if len(found) == 2 else None

    # kwok runs a pod of restartPolicy Never to completion at once, as a trainer whose
    # processes exit 0 would finish: the Job completes by itself.
    scheduled = wait_until("both workers scheduled", placed, timeout=90)
    job = plain(client.BatchV1Api(kube).read_namespaced_job("bert-run1", namespace))
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    # Each worker takes a whole node's devices, so no two run on one node at once. They may
    # still share a node in turn here: kwok finishes worker 0 at once, freeing its node before
    # the scheduler places worker 1.
    nodes = {p["spec"]["nodeName"] for p in scheduled}
    assert {node_instance_type(kube, n) for n in nodes} == {"trn1.32xlarge"}
    for pod in scheduled:
        limits = pod["spec"]["containers"][0]["resources"]["limits"]
        assert limits["aws.amazon.com/neuron"] == "16"
        assert limits["vpc.amazonaws.com/efa"] == "8"
        assert pod["spec"]["restartPolicy"] == "Never"
        assert pod["spec"]["subdomain"] == "bert-workers"
    service = plain(client.CoreV1Api(kube).read_namespaced_service("bert-workers", namespace))
    assert service["spec"]["clusterIP"] == "None"
    body = wait_until(
        "the run Ready: succeeded",
        lambda: (lambda b: b if condition(b, "Ready").get("reason") == "RunSucceeded" else None)(
            get_ndep(kube, namespace, "bert")
        ),
        timeout=90,
    )
    assert body["status"]["run"]["phase"] == "Succeeded"
    assert body["status"]["readySummary"] == "2/2"

    # Reconciled again (an edit), the finished run is not started again.
    patch_ndep_spec(kube, namespace, "bert", {"progressDeadlineSeconds": 900})
    wait_until(
        "the edit reconciled",
        lambda: (
            (get_ndep(kube, namespace, "bert") or {}).get("status", {}).get("observedGeneration")
            == 2
        ),
    )
    jobs = plain(client.BatchV1Api(kube).list_namespaced_job(namespace))["items"]
    assert [j["metadata"]["name"] for j in jobs] == ["bert-run1"]
    assert all(p["status"].get("phase") == "Succeeded" for p in workers(kube, namespace))
    assert len(workers(kube, namespace)) == 2
