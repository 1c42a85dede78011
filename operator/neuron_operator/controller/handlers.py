"""kopf wiring, and nothing else: every trigger runs the same reconcile.

- a NeuronDeployment is created, changed, or found when the operator starts: reconcile it;
- a Deployment the operator manages changes or disappears: reconcile its owner, which reverts
  drift, recreates a deleted Deployment and refreshes the status.
The reconcile reads both objects from stores kept by the watches and by our own writes (see
store.py), falling back to a GET for an object the store has not seen. Handlers are synchronous:
kopf runs them in its thread pool, so the blocking official client is fine. User mistakes never
raise (they become conditions); API trouble raises kopf's TemporaryError so kopf retries with a
delay.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import kopf
from kubernetes import client, config

from neuron_operator.api.v1alpha1 import GROUP, VERSION
from neuron_operator.controller import memory, metrics
from neuron_operator.controller.crashpoints import CrashingWrites
from neuron_operator.controller.digest import plan_summary
from neuron_operator.controller.drift import DriftGuard
from neuron_operator.controller.errors import ApiTrouble, retry_delay
from neuron_operator.controller.kube import Kube
from neuron_operator.controller.peering import is_active
from neuron_operator.controller.reconcile import Writes, reconcile
from neuron_operator.controller.render import MANAGED_BY
from neuron_operator.controller.resync import Resync
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Event
from neuron_operator.controller.store import Store
from neuron_operator.crdgen import PLURAL

log = logging.getLogger("neuron_operator")
_state: dict[str, Any] = {}
_neurondeployments = Store(summarize=plan_summary)
_deployments = Store()
_drift = DriftGuard()


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
        kube = Kube(client.ApiClient(), _settings().field_manager, _written)
        _state["kube"] = kube
    return kube


def _writes() -> Writes:
    """The reconcile's writes: the API, or with a crash point when a fault test set one."""
    writes = _state.get("writes")
    if writes is None:
        crash_at = _settings().crash_at
        writes = CrashingWrites(_kube(), crash_at) if crash_at else _kube()
        _state["writes"] = writes
    return cast(Writes, writes)


def _written(body: dict[str, Any]) -> None:
    store = {"Deployment": _deployments, "NeuronDeployment": _neurondeployments}.get(
        str(body.get("kind"))
    )
    if store is not None:
        store.wrote(body, time.monotonic())


def _watch_lag() -> float:
    """Seconds the oldest write of ours has waited for its watch event (0: none waits, or this
    replica stands by, its watches paused)."""
    if _state.get("active") is False:
        return 0.0
    waiting = [
        w for w in (_neurondeployments.oldest_unechoed(), _deployments.oldest_unechoed()) if w
    ]
    return max((time.monotonic() - at for _, at in waiting), default=0.0)


def _seen(store: Store, event_type: str | None, body: kopf.Body) -> None:
    raw = dict(body)
    if event_type == "DELETED":
        store.forget(raw)
    else:
        store.observe(raw)


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
    # kopf waits this long for more events of an object before handling it; the reconcile
    # reads the newest version from the store anyway, so only a short window is useful.
    settings.batching.batch_window = 0.01
    settings.networking.request_timeout = 30
    # A 429's Retry-After is the least kopf waits before retrying its own request (by
    # default it waits the longer of that and its own backoff only sometimes).
    settings.networking.enforce_retry_after = True
    settings.execution.max_workers = 8
    # A connection that silently stops delivering is closed by the server within 5 minutes and
    # by us within 6, then resumed where it stopped.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 360
    # Watching named namespaces needs no namespace list, and the chart grants none then:
    # kopf's scan for them would retry its 403 for ~54 s before every start.
    settings.scanning.disabled = bool(_settings().namespaces)
    # Replicas (controller/peering.py): a record that outlives a dead replica by at most this
    # long bounds failover. Keep-alives are not worth a log line each.
    settings.peering.lifetime = _settings().peering_lifetime
    settings.peering.stealth = True
    _writes()  # the client, and a crash point's check, before any reconcile
    if "metrics" not in _state:
        ours = _settings()
        _state["metrics"] = metrics.serve(
            ours.listen_address,
            ours.metrics_port,
            ready=lambda: bool(_state.get("ready")),
        )
        metrics.REGISTRY.register(metrics.PlanCollector(_neurondeployments, _watch_lag))
        memory.start_trimming(metrics.reconciles_done)
        _state["resync"] = Resync(
            _neurondeployments,
            _resync_one,
            ours.resync_seconds,
            ours.full_resync_seconds,
            active=_peering_active,
            switched=_switched,
            audit=_audit_watches,
            audit_every=ours.watch_audit_seconds,
        )
        metrics.ACTIVE.set(0 if ours.peering else 1)
        _state["resync"].start()
    _state["ready"] = True


def _peering_active() -> bool:
    """Whether kopf lets this replica work; always, standalone. One GET per watched namespace
    (one cluster-wide) per resync period."""
    ours = _settings()
    if ours.peering is None or ours.identity is None or ours.priority is None:
        return True
    now = datetime.datetime.now(datetime.UTC)
    return all(
        is_active(_kube().get_peering(namespace, ours.peering), ours.identity, ours.priority, now)
        for namespace in (ours.namespaces or (None,))
    )


def _audit_watches() -> None:
    """What the API server holds, which the watches must deliver within the stall limit (two
    metadata-only lists in pages of 500, read-only). What they have owed for a whole audit
    period is read afresh and reconciled, so a silent watch delays a change by at most two
    periods, while the liveness probe still measures the watch."""
    ours, kube, at = _settings(), _kube(), time.monotonic()
    _neurondeployments.expect(
        kube.list_versions(f"/apis/{GROUP}/{VERSION}/{PLURAL}", ours.namespaces), at
    )
    selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
    _deployments.expect(
        kube.list_versions("/apis/apps/v1/deployments", ours.namespaces, selector), at
    )
    since = at - ours.watch_audit_seconds
    # A Deployment of ours has its NeuronDeployment's name.
    owed = sorted(set(_neurondeployments.owed(since)) | set(_deployments.owed(since)))
    if owed:
        log.warning("the watches have not delivered %d objects' changes: reading them", len(owed))
    for namespace, name in owed:
        _refresh(_neurondeployments, namespace, name, kube.get_neurondeployment)
        _refresh(_deployments, namespace, name, kube.get_deployment, keep=_watched)
        try:
            _resync_one(namespace, name)
        except Exception as error:  # retried by the resync or the next audit
            log.info("reconcile of %s/%s after the audit failed: %s", namespace, name, error)


def _refresh(
    store: Store,
    namespace: str,
    name: str,
    read: Callable[[str, str], dict[str, Any] | None],
    keep: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> None:
    """The object read afresh into the store (see _gather for `keep`)."""
    body = read(namespace, name)
    if body is None or not keep(body):
        store.forget({"metadata": {"namespace": namespace, "name": name}})
    else:
        store.observe(body, echo=False)


def _switched(active: bool) -> None:
    known = "active" in _state
    _state["active"] = active
    metrics.ACTIVE.set(1 if active else 0)
    if known:
        # The watches stopped or start again with a fresh list: what the stores hold is no
        # longer news, and writes of ours can no longer come back on them.
        _neurondeployments.clear()
        _deployments.clear()
    log.info("this replica is %s", "active" if active else "standing by")


@kopf.on.cleanup()
def cleanup(**_: Any) -> None:
    _state["ready"] = False


def watch_lag_within_limit() -> float:
    """The watch lag, or PermanentError once it passes the stall limit."""
    lag = _watch_lag()
    limit = _settings().watch_stall_seconds
    if lag > limit:
        raise kopf.PermanentError(
            f"a write of the operator has not come back on its watch for {lag:.0f} s "
            f"(limit {limit:.0f} s): the watch has stalled"
        )
    return lag


@kopf.on.probe(id="watch", errors=kopf.ErrorsMode.PERMANENT)
def watch_delivers(**_: Any) -> dict[str, float]:
    """Liveness: every write of ours must come back on its watch. A watch that stopped
    delivering would leave the operator blind to every change, so the probe fails (kopf
    answers 500) and the kubelet restarts it."""
    return {"watchLagSeconds": round(watch_lag_within_limit(), 3)}


class _Locks:
    """One lock per object, so one reconcile at a time per object: its own changes and its
    Deployment's changes arrive on different watches, and two reconciles working from the same
    status would announce the same change twice. A lock lives while someone holds or waits for
    it, so deleted objects leave nothing behind."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, key: tuple[str, str]) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


_locks = _Locks()


def _run(namespace: str, name: str, logger: kopf.Logger, retry: int = 0) -> None:
    """Reconcile one NeuronDeployment, one reconcile at a time per object. API trouble becomes
    kopf's TemporaryError with exponential backoff (never shorter than a 429's Retry-After)."""
    with _locks.hold((namespace, name)):
        started = time.perf_counter()
        try:
            body = _gather(_neurondeployments, namespace, name, _kube().get_neurondeployment)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return  # gone or going: garbage collection takes the Deployment
            deployment = _gather(
                _deployments, namespace, name, _kube().get_deployment, keep=_watched
            )
            outcome = reconcile(
                _writes(),
                body,
                deployment,
                _settings(),
                _emitter(body, logger),
                _now,
                drift=_drift,
                at=time.monotonic(),
            )
        except ApiTrouble as error:
            metrics.observe_reconcile("error", started)
            delay = retry_delay(error, retry)
            message = f"{error} (retrying in {delay:.0f} s)"
            raise kopf.TemporaryError(message, delay=delay) from error
        metrics.observe_reconcile(outcome, started)


def _resync_one(namespace: str, name: str) -> None:
    ref = {"k8s_ref": {"kind": "NeuronDeployment", "namespace": namespace, "name": name}}
    logger = logging.LoggerAdapter(log, ref)
    # kopf.event finds kopf's settings and event queue in context variables, which kopf sets
    # for its handlers: the resync runs in a copy of a handler's context, as kopf runs sync
    # handlers in its threads. (The store the resync reads is filled by a handler, so one
    # has always run by then.)
    context = _state.get("handler_context")
    if isinstance(context, contextvars.Context):
        context.run(_run, namespace, name, logger)
    else:
        _run(namespace, name, logger)


def _gather(
    store: Store,
    namespace: str,
    name: str,
    read: Callable[[str, str], dict[str, Any] | None],
    keep: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> dict[str, Any] | None:
    """The object from the store, or from the API server when the store has not seen it. What
    was read is kept only if a watch will tell its changes (`keep`): a stale copy of an object
    no watch delivers would stand for it forever."""
    known, body = store.get(namespace, name)
    if not known:
        body = read(namespace, name)
        if body is not None and keep(body):
            store.observe(body, echo=False)
    return body


def _watched(deployment: dict[str, Any]) -> bool:
    """Whether the Deployment watch (filtered by our managed-by label) delivers this one."""
    labels = (deployment.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in MANAGED_BY.items())


def _emitter(body: dict[str, Any], logger: kopf.Logger) -> Callable[[Event], None]:
    def emit(event: Event) -> None:
        # kopf accepts any mapping shaped like an object's body.
        target: Any = body
        kopf.event(target, type=event.type, reason=event.reason, message=event.message)
        # INFO, whatever the event's type: kopf would post a WARNING log line as a second event.
        logger.info("%s %s: %s", event.type, event.reason, event.message)

    return emit


@kopf.on.event(GROUP, VERSION, PLURAL)
def neurondeployment_seen(type: str | None, body: kopf.Body, **_: Any) -> None:
    # kopf runs watch handlers before change handlers for the same event, so the reconcile
    # below finds this version in the store.
    _seen(_neurondeployments, type, body)
    if type == "DELETED":
        metadata = body.get("metadata") or {}
        _drift.forget((str(metadata.get("namespace")), str(metadata.get("name"))))
    if "handler_context" not in _state:
        _state["handler_context"] = contextvars.copy_context()


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def neurondeployment_changed(
    name: str, namespace: str | None, logger: kopf.Logger, retry: int, **_: Any
) -> None:
    if namespace is not None:
        _run(namespace, name, logger, retry)


@kopf.on.event("apps", "v1", "deployments", labels=dict(MANAGED_BY))
def managed_deployment_changed(
    type: str | None,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    _seen(_deployments, type, body)
    if namespace is None:
        return
    owners = [
        o["name"]
        for o in body.get("metadata", {}).get("ownerReferences") or []
        if o.get("kind") == "NeuronDeployment" and o.get("controller")
    ]
    # Not ours, but in the way of the NeuronDeployment of its name (NameConflict): its changes,
    # and its deletion above all, are that object's news.
    if not owners and _neurondeployments.get(namespace, name)[1] is not None:
        owners = [name]
    if not owners:
        return
    try:
        _run(namespace, owners[0], logger)
    except kopf.TemporaryError as error:
        # Event handlers are not retried by kopf; the next event or a resume will converge.
        # Logged, not posted as an event: a retry-prone failure would post one per retry.
        owner = {"kind": "NeuronDeployment", "namespace": namespace, "name": owners[0]}
        log.warning(
            "reconcile after a Deployment %s event failed: %s",
            type,
            error,
            extra={"k8s_ref": owner},
        )
