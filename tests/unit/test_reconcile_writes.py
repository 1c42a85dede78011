"""The writing half of reconcile(), against a recording fake (tests/fakes.py): the exact
writes, none when nothing changed, and what a refused or failed write leaves behind."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from tests.fakes import FakeKube

from neuron_operator.api.reasons import ReasonCode
from neuron_operator.controller import reconcile as reconcile_module
from neuron_operator.controller.errors import Forbidden, TransientError, UserError
from neuron_operator.controller.reconcile import reconcile
from neuron_operator.controller.runtime import reconcile_or_read
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Event

SERVER = {"spec": {"containers": [{"name": "server", "image": "s:1"}]}}
DECODER: dict[str, Any] = {
    "model": {"family": "transformer-decoder", "parameters": "1B", "sequenceLength": 2048},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 1},
    "template": SERVER,
}
CNN: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25M"},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 1},
    "template": SERVER,
}
NOW = "2026-11-29T00:00:00Z"
# A Deployment of the object's name that someone else made (no owner reference).
THEIRS = {
    "metadata": {"name": "m", "namespace": "ns", "resourceVersion": "7", "generation": 3},
    "spec": {"replicas": 9},
}


def new_object(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "m",
            "namespace": "ns",
            "uid": "uid-1",
            "generation": 1,
            "resourceVersion": "1",
        },
        "spec": copy.deepcopy(spec),
    }


def run(kube: FakeKube) -> list[Event]:
    events: list[Event] = []
    body = copy.deepcopy(kube.body)
    reconcile(kube, body, kube.deployment, Settings(), events.append, lambda: NOW)
    return events


def edit(kube: FakeKube, spec: dict[str, Any]) -> None:
    kube.body["spec"] = copy.deepcopy(spec)
    kube.body["metadata"]["generation"] += 1
    kube.calls.clear()


def condition(kube: FakeKube, kind: str) -> dict[str, Any]:
    found = [c for c in kube.body["status"]["conditions"] if c["type"] == kind]
    return dict(found[0]) if found else {}


def test_a_new_object_gets_its_deployment_then_its_status_and_announces_each_once() -> None:
    kube = FakeKube(new_object(CNN))
    events = run(kube)
    assert kube.writes() == ["create_deployment", "patch_status"]
    assert [e.reason for e in events] == [ReasonCode.PLANNED, ReasonCode.DEPLOYMENT_CREATED]
    assert kube.body["status"]["plan"]["instanceType"] == "inf2.xlarge"
    kube.calls.clear()
    assert run(kube) == []
    assert kube.calls == [], "a reconcile of an unchanged object must write nothing"


def test_the_first_status_is_written_whole_at_the_version_read_and_changes_as_patches() -> None:
    """A new object's status is all new: written whole (a PUT), preconditioned on the version
    the reconcile read; a later change is a merge patch of what changed."""
    kube = FakeKube(new_object(CNN))
    run(kube)
    assert kube.status_writes_whole_at == ["1"]
    edit(kube, {**CNN, "overrides": {"instanceType": "inf2.xlarge", "replicas": 2}})
    run(kube)
    assert kube.writes() == ["adopt_created_fields", "apply_deployment", "patch_status"]
    assert kube.status_writes_whole_at == ["1", None]


def test_a_first_status_for_an_object_changed_since_it_was_read_is_retried() -> None:
    """The PUT's precondition fails (409) when the object changed after the read: a transient
    error, so the reconcile runs again on what is there now; no status was written."""
    kube = FakeKube(new_object(CNN))
    read = copy.deepcopy(kube.body)
    kube.body["metadata"]["resourceVersion"] = "7"  # someone's edit landed meanwhile
    with pytest.raises(TransientError, match="409"):
        reconcile(kube, read, kube.deployment, Settings(), lambda _: None, lambda: NOW)
    assert "status" not in kube.body
    run(kube)
    assert kube.status_writes_whole_at == ["1", "7"]
    assert kube.body["status"]["plan"]["instanceType"] == "inf2.xlarge"


def test_a_family_change_removes_nested_status_fields_and_then_writes_nothing() -> None:
    """Regression: the status patch nulled only top-level keys, so a decoder edited into a CNN
    kept its decoder-only estimate fields and every later trigger re-sent the same patch."""
    kube = FakeKube(new_object(DECODER))
    run(kube)
    estimate = kube.body["status"]["plan"]["estimate"]
    assert "timePerOutputTokenMs" in estimate  # the premise: a decoder has token figures
    edit(kube, CNN)
    run(kube)
    estimate = kube.body["status"]["plan"]["estimate"]
    for gone in ("timeToFirstTokenMs", "timePerOutputTokenMs", "outputTokensPerSecond"):
        assert gone not in estimate
    kube.calls.clear()
    run(kube)
    assert kube.calls == [], "the status converged: nothing left to patch"


def test_a_refused_status_becomes_one_condition_not_a_loop() -> None:
    """Regression: a status document the server refuses (422) was retried forever. Now the
    object says so in a status the server accepts, once; later triggers write nothing."""

    def no_plan_in_status(status: dict[str, Any]) -> Exception | None:
        if "plan" in status:
            return UserError("status.plan.estimate.hourlyCost: Required value", "422")
        return None

    kube = FakeKube(new_object(CNN), status_check=no_plan_in_status)
    events = run(kube)
    assert kube.writes() == ["create_deployment", "patch_status", "patch_status"]
    planned = condition(kube, "Planned")
    assert planned["reason"] == ReasonCode.STATUS_REJECTED
    assert "hourlyCost" in planned["message"]
    assert [e.reason for e in events].count(ReasonCode.STATUS_REJECTED) == 1
    kube.calls.clear()
    assert run(kube) == []
    # The full document is tried again (it may be accepted now), and nothing else is written.
    assert kube.writes() == ["patch_status"]


def test_a_deployment_of_the_same_name_that_is_not_ours_is_never_touched() -> None:
    kube = FakeKube(new_object(CNN), deployment=copy.deepcopy(THEIRS))
    events = run(kube)
    assert kube.writes() == ["patch_status"]
    assert kube.deployment == THEIRS
    assert condition(kube, "Planned")["reason"] == ReasonCode.NAME_CONFLICT
    assert "not controlled by this NeuronDeployment" in condition(kube, "Planned")["message"]
    assert [e.type for e in events if e.reason == ReasonCode.NAME_CONFLICT] == ["Warning"]


def run_unseen(kube: FakeKube, read: Callable[[], dict[str, Any] | None]) -> str:
    """A reconcile as the runtime makes it for a new object: the store has seen no Deployment,
    so the reconcile creates one, and a taken name is read (`read`) and reconciled again."""
    body = copy.deepcopy(kube.body)

    def reconcile_with(deployment: dict[str, Any] | None) -> str:
        return reconcile(kube, body, deployment, Settings(), lambda event: None, lambda: NOW)

    return reconcile_or_read(reconcile_with, None, read)


def test_a_taken_name_the_store_has_not_seen_is_read_then_reported_not_touched() -> None:
    kube = FakeKube(new_object(CNN), deployment=copy.deepcopy(THEIRS))
    run_unseen(kube, lambda: copy.deepcopy(kube.deployment))
    assert kube.writes() == ["create_deployment", "patch_status"]
    assert kube.deployment == THEIRS
    assert condition(kube, "Planned")["reason"] == ReasonCode.NAME_CONFLICT


def test_a_name_taken_again_after_the_read_is_a_conflict_to_retry_not_a_second_read() -> None:
    kube = FakeKube(new_object(CNN), deployment=copy.deepcopy(THEIRS))
    reads: list[str] = []

    def deleted_meanwhile() -> None:
        reads.append("get")  # gone when read; re-created by someone before our second create

    with pytest.raises(TransientError) as raised:
        run_unseen(kube, deleted_meanwhile)
    assert raised.value.code == "409"
    assert reads == ["get"]
    assert kube.writes() == ["create_deployment", "create_deployment"]
    assert kube.deployment == THEIRS


def test_a_forbidden_write_is_reported_on_the_object_then_retried() -> None:
    kube = FakeKube(new_object(CNN))
    kube.failures["create_deployment"] = [Forbidden("cannot create deployments.apps", "403")]
    with pytest.raises(Forbidden):
        run(kube)
    planned = condition(kube, "Planned")
    assert planned["reason"] == ReasonCode.FORBIDDEN
    assert "create and patch on deployments.apps" in planned["message"]
    kube.calls.clear()
    run(kube)  # permission restored
    assert kube.writes() == ["create_deployment", "patch_status"]
    assert condition(kube, "Planned")["reason"] == ReasonCode.PLANNED


def test_a_transient_error_writes_nothing_more_and_propagates() -> None:
    kube = FakeKube(new_object(CNN))
    kube.failures["create_deployment"] = [TransientError("API error 503", "503")]
    with pytest.raises(TransientError):
        run(kube)
    assert kube.writes() == ["create_deployment"]
    assert "status" not in kube.body


def test_an_engine_that_raises_leaves_the_running_deployment_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = FakeKube(new_object(CNN))
    run(kube)
    running = copy.deepcopy(kube.deployment)
    edit(kube, {**CNN, "model": {"family": "cnn", "parameters": "26M"}})

    def broken(*_: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(reconcile_module, "_plan_for", broken)
    events = run(kube)
    assert kube.writes() == ["patch_status"]
    assert kube.deployment == running
    planned = condition(kube, "Planned")
    assert planned["reason"] == ReasonCode.SIZING_FAILED
    assert "ZeroDivisionError" in planned["message"]
    assert "still running 1 × " in planned["message"]
    assert ReasonCode.SIZING_FAILED in [e.reason for e in events]


def test_pods_that_cannot_be_created_say_why_in_ready() -> None:
    kube = FakeKube(new_object(CNN))
    run(kube)
    assert kube.deployment is not None
    kube.deployment["status"] = {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": 'pods "m-1" is forbidden: violates PodSecurity "restricted:latest"',
            }
        ],
    }
    events = run(kube)
    ready = condition(kube, "Ready")
    assert ready["reason"] == ReasonCode.POD_CREATION_FAILED
    assert "violates PodSecurity" in ready["message"]
    assert [e.type for e in events if e.reason == ReasonCode.POD_CREATION_FAILED] == ["Warning"]
