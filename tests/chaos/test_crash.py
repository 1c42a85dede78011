"""F1: the operator killed mid-reconcile, at each crash point, then started again."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from tests.chaos.common import all_converged, deployment_count, model, owned_deployments
from tests.chaos.harness import MemoryLimit
from tests.kube import create_ndep, neurondeployment, patch_ndep_spec, wait_until

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


@pytest.mark.slow
def test_f1_random_kills_while_objects_churn(kube: Any, chaos: Any, record: Any) -> None:
    """100 SIGKILLs at random moments while 300 objects are created and edited."""
    names = [f"m{i}" for i in range(300)]
    stop = threading.Event()
    edits = [0]

    def churn() -> None:
        chooser = random.Random(7)
        while not stop.is_set():
            name = chooser.choice(names)
            try:
                patch_ndep_spec(kube, chaos.namespace, name, model(replicas=chooser.randint(1, 3)))
                edits[0] += 1
            except ApiException:
                pass  # not created yet
            time.sleep(0.05)

    chaos.start()
    for name in names:
        create_ndep(kube, chaos.namespace, neurondeployment(name, model()))
    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    killer = random.Random(11)
    try:
        for _ in range(100):
            time.sleep(killer.uniform(0.5, 4.0))
            chaos.kill()
            chaos.start()
    finally:
        stop.set()
        worker.join(10)
    restarted = time.monotonic()
    all_converged(kube, chaos.namespace, names, timeout=120)
    converge = time.monotonic() - restarted
    assert deployment_count(kube, chaos.namespace) == len(names)
    assert converge <= 60, f"converged {converge:.0f} s after the last restart"
    record(
        "F1-random",
        injection=f"100 SIGKILLs at random 0.5-4 s intervals while 300 objects churn "
        f"({edits[0]} edits)",
        promise="no duplicate Deployment; converged ≤ 60 s after the last restart",
        converge_seconds=round(converge, 1),
        deployments=deployment_count(kube, chaos.namespace),
        lost=0,
        slow=True,
    )


OOM_HEADROOM = 8 * 2**20  # above what the cgroup holds at the start: a burst goes over it
CHART_LIMIT = 512 * 2**20  # the chart's resources.limits.memory
BURST = 300


@pytest.mark.slow
def test_f15_oom_killed_by_its_memory_limit_then_converges(
    kube: Any, chaos: Any, record: Any
) -> None:
    """The operator in a memory cgroup of its own, limited to 8 MiB more than the cgroup holds
    once it is in; a burst of objects takes it over the limit and the kernel OOM-kills it.
    Restarted under the chart's limit, it converges."""
    operator = chaos.start()
    cgroup = MemoryLimit(operator.process.pid, f"neuron-f15-{operator.process.pid}")
    limit = cgroup.usage() + OOM_HEADROOM
    cgroup.limit(limit)
    names = [f"m{i}" for i in range(BURST)]
    try:
        for name in names:
            create_ndep(kube, chaos.namespace, neurondeployment(name, model()))
        wait_until("the kernel to OOM-kill the operator", lambda: not operator.alive(), 120)
        assert operator.process.returncode == -9, "killed by SIGKILL (the OOM killer)"
        kills = cgroup.oom_kills()
        assert kills >= 1, "the kernel counted an OOM kill"
    finally:
        cgroup.remove()
    restarted = time.monotonic()
    operator = chaos.start()
    chart_limit = MemoryLimit(operator.process.pid, f"neuron-f15b-{operator.process.pid}")
    chart_limit.limit(CHART_LIMIT)
    try:
        seconds = all_converged(kube, chaos.namespace, names, timeout=60)
        converge = time.monotonic() - restarted
        assert operator.alive() and chart_limit.oom_kills() == 0
    finally:
        chaos.kill()  # its cgroup goes only with it
        chart_limit.remove()
    assert deployment_count(kube, chaos.namespace) == len(names), "no duplicate, none missing"
    record(
        "F15",
        injection=(
            f"the operator moved into a memory cgroup limited to 8 MiB over its charge there "
            f"({limit / 2**20:.0f} MiB); {BURST} objects created at once; restarted under "
            "the chart's 512 MiB"
        ),
        promise="restart and converge ≤ 60 s after Ready; no duplicates",
        oom_kills=kills,
        converge_seconds=round(converge, 1),
        wait_seconds=round(seconds, 1),
        deployments=deployment_count(kube, chaos.namespace),
        lost=0,
    )
