"""spec.autoscaling on the real API server: the operator renders the HorizontalPodAutoscaler,
starts it from the plan's replicas, and never fights it over the Deployment's replicas
(server-side apply field ownership)."""

from __future__ import annotations

import json
import time
from typing import Any

from kubernetes import client
from tests.kube import (
    Cluster,
    create_ndep,
    get_deployment,
    get_ndep,
    neurondeployment,
    patch_ndep_spec,
    plain,
    wait_until,
)

SERVER = {"spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]}}
SCALED: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25.6M", "gflopsPerInference": 8.2},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 2},
    "budget": {"maxHourlyCost": 4.0},
    "autoscaling": {"metric": {"type": "Pods", "name": "inflight_requests", "target": "4"}},
    "template": SERVER,
}


def autoscaler(kube: Any, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = plain(
            client.AutoscalingV2Api(kube).read_namespaced_horizontal_pod_autoscaler(name, namespace)
        )
        return found
    except client.exceptions.ApiException as error:
        if error.status == 404:
            return None
        raise


def replicas_owners(deployment: dict[str, Any]) -> set[str]:
    return {
        entry["manager"]
        for entry in deployment["metadata"].get("managedFields") or []
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
    }


def test_the_hpa_is_rendered_starts_from_the_plan_and_is_not_fought(
    cluster: Cluster, kube: Any, namespace: str, operator: Any
) -> None:
    create_ndep(kube, namespace, neurondeployment("scaled", SCALED))
    hpa = wait_until("the HPA", lambda: autoscaler(kube, namespace, "scaled"), timeout=60)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "scaled"
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "inflight_requests"
    assert hpa["metadata"]["ownerReferences"][0]["kind"] == "NeuronDeployment"
    body = wait_until(
        "status.autoscaling",
        lambda: (
            (get_ndep(kube, namespace, "scaled") or {}).get("status", {}).get("autoscaling")
            and get_ndep(kube, namespace, "scaled")
        ),
    )
    bounds = body["status"]["autoscaling"]
    assert bounds["startingReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] == bounds["maxReplicas"]
    assert bounds["hourlyCost"]["high"] <= 4.0
    deployment = get_deployment(kube, namespace, "scaled")
    assert deployment is not None and deployment["spec"]["replicas"] == 2
    assert "neuron-operator" not in replicas_owners(deployment)

    # Scale as the HPA does (the scale subresource), then make the operator reconcile.
    cluster.run("scale", "deployment/scaled", "--replicas=4", f"-n={namespace}")
    patch_ndep_spec(kube, namespace, "scaled", {"progressDeadlineSeconds": 900})
    wait_until(
        "the edit reconciled",
        lambda: (
            (get_ndep(kube, namespace, "scaled") or {}).get("status", {}).get("observedGeneration")
            == 2
        ),
    )
    time.sleep(3)
    deployment = get_deployment(kube, namespace, "scaled")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 4, "the operator reverted the HPA's replicas"
    assert deployment["spec"]["progressDeadlineSeconds"] == 900

    # An HPA someone deleted comes back; autoscaling removed takes it away, replicas back.
    client.AutoscalingV2Api(kube).delete_namespaced_horizontal_pod_autoscaler("scaled", namespace)
    wait_until("the HPA back", lambda: autoscaler(kube, namespace, "scaled"), timeout=60)
    cluster.run(
        "patch",
        "neurondeployment",
        "scaled",
        f"-n={namespace}",
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/spec/autoscaling"}]),
    )
    wait_until("the HPA gone", lambda: autoscaler(kube, namespace, "scaled") is None, timeout=60)
    wait_until(
        "the plan's replicas back",
        lambda: (
            (get_deployment(kube, namespace, "scaled") or {}).get("spec", {}).get("replicas") == 2
        ),
    )
    final = get_ndep(kube, namespace, "scaled") or {}
    assert "autoscaling" not in final["status"]
