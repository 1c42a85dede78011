"""The reconcile's pure decisions, and the drift comparison."""

from __future__ import annotations

import copy
from typing import Any

from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec
from neuron_operator.controller import reconcile as reconcile_module
from neuron_operator.controller.reconcile import contiguity, decide, matches, plan_cached
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Verdict, compute_status, status_document
from neuron_operator.sizing import plan
from neuron_operator.sizing.capacity import Capacity, NodeCapacity

SERVER = {"spec": {"containers": [{"name": "server", "image": "s:1"}]}}
SPEC: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25M"},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 1},
    "template": SERVER,
}


def body(
    spec: dict[str, Any], status: dict[str, Any] | None = None, generation: int = 2
) -> dict[str, Any]:
    return {
        "metadata": {"name": "r", "namespace": "ns", "uid": "u", "generation": generation},
        "spec": spec,
        "status": status or {},
    }


def test_a_feasible_spec_yields_the_deployment_to_apply() -> None:
    decision = decide(body(SPEC), NeuronDeploymentStatus(), Settings())
    assert decision.verdict.planned
    assert decision.desired is not None
    assert decision.plan_in_effect == plan(SPEC)


def running_status() -> dict[str, Any]:
    """SPEC's status as generation 1 left it (the tests' bodies are at generation 2)."""
    status = compute_status(
        body(SPEC, generation=1),
        NeuronDeploymentStatus(),
        Verdict(True, "Planned", "ok"),
        plan(SPEC),
        None,
        "t",
    )
    return status_document(status)


def test_an_infeasible_edit_keeps_the_running_plan_and_applies_nothing() -> None:
    spec = copy.deepcopy(SPEC)
    spec["overrides"]["instanceType"] = "inf2.96xlarge"
    decision = decide(
        body(spec, running_status()),
        NeuronDeploymentStatus.model_validate(running_status()),
        Settings(),
    )
    assert decision.desired is None
    assert not decision.verdict.planned
    assert decision.verdict.reason == "UnknownInstanceType"
    assert decision.plan_in_effect == plan(SPEC).record()  # as the status keeps it
    assert "spec generation 2 not applied" in decision.verdict.message


def test_invalid_and_refused_specs_are_conditions_not_exceptions() -> None:
    invalid = decide(
        body({"model": {"family": "cnn", "parameters": "7Q"}}), NeuronDeploymentStatus(), Settings()
    )
    assert (invalid.verdict.planned, invalid.verdict.reason) == (False, "InvalidSpec")
    assert "spec.model.parameters" in invalid.verdict.message
    refused = copy.deepcopy(SPEC)
    refused["template"] = {"spec": {"hostNetwork": True, "containers": [{"name": "s"}]}}
    decision = decide(body(refused), NeuronDeploymentStatus(), Settings())
    assert (decision.verdict.reason, decision.desired) == ("TemplateNotAllowed", None)


def test_matches_ignores_defaults_and_compares_quantities_by_value() -> None:
    desired = {
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "s", "resources": {"limits": {"memory": "2048Mi", "cpu": "1000m"}}}
                    ]
                }
            },
        }
    }
    actual = {
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 600,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sidecar"},
                        {
                            "name": "s",
                            "imagePullPolicy": "IfNotPresent",
                            "resources": {"limits": {"memory": "2Gi", "cpu": "1"}},
                        },
                    ]
                }
            },
        }
    }
    assert matches(actual, desired)
    drifted = copy.deepcopy(actual)
    drifted["spec"]["replicas"] = 5
    assert not matches(drifted, desired)
    assert not matches(None, desired)
    assert not matches(
        {
            "spec": {
                "replicas": 2,
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "s", "resources": {"limits": {"memory": "3Gi", "cpu": "1"}}}
                        ]
                    }
                },
            }
        },
        desired,
    )


def test_a_plan_needing_side_by_side_cores_says_whether_they_will_be_placed_so() -> None:
    spread = copy.deepcopy(SPEC)
    spread["overrides"] = {"instanceType": "inf2.48xlarge", "coresPerReplica": 4, "replicas": 1}
    for scheduler, status, reason in (
        (None, "False", "NoNeuronScheduler"),
        ("neuron-scheduler", "True", "NeuronScheduler"),
    ):
        decision = decide(
            body(spread), NeuronDeploymentStatus(), Settings(scheduler_name=scheduler)
        )
        assert decision.plan_in_effect is not None
        found = compute_status(
            body(spread),
            NeuronDeploymentStatus(),
            decision.verdict,
            decision.plan_in_effect,
            None,
            "t",
            contiguity=contiguity(decision.plan_in_effect, scheduler),
        )
        (condition,) = [c for c in found.conditions if c.type == "ContiguousCores"]
        assert (condition.status, condition.reason) == (status, reason)
        assert "4 aws.amazon.com/neuroncore on inf2.48xlarge" in condition.message
    # One core, or a whole node, needs no placing: no condition at all.
    single = decide(body(SPEC), NeuronDeploymentStatus(), Settings())
    assert single.plan_in_effect is not None
    assert contiguity(single.plan_in_effect, None) is None


def test_plans_against_one_reading_of_the_cluster_are_made_once_per_spec() -> None:
    """Objects of one spec created at once are planned against the same capacity reading:
    the plan is made once. A reading that differs (a node's free cores) plans again, and
    gives the plan the engine gives for it."""
    spec = NeuronDeploymentSpec.model_validate(
        {"model": {"family": "cnn", "parameters": "25M"}, "template": {}}
    )

    def reading(free_cores: int) -> Capacity:
        return Capacity((NodeCapacity("n1", "inf2.xlarge", free_cores, 1),))

    reconcile_module._plan_against.cache_clear()
    first = plan_cached(spec, None, True, reading(2))
    again = plan_cached(spec, None, True, reading(2))  # an equal reading, rebuilt
    assert again is first
    assert reconcile_module._plan_against.cache_info().misses == 1
    fuller = plan_cached(spec, None, True, reading(0))
    assert reconcile_module._plan_against.cache_info().misses == 2
    assert fuller == plan(spec.model_dump(by_alias=True), None, reading(0))
    assert first == plan(spec.model_dump(by_alias=True), None, reading(2))
