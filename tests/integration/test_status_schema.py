"""Every status document the operator can write passes the API server's validation of the real
CRD. Regression: unpriced instance types (trn2) left hourlyCost out of the estimate, the schema
required it, and every status write of such objects was refused with 422, forever."""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tests.kube import GROUP, PLURAL, VERSION, create_ndep, neurondeployment
from tests.strategies import FAMILIES, specs

from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.controller.reconcile import decide
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import compute_status, status_document

SERVER = {"spec": {"containers": [{"name": "server", "image": "s:1"}]}}
PARAMETERS = {
    "transformer-encoder": "340M",
    "transformer-decoder": "8B",
    "transformer-encoder-decoder": "780M",
    "cnn": "25M",
    "rcnn": "44M",
    "lstm": "10M",
    "vision-transformer": "86M",
    "diffusion": "1B",
}
CONSTRAINT_SHAPES: list[dict[str, Any]] = [
    {},
    {"constraints": {"instanceFamilies": ["trn2"]}},
    {"constraints": {"instanceFamilies": ["inf1", "inf2"]}},
    {"constraints": {"instanceTypes": ["trn1.2xlarge", "trn2.3xlarge"]}},
    {"constraints": {"maxReplicas": 1}, "slo": {"throughput": 5000}},
    {"budget": {"maxHourlyCost": 1.0}},
    {"slo": {"latencyMs": 5}},
    {"overrides": {"instanceType": "trn2.48xlarge", "replicas": 2}},
]
# A plan that is running while a later spec is refused: its messages mention it.
RUNNING = {"model": {"family": "cnn", "parameters": "25M"}, "template": SERVER}


def documents(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The status documents a reconcile of `spec` could write: for a new object, and for one
    whose earlier spec is running."""
    body = {
        "metadata": {"name": "s", "namespace": "n", "uid": "u", "generation": 2},
        "spec": {**spec, "template": SERVER},
    }
    running = decide({**body, "spec": RUNNING}, NeuronDeploymentStatus(), Settings())
    result = []
    for old in (NeuronDeploymentStatus(), NeuronDeploymentStatus(plan=running.plan_in_effect)):
        decision = decide(body, old, Settings())
        status = compute_status(
            body, old, decision.verdict, decision.plan_in_effect, None, "2026-11-29T00:00:00Z"
        )
        result.append(status_document(status))
    return result


@pytest.fixture(scope="module")
def target(kube: Any, crd_installed: None) -> Iterator[tuple[Any, str]]:
    """One NeuronDeployment whose status every document is dry-run against."""
    core = client.CoreV1Api(kube)
    namespace = f"schema-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        create_ndep(kube, namespace, neurondeployment("schema", RUNNING))
        yield client.CustomObjectsApi(kube), namespace
    finally:
        core.delete_namespace(namespace)


def patch_status(target: tuple[Any, str], document: dict[str, Any], **options: Any) -> Any:
    """A merge patch of the target's status with `document` (`options`: dry_run, a manager)."""
    api, namespace = target
    return api.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "schema",
        {"status": document},
        _content_type="application/merge-patch+json",
        **options,
    )


def server_refusal(target: tuple[Any, str], document: dict[str, Any]) -> str | None:
    try:
        patch_status(target, document, dry_run="All")
    except ApiException as error:
        return f"{error.status}: {error.body}"
    return None


GRID = list(itertools.product(FAMILIES, ["latency", "throughput", "cost"], CONSTRAINT_SHAPES))


def test_every_family_objective_and_constraint_shape_writes_a_valid_status(
    target: tuple[Any, str],
) -> None:
    refused = []
    unpriced = 0
    for family, objective, shape in GRID:
        spec = {
            "model": {"family": family, "parameters": PARAMETERS[family]},
            "objective": objective,
            **copy.deepcopy(shape),
        }
        for document in documents(spec):
            estimate = (document.get("plan") or {}).get("estimate") or {}
            unpriced += bool(estimate) and "hourlyCost" not in estimate
            why = server_refusal(target, document)
            if why:
                refused.append(f"{spec}: {why}")
    assert not refused, f"{len(refused)} status documents refused, e.g. {refused[:3]}"
    assert unpriced > 0, "the grid must include plans on unpriced instance types"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs())
def test_random_valid_specs_write_a_valid_status(
    target: tuple[Any, str], spec: dict[str, Any]
) -> None:
    for document in documents(spec):
        assert server_refusal(target, document) is None


def test_the_status_is_one_field_to_the_api_servers_field_manager(
    target: tuple[Any, str],
) -> None:
    """The operator writes the status whole, so the schema makes it atomic: the API server
    records one owned field, not a path per status field that it recomputes on every write."""
    (document, _) = documents({"model": {"family": "cnn", "parameters": "25M"}})
    written = patch_status(target, document, field_manager="status-writer")
    (entry,) = [m for m in written["metadata"]["managedFields"] if m["manager"] == "status-writer"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {}}
