"""F11's remedy, without a cluster: reverts of someone else's changes are spaced, and the
object names who is fighting."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from tests.fakes import FakeKube

from neuron_operator.api.reasons import ReasonCode
from neuron_operator.controller.drift import DriftGuard, other_writers
from neuron_operator.controller.errors import TransientError
from neuron_operator.controller.reconcile import reconcile
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Event

SPEC: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25M"},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 1},
    "template": {"spec": {"containers": [{"name": "server", "image": "s:1"}]}},
}


def new_kube() -> FakeKube:
    body = {
        "metadata": {"name": "m", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": copy.deepcopy(SPEC),
    }
    return FakeKube(body)


def run(kube: FakeKube, guard: DriftGuard, at: float) -> list[Event]:
    events: list[Event] = []
    reconcile(
        kube, copy.deepcopy(kube.body), kube.deployment, Settings(), events.append, lambda: "t",
        drift=guard, at=at,
    )  # fmt: skip
    return events


def hostile_edit(kube: FakeKube, replicas: int) -> None:
    assert kube.deployment is not None
    kube.deployment["spec"]["replicas"] = replicas
    kube.deployment["metadata"]["managedFields"] = [
        {"manager": "neuron-operator", "operation": "Apply", "time": "2026-11-29T00:00:00Z"},
        {"manager": "rival", "operation": "Update", "time": "2026-11-29T00:00:05Z", "spec": True},
    ]
    kube.calls.clear()


def degraded(kube: FakeKube) -> dict[str, Any]:
    found = [c for c in kube.body["status"]["conditions"] if c["type"] == "Degraded"]
    return dict(found[0]) if found else {}


def test_the_first_revert_is_immediate_and_later_ones_are_spaced() -> None:
    kube, guard = new_kube(), DriftGuard()
    run(kube, guard, at=0)
    hostile_edit(kube, 5)
    run(kube, guard, at=1)
    assert kube.writes() == ["apply_deployment"], "a one-off change is reverted at once"
    assert degraded(kube) == {}, "one revert is not a fight"
    hostile_edit(kube, 6)
    with pytest.raises(TransientError) as held:
        run(kube, guard, at=2)
    assert kube.writes() == ["patch_status"], "no revert within 10 s of the last one"
    assert held.value.retry_after == pytest.approx(9)
    condition = degraded(kube)
    assert (condition["status"], condition["reason"]) == ("True", ReasonCode.EXTERNAL_MODIFICATION)
    assert condition["message"].startswith("rival keeps changing fields")
    kube.calls.clear()
    with pytest.raises(TransientError):
        run(kube, guard, at=5)
    assert kube.calls == [], "held back again: nothing new to write"
    run(kube, guard, at=11)
    assert kube.writes() == ["apply_deployment", "patch_status"]
    assert "at most once every 20 s" in degraded(kube)["message"]


def test_a_new_plan_is_applied_at_once_whatever_the_fight() -> None:
    kube, guard = new_kube(), DriftGuard()
    run(kube, guard, at=0)
    for at in (1, 2):
        hostile_edit(kube, 5)
        with contextlib.suppress(TransientError):
            run(kube, guard, at=at)
    kube.body["spec"]["overrides"]["replicas"] = 2
    kube.body["metadata"]["generation"] = 2
    kube.calls.clear()
    run(kube, guard, at=3)
    assert kube.writes()[0] == "apply_deployment"
    assert kube.deployment is not None and kube.deployment["spec"]["replicas"] == 2


def test_a_fight_is_over_two_minutes_after_the_last_revert() -> None:
    guard = DriftGuard()
    key = ("ns", "m")
    for at in (0, 10, 30):
        assert guard.wait(key, at) == 0
        guard.reverted(key, at)
    assert guard.wait(key, 31) == pytest.approx(39)  # 40 s after the third revert
    assert guard.rounds(key, 149) == 3
    assert guard.wait(key, 150) == 0 and guard.rounds(key, 150) == 0


def test_other_writers_are_named_newest_first_without_us_or_status_writers() -> None:
    deployment = {
        "metadata": {
            "managedFields": [
                {"manager": "neuron-operator", "time": "3", "spec": True},
                {"manager": "old-rival", "time": "1", "spec": True},
                {"manager": "kube-controller-manager", "time": "4", "subresource": "status"},
                {"manager": "labeller", "time": "5", "spec": False},
                {"manager": "rival", "time": "2", "spec": True},
            ]
        }
    }
    assert other_writers(deployment, "neuron-operator") == ["rival", "old-rival"]
