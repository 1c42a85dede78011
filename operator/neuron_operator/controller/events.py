"""Kubernetes Events on NeuronDeployments, posted off the reconcile's thread.

kopf posts events from a queue its own handlers reach through context variables; the
operator's reconciles run on threads of its own, for objects whose watches are its own too, so
it posts its events itself, as client-go's recorder does: built here, queued, and sent by one
thread, so a slow API server delays an event, never a reconcile, and an event that cannot be
posted is logged, never a failed reconcile.

The same event again (object, type, reason and message) within ten minutes is not a new Event:
the one posted is counted up (`count`, `lastTimestamp`), as client-go's EventCorrelator does,
so a condition that flaps shows as one line with its count in `kubectl describe`.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from neuron_operator.controller.errors import ApiTrouble, TransientError

log = logging.getLogger("neuron_operator")

COMPONENT = "neuron-operator"
# Events waiting to be posted at most; more are dropped (and logged): a backlog that long means
# the API server refuses them or cannot keep up, and the operator's memory stays bounded.
BACKLOG = 10_000
ATTEMPTS = 3
# A repeat within this long counts up the Event already posted (client-go's aggregation window).
REPEAT_WINDOW_SECONDS = 600.0
# Posted events remembered for counting repeats at most (the oldest are forgotten first).
REMEMBERED = 4096


def event_body(
    involved: dict[str, Any],
    type: str,
    reason: str,
    message: str,
    instance: str,
    now: datetime.datetime,
) -> dict[str, Any]:
    """A core/v1 Event about `involved` (an object's body), as client-go's recorder makes one."""
    metadata = involved.get("metadata") or {}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{metadata.get('name')}.",
            "namespace": metadata.get("namespace"),
        },
        "involvedObject": {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "namespace": metadata.get("namespace"),
            "name": metadata.get("name"),
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
        },
        "type": type,
        "reason": reason,
        "message": message,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class Events(Protocol):
    """What posting needs of the API (controller/kube.py's Kube; a recording fake in tests)."""

    def create_event(self, namespace: str, event: dict[str, Any]) -> dict[str, Any]: ...

    def count_event(
        self, namespace: str, name: str, count: int, last_timestamp: str
    ) -> dict[str, Any] | None: ...


class _Posted(NamedTuple):
    name: str
    times: int  # the Event's count
    at: float  # time.monotonic() of the last posting


def _identity(event: dict[str, Any]) -> tuple[Any, ...]:
    involved = event["involvedObject"]
    return (
        involved.get("namespace"),
        involved.get("uid") or involved.get("name"),
        event["type"],
        event["reason"],
        event["message"],
    )


class EventPoster:
    """Posts the events `post` is given, in order, on its own thread."""

    def __init__(
        self,
        api: Events,
        instance: str,
        wait: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`wait(seconds)` pauses between attempts (the stop flag's wait, so stopping cuts it
        short)."""
        self.api = api
        self.instance = instance
        self.clock = clock
        self._posted: OrderedDict[tuple[Any, ...], _Posted] = OrderedDict()
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(BACKLOG)
        self._stop = threading.Event()
        self.wait = wait or self._stop.wait
        self._thread: threading.Thread | None = None

    def post(self, involved: dict[str, Any], type: str, reason: str, message: str) -> None:
        now = datetime.datetime.now(datetime.UTC)
        event = event_body(involved, type, reason, message, self.instance, now)
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("%d events wait to be posted: dropped %s %s", BACKLOG, type, reason)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Post what is queued, without waiting between attempts, and end."""
        self._stop.set()
        with contextlib.suppress(queue.Full):  # the thread, a daemon, ends with the process
            self._queue.put_nowait(None)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self.deliver(event)
            except Exception:  # a bug in posting must not end every later event's posting
                log.exception("posting event %s failed", event.get("reason"))

    def deliver(self, event: dict[str, Any]) -> bool:
        """Post one event, retrying what may pass later; returns whether it was posted."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._send(event)
                return True
            except ApiTrouble as error:
                if not isinstance(error, TransientError) or attempt == ATTEMPTS:
                    log.warning("event %s not posted: %s", event["reason"], error)
                    return False
                self.wait(error.retry_after or float(attempt))
        return False

    def _send(self, event: dict[str, Any]) -> None:
        """Count up the same event posted within the window, or post it anew."""
        namespace, key, now = str(event["metadata"]["namespace"]), _identity(event), self.clock()
        posted = self._posted.get(key)
        if posted is not None and now - posted.at < REPEAT_WINDOW_SECONDS:
            count = posted.times + 1
            if self.api.count_event(namespace, posted.name, count, event["lastTimestamp"]):
                self._remember(key, _Posted(posted.name, count, now))
                return
            # Gone (Events expire, an hour by default): post it anew.
        created = self.api.create_event(namespace, event)
        name = (created.get("metadata") or {}).get("name")
        if isinstance(name, str):
            self._remember(key, _Posted(name, 1, now))

    def _remember(self, key: tuple[Any, ...], posted: _Posted) -> None:
        self._posted[key] = posted
        self._posted.move_to_end(key)
        if len(self._posted) > REMEMBERED:
            self._posted.popitem(last=False)

    def drain(self) -> None:
        """Post what is queued, on the caller's thread (tests, and shutdown)."""
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                return
            if event is not None:
                self.deliver(event)
