"""Test-only crash points, for the fault suite (tests/chaos/): with
NEURON_OPERATOR_CRASH_AT set to one of CRASH_POINTS, the operator SIGKILLs itself at that point
of every reconcile that gets there, so a test can prove that a restart converges from each
intermediate state. Inert unless the variable is set; it is read once, at start. Never set it
in a real deployment (the chart has no value for it).

- after-plan: the plan is made and a Deployment is about to be written; nothing is written.
- after-apply: the Deployment is written; the status is not.
- during-status-write: the API server has applied the status patch; the operator dies before
  it handles the answer (no events are posted, nothing is recorded).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from neuron_operator.controller.reconcile import Writes

CRASH_POINTS = ("after-plan", "after-apply", "during-status-write")
log = logging.getLogger("neuron_operator")


def crash(point: str) -> None:
    log.warning("crash point %s reached: killing the operator (test-only setting)", point)
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingWrites:
    """The reconcile's writes, with the process killed at `point`."""

    def __init__(self, inner: Writes, point: str) -> None:
        if point not in CRASH_POINTS:
            raise ValueError(f"NEURON_OPERATOR_CRASH_AT={point!r}: not one of {CRASH_POINTS}")
        self.inner = inner
        self.point = point

    def _deployment_write(
        self, write: Callable[[dict[str, Any]], dict[str, Any]], desired: dict[str, Any]
    ) -> dict[str, Any]:
        """The Deployment's write, applied or (a new object's) created: the points around it."""
        if self.point == "after-plan":
            crash(self.point)
        written = write(desired)
        if self.point == "after-apply":
            crash(self.point)
        return written

    def apply_deployment(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self._deployment_write(self.inner.apply_deployment, desired)

    def seed_replicas(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        return self.inner.seed_replicas(namespace, name, replicas)

    def apply_autoscaler(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self.inner.apply_autoscaler(desired)

    def apply_claim_template(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self.inner.apply_claim_template(desired)

    def create_deployment(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self._deployment_write(self.inner.create_deployment, desired)

    def adopt_created_fields(self, namespace: str, name: str) -> None:
        self.inner.adopt_created_fields(namespace, name)

    def apply_job(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self.inner.apply_job(desired)

    def apply_leader_worker_set(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self.inner.apply_leader_worker_set(desired)

    def apply_service(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self.inner.apply_service(desired)

    def delete_autoscaler(self, namespace: str, name: str) -> None:
        self.inner.delete_autoscaler(namespace, name)

    def patch_status(
        self, namespace: str, name: str, patch: dict[str, Any], whole_at: str | None = None
    ) -> None:
        self.inner.patch_status(namespace, name, patch, whole_at=whole_at)
        if self.point == "during-status-write":
            crash(self.point)
