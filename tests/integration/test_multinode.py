"""A replica across nodes on the real API server, scheduler and LeaderWorkerSet controller
(built from sigs.k8s.io/lws, hack/tools.sh): a 405B-class model yields a LeaderWorkerSet whose
group's pods each take a whole simulated trn1.32xlarge with its EFA interfaces, and the status
counts the group ready once both run."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from tests.helpers import example_spec
from tests.kube import (
    Cluster,
    condition,
    create_ndep,
    get_ndep,
    neurondeployment,
    node_instance_type,
    plain,
    pods,
    wait_until,
)

# examples/llama-3.1-405b.yaml, serving a container that runs here.
LLAMA_405B = example_spec(
    "llama-3.1-405b",
    template={"spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]}},
)


def test_a_405b_model_runs_as_a_leaderworkerset_across_two_trn1_nodes(
    cluster: Cluster, kube: Any, namespace: str, operator: Any, second_trn1_node: str
) -> None:
    create_ndep(kube, namespace, neurondeployment("llama", LLAMA_405B))
    selector = "leaderworkerset.sigs.k8s.io/name=llama"

    def running() -> list[dict[str, Any]] | None:
        found = [
            p for p in pods(kube, namespace, selector) if p["status"].get("phase") == "Running"
        ]
        return found if len(found) == 2 else None

    group = wait_until("the group's two pods running", running, timeout=120)
    nodes = {p["spec"]["nodeName"] for p in group}
    assert len(nodes) == 2, "each pod of the group takes a node of its own"
    assert {node_instance_type(kube, n) for n in nodes} == {"trn1.32xlarge"}
    for pod in group:
        limits = pod["spec"]["containers"][0]["resources"]["limits"]
        assert limits["aws.amazon.com/neuroncore"] == "32"
        assert limits["vpc.amazonaws.com/efa"] == "8"
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        # LeaderWorkerSet's webhook gave every pod the leader's address, first.
        assert env["LWS_LEADER_ADDRESS"].startswith("llama-0.llama.")
        assert env["NEURON_RT_ROOT_COMM_ID"] == "$(LWS_LEADER_ADDRESS):62128"
    custom = client.CustomObjectsApi(kube)
    group_set = plain(
        custom.get_namespaced_custom_object(
            "leaderworkerset.x-k8s.io", "v1", namespace, "leaderworkersets", "llama"
        )
    )
    assert group_set["spec"]["leaderWorkerTemplate"]["size"] == 2
    assert not client.AppsV1Api(kube).list_namespaced_deployment(namespace).items

    body = wait_until(
        "Ready: the group counted",
        lambda: (lambda b: b if condition(b, "Ready").get("status") == "True" else None)(
            get_ndep(kube, namespace, "llama")
        ),
        timeout=90,
    )
    assert body["status"]["plan"]["nodesPerReplica"] == 2
    assert body["status"]["readySummary"] == "1/1"
