"""A training run's reconcile, against the recording fake (tests/fakes.py): the Job and its
Service are created once; the status follows the Job to Succeeded or Failed; a finished or
running run is never restarted or changed; a new run starts only when spec.training.run says."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes import FakeKube

from neuron_operator.controller.reconcile import reconcile
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Event
from neuron_operator.controller.training import job_name, training_run

SPEC: dict[str, Any] = {
    "workload": "training",
    "model": {"family": "transformer-encoder", "parameters": "340M", "sequenceLength": 128},
    "objective": "throughput",
    "overrides": {"instanceType": "trn1.32xlarge", "replicas": 64, "coresPerReplica": 1},
    "template": {"spec": {"containers": [{"name": "trainer", "image": "t:1"}]}},
}


def new_object(spec: dict[str, Any] = SPEC) -> dict[str, Any]:
    return {
        "metadata": {"name": "bert", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": copy.deepcopy(spec),
    }


def run(kube: FakeKube) -> list[Event]:
    events: list[Event] = []
    body = copy.deepcopy(kube.body)
    current = kube.job
    if current is not None and current["metadata"]["name"] != job_name("bert", training_run(body)):
        current = None  # the runtime gathers the Job of the current run only
    reconcile(kube, body, None, Settings(), events.append, lambda: "t", job=copy.deepcopy(current))
    return events


def condition(kube: FakeKube, kind: str) -> dict[str, Any]:
    return next(c for c in kube.body["status"]["conditions"] if c["type"] == kind)


def finish(kube: FakeKube, kind: str, reason: str, message: str = "") -> None:
    assert kube.job is not None
    kube.job["status"] = {
        "succeeded": 2 if kind == "Complete" else 0,
        "failed": 1 if kind == "Failed" else 0,
        "conditions": [{"type": kind, "status": "True", "reason": reason, "message": message}],
    }


def test_a_run_is_created_once_and_its_status_follows_the_job_to_success() -> None:
    kube = FakeKube(new_object())
    events = run(kube)
    assert kube.writes() == ["apply_service", "apply_job", "patch_status"]
    assert "RunStarted" in [e.reason for e in events]
    assert kube.body["status"]["run"]["job"] == "bert-run1"
    assert kube.body["status"]["run"]["phase"] == "Pending"
    assert condition(kube, "Ready")["reason"] == "RunInProgress"
    assert kube.body["status"]["readySummary"] == "0/2"

    assert kube.job is not None
    kube.job["status"] = {"active": 2, "ready": 2}
    kube.calls.clear()
    run(kube)
    assert kube.writes() == ["patch_status"]
    assert condition(kube, "Available")["reason"] == "RunRunning"

    finish(kube, "Complete", "CompletionsReached")
    kube.calls.clear()
    events = run(kube)
    assert kube.writes() == ["patch_status"], "a finished run is never started again"
    assert (condition(kube, "Ready")["status"], condition(kube, "Ready")["reason"]) == (
        "True",
        "RunSucceeded",
    )
    assert kube.body["status"]["run"]["phase"] == "Succeeded"
    assert kube.body["status"]["readySummary"] == "2/2"
    kube.calls.clear()
    assert run(kube) == [] and kube.writes() == []


def test_a_failed_run_says_why_and_is_not_restarted() -> None:
    kube = FakeKube(new_object())
    run(kube)
    finish(kube, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    kube.calls.clear()
    events = run(kube)
    assert kube.writes() == ["patch_status"]
    ready = condition(kube, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "RunFailed")
    assert "BackoffLimitExceeded" in ready["message"]
    assert any(e.type == "Warning" and e.reason == "RunFailed" for e in events)


def test_an_edit_waits_for_the_next_run_which_starts_when_asked() -> None:
    kube = FakeKube(new_object())
    run(kube)
    finish(kube, "Complete", "CompletionsReached")
    edited = copy.deepcopy(SPEC)
    edited["template"]["spec"]["containers"][0]["image"] = "t:2"  # a Job cannot take it
    kube.body["spec"] = edited
    kube.body["metadata"]["generation"] = 2
    kube.calls.clear()
    run(kube)
    assert "apply_job" not in kube.writes()
    assert "raise spec.training.run" in condition(kube, "Planned")["message"]

    kube.body["spec"]["training"] = {"run": 2}
    kube.body["metadata"]["generation"] = 3
    kube.calls.clear()
    run(kube)
    created = dict(kube.calls)["apply_job"]
    assert created["metadata"]["name"] == "bert-run2"
    service = dict(kube.calls)["apply_service"]
    assert service["spec"]["selector"] == {"batch.kubernetes.io/job-name": "bert-run2"}


def test_a_deployment_an_earlier_operator_made_for_the_run_is_named_for_deletion() -> None:
    kube = FakeKube(new_object())
    kube.deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "bert",
            "namespace": "ml",
            "ownerReferences": [
                {"kind": "NeuronDeployment", "name": "bert", "uid": "u", "controller": True}
            ],
        },
        "spec": {"replicas": 64},
        "status": {},
    }
    events: list[Event] = []
    reconcile(
        kube,
        copy.deepcopy(kube.body),
        copy.deepcopy(kube.deployment),
        Settings(),
        events.append,
        lambda: "t",
    )
    assert kube.writes() == ["apply_service", "apply_job", "patch_status"]  # never deleted
    planned = condition(kube, "Planned")
    assert planned["status"] == "True"
    assert "kubectl delete deployment bert -n ml" in planned["message"]
