"""F9, F10, F13, F16: a permission taken away, children changed behind the operator's back,
deletion while it is down, and a namespace whose Pod Security level refuses the pods."""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import OPERATOR_RELEASE
from kubernetes import client, watch
from tests.chaos.common import all_converged, model, owned_deployments, with_reason
from tests.kube import (
    GROUP,
    PLURAL,
    VERSION,
    create_ndep,
    get_deployment,
    get_ndep,
    neurondeployment,
    patch_ndep_spec,
    wait_until,
)

from neuron_operator.api.reasons import ReasonCode

DEPLOYMENT_WRITES = {"create", "patch", "update"}


@dataclass
class ClusterRole:
    """The operator's ClusterRole, with create/patch on deployments taken away and given back."""

    rbac: Any
    original: Any

    def _rules(self, rules: Any) -> None:
        current = self.rbac.read_cluster_role(OPERATOR_RELEASE)
        current.rules = rules
        self.rbac.replace_cluster_role(OPERATOR_RELEASE, current)

    def revoke_deployment_writes(self) -> None:
        rules = copy.deepcopy(self.original.rules)
        for rule in rules:
            if "deployments" in (rule.resources or []):
                rule.verbs = [v for v in rule.verbs if v not in DEPLOYMENT_WRITES]
        self._rules(rules)

    def restore(self) -> None:
        self._rules(self.original.rules)


@pytest.fixture
def cluster_role(kube: Any) -> Iterator[ClusterRole]:
    rbac = client.RbacAuthorizationV1Api(kube)
    role = ClusterRole(rbac, rbac.read_cluster_role(OPERATOR_RELEASE))
    try:
        yield role
    finally:
        role.restore()


@pytest.mark.parametrize(
    "seconds",
    [pytest.param(10.0, id="10s"), pytest.param(180.0, id="3min", marks=pytest.mark.slow)],
)
def test_f9_a_revoked_permission_is_named_on_the_object_then_recovered(
    kube: Any, chaos: Any, record: Any, cluster_role: ClusterRole, seconds: float
) -> None:
    chaos.start()
    create_ndep(kube, chaos.namespace, neurondeployment("running", model()))
    all_converged(kube, chaos.namespace, ["running"], timeout=60)
    cluster_role.revoke_deployment_writes()
    revoked = time.monotonic()
    patch_ndep_spec(kube, chaos.namespace, "running", model(replicas=2))
    create_ndep(kube, chaos.namespace, neurondeployment("new", model()))
    for name in ("running", "new"):
        planned = wait_until(
            f"{name}: Planned=False Forbidden",
            lambda n=name: with_reason(kube, chaos.namespace, n, "Planned", "Forbidden"),  # type: ignore[misc]
            timeout=120,
        )
        assert "create and patch on deployments.apps" in planned["message"]
    reported = time.monotonic() - revoked
    running = get_deployment(kube, chaos.namespace, "running")
    assert running is not None and running["spec"]["replicas"] == 1, "left as it was"
    time.sleep(max(0.0, seconds - (time.monotonic() - revoked)))
    cluster_role.restore()
    recovery = all_converged(kube, chaos.namespace, ["running", "new"], timeout=120)
    assert chaos.operator.alive() and chaos.restarts == 0
    record(
        "F9",
        injection=f"create/patch on deployments revoked from the ClusterRole for {seconds:.0f} s",
        promise="Planned=False reason=Forbidden naming the permission; recovery ≤ 2 min",
        reported_seconds=round(reported, 1),
        converge_seconds=round(recovery, 1),
        restarts=chaos.restarts,
        lost=0,
        slow=seconds > 10,
    )


def test_f10_drift_is_reverted(kube: Any, chaos: Any, record: Any) -> None:
    chaos.start()
    create_ndep(kube, chaos.namespace, neurondeployment("m", model()))
    all_converged(kube, chaos.namespace, ["m"], timeout=60)
    apps = client.AppsV1Api(kube)
    ns = chaos.namespace
    timings = {}

    def deployment() -> dict[str, Any]:
        found = get_deployment(kube, ns, "m")
        assert found is not None
        return found

    started = time.monotonic()
    apps.patch_namespaced_deployment_scale("m", ns, {"spec": {"replicas": 5}})
    wait_until("replicas restored", lambda: deployment()["spec"]["replicas"] == 1, timeout=30)
    timings["scaled"] = time.monotonic() - started

    started = time.monotonic()
    container = deployment()["spec"]["template"]["spec"]["containers"][0]["name"]
    apps.patch_namespaced_deployment(
        "m",
        ns,
        {"spec": {"template": {"spec": {"containers": [{"name": container, "image": "evil:1"}]}}}},
    )

    def image() -> str:
        return str(deployment()["spec"]["template"]["spec"]["containers"][0]["image"])

    wait_until("image restored", lambda: image() == "registry.k8s.io/pause:3.10", timeout=30)
    timings["image"] = time.monotonic() - started

    started = time.monotonic()
    apps.delete_namespaced_deployment("m", ns)
    wait_until(
        "Deployment recreated",
        lambda: (
            len(owned_deployments(kube, ns, "m")) == 1
            and not owned_deployments(kube, ns, "m")[0]["metadata"].get("deletion_timestamp")
        ),
        timeout=30,
    )
    timings["deleted"] = time.monotonic() - started
    all_converged(kube, ns, ["m"], timeout=30)
    record(
        "F10",
        injection="Deployment scaled to 5; its image edited; the Deployment deleted",
        promise="each restored ≤ 30 s",
        converge_seconds=round(max(timings.values()), 1),
        **{f"{k}_seconds": round(v, 1) for k, v in timings.items()},
        restarts=chaos.restarts,
        lost=0,
    )


def test_f13_deletion_while_the_operator_is_down(kube: Any, chaos: Any, record: Any) -> None:
    chaos.start()
    create_ndep(kube, chaos.namespace, neurondeployment("m", model()))
    all_converged(kube, chaos.namespace, ["m"], timeout=60)
    chaos.kill()
    started = time.monotonic()
    client.CustomObjectsApi(kube).delete_namespaced_custom_object(
        GROUP, VERSION, chaos.namespace, PLURAL, "m"
    )
    wait_until("the NeuronDeployment gone", lambda: get_ndep(kube, chaos.namespace, "m") is None)
    deleted = time.monotonic() - started
    wait_until(
        "its Deployment garbage-collected",
        lambda: get_deployment(kube, chaos.namespace, "m") is None,
        timeout=60,
    )
    collected = time.monotonic() - started
    chaos.start()
    time.sleep(3)
    assert get_deployment(kube, chaos.namespace, "m") is None, "nothing recreated"
    assert deleted <= 5, f"deletion took {deleted:.1f} s: nothing may block it"
    record(
        "F13",
        injection="NeuronDeployment deleted while the operator was SIGKILLed",
        promise="deleted ≤ 5 s (no finalizer); Deployment garbage-collected ≤ 60 s",
        deleted_seconds=round(deleted, 1),
        converge_seconds=round(collected, 1),
        restarts=0,
        lost=0,
    )


def test_f16_a_restricted_namespace_says_why_no_pod_starts(
    kube: Any, chaos: Any, record: Any
) -> None:
    core = client.CoreV1Api(kube)
    core.patch_namespace(
        chaos.namespace,
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    )
    chaos.start()
    started = time.monotonic()
    create_ndep(kube, chaos.namespace, neurondeployment("m", model()))
    ready = wait_until(
        "Ready=False PodCreationFailed",
        lambda: with_reason(kube, chaos.namespace, "m", "Ready", "PodCreationFailed"),
        timeout=60,
    )
    assert "violates PodSecurity" in ready["message"], ready["message"]
    record(
        "F16",
        injection="namespace enforcing the restricted Pod Security level; a template it refuses",
        promise="Ready=False reason=PodCreationFailed with the ReplicaSet's message",
        converge_seconds=round(time.monotonic() - started, 1),
        restarts=chaos.restarts,
        lost=0,
    )


COMPONENT = "app.kubernetes.io/component"


def co_writer(kube: Any, namespace: str, stop: Any, flips: list[float]) -> None:
    """A hostile controller: on every update of Deployment m, it takes back a pod-template
    label the operator sets (field manager `rival`)."""
    apps = client.AppsV1Api(kube)
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    while not stop.is_set():
        for event in stream.stream(  # type: ignore[no-untyped-call]
            apps.list_namespaced_deployment,
            namespace,
            field_selector="metadata.name=m",
            timeout_seconds=5,
        ):
            if stop.is_set():
                break
            labels = event["object"].spec.template.metadata.labels or {}
            if labels.get(COMPONENT) == "model-server":
                patch = {"spec": {"template": {"metadata": {"labels": {COMPONENT: "rival"}}}}}
                apps.patch_namespaced_deployment("m", namespace, patch, field_manager="rival")
                flips.append(time.monotonic())
    stream.stop()  # type: ignore[no-untyped-call]


@pytest.mark.slow
@pytest.mark.parametrize("seconds", [pytest.param(20.0, id="20s"), pytest.param(300.0, id="5min")])
def test_f11_a_hostile_co_writer_gets_bounded_answers_and_is_named(
    kube: Any, chaos: Any, record: Any, seconds: float
) -> None:
    ns = chaos.namespace
    chaos.start()
    create_ndep(kube, ns, neurondeployment("m", model()))
    all_converged(kube, ns, ["m"], timeout=60)
    stop, flips = threading.Event(), list[float]()
    began = time.time()
    rival = threading.Thread(target=co_writer, args=(kube, ns, stop, flips), daemon=True)
    rival.start()
    try:
        degraded = wait_until(
            "Degraded=True naming the rival",
            lambda: with_reason(kube, ns, "m", "Degraded", "ExternalModification"),
            timeout=60,
        )
        time.sleep(max(0.0, seconds - (time.time() - began)))
    finally:
        stop.set()
        rival.join(15)
    patches = [
        r
        for r in chaos.proxy.requests(began)
        if r["method"] == "PATCH" and r["path"].endswith("/deployments/m")
    ]
    # A revert is an apply; the Deployment, created with a POST, has its created fields
    # adopted by the apply's field manager once before (a JSON patch, which a rival's write in
    # between fails and a retry makes again).
    reverts = sorted(r["t"] for r in patches if "apply-patch" in r["contentType"])
    adoptions = [r for r in patches if "json-patch" in r["contentType"] and r["status"] == 200]
    kinds = {r["contentType"].split(";")[0] for r in patches}
    # The first revert is immediate; from the second on they are spaced.
    gaps = [b - a for a, b in itertools.pairwise(reverts[1:])]
    replica_sets = client.AppsV1Api(kube).list_namespaced_replica_set(ns).items
    assert "rival" in degraded["message"], degraded["message"]
    assert len(reverts) <= seconds / 10 + 2, reverts
    assert len(adoptions) <= 1, adoptions
    assert kinds <= {"application/apply-patch+yaml", "application/json-patch+json"}, kinds
    assert len(flips) > len(reverts) - 1, "the rival kept fighting"
    rejected = [
        e.message
        for e in client.CoreV1Api(kube).list_namespaced_event(ns).items
        if e.reason == ReasonCode.DEPLOYMENT_REJECTED
    ]
    assert rejected == [], "a rival's write is a conflict to retry, not a rejected Deployment"
    assert all(gap >= 9.5 for gap in gaps), gaps
    assert len(replica_sets) <= 12, len(replica_sets)  # revisionHistoryLimit 10 + 2 live
    calm = time.monotonic()
    all_converged(kube, ns, ["m"], timeout=90)  # the last held-back revert went out
    if seconds > 60:  # the fight is over 2 min after the last revert: too long for make test
        wait_until(
            "Degraded=False once the rival stopped",
            lambda: with_reason(kube, ns, "m", "Degraded", "NoExternalModification"),
            timeout=180,
        )
    record(
        "F11",
        injection=f"a co-writer (field manager `rival`) flipping a pod-template label the "
        f"operator sets on every update, for {seconds:.0f} s",
        promise="≤ 1 write per 10 s per object with backoff; bounded ReplicaSets; a "
        "condition naming who is fighting",
        outcome=f"{len(reverts)} reverts against {len(flips)} flips; smallest gap "
        f"{min(gaps, default=0):.1f} s; {len(replica_sets)} ReplicaSets; Degraded: "
        f"{degraded['message']}",
        converge_seconds=round(time.monotonic() - calm, 1),
        restarts=chaos.restarts,
        lost=0,
        slow=seconds > 20,
    )
