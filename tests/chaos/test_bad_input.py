"""B1–B16: bad input is refused by the API server with the field named, or shown on the object
(a condition and one Warning event per generation); the operator never restarts, and a running
workload is never touched by it."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tests.chaos.common import all_converged, model, owned_deployments, problem, with_reason
from tests.chaos.harness import writes
from tests.kube import (
    Cluster,
    condition,
    create_ndep,
    events_for,
    get_deployment,
    get_ndep,
    neurondeployment,
    patch_ndep_spec,
    wait_until,
)


def refusal(kube: Any, namespace: str, spec: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as refused:
        create_ndep(kube, namespace, neurondeployment("bad", spec))
    assert refused.value.status == 422, refused.value.body
    return str(json.loads(refused.value.body or "{}").get("message"))


def without(spec: dict[str, Any], *path: str) -> dict[str, Any]:
    result = copy.deepcopy(spec)
    target = result
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return result


def with_value(spec: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    result = copy.deepcopy(spec)
    target = result
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return result


REFUSED = [
    ("B1", "missing model", without(model(), "model"), "spec.model"),
    ("B1", "missing family", without(model(), "model", "family"), "spec.model.family"),
    ("B2", "replicas as text", with_value(model(), "three", "overrides", "replicas"), "replicas"),
    ("B2", "parameters as a list", with_value(model(), [1], "model", "parameters"), "parameters"),
    ("B3", "zero parameters", with_value(model(), "0", "model", "parameters"), "parameters"),
    ("B3", "zero cores", with_value(model(), 0, "overrides", "coresPerReplica"), "coresPerReplica"),
    ("B4", "5000 replicas", with_value(model(), 5000, "overrides", "replicas"), "replicas"),
    (
        "B4",
        "maxReplicas 5000",
        with_value(model(), 5000, "constraints", "maxReplicas"),
        "maxReplicas",
    ),
    ("B8", "a 300 KiB family", with_value(model(), "x" * 300_000, "model", "family"), "family"),
    (
        "B8",
        "a 300 KiB instance type",
        with_value(model(), "inf2." + "x" * 300_000, "overrides", "instanceType"),
        "instanceType",
    ),
]


@pytest.mark.parametrize(("row", "what", "spec", "field"), REFUSED, ids=[r[1] for r in REFUSED])
def test_invalid_specs_are_refused_with_the_field_named(
    kube: Any,
    namespace: str,
    crd_installed: None,
    record: Any,
    row: str,
    what: str,
    spec: dict[str, Any],
    field: str,
) -> None:
    message = refusal(kube, namespace, spec)
    assert field in message, message
    record(
        row, injection=what, promise="refused by the API server, field named", outcome=message[:160]
    )


def test_b5_unknown_fields_are_refused_by_strict_validation(
    cluster: Cluster, namespace: str, crd_installed: None, record: Any
) -> None:
    body = neurondeployment("typo", with_value(model(), 2, "overrides", "replicaz"))
    code, output = cluster.attempt(
        "apply",
        f"--namespace={namespace}",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump(body),
    )
    assert code != 0 and 'unknown field "spec.overrides.replicaz"' in output, output
    record(
        "B5",
        injection="unknown field spec.overrides.replicaz, kubectl --validate=strict",
        promise="refused, field named",
        outcome=output.strip()[:160],
    )


def ours(deployment: dict[str, Any]) -> list[Any]:
    """The operator's entries in the Deployment's managedFields: they change with its writes."""
    return [
        entry
        for entry in deployment["metadata"].get("managedFields") or []
        if entry.get("manager") == "neuron-operator"
    ]


def warnings(kube: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    return [e for e in events_for(kube, namespace, name) if e.get("type") == "Warning"]


def shown(kube: Any, namespace: str, name: str, reason: str) -> dict[str, Any]:
    return with_reason(kube, namespace, name, "Planned", reason)


SHOWN = [
    (
        "B3",
        "a model too large for any instance",
        with_value(model(), "5000B", "model", "parameters"),
        "ExceedsMemory",
    ),
    (
        "B4",
        "an SLO that needs a million replicas",
        with_value(with_value(model(), None, "overrides"), {"throughput": 1e9}, "slo"),
        "MaxReplicasExceeded",
    ),
    (
        "B3",
        "an instance type that does not exist",
        with_value(model(), "inf2.huge", "overrides", "instanceType"),
        "UnknownInstanceType",
    ),
    (
        "B6",
        "a privileged model server",
        with_value(
            model(),
            {
                "spec": {
                    "containers": [
                        {"name": "s", "image": "s:1", "securityContext": {"privileged": True}}
                    ]
                }
            },
            "template",
        ),
        "TemplateNotAllowed",
    ),
    (
        "B7",
        "an image outside the operator's allowlist (registry.k8s.io/)",
        with_value(
            model(),
            {"spec": {"containers": [{"name": "s", "image": "docker.io/evil/miner:1"}]}},
            "template",
        ),
        "ImageNotAllowed",
    ),
]
# The operator of these tests allows the images of model(): registry.k8s.io/pause.
ALLOWED_IMAGES = {"NEURON_OPERATOR_ALLOWED_IMAGES": "registry.k8s.io/"}


@pytest.mark.parametrize(
    ("row", "what", "spec", "reason"),
    [
        pytest.param(*row, id=row[1], marks=[pytest.mark.slow] if index in (1, 2) else [])
        for index, row in enumerate(SHOWN)
    ],
)
def test_unplannable_specs_are_shown_then_fixed_without_touching_the_running_workload(
    kube: Any, chaos: Any, record: Any, row: str, what: str, spec: dict[str, Any], reason: str
) -> None:
    chaos.start(env=ALLOWED_IMAGES)
    ns = chaos.namespace
    create_ndep(kube, ns, neurondeployment("running", model()))
    all_converged(kube, ns, ["running"], timeout=60)
    before = get_deployment(kube, ns, "running")
    assert before is not None
    # A new object with the bad spec, and the running one edited to it.
    create_ndep(kube, ns, neurondeployment("new", {k: v for k, v in spec.items() if v is not None}))
    patch_ndep_spec(kube, ns, "running", spec)  # a null removes a key: the merge patch's rule
    for name in ("new", "running"):

        def refused(n: str = name) -> dict[str, Any]:
            return shown(kube, ns, n, reason)

        wait_until(f"{name}: Planned=False {reason}", refused, timeout=30)
    assert get_deployment(kube, ns, "new") is None, "no Deployment for a spec without a plan"
    after = get_deployment(kube, ns, "running")
    assert after is not None
    # Untouched by the operator (the Deployment controller may still update its status).
    assert after["spec"] == before["spec"], "untouched"
    assert ours(after) == ours(before), "untouched"
    assert "not applied" in condition(get_ndep(kube, ns, "running"), "Planned")["message"]
    time.sleep(2)  # any repeated warning would have been posted by now
    counts = {
        n: len([w for w in warnings(kube, ns, n) if w["reason"] == reason])
        for n in ("new", "running")
    }
    assert counts == {"new": 1, "running": 1}, counts
    # B12: fixing the spec converges.
    fixed = time.monotonic()
    for name in ("new", "running"):
        patch_ndep_spec(kube, ns, name, {**model(), "slo": None})
    converge = all_converged(kube, ns, ["new", "running"], timeout=30)
    assert chaos.operator.alive() and chaos.restarts == 0
    record(
        row,
        injection=what,
        promise="Planned=False with the reason, one Warning event per generation, running "
        "Deployment untouched; fixed spec converges (B12)",
        outcome=f"{reason}; {counts['running']} Warning per generation; Deployment untouched",
        fix_converge_seconds=round(time.monotonic() - fixed, 1),
        converge_seconds=round(converge, 1),
        restarts=chaos.restarts,
        lost=0,
    )


@pytest.mark.parametrize(
    "labels",
    [{}, {"app.kubernetes.io/managed-by": "neuron-operator"}],
    ids=["unlabelled", "labelled-as-ours"],
)
def test_b9_a_deployment_that_is_not_ours_is_never_adopted(
    kube: Any, chaos: Any, record: Any, labels: dict[str, str]
) -> None:
    ns = chaos.namespace
    apps = client.AppsV1Api(kube)
    theirs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "m", "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "theirs"}},
            "template": {
                "metadata": {"labels": {"app": "theirs"}},
                "spec": {"containers": [{"name": "c", "image": "theirs:1"}]},
            },
        },
    }
    apps.create_namespaced_deployment(ns, theirs)  # type: ignore[arg-type]
    before = get_deployment(kube, ns, "m")
    assert before is not None
    chaos.start()
    create_ndep(kube, ns, neurondeployment("m", model()))
    planned = wait_until(
        "Planned=False NameConflict", lambda: shown(kube, ns, "m", "NameConflict"), timeout=30
    )
    assert "not controlled by this NeuronDeployment" in planned["message"]
    time.sleep(2)
    after = get_deployment(kube, ns, "m")
    assert after is not None
    # Its controller updates its status; nobody else may have written it.
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    managers = {f.get("manager") for f in after["metadata"].get("managedFields") or []}
    assert "neuron-operator" not in managers, managers
    apps.delete_namespaced_deployment("m", ns)
    converge = all_converged(kube, ns, ["m"], timeout=30)
    record(
        "B9",
        injection="a Deployment of the same name, not owned"
        + (", labelled as ours" if labels else ""),
        promise="never adopted or overwritten; Planned=False reason=NameConflict",
        outcome="NameConflict; their Deployment untouched; ours created once theirs was deleted",
        converge_seconds=round(converge, 1),
        restarts=chaos.restarts,
        lost=0,
    )


def test_b10_a_family_change_is_applied_and_leaves_no_stale_status(
    kube: Any, chaos: Any, record: Any
) -> None:
    """No field is immutable; the regression of the nested status fields, on a real server."""
    ns = chaos.namespace
    chaos.start()
    decoder = with_value(
        model(),
        {"family": "transformer-decoder", "parameters": "1B", "sequenceLength": 2048},
        "model",
    )
    create_ndep(kube, ns, neurondeployment("m", decoder))
    all_converged(kube, ns, ["m"], timeout=60)
    estimate = get_ndep(kube, ns, "m")["status"]["plan"]["estimate"]  # type: ignore[index]
    assert "timePerOutputTokenMs" in estimate
    began = time.time()
    patch_ndep_spec(
        kube, ns, "m", {"model": {"family": "cnn", "parameters": "25.6M", "sequenceLength": None}}
    )
    all_converged(kube, ns, ["m"], timeout=30)
    estimate = get_ndep(kube, ns, "m")["status"]["plan"]["estimate"]  # type: ignore[index]
    stale = [
        k
        for k in ("timeToFirstTokenMs", "timePerOutputTokenMs", "outputTokensPerSecond")
        if k in estimate
    ]
    assert not stale, stale
    time.sleep(12)  # a resync sweep and some Deployment events later
    status_writes = [
        w for w in writes(chaos.proxy.requests(began)) if w["path"].endswith("/status")
    ]
    assert len(status_writes) <= 3, status_writes
    record(
        "B10",
        injection="model family edited (decoder → CNN); no field is immutable",
        promise="applied; no stale nested status field; no repeated status write",
        outcome=f"applied; {len(status_writes)} status writes in 12 s",
        restarts=chaos.restarts,
        lost=0,
    )


def test_b14_a_namespace_quota_says_why_no_pod_starts(kube: Any, chaos: Any, record: Any) -> None:
    ns = chaos.namespace
    quota: Any = {
        "metadata": {"name": "neuron"},
        "spec": {"hard": {"requests.aws.amazon.com/neuroncore": "1"}},
    }
    client.CoreV1Api(kube).create_namespaced_resource_quota(ns, quota)
    chaos.start()
    create_ndep(kube, ns, neurondeployment("m", model()))
    ready = wait_until(
        "Ready=False PodCreationFailed",
        lambda: with_reason(kube, ns, "m", "Ready", "PodCreationFailed"),
        timeout=60,
    )
    assert "exceeded quota" in ready["message"], ready["message"]
    record(
        "B14",
        injection="ResourceQuota of 1 NeuronCore; the plan needs 2 per pod",
        promise="Ready=False reason=PodCreationFailed with the quota message",
        outcome=ready["message"][:160],
        restarts=chaos.restarts,
        lost=0,
    )


@pytest.mark.slow
def test_b13_pods_no_node_can_take_report_the_progress_deadline(
    kube: Any, chaos: Any, record: Any
) -> None:
    """More pods than the nodes of the instance type have NeuronCores for: the scheduler says
    `Insufficient aws.amazon.com/neuroncore`, as it does where no node runs the device plugin.
    With spec.progressDeadlineSeconds at 30, the rollout is reported failed after 30 s."""
    ns = chaos.namespace
    chaos.start()
    spec = {**model(replicas=20), "progressDeadlineSeconds": 30}
    created = time.monotonic()
    create_ndep(kube, ns, neurondeployment("m", spec))
    ready = wait_until(
        "Ready=False ProgressDeadlineExceeded",
        lambda: with_reason(kube, ns, "m", "Ready", "ProgressDeadlineExceeded"),
        timeout=150,
    )
    seconds = time.monotonic() - created
    (deployment,) = owned_deployments(kube, ns, "m")
    assert deployment["spec"]["progress_deadline_seconds"] == 30
    assert "progress" in ready["message"], ready["message"]
    assert chaos.operator.alive() and chaos.restarts == 0
    record(
        "B13",
        injection=(
            "20 pods of 2 NeuronCores on the one simulated inf2.xlarge (Insufficient "
            "aws.amazon.com/neuroncore, as with no device plugin); spec.progressDeadlineSeconds 30"
        ),
        promise="Ready=False reason=ProgressDeadlineExceeded with the Deployment's message",
        reported_seconds=round(seconds, 1),
        outcome=ready["message"][:160],
        restarts=chaos.restarts,
        lost=0,
    )


def test_b16_fifty_edits_in_ten_seconds(kube: Any, chaos: Any, record: Any) -> None:
    ns = chaos.namespace
    chaos.start()
    create_ndep(kube, ns, neurondeployment("m", model()))
    all_converged(kube, ns, ["m"], timeout=60)
    began = time.time()
    for edit in range(50):
        patch_ndep_spec(kube, ns, "m", model(replicas=1 + edit % 3))
        time.sleep(0.2)
    converge = all_converged(kube, ns, ["m"], timeout=60)
    time.sleep(2)
    body = get_ndep(kube, ns, "m")
    assert body is not None and body["status"]["plan"]["replicas"] == 1 + 49 % 3
    made = writes(chaos.proxy.requests(began))
    deployment_writes = [w for w in made if "/deployments/" in w["path"]]
    status_writes = [w for w in made if w["path"].endswith("/status")]
    # A status write per generation, plus the Deployment's progress (replica counts) as the
    # flips of the replica count roll out: bounded by two per generation.
    assert len(deployment_writes) <= 50 and len(status_writes) <= 100, (
        len(deployment_writes),
        len(status_writes),
    )
    assert problem(kube, ns, "m") is None
    record(
        "B16",
        injection="50 edits of the replica count in 10 s",
        promise="final state = last generation; Deployment writes ≤ distinct generations",
        outcome=f"{len(deployment_writes)} Deployment writes, {len(status_writes)} status "
        "writes for 50 generations",
        converge_seconds=round(converge, 1),
        restarts=chaos.restarts,
        lost=0,
    )
