"""kopf wiring, and nothing else: every trigger runs the same reconcile.

- a NeuronDeployment is created, changed, or found when the operator starts: reconcile it;
- a Deployment the operator manages changes or disappears: reconcile its owner, which reverts
  drift, recreates a deleted Deployment and refreshes the status.
Handlers are synchronous: kopf runs them in its thread pool, so the blocking official client is
fine. User mistakes never raise (they become conditions); API trouble raises kopf's
TemporaryError so kopf retries with a delay.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any

import kopf
from kubernetes import client, config

from neuron_operator.api.v1alpha1 import GROUP, VERSION
from neuron_operator.controller.kube import Kube, TransientError
from neuron_operator.controller.reconcile import reconcile
from neuron_operator.controller.render import MANAGED_BY
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Event
from neuron_operator.crdgen import PLURAL

logger = logging.getLogger("neuron_operator")
_state: dict[str, Any] = {}


def configure(settings: Settings) -> None:
    """Set before kopf starts (by `neuron-operator run`)."""
    _state["settings"] = settings


def _settings() -> Settings:
    found = _state.get("settings")
    return found if isinstance(found, Settings) else Settings.from_env()


def _kube() -> Kube:
    kube = _state.get("kube")
    if not isinstance(kube, Kube):
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config()  # type: ignore[no-untyped-call]
        kube = Kube(client.ApiClient(), _settings().field_manager)
        _state["kube"] = kube
    return kube


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Keep kopf's bookkeeping in annotations under our own prefix: the status schema is
    # structural, so anything kopf wrote into status would be pruned.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Our own events say what happened; kopf's "handler succeeded" notes would only add one
    # API write per object and change. Its warnings and errors are still posted.
    settings.posting.level = logging.WARNING
    # kopf waits this long for more events of an object before handling it; our reconcile reads
    # the object fresh anyway, so only a short window is useful.
    settings.batching.batch_window = 0.01
    settings.networking.request_timeout = 30
    settings.execution.max_workers = 8
    _kube()


_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(namespace: str, name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((namespace, name), threading.Lock())


def _run(namespace: str, name: str) -> None:
    """Reconcile one NeuronDeployment from a fresh read, one reconcile at a time per object:
    its own changes and its Deployment's changes arrive on different watches, and two
    reconciles working from the same stale status would announce the same change twice."""
    with _lock(namespace, name):
        try:
            body = _kube().get_neurondeployment(namespace, name)
        except TransientError as error:
            raise kopf.TemporaryError(str(error), delay=error.delay) from error
        if body is None or body["metadata"].get("deletionTimestamp"):
            return  # gone or going: garbage collection takes the Deployment
        _reconcile(body)


def _reconcile(body: dict[str, Any]) -> None:
    def emit(event: Event) -> None:
        # kopf accepts any mapping shaped like an object's body.
        target: Any = body
        kopf.event(target, type=event.type, reason=event.reason, message=event.message)

    try:
        reconcile(_kube(), body, _settings(), emit, _now)
    except TransientError as error:
        raise kopf.TemporaryError(str(error), delay=error.delay) from error


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def neurondeployment_changed(name: str, namespace: str | None, **_: Any) -> None:
    if namespace is not None:
        _run(namespace, name)


@kopf.on.event("apps", "v1", "deployments", labels=dict(MANAGED_BY))
def managed_deployment_changed(
    type: str, name: str, namespace: str | None, body: kopf.Body, **_: Any
) -> None:
    if namespace is None:
        return
    owners = [
        o
        for o in body.get("metadata", {}).get("ownerReferences") or []
        if o.get("kind") == "NeuronDeployment" and o.get("controller")
    ]
    if not owners:
        return
    try:
        _run(namespace, owners[0]["name"])
    except kopf.TemporaryError as error:
        # Event handlers are not retried by kopf; the next event or a resume will converge.
        logger.warning(
            "reconcile of %s/%s after a Deployment %s event failed: %s",
            namespace,
            owners[0]["name"],
            type,
            error,
        )
