"""F1: the operator killed mid-reconcile, at each crash point, then started again."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.chaos.common import all_converged, deployment_count, model, owned_deployments
from tests.kube import create_ndep, neurondeployment, wait_until

from neuron_operator.controller.crashpoints import CRASH_POINTS


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_kill_at_each_crash_point_converges_after_restart_without_duplicates(
    kube: Any, chaos: Any, record: Any, point: str
) -> None:
    operator = chaos.start(crash_at=point)
    create_ndep(kube, chaos.namespace, neurondeployment("m", model()))
    wait_until(f"the operator to die at {point}", lambda: not operator.alive(), timeout=60)
    assert operator.process.returncode == -9, "killed by SIGKILL at the crash point"
    assert f"crash point {point} reached" in chaos.log.read_text()
    restarted = time.monotonic()
    chaos.start()
    seconds = all_converged(kube, chaos.namespace, ["m"], timeout=60)
    restart_to_converged = time.monotonic() - restarted
    assert len(owned_deployments(kube, chaos.namespace, "m")) == 1
    assert deployment_count(kube, chaos.namespace) == 1
    record(
        f"F1-{point}",
        injection=f"SIGKILL at crash point {point} (NEURON_OPERATOR_CRASH_AT)",
        promise="no duplicate Deployment; converged ≤ 60 s after restart",
        converge_seconds=round(restart_to_converged, 1),
        deployments=deployment_count(kube, chaos.namespace),
        lost=0,
        wait_seconds=round(seconds, 1),
    )
