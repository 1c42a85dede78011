"""Which NeuronDeployment events ask for a reconcile (issue 15): the handlers are kopf event
handlers, so the echo of the operator's own status write must not start another."""

from __future__ import annotations

from typing import Any

import pytest

from neuron_operator.controller.fallback import RETRY_PREFERRED
from neuron_operator.controller.handlers import reconcile_owed
from neuron_operator.controller.recompile import ACKNOWLEDGED


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
