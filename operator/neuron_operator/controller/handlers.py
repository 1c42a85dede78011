"""kopf wiring, and nothing else: the operator's start and stop, its liveness probe, kopf's
peering between replicas, and the watches of the rarer children (HPAs, training Jobs,
LeaderWorkerSets). NeuronDeployments and Deployments are watched by the operator's own
informers (controller/watches.py, which also says what each event asks for).

kopf's handlers here are *event* handlers: level-triggered, they need none of the bookkeeping
kopf's change handlers write onto each object (its progress and last-handled-configuration
annotations, one more API write per change), and the operator retries failures itself
(Runtime.attempt). What the operator keeps lives in the Runtime that kopf's memo carries
(runtime.py). The watch handlers are coroutines that only record the event and queue a key,
without I/O: kopf would hand a synchronous one to its thread pool for every event, a hop that
cost more than their work. The reconciles run on the work queue's threads.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import kopf

from neuron_operator.controller.multinode import LWS_GROUP, LWS_PLURAL, LWS_VERSION
from neuron_operator.controller.render import MANAGED_BY
from neuron_operator.controller.runtime import Runtime
from neuron_operator.controller.watches import child_event, watch


def runtime_of(memo: Any) -> Runtime:
    """The Runtime `neuron-operator run` put in kopf's memo."""
    found = getattr(memo, "runtime", None)
    if not isinstance(found, Runtime):
        raise kopf.PermanentError("no Runtime in kopf's memo: start with `neuron-operator run`")
    return found


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf keeps, per object, the "essence" its change handlers diff against, and builds a
    new one for every event — a deep copy of each body, ~11 % of the operator's CPU with
    1,000 objects. Event handlers diff nothing, so there is nothing to build or keep."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        pass


class NoProgress(kopf.ProgressStorage):
    """kopf records its change handlers' progress on each object, and for every event looks
    for that record and strips it from a copy of the diff base. Event handlers keep no
    progress: nothing to fetch, write or strip (3 % of the operator's CPU at creation)."""

    def fetch(self, *, key: Any, body: kopf.Body) -> kopf.ProgressRecord | None:
        return None

    def store(
        self, *, key: Any, record: kopf.ProgressRecord, body: kopf.Body, patch: kopf.Patch
    ) -> None:
        pass

    def purge(self, *, key: Any, body: kopf.Body, patch: kopf.Patch) -> None:
        pass

    def touch(self, *, body: kopf.Body, patch: kopf.Patch, value: str | None) -> None:
        pass

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        return essence


def only_event_handlers(registry: kopf.OperatorRegistry) -> bool:
    """NoDiffBase and NoProgress hold while no handler of kopf's compares versions or keeps
    progress (on.create/update/…)."""
    return not any(registry._changing.get_all_handlers())


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    runtime = runtime_of(memo)
    # Our own events say what happened; kopf's "handler succeeded" notes would only add one
    # API write per object and change. Its warnings and errors are still posted.
    settings.posting.level = logging.WARNING
    if only_event_handlers(kopf.get_default_registry()):
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.persistence.progress_storage = NoProgress()
    # kopf waits this long for more events of an object before handling it; the reconcile
    # reads the newest version from the store anyway, so only a short window is useful.
    settings.batching.batch_window = 0.01
    # kopf keeps a worker (a task, a queue, the events it holds) per object until the object
    # has been quiet this long; 5 s by default, so a burst of 1,000 creations had ~2,000 of them
    # alive at once, and the heap they grew stayed fragmented: 123 MiB resident once converged,
    # against 89 MiB with 0.5 s (the same burst, the chart's environment). Ours only record an
    # event and queue a reconcile; the next event of an object starts a worker again.
    settings.batching.idle_timeout = 0.5
    settings.networking.request_timeout = 30
    # A 429's Retry-After is the least kopf waits before retrying its own request (by
    # default it waits the longer of that and its own backoff only sometimes).
    settings.networking.enforce_retry_after = True
    # kopf's threads only record events and queue reconciles (controller/workqueue.py), which
    # run on `workers` threads of their own.
    settings.execution.max_workers = 2
    # A connection that silently stops delivering is closed by the server within 5 minutes and
    # by us within 6, then resumed where it stopped.
    settings.watching.server_timeout = 300
    # Lists (at start, and after a watch's resourceVersion expired) in pages: kopf holds a
    # whole page while its objects are handled, ~35 KB per Deployment as parsed JSON. A restart
    # in front of 1,000 objects peaked at 182 MiB with pages of 500, 168 MiB with these.
    settings.watching.chunk_size = 100
    settings.watching.client_timeout = 360
    # Watching named namespaces needs no namespace list, and the chart grants none then:
    # kopf's scan for them would retry its 403 for ~54 s before every start.
    settings.scanning.disabled = bool(runtime.settings.namespaces)
    # Replicas (controller/peering.py): a record that outlives a dead replica by at most this
    # long bounds failover. Keep-alives are not worth a log line each.
    settings.peering.lifetime = runtime.settings.peering_lifetime
    settings.peering.stealth = True
    runtime.start()
    runtime.informers = watch(runtime)
    # What exists by now (modules, classes, the catalog, kopf's machinery) lives as long as the
    # process: out of the collector's sight, so that every collection of the garbage from
    # thousands of events no longer walks it (full collections were 5 % of the CPU with 1,000
    # objects).
    gc.freeze()


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime_of(memo).stop()


@kopf.on.probe(id="watch", errors=kopf.ErrorsMode.PERMANENT)
def watch_delivers(memo: kopf.Memo, **_: Any) -> dict[str, float]:
    """Liveness: every write of ours must come back on its watch. A watch that stopped
    delivering would leave the operator blind to every change, so the probe fails (kopf
    answers 500) and the kubelet restarts it."""
    return {"watchLagSeconds": round(runtime_of(memo).watch_lag_within_limit(), 3)}


@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels=dict(MANAGED_BY))
@kopf.on.event("batch", "v1", "jobs", labels=dict(MANAGED_BY))
@kopf.on.event(LWS_GROUP, LWS_VERSION, LWS_PLURAL, labels=dict(MANAGED_BY))
async def managed_child_changed(
    type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """A child of ours other than a Deployment changed or went (the HPA, a training run's
    Job, the LeaderWorkerSet of replicas across nodes). kopf watches LeaderWorkerSets where
    their CRD exists; cluster-wide it follows the CRD being installed later."""
    child_event(runtime_of(memo), type, dict(body))
