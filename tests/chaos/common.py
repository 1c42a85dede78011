"""What the fault tests create and check: small NeuronDeployments that plan onto the simulated
nodes, and the promises every fault test ends with (converged, exactly one Deployment, nothing
lost)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client
from tests.kube import GROUP, PLURAL, VERSION, condition, get_ndep

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


def _problem(body: dict[str, Any] | None, deployments: list[dict[str, Any]]) -> str | None:
    if body is None:
        return "gone"
    generation = body["metadata"]["generation"]
    planned = condition(body, "Planned")
    status = body.get("status") or {}
    if status.get("observedGeneration") != generation:
        return f"status for generation {status.get('observedGeneration')} of {generation}"
    if planned.get("status") != "True" or planned.get("observedGeneration") != generation:
        return f"Planned={planned.get('status')} {planned.get('reason')}"
    if len(deployments) != 1:
        return f"{len(deployments)} Deployments"
    replicas, planned_replicas = deployments[0]["spec"]["replicas"], status["plan"]["replicas"]
    if replicas != planned_replicas:
        return f"Deployment has {replicas} replicas, the plan {planned_replicas}"
    return None


def problems(kube: Any, namespace: str, names: list[str]) -> dict[str, str]:
    """Why each object has not converged (objects that have are left out): its status must be
    for its current generation and Planned, and its one Deployment must run the plan. Two
    LISTs, however many objects."""
    listed: Any = client.CustomObjectsApi(kube).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL
    )
    bodies = {b["metadata"]["name"]: b for b in listed["items"]}
    owned: dict[str, list[dict[str, Any]]] = {}
    for deployment in _deployments(kube, namespace):
        for owner in deployment["metadata"].get("owner_references") or []:
            if owner.get("kind") == "NeuronDeployment" and owner.get("controller"):
                owned.setdefault(owner["name"], []).append(deployment)
    found = {n: _problem(bodies.get(n), owned.get(n, [])) for n in names}
    return {n: p for n, p in found.items() if p is not None}


def problem(kube: Any, namespace: str, name: str) -> str | None:
    return problems(kube, namespace, [name]).get(name)


def _deployments(kube: Any, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        client.AppsV1Api(kube).list_namespaced_deployment(namespace).to_dict()["items"]
    )
    return items


def owned_deployments(kube: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    return [
        d
        for d in _deployments(kube, namespace)
        if any(
            (o.get("name"), o.get("kind"), o.get("controller")) == (name, "NeuronDeployment", True)
            for o in d["metadata"].get("owner_references") or []
        )
    ]


def all_converged(kube: Any, namespace: str, names: list[str], timeout: float) -> float:
    """Wait until every object converged; returns the seconds it took, or fails saying which
    objects had not and why."""
    started = time.monotonic()
    while True:
        waiting = problems(kube, namespace, names)
        if not waiting:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            shown = dict(list(waiting.items())[:10])
            pytest.fail(f"{len(waiting)} not converged after {timeout:.0f} s, e.g. {shown}")
        time.sleep(0.5)


def with_reason(kube: Any, namespace: str, name: str, kind: str, wanted: str) -> dict[str, Any]:
    """The object's `kind` condition when its reason is `wanted`; {} otherwise."""
    found = condition(get_ndep(kube, namespace, name), kind)
    return found if found.get("reason") == wanted else {}


def deployment_count(kube: Any, namespace: str) -> int:
    return len(client.AppsV1Api(kube).list_namespaced_deployment(namespace).items)
