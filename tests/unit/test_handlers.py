"""kopf's part (issue 15): event handlers only, so kopf keeps no diff base or progress of its
own, and says nothing below a warning about each object; its watches of the rarer children
lead to the same owner's reconcile as the operator's own watches."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest

from neuron_operator.controller.handlers import (
    NoDiffBase,
    NoProgress,
    managed_child_changed,
    only_event_handlers,
)
from neuron_operator.controller.run import quieten_kopf_objects
from neuron_operator.controller.runtime import Runtime
from neuron_operator.controller.settings import Settings


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


def test_kopfs_watch_of_an_autoscaler_reconciles_its_owner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = Runtime(Settings())
    reconciled: list[str] = []
    monkeypatch.setattr(runtime, "enqueue", lambda namespace, name: reconciled.append(name))
    owner = {"kind": "NeuronDeployment", "name": "m", "controller": True, "uid": "u"}
    autoscaler: Any = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "m",
            "namespace": "n",
            "resourceVersion": "7",
            "ownerReferences": [owner],
        },
    }
    handler: Any = managed_child_changed  # kopf's decorator types it as kopf calls it
    memo = kopf.Memo(runtime=runtime)
    asyncio.run(handler(type="MODIFIED", body=kopf.Body(autoscaler), memo=memo))
    assert reconciled == ["m"]
    assert runtime.autoscalers.get("n", "m")[1] is not None
