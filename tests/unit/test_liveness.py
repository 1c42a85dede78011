"""The liveness probe fails when a write of the operator's has not come back on its watch."""

from __future__ import annotations

import time

import kopf
import pytest

from neuron_operator.controller import handlers
from neuron_operator.controller.runtime import Runtime
from neuron_operator.controller.settings import Settings


def deployment(version: str) -> dict[str, object]:
    metadata = {"namespace": "ml", "name": "liveness-probe", "resourceVersion": version}
    return {"kind": "Deployment", "metadata": metadata}


def test_probe_passes_while_writes_come_back_and_fails_when_one_does_not() -> None:
    runtime = handlers.runtime_of(kopf.Memo(runtime=Runtime(Settings(watch_stall_seconds=60))))
    assert runtime.watch_lag_within_limit() < 60
    runtime.deployments.wrote(deployment("7"), at=time.monotonic() - 61)
    with pytest.raises(kopf.PermanentError, match="has not come back on its watch"):
        runtime.watch_lag_within_limit()
    runtime.deployments.observe(deployment("7"))  # the watch delivers it after all
    assert runtime.watch_lag_within_limit() < 60


def test_a_standby_replica_still_owes_its_writes_to_its_own_watches() -> None:
    """The watches of NeuronDeployments and Deployments run on a standby too (it takes over
    with what they delivered): one that stopped delivering fails the probe there as well."""
    runtime = Runtime(Settings(watch_stall_seconds=60, peering="neuron-operator"))
    runtime.deployments.wrote(deployment("7"), at=time.monotonic() - 61)
    runtime.switched(True)
    runtime.switched(False)
    with pytest.raises(kopf.PermanentError, match="has not come back on its watch"):
        runtime.watch_lag_within_limit()


def test_each_runtime_keeps_its_own_state() -> None:
    first, second = Runtime(Settings()), Runtime(Settings())
    first.written(deployment("3"))
    assert first.deployments.get("ml", "liveness-probe")[0]
    assert not second.deployments.get("ml", "liveness-probe")[0]


def test_a_replica_that_pauses_or_resumes_forgets_what_kopfs_watches_told_it() -> None:
    """kopf pauses its watches (HPAs, Jobs, LeaderWorkerSets) on a standby: what they stored
    stops being news. The operator's own watches keep running: their stores stay."""
    runtime = Runtime(Settings(peering="neuron-operator"))
    runtime.switched(True)  # the first look: the stores were filled by this very run
    runtime.written(deployment("3"))
    runtime.written({**deployment("4"), "kind": "HorizontalPodAutoscaler"})
    runtime.switched(False)
    assert runtime.deployments.get("ml", "liveness-probe")[0]
    assert not runtime.autoscalers.get("ml", "liveness-probe")[0]
