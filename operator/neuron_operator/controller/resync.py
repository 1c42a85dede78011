"""The level-triggered safety net under kopf's edge-triggered handling.

kopf handles an object when an event for it arrives. When kopf's own write for that event
fails (a 409 on its progress annotation, say), it logs the error, throttles the object and
drops the event: nothing reconciles the object again until the next event, which may never
come. The fault suite found objects left on an old generation that way. So every few seconds
this reconciles each object whose status is behind its spec, and, less often, every object
(a missed Deployment event leaves drift that no status shows). A reconcile that changes
nothing costs no API call: both objects come from the watch-fed stores.

Objects whose resync fails back off exponentially, so a fault that outlasts a sweep costs one
attempt per object per backoff period, not one per sweep.

With several replicas, only the active one sweeps: kopf pauses a standby's watches, and a
sweep from a store that no longer hears of changes would write old states back
(controller/peering.py). `active()` says whether this replica is at work; `switched(active)`
is told each time that changes.

Every `audit_every` seconds it also runs `audit()`: a list of what the API server holds, which
the watches must deliver too (controller/store.py `expect`), so a watch that went silent fails
the liveness probe even when the operator has nothing of its own to write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from neuron_operator.api.reasons import ReasonCode
from neuron_operator.controller.digest import Digest
from neuron_operator.controller.errors import backoff
from neuron_operator.controller.store import Key, Store

log = logging.getLogger("neuron_operator")


class Resync:
    def __init__(
        self,
        store: Store,
        run: Callable[[str, str], None],
        stale_every: float = 10.0,
        full_every: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        active: Callable[[], bool] = lambda: True,
        switched: Callable[[bool], None] = lambda _: None,
        audit: Callable[[], None] = lambda: None,
        audit_every: float = 60.0,
        queued: Callable[[Key], bool] = lambda _: False,
    ) -> None:
        """`store` digests each object with controller.digest.plan_summary; `run(namespace, name)`
        reconciles one object and raises when it did not succeed; `queued(key)` whether the
        work queue holds the object already (its reconcile is due anyway: not swept)."""
        self.queued = queued
        self.active = active
        self.switched = switched
        self.was_active: bool | None = None
        self.audit = audit
        self.audit_every = audit_every
        self._last_audit = clock()
        self.store = store
        self.run = run
        self.stale_every = stale_every
        self.full_every = full_every
        self.clock = clock
        self._last_full = clock()
        self._failures: dict[Key, tuple[int, float]] = {}  # failures, next attempt
        self._stop = threading.Event()
        self._deciding = threading.Lock()

    def due(self) -> list[Key]:
        """The objects to reconcile now: stale ones (all of them on a full sweep), less those
        backing off after a failed resync and those the work queue holds. While a thousand
        objects are created at once, most are stale and queued: the sweep reconciled them a
        second time beside the queue's threads."""
        now = self.clock()
        full = now - self._last_full >= self.full_every
        if full:
            self._last_full = now
        known = self.store.digests()
        present = {key for key, _ in known}
        for key in list(self._failures):
            if key not in present:
                del self._failures[key]
        return [
            key
            for key, digest in known
            if (full or (isinstance(digest, Digest) and (digest.stale or _waits(digest))))
            and self._failures.get(key, (0, 0.0))[1] <= now
            and not self.queued(key)
        ]

    def everything_soon(self) -> None:
        """Make the next sweep a full one (something every plan depends on changed: prices)."""
        self._last_full = float("-inf")

    def at_work(self) -> bool:
        """Whether this replica is the active one, telling `switched` when that changed (from
        the sweep, and from the peering watch's thread: one at a time)."""
        with self._deciding:
            try:
                now = bool(self.active())
            except Exception as error:  # the peering object unreadable: stay out of the way
                log.info("cannot tell whether this replica is active: %s", error)
                now = False
            if now != self.was_active:
                self.was_active = now
                self.switched(now)
            return now

    def sweep(self) -> int:
        """Reconcile what is due; returns how many reconciles failed."""
        if not self.at_work():
            return 0
        if self.clock() - self._last_audit >= self.audit_every:
            self._last_audit = self.clock()
            try:
                self.audit()
            except Exception as error:  # API trouble: the next audit will tell
                log.info("watch audit failed: %s", error)
        failed = 0
        for key in self.due():
            try:
                self.run(*key)
            except Exception as error:  # API trouble, or anything else: retried later
                failed += 1
                count = self._failures.get(key, (0, 0.0))[0] + 1
                # A retry the reconcile asked for (kopf.TemporaryError's delay: a 429's
                # Retry-After, a held-back revert) comes when asked; others back off.
                asked = getattr(error, "delay", None)
                delay = (
                    float(asked)
                    if isinstance(asked, int | float)
                    else backoff(count, base=self.stale_every)
                )
                self._failures[key] = (count, self.clock() + delay)
                log.info("resync of %s/%s failed: %s", *key, error, extra=_ref(key))
            else:
                self._failures.pop(key, None)
        return failed

    def start(self) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(self.stale_every):
                try:
                    self.sweep()
                except Exception:  # never let the safety net die
                    log.exception("resync sweep failed")

        thread = threading.Thread(target=loop, name="resync", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


# Reasons that wait on a change no watch of ours may deliver (a Deployment of the same name
# that is not labelled as ours): such objects are looked at on every sweep.
WAITING_ON_THE_WORLD = {ReasonCode.NAME_CONFLICT}


def _waits(digest: Digest) -> bool:
    """Also objects someone fights over: a revert held back is owed once its time comes."""
    return digest.unplanned in WAITING_ON_THE_WORLD or digest.contested


def _ref(key: Key) -> dict[str, Any]:
    namespace, name = key
    return {"k8s_ref": {"kind": "NeuronDeployment", "namespace": namespace, "name": name}}
