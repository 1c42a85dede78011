"""The liveness probe fails when a write of the operator's has not come back on its watch."""

from __future__ import annotations

import time

import kopf
import pytest

from neuron_operator.controller import handlers
from neuron_operator.controller.settings import Settings


def deployment(version: str) -> dict[str, object]:
    metadata = {"namespace": "ml", "name": "liveness-probe", "resourceVersion": version}
    return {"kind": "Deployment", "metadata": metadata}


def test_probe_passes_while_writes_come_back_and_fails_when_one_does_not() -> None:
    handlers.configure(Settings(watch_stall_seconds=60))
    assert handlers.watch_lag_within_limit() < 60
    handlers._deployments.wrote(deployment("7"), at=time.monotonic() - 61)
    try:
        with pytest.raises(kopf.PermanentError, match="has not come back on its watch"):
            handlers.watch_lag_within_limit()
    finally:
        handlers._deployments.observe(deployment("7"))  # the watch delivers it after all
    assert handlers.watch_lag_within_limit() < 60
