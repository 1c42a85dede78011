"""Autoscaling from the plan (controller/autoscaling.py, and reconcile's writes with a recording
fake): bounds from the budget, the HPA rendered, the replicas handed over to it without ever
dropping the Deployment to the default, and nothing reverted once the HPA scales."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError
from tests.fakes import FakeKube

from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec
from neuron_operator.controller.autoscaling import Bounds, bounds, render_autoscaler
from neuron_operator.controller.reconcile import reconcile
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Event
from neuron_operator.sizing import plan

SERVER = {"spec": {"containers": [{"name": "server", "image": "s:1"}]}}
CNN: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25.6M", "gflopsPerInference": 8.2},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 2},
    "autoscaling": {"metric": {"type": "Pods", "name": "inflight_requests", "target": "4"}},
    "budget": {"maxHourlyCost": 4.0},
    "template": SERVER,
}


def test_max_replicas_default_to_what_the_budget_pays_for() -> None:
    spec = NeuronDeploymentSpec.model_validate(CNN)
    chosen = plan(spec)
    found = bounds(spec, chosen)
    assert isinstance(found, Bounds)
    assert chosen.estimate is not None and chosen.estimate.hourly_cost and chosen.nodes
    node_price = chosen.estimate.hourly_cost / chosen.nodes
    per_node = chosen.replicas_per_node or 1
    assert found.max_replicas == int(4.0 // node_price) * per_node
    # The most replicas fit the budget; one node more would not.
    assert found.hourly_cost is not None and found.hourly_cost.high <= 4.0
    assert found.hourly_cost.high + node_price > 4.0
    assert (found.min_replicas, found.start) == (1, 2)


def test_without_max_replicas_or_budget_the_bound_is_asked_for() -> None:
    spec = copy.deepcopy(CNN)
    del spec["budget"]
    parsed = NeuronDeploymentSpec.model_validate(spec)
    why = bounds(parsed, plan(parsed))
    assert isinstance(why, str) and why.startswith("spec.autoscaling.maxReplicas: set it")
    spec["autoscaling"]["maxReplicas"] = 6
    parsed = NeuronDeploymentSpec.model_validate(spec)
    found = bounds(parsed, plan(parsed))
    assert isinstance(found, Bounds) and found.max_replicas == 6


@pytest.mark.parametrize(
    ("metric", "problem"),
    [
        ({"type": "Pods", "target": "4"}, "needs its name"),
        ({"type": "CPU", "name": "x", "target": "70"}, "name is only for Pods"),
        ({"type": "CPU", "target": "0.7"}, "whole percentage"),
    ],
)
def test_a_metric_that_cannot_work_is_refused_naming_what_to_change(
    metric: dict[str, Any], problem: str
) -> None:
    spec = {**CNN, "autoscaling": {"metric": metric}}
    with pytest.raises(ValidationError, match=problem):
        NeuronDeploymentSpec.model_validate(spec)


def test_the_hpa_scales_the_deployment_on_the_chosen_metric() -> None:
    spec = copy.deepcopy(CNN)
    for metric, expected in (
        (
            {"type": "NeuronCoreUtilization", "target": "700m"},
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "neuroncore_utilization_ratio"},
                    "target": {"type": "AverageValue", "averageValue": "700m"},
                },
            },
        ),
        (
            {"type": "CPU", "target": "70"},
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            },
        ),
    ):
        spec["autoscaling"]["metric"] = metric
        parsed = NeuronDeploymentSpec.model_validate(spec)
        found = bounds(parsed, plan(parsed))
        assert isinstance(found, Bounds) and parsed.autoscaling is not None
        body = {"metadata": {"name": "m", "namespace": "ns", "uid": "u"}}
        hpa = render_autoscaler(body, parsed.autoscaling, found, {"a": "b"})
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "m",
        }
        assert hpa["spec"]["metrics"] == [expected]
        assert hpa["metadata"]["ownerReferences"][0]["uid"] == "u"


# --- the writes ---------------------------------------------------------------------------


def new_object(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "m", "namespace": "ns", "uid": "uid-1", "generation": 1},
        "spec": copy.deepcopy(spec),
    }


def run(kube: FakeKube) -> list[Event]:
    events: list[Event] = []
    reconcile(
        kube,
        copy.deepcopy(kube.body),
        copy.deepcopy(kube.deployment),
        Settings(),
        events.append,
        lambda: "2027-01-15T08:00:00Z",
        autoscaler=copy.deepcopy(kube.autoscaler),
    )
    return events


def owned_by_our_apply(kube: FakeKube) -> None:
    """The Deployment as a non-autoscaled apply of ours leaves it: we own its replicas."""
    assert kube.deployment is not None
    kube.deployment["metadata"]["managedFields"] = [
        {
            "manager": Settings().field_manager,
            "operation": "Apply",
            "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
        }
    ]


def test_a_new_autoscaled_object_starts_the_hpa_from_the_plans_replicas() -> None:
    kube = FakeKube(new_object(CNN))
    events = run(kube)
    applied = dict(kube.calls)["apply_deployment"]
    assert "replicas" not in applied["spec"], "our apply must leave the replicas to the HPA"
    assert kube.writes() == [
        "apply_deployment",
        "seed_replicas",
        "apply_autoscaler",
        "patch_status",
    ]
    assert dict(kube.calls)["seed_replicas"] == 2
    assert kube.autoscaler is not None
    assert kube.autoscaler["spec"]["minReplicas"] == 1
    status = kube.body["status"]["autoscaling"]
    assert (status["startingReplicas"], status["metric"]) == (2, "inflight_requests at 4 per pod")
    assert status["hourlyCost"]["low"] < status["hourlyCost"]["high"] <= 4.0
    assert "AutoscalerApplied" in [e.reason for e in events]

    # The HPA scales the Deployment through its scale subresource: nothing is reverted.
    assert kube.deployment is not None
    kube.deployment["spec"]["replicas"] = 5
    kube.calls.clear()
    run(kube)
    assert [w for w in kube.writes() if w != "patch_status"] == []
    assert kube.deployment["spec"]["replicas"] == 5
    assert kube.body["status"]["readySummary"].endswith("/5")


def test_turning_autoscaling_on_hands_the_replicas_over_before_letting_go() -> None:
    plain = copy.deepcopy(CNN)
    del plain["autoscaling"]
    kube = FakeKube(new_object(plain))
    run(kube)
    owned_by_our_apply(kube)
    kube.body["spec"] = copy.deepcopy(CNN)
    kube.body["metadata"]["generation"] = 2
    kube.calls.clear()
    run(kube)
    # Seeded first: an apply without the field would otherwise remove it (1 replica).
    assert kube.writes()[:2] == ["seed_replicas", "apply_deployment"]
    assert "apply_autoscaler" in kube.writes()

    # And off again: our apply takes the replicas back, and the HPA goes.
    kube.body["spec"] = copy.deepcopy(plain)
    kube.body["metadata"]["generation"] = 3
    kube.calls.clear()
    events = run(kube)
    assert dict(kube.calls)["apply_deployment"]["spec"]["replicas"] == 2
    assert "delete_autoscaler" in kube.writes() and kube.autoscaler is None
    assert "AutoscalerDeleted" in [e.reason for e in events]
    assert "autoscaling" not in kube.body["status"]


def test_an_unbounded_autoscaling_spec_is_refused_and_the_workload_kept() -> None:
    kube = FakeKube(new_object({k: v for k, v in CNN.items() if k != "autoscaling"}))
    run(kube)
    unbounded = copy.deepcopy(CNN)
    del unbounded["budget"]
    kube.body["spec"] = unbounded
    kube.body["metadata"]["generation"] = 2
    kube.calls.clear()
    run(kube)
    assert kube.writes() == ["patch_status"]
    planned = next(c for c in kube.body["status"]["conditions"] if c["type"] == "Planned")
    assert planned["reason"] == "AutoscalingNotBounded"
    assert "spec.autoscaling.maxReplicas" in planned["message"]
