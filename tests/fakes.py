"""A recording fake of the operator's writes (controller.reconcile.Writes), in the manner of
cert-manager's fake clientset with expected actions: it keeps the objects as an API server
would after each call and records every call, so tests assert the exact writes a reconcile
makes. Status patches are applied as RFC 7386 merge patches, as the API server does."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from neuron_operator.controller.errors import AlreadyExists, TransientError
from neuron_operator.controller.settings import FIELD_MANAGER


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 §2, verbatim."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


@dataclass
class FakeKube:
    """`body` is the NeuronDeployment as the server holds it; `deployment` its Deployment.
    `failures[method]` lists exceptions the next calls of that method raise, in order."""

    body: dict[str, Any]
    deployment: dict[str, Any] | None = None
    autoscaler: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    group_set: dict[str, Any] | None = None  # the LeaderWorkerSet of a plan across nodes
    calls: list[tuple[str, Any]] = field(default_factory=list)
    # patch_status's `whole_at` of each status write, in order.
    status_writes_whole_at: list[str | None] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    # A rule the fake server applies to status documents: returns an error to raise, or None.
    status_check: Any = None
    _version: int = 100

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _fail(self, method: str) -> None:
        pending = self.failures.get(method) or []
        if pending:
            raise pending.pop(0)

    def create_deployment(self, desired: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create_deployment", copy.deepcopy(desired)))
        self._fail("create_deployment")
        if self.deployment is not None:
            raise AlreadyExists(desired["metadata"]["name"])
        created = copy.deepcopy(desired)
        created["metadata"]["resourceVersion"] = self._next_version()
        created["metadata"]["generation"] = 1
        # A create is an Update of the creator's fields (Kube.adopt_created_fields).
        created["metadata"]["managedFields"] = [{"manager": FIELD_MANAGER, "operation": "Update"}]
        created["status"] = {}
        self.deployment = created
        return copy.deepcopy(created)

    def adopt_created_fields(self, namespace: str, name: str) -> None:
        self.calls.append(("adopt_created_fields", name))
        self._fail("adopt_created_fields")
        assert self.deployment is not None, "fields adopted of a Deployment that is not there"
        for entry in self.deployment["metadata"].get("managedFields") or []:
            if entry["manager"] == FIELD_MANAGER and entry["operation"] == "Update":
                entry["operation"] = "Apply"

    def apply_deployment(self, desired: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply_deployment", copy.deepcopy(desired)))
        self._fail("apply_deployment")
        applied = copy.deepcopy(desired)
        applied["metadata"]["resourceVersion"] = self._next_version()
        applied["metadata"]["generation"] = (self.deployment or {}).get("metadata", {}).get(
            "generation", 0
        ) + 1
        applied["status"] = (self.deployment or {}).get("status", {})
        self.deployment = applied
        return copy.deepcopy(applied)

    def seed_replicas(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        self.calls.append(("seed_replicas", replicas))
        self._fail("seed_replicas")
        assert self.deployment is not None, "replicas seeded into a Deployment that is not there"
        self.deployment["spec"]["replicas"] = replicas
        self.deployment["metadata"]["resourceVersion"] = self._next_version()
        return copy.deepcopy(self.deployment)

    def apply_autoscaler(self, desired: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply_autoscaler", copy.deepcopy(desired)))
        self._fail("apply_autoscaler")
        self.autoscaler = copy.deepcopy(desired)
        return copy.deepcopy(desired)

    def apply_claim_template(self, desired: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply_claim_template", copy.deepcopy(desired)))
        self._fail("apply_claim_template")
        return copy.deepcopy(desired)

    def apply_leader_worker_set(self, desired: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply_leader_worker_set", copy.deepcopy(desired)))
        self._fail("apply_leader_worker_set")
        applied = copy.deepcopy(desired)
        applied["metadata"]["resourceVersion"] = self._next_version()
        applied["status"] = (self.group_set or {}).get("status", {})
        self.group_set = applied
        return copy.deepcopy(applied)

    def apply_job(self, desired: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply_job", copy.deepcopy(desired)))
        self._fail("apply_job")
        self.job = copy.deepcopy(desired)
        self.job["status"] = {}
        return copy.deepcopy(self.job)

    def apply_service(self, desired: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply_service", copy.deepcopy(desired)))
        self._fail("apply_service")
        return copy.deepcopy(desired)

    def delete_autoscaler(self, namespace: str, name: str) -> None:
        self.calls.append(("delete_autoscaler", name))
        self._fail("delete_autoscaler")
        self.autoscaler = None

    def patch_status(
        self, namespace: str, name: str, patch: dict[str, Any], whole_at: str | None = None
    ) -> None:
        self.calls.append(("patch_status", copy.deepcopy(patch)))
        self.status_writes_whole_at.append(whole_at)
        self._fail("patch_status")
        if whole_at is not None:
            # A PUT of the whole status, preconditioned on the version the reconcile read.
            if whole_at != self.body["metadata"].get("resourceVersion"):
                raise TransientError("API error 409: the object has been modified", "409")
            self.body.pop("status", None)
        status = apply_merge_patch(self.body.get("status") or {}, patch)
        if self.status_check is not None:
            refused = self.status_check(status)
            if refused is not None:
                raise refused
        self.body["status"] = status
        self.body["metadata"]["resourceVersion"] = self._next_version()

    def writes(self) -> list[str]:
        return [method for method, _ in self.calls]


class FakeClock:
    """A monotonic clock that moves only when a test moves it (`now += s`) or a caller sleeps
    on it (`sleep`, recorded in `slept`)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
