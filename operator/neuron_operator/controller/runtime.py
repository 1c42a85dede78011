"""One running operator: what it keeps, and the work its kopf handlers and its own threads share.

kopf's memo holds the Runtime (`kopf.run(memo=kopf.Memo(runtime=...))`), so no state lives in
module globals: two operators in one process (a test) keep theirs apart. The Runtime

- reconciles one object at a time per object (`run`), reading both objects from stores kept
  by the watches and by its own writes (store.py), falling back to a GET for an object the
  store has not seen;
- runs the resync safety net (resync.py), which pauses while another replica works
  (peering.py) and audits the watches;
- measures the watch lag the liveness probe checks.
User mistakes never raise (they become conditions); API trouble raises kopf's TemporaryError so
kopf retries with a delay.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import kopf
from kubernetes import client, config

from neuron_operator.controller import memory, metrics
from neuron_operator.controller.cluster_watch import ClusterWatch
from neuron_operator.controller.crashpoints import CrashingWrites
from neuron_operator.controller.digest import plan_summary
from neuron_operator.controller.dra import DEVICE_CLASS, Mode, dra_families
from neuron_operator.controller.drift import DriftGuard
from neuron_operator.controller.errors import AlreadyExists, ApiTrouble, TransientError, retry_delay
from neuron_operator.controller.events import EventPoster
from neuron_operator.controller.informer import Informer
from neuron_operator.controller.kube import DEPLOYMENTS, KOPF_PEERINGS, NEURONDEPLOYMENTS, Kube
from neuron_operator.controller.multinode import LWS_API_VERSION, LWS_KIND
from neuron_operator.controller.peering import is_active
from neuron_operator.controller.pricing_watch import PricingWatch
from neuron_operator.controller.ratelimit import TokenBucket
from neuron_operator.controller.rechecks import Rechecks
from neuron_operator.controller.reconcile import Writes, is_training, reconcile
from neuron_operator.controller.render import MANAGED_BY
from neuron_operator.controller.resync import Resync
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Event, event_message
from neuron_operator.controller.store import Store
from neuron_operator.controller.training import job_name, training_run
from neuron_operator.controller.workqueue import WorkQueue
from neuron_operator.sizing.catalog import Catalog

log = logging.getLogger("neuron_operator")
# The metrics server and the registry's collectors are per process, whatever runs in it.
_served: dict[str, Any] = {}
# Seconds a reconcile waits for the pricing ConfigMap's first read before it is retried.
PRICING_WAIT = 5.0
# How long whether the cluster serves LeaderWorkerSet is taken as known (one discovery GET).
GROUPS_CHECK_SECONDS = 15.0


class Locks:
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


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def across_nodes(body: dict[str, Any]) -> bool:
    """Whether the plan in effect has replicas across nodes (a LeaderWorkerSet runs them)."""
    plan = ((body.get("status") or {}).get("plan")) or {}
    return int(plan.get("nodesPerReplica") or 1) > 1


def watched(child: dict[str, Any]) -> bool:
    """Whether the Deployment or HPA watch (filtered by our managed-by label) delivers it."""
    labels = (child.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in MANAGED_BY.items())


def seen(store: Store, event_type: str | None, body: dict[str, Any]) -> bool:
    """A watch event into a store. Returns whether it was the echo of a write of ours."""
    if event_type == "DELETED":
        store.forget(body)
        return False
    return store.observe(body)


def reconcile_or_read(
    reconcile_with: Callable[[dict[str, Any] | None], str],
    deployment: dict[str, Any] | None,
    read: Callable[[], dict[str, Any] | None],
) -> str:
    """Reconcile against the Deployment the store holds. A create that finds the name taken
    (AlreadyExists) means one the store has not seen: someone else's (NameConflict), or ours
    before its watch event; so read it and reconcile again. Taken again after that read (it
    was deleted and re-created in between) is a conflict to retry with backoff."""
    try:
        return reconcile_with(deployment)
    except AlreadyExists:
        found = read()
    try:
        return reconcile_with(found)
    except AlreadyExists as error:
        raise TransientError(
            f"{error}: taken again while it was read (deleted and re-created meanwhile)", "409"
        ) from error


@dataclass
class Runtime:
    settings: Settings
    neurondeployments: Store = field(default_factory=lambda: Store(summarize=plan_summary))
    deployments: Store = field(default_factory=Store)
    autoscalers: Store = field(default_factory=Store)
    jobs: Store = field(default_factory=Store)  # the Jobs of training runs
    group_sets: Store = field(default_factory=Store)  # LeaderWorkerSets: replicas across nodes
    drift: DriftGuard = field(default_factory=DriftGuard)
    locks: Locks = field(default_factory=Locks)
    ready: bool = False
    # Whether this replica works (None until the resync or the peering watch first looked).
    active: bool | None = None
    # Posts the reconciles' Kubernetes Events (started with the runtime).
    events: EventPoster | None = None
    # The watches of NeuronDeployments and their Deployments (controller/watches.py).
    informers: Sequence[Informer[Any]] = ()
    # With replicas: the watches of kopf's peering objects, so this replica starts or stops
    # work as soon as kopf would, not at the resync's next sweep.
    peering_watches: Sequence[Informer[Any]] = ()
    resync: Resync | None = None
    # Capacity, and the operator's own pods waiting for nodes (None: capacity-awareness off).
    cluster_watch: ClusterWatch | None = None
    # Your prices (None: the catalog's list prices).
    pricing_watch: PricingWatch | None = None
    # Device allocation "auto": whether the Neuron DeviceClass exists (controller/dra.py).
    device_class: Informer[bool] | None = None
    rechecks: Rechecks = field(default_factory=Rechecks)
    # The objects waiting for a reconcile: the handlers add their keys (controller/workqueue.py).
    queue: WorkQueue = field(init=False)
    # Consecutive failed reconciles of each object: the backoff of its next retry.
    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    # Whether the cluster serves LeaderWorkerSet, and until when (monotonic) that is taken as
    # known: (served, until).
    _groups: tuple[bool, float] | None = None
    _groups_asking: threading.Lock = field(default_factory=threading.Lock)
    _kube: Kube | None = None
    _writes: Writes | None = None

    def __post_init__(self) -> None:
        self.queue = WorkQueue(self.resync_one, self.settings.workers, metrics.WAITING.set)

    # --- clients ---------------------------------------------------------------------------

    def kube(self) -> Kube:
        if self._kube is None:
            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
            except config.ConfigException:
                config.load_kube_config()  # type: ignore[no-untyped-call]
            ours = self.settings
            configuration = client.Configuration.get_default_copy()
            # A connection for each reconcile thread and each watch streaming at once: with
            # fewer, urllib3 discards (and reconnects, TLS and all) what it cannot pool.
            watches = 2 * max(1, len(ours.namespaces)) + 6
            configuration.connection_pool_maxsize = max(
                configuration.connection_pool_maxsize, ours.workers + watches
            )
            self._kube = Kube(
                client.ApiClient(configuration),
                ours.field_manager,
                self.written,
                TokenBucket(ours.api_qps, ours.api_burst),
            )
        return self._kube

    def writes(self) -> Writes:
        """The reconcile's writes: the API, or with a crash point when a fault test set one."""
        if self._writes is None:
            crash_at = self.settings.crash_at
            self._writes = CrashingWrites(self.kube(), crash_at) if crash_at else self.kube()
        return self._writes

    def store_of(self, kind: str) -> Store | None:
        """The store that keeps objects of this kind (None: the operator keeps none)."""
        return {
            "Deployment": self.deployments,
            "NeuronDeployment": self.neurondeployments,
            "HorizontalPodAutoscaler": self.autoscalers,
            "Job": self.jobs,
            LWS_KIND: self.group_sets,
        }.get(kind)

    def written(self, body: dict[str, Any]) -> None:
        """A write of ours, as the API server returned it (read-your-writes)."""
        kept = self.store_of(str(body.get("kind")))
        if kept is not None:
            kept.wrote(body, time.monotonic())

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Once kopf has started: the client, the metrics server, the resync thread."""
        self.writes()  # the client, and a crash point's check, before any reconcile
        if self.events is None:
            instance = self.settings.identity or socket.gethostname()  # the pod's name in one
            self.events = EventPoster(self.kube(), instance)
            self.events.start()
        if self.settings.pricing_configmap and self.pricing_watch is None:
            self.pricing_watch = PricingWatch(
                self.kube().api, self.settings.pricing_configmap, self.repriced
            )
            self.pricing_watch.start()
        if self.settings.device_allocation == Mode.AUTO and self.device_class is None:
            self.device_class = Informer(
                self.kube().api,
                "/apis/resource.k8s.io/v1/deviceclasses",
                lambda _: True,
                field_selector=f"metadata.name={DEVICE_CLASS}",
                changed=lambda *_: self.repriced(),
            )
            self.device_class.start()
        if self.settings.capacity_aware and self.cluster_watch is None:
            self.cluster_watch = ClusterWatch(self.kube().api, self.waiting_changed)
            self.cluster_watch.start()
        if "metrics" not in _served:
            _served["metrics"] = metrics.serve(
                self.settings.listen_address,
                self.settings.metrics_port,
                ready=lambda: bool(_served["runtime"].ready),
            )
            memory.start_trimming(metrics.reconciles_done)
        if _served.get("runtime") is not self:
            previous = _served.get("collector")
            if previous is not None:
                metrics.REGISTRY.unregister(previous)
            _served["collector"] = metrics.PlanCollector(
                self.neurondeployments, self.watch_lag, self.capacity_kept
            )
            metrics.REGISTRY.register(_served["collector"])
            _served["runtime"] = self
        if self.resync is None:
            self.resync = Resync(
                self.neurondeployments,
                self.resync_one,
                self.settings.resync_seconds,
                self.settings.full_resync_seconds,
                active=self.peering_active,
                switched=self.switched,
                audit=self.audit_watches,
                audit_every=self.settings.watch_audit_seconds,
                queued=self.queue.holds,
            )
            metrics.ACTIVE.set(0 if self.settings.peering else 1)
            self.resync.start()
        if self.settings.peering and not self.peering_watches:
            self.peering_watches = self.watch_peering(self.settings.peering, self.resync)
        self.ready = True

    def stop(self) -> None:
        self.ready = False
        metrics.ACTIVE.set(0)  # a replica on its way out is no longer at work
        for informer in [*self.informers, *self.peering_watches]:
            informer.stop()
        if self.events is not None:
            self.events.stop()
        if self.resync is not None:
            self.resync.stop()
        if self.cluster_watch is not None:
            self.cluster_watch.stop()
        if self.pricing_watch is not None:
            self.pricing_watch.stop()
        if self.device_class is not None:
            self.device_class.stop()
        self.rechecks.cancel()
        self.queue.stop()

    def capacity_kept(self) -> dict[str, int]:
        watch = self.cluster_watch
        return watch.kept() if watch is not None else {}

    # --- liveness --------------------------------------------------------------------------

    def watch_lag(self) -> float:
        """Seconds the oldest write of ours (or version a list found) has waited for its watch
        event (0: none waits). The watches run on a standby replica too: it takes over with
        what they delivered."""
        waiting = [
            w
            for w in (self.neurondeployments.oldest_unechoed(), self.deployments.oldest_unechoed())
            if w
        ]
        return max((time.monotonic() - at for _, at in waiting), default=0.0)

    def watch_lag_within_limit(self) -> float:
        """The watch lag, or PermanentError once it passes the stall limit."""
        lag = self.watch_lag()
        limit = self.settings.watch_stall_seconds
        if lag > limit:
            raise kopf.PermanentError(
                f"a write of the operator has not come back on its watch for {lag:.0f} s "
                f"(limit {limit:.0f} s): the watch has stalled"
            )
        return lag

    # --- reconciling -----------------------------------------------------------------------

    def run(self, namespace: str, name: str, logger: kopf.Logger, retry: int = 0) -> None:
        """Reconcile one NeuronDeployment, one reconcile at a time per object. API trouble
        becomes kopf's TemporaryError with exponential backoff (never shorter than a 429's
        Retry-After)."""
        with self.locks.hold((namespace, name)):
            started = time.perf_counter()
            try:
                kube = self.kube()
                body = self.gather(
                    self.neurondeployments, namespace, name, kube.get_neurondeployment
                )
                if body is None or body["metadata"].get("deletionTimestamp"):
                    return  # gone or going: garbage collection takes the Deployment
                if body.get("status"):
                    deployment = self.gather(
                        self.deployments, namespace, name, kube.get_deployment, keep=watched
                    )
                else:
                    # A new object: not asked of the API server when the store has not seen
                    # one; the reconcile creates it with a POST, whose 409 says the name is
                    # taken (below).
                    deployment = self.deployments.get(namespace, name)[1]
                if (body.get("spec") or {}).get("autoscaling"):
                    autoscaler = self.gather(
                        self.autoscalers, namespace, name, kube.get_autoscaler, keep=watched
                    )
                else:
                    # Without spec.autoscaling an HPA of ours is only one to delete, and the
                    # watch of our HPAs delivers it (reconciling its owner): no GET for the
                    # objects that never asked for one, five per object at creation before.
                    autoscaler = self.autoscalers.get(namespace, name)[1]
                job = None
                if is_training(body):
                    run = job_name(name, training_run(body))
                    job = self.gather(self.jobs, namespace, run, kube.get_job, keep=watched)
                groups = self.leader_worker_set_served()
                group_set = None
                if groups and (across_nodes(body) or self.group_sets.get(namespace, name)[0]):
                    group_set = self.gather(
                        self.group_sets, namespace, name, kube.get_leader_worker_set, keep=watched
                    )
                watch = self.cluster_watch
                catalog = self.catalog()

                def reconcile_with(deployment: dict[str, Any] | None) -> str:
                    return reconcile(
                        self.writes(),
                        body,
                        deployment,
                        self.settings,
                        self.emitter(body, logger),
                        _now,
                        drift=self.drift,
                        at=time.monotonic(),
                        cluster=watch.cluster(namespace, name) if watch is not None else None,
                        wall=time.time(),
                        recheck=lambda seconds: self.recheck(namespace, name, seconds),
                        autoscaler=autoscaler,
                        catalog=catalog,
                        dra=self.dra_families(),
                        job=job,
                        group_set=group_set,
                        groups=groups,
                    )

                def read_deployment() -> dict[str, Any] | None:
                    found = kube.get_deployment(namespace, name)
                    if found is not None and watched(found):
                        self.deployments.observe(found, echo=False)
                    return found

                outcome = reconcile_or_read(reconcile_with, deployment, read_deployment)
            except ApiTrouble as error:
                metrics.observe_reconcile("error", started)
                delay = retry_delay(error, retry)
                message = f"{error} (retrying in {delay:.0f} s)"
                raise kopf.TemporaryError(message, delay=delay) from error
            metrics.observe_reconcile(outcome, started)

    # --- your prices ------------------------------------------------------------------------

    def catalog(self) -> Catalog | None:
        """The catalog with your prices; None: list prices. Until the pricing ConfigMap has been
        read once, nothing is planned: a plan made at list prices would be made again moments
        later, moving running workloads at every start."""
        watch = self.pricing_watch
        if watch is None:
            return None
        deadline = time.monotonic() + PRICING_WAIT
        while not watch.synced():
            if time.monotonic() > deadline:
                raise TransientError(
                    f"the {watch.origin} has not been read yet (see the operator's log)",
                    "pricing",
                    retry_after=PRICING_WAIT,
                )
            time.sleep(0.1)
        return watch.catalog()

    def dra_families(self) -> frozenset[str]:
        """The families whose pods claim devices through DRA now."""
        found = self.device_class
        present = found is not None and len(found) > 0
        return dra_families(self.settings.device_allocation, present)

    def leader_worker_set_served(self) -> bool:
        """Whether the cluster serves LeaderWorkerSet, asked of discovery at most every
        GROUPS_CHECK_SECONDS; when the answer changes, every object is planned again (a model
        refused for want of it can now run, or the other way round)."""
        known, at = self._groups, time.monotonic()
        if known is not None and at < known[1]:
            return known[0]
        # One thread asks; the others go on with what was known (the offline assumption at
        # first) rather than send the same request at once, a throttled one included.
        if not self._groups_asking.acquire(blocking=False):
            return known[0] if known is not None else True
        try:
            served = self.kube().served(LWS_API_VERSION)
        except ApiTrouble as error:
            log.info("could not tell whether LeaderWorkerSet is served: %s", error)
            served = known[0] if known is not None else True  # as before; offline assumption
        finally:
            self._groups_asking.release()
        self._groups = (served, at + GROUPS_CHECK_SECONDS)
        if known is not None and known[0] != served:
            log.info("LeaderWorkerSet is %s: planning again", "served" if served else "gone")
            self.repriced()
        return served

    def repriced(self) -> None:
        """The prices or the device allocation changed (an informer's thread): every object is
        reconciled again, by the resync's next sweep."""
        if self.resync is not None:
            self.resync.everything_soon()

    # --- fallback's timing ------------------------------------------------------------------

    def waiting_changed(self, namespace: str, name: str) -> None:
        """The operator's pods of this object started or stopped waiting for a node (the pod
        informer's thread): reconcile it soon, off that thread."""
        self.recheck(namespace, name, 0.0)

    def attempt(self, namespace: str, name: str, logger: Any) -> None:
        """Reconcile now; after API trouble, again once its backoff has passed (nothing else
        retries: the watches only queue keys, and kopf's event handlers are not retried)."""
        key = (namespace, name)
        try:
            self.run(namespace, name, logger, self.failures.get(key, 0))
        except kopf.TemporaryError as error:
            self.failures[key] = self.failures.get(key, 0) + 1
            delay = float(error.delay or 1.0)
            log.warning(
                "reconcile failed, retrying in %.0f s: %s",
                delay,
                error,
                extra={
                    "k8s_ref": {"kind": "NeuronDeployment", "namespace": namespace, "name": name}
                },
            )
            self.recheck(namespace, name, delay)
            return
        self.failures.pop(key, None)

    def enqueue(self, namespace: str, name: str) -> None:
        """Reconcile the object soon, on one of `workers` threads; events of an object already
        waiting become one reconcile."""
        self.queue.add((namespace, name))

    def recheck(self, namespace: str, name: str, seconds: float) -> None:
        """Reconcile the object again in `seconds` (fallback's wait running out)."""
        self.rechecks.at((namespace, name), seconds, self._recheck_now)

    def _recheck_now(self, namespace: str, name: str) -> None:
        if self.active is None:  # not yet known whether this replica works: ask again soon
            self.recheck(namespace, name, 2.0)
            return
        if not self.active or not self.ready:
            return  # a standby writes nothing: the active replica's informers recheck
        try:
            self.resync_one(namespace, name)
        except Exception as error:  # the resync's sweep and the next pod event retry it
            log.info("recheck of %s/%s failed: %s", namespace, name, error)

    def resync_one(self, namespace: str, name: str) -> None:
        ref = {"k8s_ref": {"kind": "NeuronDeployment", "namespace": namespace, "name": name}}
        self.attempt(namespace, name, logging.LoggerAdapter(log, ref))

    @staticmethod
    def gather(
        store: Store,
        namespace: str,
        name: str,
        read: Callable[[str, str], dict[str, Any] | None],
        keep: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> dict[str, Any] | None:
        """The object from the store, or from the API server when the store has not seen it.
        What was read is kept only if a watch will tell its changes (`keep`): a stale copy of
        an object no watch delivers would stand for it forever."""
        known, body = store.get(namespace, name)
        if not known:
            body = read(namespace, name)
            if body is not None and keep(body):
                store.observe(body, echo=False)
        return body

    def emitter(self, body: dict[str, Any], logger: kopf.Logger) -> Callable[[Event], None]:
        def emit(event: Event) -> None:
            if event.posted and self.events is not None:
                message = event_message(event.message)
                self.events.post(body, event.type, event.reason, message)
            logger.info("%s %s: %s", event.type, event.reason, event.message)

        return emit

    # --- replicas and the watch audit (the resync thread) ---------------------------------

    def peering_active(self) -> bool:
        """Whether kopf lets this replica work; always, standalone. One GET per watched
        namespace (one cluster-wide) per resync period."""
        ours = self.settings
        if ours.peering is None or ours.identity is None or ours.priority is None:
            return True
        now = datetime.datetime.now(datetime.UTC)
        kube = self.kube()
        return all(
            is_active(kube.get_peering(namespace, ours.peering), ours.identity, ours.priority, now)
            for namespace in (ours.namespaces or (None,))
        )

    def works(self) -> bool:
        """Whether this replica reconciles what its watches deliver: always, standalone; with
        replicas, once it has been found the active one (kopf starts a replica paused)."""
        return self.settings.peering is None or self.active is True

    def watch_peering(self, name: str, resync: Resync) -> list[Informer[Any]]:
        """Ask the resync whether this replica works (`at_work`) whenever a peering object
        changes: a replica's record renewed (every few seconds), added, or removed as it stops.
        A record that expires changes nothing, but the next renewal of another's shows it.

        The watch only says when to look: `peering_active` reads the object with a GET (one
        per renewal). Deciding from the watch's copy would let a stalled watch show the other
        replica's record expiring while it renews it, and both would work."""
        group_version, plural = KOPF_PEERINGS
        paths = [f"{group_version}/namespaces/{n}/{plural}" for n in self.settings.namespaces]

        def decide(*_: Any) -> None:
            resync.at_work()

        watches: list[Informer[Any]] = [
            Informer(
                self.kube().api,
                path,
                lambda body: (body.get("metadata") or {}).get("resourceVersion"),
                field_selector=f"metadata.name={name}",
                changed=decide,
            )
            for path in paths or [f"{group_version}/clusterkopfpeerings"]
        ]
        for watch in watches:
            watch.start()
        return watches

    def switched(self, active: bool) -> None:
        known = self.active is not None
        self.active = active
        metrics.ACTIVE.set(1 if active else 0)
        if known:
            # kopf's watches (of HPAs, Jobs, LeaderWorkerSets) stopped or start again with a
            # fresh list: what their stores hold is no longer news. The operator's own watches
            # (NeuronDeployments, Deployments) run on a standby too: their stores stay true.
            self.autoscalers.clear()
            self.jobs.clear()
            self.group_sets.clear()
        if not active:
            # What this replica had queued is the active one's now, which reconciles everything.
            # (Not checked as each key is taken: kopf resumes the watches of a replica taking
            # over before this flag says so, and their events must be reconciled.)
            self.queue.clear()
        elif self.settings.peering is not None:
            # What the watches delivered while this replica stood by was not reconciled.
            for (namespace, name), _ in self.neurondeployments.digests():
                self.enqueue(namespace, name)
        log.info("this replica is %s", "active" if active else "standing by")

    def audit_watches(self) -> None:
        """What the API server holds, which the watches must deliver within the stall limit
        (two metadata-only lists in pages, read-only), unless both watches delivered
        writes of ours within the audit period. What they have owed for a whole
        audit period is read afresh and reconciled, so a silent watch delays a change by at
        most two periods, while the liveness probe still measures the watch."""
        ours, kube, at = self.settings, self.kube(), time.monotonic()
        since = at - ours.watch_audit_seconds
        # Both watches delivered writes of ours within the period: they deliver, and a list of
        # every object (a thousand of them while the operator is busiest) would tell nothing.
        if min(self.neurondeployments.delivered_at, self.deployments.delivered_at) < since:
            self.neurondeployments.expect(
                kube.list_versions(NEURONDEPLOYMENTS, ours.namespaces), at
            )
            selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
            self.deployments.expect(kube.list_versions(DEPLOYMENTS, ours.namespaces, selector), at)
            # Their pages are parsed and dropped: megabytes the heap would otherwise hold until
            # the next trim (every 30 s, and only after reconciles), in every audit of an idle
            # operator.
            memory.give_back()
        # A Deployment of ours has its NeuronDeployment's name.
        owed = sorted(set(self.neurondeployments.owed(since)) | set(self.deployments.owed(since)))
        if owed:
            log.warning(
                "the watches have not delivered %d objects' changes: reading them", len(owed)
            )
        for namespace, name in owed:
            self.refresh(self.neurondeployments, namespace, name, kube.get_neurondeployment)
            self.refresh(self.deployments, namespace, name, kube.get_deployment, keep=watched)
            try:
                self.resync_one(namespace, name)
            except Exception as error:  # retried by the resync or the next audit
                log.info("reconcile of %s/%s after the audit failed: %s", namespace, name, error)

    @staticmethod
    def refresh(
        store: Store,
        namespace: str,
        name: str,
        read: Callable[[str, str], dict[str, Any] | None],
        keep: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> None:
        """The object read afresh into the store (see `gather` for `keep`)."""
        body = read(namespace, name)
        if body is None or not keep(body):
            store.forget({"metadata": {"namespace": namespace, "name": name}})
        else:
            store.observe(body, echo=False)
