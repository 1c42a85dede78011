"""What the operator writes per object (issue 15), read from the API server's audit log: its
first reconcile of a new NeuronDeployment is two requests — the Deployment and the status (whole) —
and nothing of kopf's bookkeeping, and no event, ever lands on a creation."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

from conftest import OPERATOR_NAMESPACE, OPERATOR_RELEASE
from hack.cluster import LOGS
from tests.kube import (
    condition,
    create_ndep,
    get_deployment,
    get_ndep,
    neurondeployment,
    patch_ndep_spec,
    wait_until,
)

from neuron_operator.controller.settings import FIELD_MANAGER

OPERATOR = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_RELEASE}"
WRITES = {"create", "update", "patch", "delete"}
RESNET: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25.6M"},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 1},
    "template": {"spec": {"containers": [{"name": "server", "image": "s:1"}]}},
}


def writes_in(namespace: str) -> list[tuple[str, str, str]]:
    """The operator's writes to objects in `namespace`, in the order the API server took
    them: (resource[/subresource], verb, name)."""
    found = []
    for line in (LOGS / "audit.log").read_text().splitlines():
        entry = json.loads(line)
        ref = entry.get("objectRef") or {}
        if (
            entry.get("user", {}).get("username") == OPERATOR
            and entry.get("verb") in WRITES
            and ref.get("namespace") == namespace
            and entry.get("stage") == "ResponseComplete"
        ):
            resource = ref.get("resource", "")
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            found.append(
                (entry["requestReceivedTimestamp"], resource, entry["verb"], ref.get("name", ""))
            )
    return [(resource, verb, name) for _, resource, verb, name in sorted(found)]


def ready(kube: Any, namespace: str) -> dict[str, Any] | None:
    body = get_ndep(kube, namespace, "resnet")
    return body if condition(body, "Ready").get("status") == "True" else None


def test_a_new_object_costs_a_deployment_and_a_status_write(
    kube: Any, namespace: str, operator: Any
) -> None:
    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    wait_until("Ready", partial(ready, kube, namespace), timeout=90)
    time.sleep(2)  # events are posted in the background: give any a chance to land
    writes = writes_in(namespace)
    # The first status whole (a PUT: the API server takes it as it is); later ones patches.
    first_status = writes.index(("neurondeployments/status", "update", "resnet"))
    assert writes[: first_status + 1] == [
        ("deployments", "create", "resnet"),
        ("neurondeployments/status", "update", "resnet"),
    ], writes
    assert ("neurondeployments/status", "update", "resnet") not in writes[first_status + 1 :]
    # Nothing of kopf's onto the object, no event; the rest is the status following the pods.
    assert not [w for w in writes if w[0] in ("neurondeployments", "events")], writes
    assert [w for w in writes if w[0] == "deployments"] == [("deployments", "create", "resnet")]
    assert {w[0] for w in writes[first_status:]} == {"neurondeployments/status"}, writes
    # Both writes under the operator's field manager: `kubectl get --show-managed-fields` names
    # who owns the status, not the HTTP client's user agent.
    fields = (get_ndep(kube, namespace, "resnet") or {})["metadata"]["managedFields"]
    assert {e["manager"] for e in fields if e.get("subresource") == "status"} == {FIELD_MANAGER}


def test_a_field_the_operator_stops_setting_leaves_the_deployment_it_created(
    kube: Any, namespace: str, operator: Any
) -> None:
    """The Deployment is created with a POST, so its fields are the operator's as an Update;
    before the first apply they become the apply's (controller/managed_fields.py). Otherwise
    an env var the user's template drops would stay in the pods, owned by the create."""
    env = [{"name": "KEEP", "value": "1"}, {"name": "DROP", "value": "2"}]
    template = {"spec": {"containers": [{"name": "server", "image": "s:1", "env": env}]}}
    create_ndep(kube, namespace, neurondeployment("resnet", {**RESNET, "template": template}))
    wait_until("Ready", partial(ready, kube, namespace), timeout=90)

    def names() -> list[str]:
        deployment = get_deployment(kube, namespace, "resnet") or {}
        (server,) = deployment["spec"]["template"]["spec"]["containers"]
        return [e["name"] for e in server.get("env") or [] if e["name"] in ("KEEP", "DROP")]

    assert names() == ["KEEP", "DROP"]
    kept = {"spec": {"containers": [{"name": "server", "image": "s:1", "env": env[:1]}]}}
    patch_ndep_spec(kube, namespace, "resnet", {"template": kept})
    wait_until("DROP gone", lambda: names() == ["KEEP"] or None, timeout=60)
    writes = [w[:2] for w in writes_in(namespace) if w[0] == "deployments"]
    assert writes == [("deployments", "create"), ("deployments", "patch"), ("deployments", "patch")]
    fields = (get_deployment(kube, namespace, "resnet") or {})["metadata"]["managedFields"]
    ours = [(e["manager"], e["operation"]) for e in fields if e["manager"] == FIELD_MANAGER]
    assert ours == [(FIELD_MANAGER, "Apply")], fields
