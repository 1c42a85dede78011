"""Which events ask for a reconcile (issue 15): the handlers are kopf event handlers, so the
echo of the operator's own writes (its status, its Deployment) must not start another."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest

from neuron_operator.controller.fallback import RETRY_PREFERRED
from neuron_operator.controller.handlers import (
    NoDiffBase,
    NoProgress,
    managed_child_changed,
    only_event_handlers,
    reconcile_owed,
)
from neuron_operator.controller.recompile import ACKNOWLEDGED
from neuron_operator.controller.run import quieten_kopf_objects
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
    # No progress is fetched or written: none of kopf's annotations on the object.
    progress, patch = NoProgress(), kopf.Patch()
    body = kopf.Body({"metadata": {"annotations": {"kopf.zalando.org/x": "{}"}}})
    assert progress.fetch(key="x", body=body) is None
    progress.touch(body=body, patch=patch, value="1")
    progress.purge(key="x", body=body, patch=patch)
    assert not patch
    kept = kopf.BodyEssence({"metadata": {"annotations": {"a": "b"}}})
    assert progress.clear(essence=kept) is kept


def test_kopf_object_lines_below_warning_are_not_built_and_ours_are_kept() -> None:
    objects, ours = logging.getLogger("kopf.objects"), logging.getLogger("neuron_operator")
    before = objects.level
    try:
        quieten_kopf_objects()
        assert not objects.isEnabledFor(logging.INFO)  # "Handler '…' succeeded."
        assert objects.isEnabledFor(logging.WARNING)
        assert objects.isEnabledFor(logging.ERROR)  # "Handler '…' failed with an exception"
        # Our lines (events included) follow the root's level, INFO once kopf configures it.
        assert ours.getEffectiveLevel() == logging.getLogger().getEffectiveLevel()
    finally:
        objects.setLevel(before)


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
        asyncio.run(
            handler(
                type=kind, name="m", namespace="n", body=kopf.Body(body), logger=logger, memo=memo
            )
        )

    runtime.written(child("5"))
    event("ADDED", child("5"))  # the echo of our apply
    assert reconciled == []
    event("MODIFIED", child("6"))  # the Deployment controller's status update
    assert reconciled == ["m"]
    event("DELETED", child("6"))
    assert reconciled == ["m", "m"]
