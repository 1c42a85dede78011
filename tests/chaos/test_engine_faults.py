"""F14: the sizing engine made slow or failing for some objects (NEURON_OPERATOR_ENGINE_FAULT,
test-only). The others are planned as fast as without it, and no partial Deployment appears."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.chaos.common import (
    all_converged,
    deployment_count,
    model,
    owned_deployments,
    problem,
    with_reason,
)
from tests.kube import create_ndep, neurondeployment, wait_until

SLOW_OBJECTS = [f"slow-{i}" for i in range(3)]
OTHERS = [f"m{i}" for i in range(5)]


def latency(kube: Any, namespace: str, name: str) -> float:
    """Seconds from creating the object to its plan running as one Deployment."""
    created = time.monotonic()
    create_ndep(kube, namespace, neurondeployment(name, model()))
    wait_until(f"{name} to converge", lambda: problem(kube, namespace, name) is None, timeout=60)
    return time.monotonic() - created


@pytest.mark.parametrize(
    "slow",  # seconds the engine takes for each slow object
    [pytest.param(8.0, id="8s"), pytest.param(120.0, id="2min", marks=pytest.mark.slow)],
)
def test_f14_a_slow_engine_holds_up_no_other_object(
    kube: Any, chaos: Any, record: Any, slow: float
) -> None:
    chaos.start(env={"NEURON_OPERATOR_ENGINE_FAULT": f"slow={slow:.0f}:slow-"})
    baseline = latency(kube, chaos.namespace, "alone")
    began = time.monotonic()
    for name in SLOW_OBJECTS:
        create_ndep(kube, chaos.namespace, neurondeployment(name, model()))
    time.sleep(1)  # the slow plans are under way
    during = [latency(kube, chaos.namespace, name) for name in OTHERS]
    assert time.monotonic() - began < slow, "the others were measured while the engine was slow"
    partial = [n for n in SLOW_OBJECTS if owned_deployments(kube, chaos.namespace, n)]
    assert partial == [], "a Deployment appeared before its plan was made"
    all_converged(kube, chaos.namespace, SLOW_OBJECTS, timeout=slow + 60)
    slow_done = time.monotonic() - began
    assert chaos.operator.alive() and chaos.restarts == 0
    assert deployment_count(kube, chaos.namespace) == 1 + len(SLOW_OBJECTS) + len(OTHERS)
    assert max(during) <= baseline + 3, f"others took {max(during):.1f} s, alone {baseline:.1f} s"
    record(
        "F14-slow",
        injection=(
            f"the engine {slow:.0f} s slower for {len(SLOW_OBJECTS)} objects; "
            f"{len(OTHERS)} others created meanwhile"
        ),
        promise="the others' latency unaffected; no partial Deployment",
        others_max_seconds=round(max(during), 1),
        alone_seconds=round(baseline, 1),
        slow_converged_seconds=round(slow_done, 1),
        partial_deployments=0,
        restarts=chaos.restarts,
        lost=0,
        slow=slow > 8,
    )


def test_f14_a_failing_engine_is_a_condition_and_others_run(
    kube: Any, chaos: Any, record: Any
) -> None:
    chaos.start(env={"NEURON_OPERATOR_ENGINE_FAULT": "raise:bad-"})
    create_ndep(kube, chaos.namespace, neurondeployment("bad-0", model()))
    seconds = latency(kube, chaos.namespace, "m0")
    planned = wait_until(
        "bad-0 to say the engine failed",
        lambda: with_reason(kube, chaos.namespace, "bad-0", "Planned", "SizingFailed"),
        timeout=30,
    )
    assert "EngineFaultInjected" in planned["message"]
    assert owned_deployments(kube, chaos.namespace, "bad-0") == []
    assert chaos.operator.alive() and chaos.restarts == 0
    record(
        "B11",
        injection="the engine raising for one object (NEURON_OPERATOR_ENGINE_FAULT, test-only)",
        promise="Planned=False with the reason; no Deployment; 0 restarts",
        outcome=planned["message"][:160],
        restarts=chaos.restarts,
        lost=0,
    )
    record(
        "F14-raising",
        injection="the engine raising for one object; another created beside it",
        promise="Planned=False SizingFailed, no Deployment for it; the other runs",
        other_seconds=round(seconds, 1),
        reason=planned["reason"],
        restarts=chaos.restarts,
        lost=0,
    )
