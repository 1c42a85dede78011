"""Which events ask for a reconcile (issue 15): the handlers are kopf event handlers, so the
echo of the operator's own writes (its status, its Deployment) must not start another."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest

from neuron_operator.controller.fallback import RETRY_PREFERRED
from neuron_operator.controller.handlers import (
    NoDiffBase,
    managed_child_changed,
    only_event_handlers,
    reconcile_owed,
)
from neuron_operator.controller.recompile import ACKNOWLEDGED
from neuron_operator.controller.run import HandlerSuccesses
from neuron_operator.controller.runtime import Runtime
from neuron_operator.controller.settings import Settings


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


def test_kopf_builds_no_diff_base_because_no_handler_diffs() -> None:
    """NoDiffBase (no deep copy of each body per event) holds only while every handler of
    the operator is an event handler."""
    assert only_event_handlers(kopf.get_default_registry())
    registry = kopf.OperatorRegistry()

    @kopf.on.update("neuron.dev", "v1alpha1", "neurondeployments", registry=registry)
    def diffing(**_: Any) -> None:
        pass

    assert not only_event_handlers(registry)
    essence = NoDiffBase().build(body=kopf.Body({"spec": {"a": 1}}))
    assert essence == {}


def test_kopf_success_lines_are_dropped_and_everything_else_kept() -> None:
    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)

    keep = HandlerSuccesses().filter
    assert not keep(record(logging.INFO, "Handler 'managed_child_changed' succeeded."))
    assert keep(record(logging.ERROR, "Handler 'managed_child_changed' failed with an exception"))
    assert keep(record(logging.INFO, "Normal DeploymentCreated: Deployment m created"))
    assert keep(record(logging.WARNING, "Handler 'x' succeeded."))


def child(version: str) -> dict[str, Any]:
    owner = {"kind": "NeuronDeployment", "name": "m", "controller": True, "uid": "u"}
    metadata = {"name": "m", "namespace": "n", "resourceVersion": version}
    return {"kind": "Deployment", "metadata": {**metadata, "ownerReferences": [owner]}}


def test_a_child_as_our_own_write_left_it_reconciles_nothing_and_any_other_version_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = Runtime(Settings())
    reconciled: list[str] = []
    monkeypatch.setattr(runtime, "enqueue", lambda namespace, name: reconciled.append(name))
    memo = kopf.Memo(runtime=runtime)
    logger = logging.getLogger("test")

    handler: Any = managed_child_changed  # kopf's decorator types it as kopf calls it

    def event(kind: str, body: Any) -> None:
        handler(type=kind, name="m", namespace="n", body=kopf.Body(body), logger=logger, memo=memo)

    runtime.written(child("5"))
    event("ADDED", child("5"))  # the echo of our apply
    assert reconciled == []
    event("MODIFIED", child("6"))  # the Deployment controller's status update
    assert reconciled == ["m"]
    event("DELETED", child("6"))
    assert reconciled == ["m", "m"]
