"""What the fault tests create and check: small NeuronDeployments that plan onto the simulated
nodes, and the promises every fault test ends with (converged, exactly one Deployment, nothing
lost)."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client
from tests.kube import condition, get_ndep, wait_until

SERVER: dict[str, Any] = {
    "spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]}
}


def model(parameters: str = "25.6M", replicas: int = 1) -> dict[str, Any]:
    """A CNN pinned to inf2.xlarge: the simulated cluster always has room for a few."""
    return {
        "model": {"family": "cnn", "parameters": parameters},
        "overrides": {"instanceType": "inf2.xlarge", "replicas": replicas},
        "template": SERVER,
    }


def converged(kube: Any, namespace: str, name: str) -> dict[str, Any] | None:
    """The object when its status is for its current generation, Planned, and its Deployment
    runs the plan; None otherwise."""
    body = get_ndep(kube, namespace, name)
    if body is None:
        return None
    generation = body["metadata"]["generation"]
    planned = condition(body, "Planned")
    status = body.get("status") or {}
    if status.get("observedGeneration") != generation or planned.get("status") != "True":
        return None
    if planned.get("observedGeneration") != generation:
        return None
    deployments = owned_deployments(kube, namespace, name)
    if len(deployments) != 1:
        return None
    plan = status.get("plan") or {}
    replicas = deployments[0]["spec"]["replicas"]
    return body if replicas == plan.get("replicas") else None


def owned_deployments(kube: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    items = client.AppsV1Api(kube).list_namespaced_deployment(namespace).to_dict()["items"]
    return [
        d
        for d in items
        if any(
            (o.get("name"), o.get("kind"), o.get("controller")) == (name, "NeuronDeployment", True)
            for o in d["metadata"].get("owner_references") or []
        )
    ]


def all_converged(kube: Any, namespace: str, names: list[str], timeout: float) -> float:
    """Wait until every object converged; returns the seconds it took."""
    started = time.monotonic()
    wait_until(
        f"{len(names)} NeuronDeployments to converge",
        lambda: [n for n in names if converged(kube, namespace, n) is None] == [] or None,
        timeout=timeout,
        interval=0.5,
    )
    return time.monotonic() - started


def deployment_count(kube: Any, namespace: str) -> int:
    return len(client.AppsV1Api(kube).list_namespaced_deployment(namespace).items)
