"""What each watch event asks of the operator (controller/watches.py, issue 15): the echo of
its own writes (its status, its Deployment) starts no reconcile, anything else reconciles the
owner, and a standby replica records what it sees but reconciles nothing until it takes over."""

from __future__ import annotations

from typing import Any

import pytest

from neuron_operator.controller.fallback import RETRY_PREFERRED
from neuron_operator.controller.recompile import ACKNOWLEDGED
from neuron_operator.controller.runtime import Runtime
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.watches import child_event, neurondeployment_event, reconcile_owed


def body(generation: int, observed: int | None, **status: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"metadata": {"name": "m", "namespace": "n", "generation": generation}}
    if observed is not None:
        found["status"] = {"observedGeneration": observed, **status}
    return found


@pytest.mark.parametrize("kind", [None, "ADDED"])
def test_found_at_start_or_created_is_reconciled(kind: str | None) -> None:
    assert reconcile_owed(kind, body(3, 3))


def test_the_echo_of_our_own_status_write_is_not() -> None:
    assert not reconcile_owed("MODIFIED", body(2, 2))


def test_a_spec_change_is() -> None:
    assert reconcile_owed("MODIFIED", body(3, 2))
    assert reconcile_owed("MODIFIED", body(1, None))  # never reconciled yet


def test_the_annotations_the_operator_acts_on_are() -> None:
    asked = body(2, 2, placement={"retryPreferred": None, "tried": []})
    asked["metadata"]["annotations"] = {RETRY_PREFERRED: "now"}
    assert reconcile_owed("MODIFIED", asked)
    held = body(
        2,
        2,
        conditions=[{"type": "Planned", "status": "False", "reason": "RecompileRequired"}],
    )
    assert not reconcile_owed("MODIFIED", held)
    held["metadata"]["annotations"] = {ACKNOWLEDGED: "shape-1"}
    assert reconcile_owed("MODIFIED", held)


def child(version: str) -> dict[str, Any]:
    owner = {"kind": "NeuronDeployment", "name": "m", "controller": True, "uid": "u"}
    metadata = {"name": "m", "namespace": "n", "resourceVersion": version}
    return {"kind": "Deployment", "metadata": {**metadata, "ownerReferences": [owner]}}


def recording(settings: Settings) -> tuple[Runtime, list[str]]:
    runtime = Runtime(settings)
    reconciled: list[str] = []
    runtime.enqueue = lambda namespace, name: reconciled.append(name)  # type: ignore[method-assign]
    return runtime, reconciled


def test_a_child_as_our_own_write_left_it_reconciles_nothing_and_any_other_version_does() -> None:
    runtime, reconciled = recording(Settings())
    runtime.written(child("5"))
    child_event(runtime, "ADDED", child("5"))  # the echo of our apply
    assert reconciled == []
    child_event(runtime, "MODIFIED", child("6"))  # the Deployment controller's status update
    assert reconciled == ["m"]
    child_event(runtime, "DELETED", child("6"))
    assert reconciled == ["m", "m"]
    assert runtime.deployments.get("n", "m") == (True, None)  # seen deleted


def test_a_deployment_not_ours_in_the_way_of_a_neurondeployment_is_its_news() -> None:
    runtime, reconciled = recording(Settings())
    neurondeployment_event(runtime, None, nd("3", generation=1, observed=1))
    reconciled.clear()
    stranger: dict[str, Any] = {
        "kind": "Deployment",
        "metadata": {"name": "m", "namespace": "n", "resourceVersion": "9"},
    }
    child_event(runtime, "DELETED", stranger)
    assert reconciled == ["m"]
    child_event(
        runtime, "MODIFIED", {**stranger, "metadata": {**stranger["metadata"], "name": "x"}}
    )
    assert reconciled == ["m"]  # in nobody's way


def nd(version: str, generation: int = 1, observed: int | None = None) -> dict[str, Any]:
    found = body(generation, observed)
    found["metadata"]["resourceVersion"] = version
    return {**found, "kind": "NeuronDeployment"}


def test_a_standby_replica_records_events_and_reconciles_them_once_it_takes_over() -> None:
    runtime, reconciled = recording(Settings(peering="neuron-operator"))
    neurondeployment_event(runtime, None, nd("3"))  # kopf starts a replica paused: not yet known
    runtime.switched(False)
    neurondeployment_event(runtime, "MODIFIED", nd("4", generation=2, observed=1))
    child_event(runtime, "MODIFIED", child("8"))
    assert reconciled == []
    assert runtime.neurondeployments.get("n", "m")[1]["metadata"]["resourceVersion"] == "4"  # type: ignore[index]
    assert runtime.deployments.get("n", "m")[1] is not None

    runtime.switched(True)
    assert reconciled == ["m"]  # everything the watches hold, once
    neurondeployment_event(runtime, "MODIFIED", nd("5", generation=3, observed=1))
    assert reconciled == ["m", "m"]


def test_standalone_every_owed_event_is_reconciled_and_no_sweep_repeats_them() -> None:
    runtime, reconciled = recording(Settings())
    neurondeployment_event(runtime, None, nd("3"))
    assert reconciled == ["m"]
    runtime.switched(True)  # the resync's first look: standalone is always at work
    assert reconciled == ["m"]


def test_a_deleted_neurondeployment_is_forgotten_and_not_reconciled() -> None:
    runtime, reconciled = recording(Settings())
    runtime.failures[("n", "m")] = 3
    neurondeployment_event(runtime, "DELETED", nd("6"))
    assert reconciled == [] and ("n", "m") not in runtime.failures
    assert runtime.neurondeployments.get("n", "m") == (True, None)
