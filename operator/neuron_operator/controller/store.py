"""The operator's view of the objects it reconciles, kept from its watches and its own writes.

A reconcile used to read its NeuronDeployment and Deployment fresh from the API server: two
GETs per trigger, and a Deployment triggers several times while its pods start. The watches
already deliver every version, so the reconcile reads them from here. What makes this safe is
read-your-writes: the response to each of our own writes is recorded too, and a version only
replaces one that is not newer — so a watch event still in flight when we wrote cannot hand a
reconcile the status it just replaced (which would announce the same change twice).

Newer is decided by resourceVersion, which etcd makes a growing integer. The API asks clients
to treat it as opaque, so where it does not parse as an integer the store answers "unknown"
and the caller reads from the API server instead.

The same bookkeeping tells whether the watch still delivers: every write of ours must come back
on the watch, and so must every version a periodic list of ours found (`expect`: the audit,
which catches a stall when the operator itself writes nothing). A version not delivered for
minutes means the watch has stalled (the liveness probe fails on it).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from neuron_operator.controller import codec

Key = tuple[str, str]
# Deleted objects remembered at most; an object forgotten from here is read from the API server.
DELETED_REMEMBERED = 10_000


def _version(body: dict[str, Any]) -> int | None:
    text = (body.get("metadata") or {}).get("resourceVersion")
    try:
        return int(text) if text is not None else None
    except (TypeError, ValueError):
        return None


def _key(body: dict[str, Any]) -> Key | None:
    metadata = body.get("metadata") or {}
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if isinstance(namespace, str) and isinstance(name, str):
        return namespace, name
    return None


def _writer(entry: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {
        k: entry[k] for k in ("manager", "operation", "subresource", "time") if k in entry
    }
    fields = entry.get("fieldsV1") or {}
    kept["spec"] = "f:spec" in fields
    # Who owns a Deployment's replicas decides how autoscaling takes them over (reconcile.py).
    kept["replicas"] = "f:replicas" in (fields.get("f:spec") or {})
    return kept


class _Kept(NamedTuple):
    version: int
    # Compressed compact JSON: a thousand objects as nested dicts cost many times the memory
    # (~1.5 KB each this way), and every reader gets its own copy to do with as it likes.
    text: bytes
    summary: Any


class Store:
    """The newest known version of each object of one kind, by namespace and name.

    `summarize` keeps a small digest of each object (for metrics) beside it."""

    def __init__(self, summarize: Callable[[dict[str, Any]], Any] = lambda _: None) -> None:
        self._summarize = summarize
        self._objects: dict[Key, _Kept] = {}
        # Deletions remembered by version, so a late event for the deleted object is ignored.
        self._deleted: OrderedDict[Key, int] = OrderedDict()
        # Our writes not yet seen on the watch: (version written, when in monotonic seconds).
        self._unechoed: dict[Key, list[tuple[int, float]]] = {}
        # The newest version each watch event delivered: a write whose echo came before its
        # answer was recorded (the two race under load) owes the watch nothing.
        self._delivered: dict[Key, int] = {}
        # The newest version we wrote and the watch has yet to deliver: its echo is no news.
        self._ours: dict[Key, int] = {}
        self._guard = threading.Lock()
        # When (time.monotonic()) the watch last delivered a version owed to it: the watch
        # is then known to deliver, with no list needed to tell.
        self.delivered_at = float("-inf")

    def wrote(self, body: dict[str, Any], at: float) -> None:
        """Record the object as a write of ours returned it; the watch should echo it."""
        key, version = _key(body), _version(body)
        if key is None or version is None:
            return
        self.observe(body, echo=False)
        with self._guard:
            if self._delivered.get(key, -1) >= version:
                return  # the watch was quicker than our reading of the answer
            self._unechoed.setdefault(key, []).append((version, at))
            self._ours[key] = max(version, self._ours.get(key, -1))

    def observe(self, body: dict[str, Any], echo: bool = True) -> bool:
        """Record a version seen on a watch (`echo`) or returned by a write, unless a newer one
        is known. Returns whether it is the watch's echo of a write of ours: nothing new."""
        key, version = _key(body), _version(body)
        if key is None or version is None:
            return False
        ours = False
        with self._guard:
            if echo:
                if self._deleted.get(key, -1) < version:
                    self._delivered[key] = max(version, self._delivered.get(key, -1))
                written = self._ours.get(key)
                if written is not None and written <= version:
                    ours = written == version
                    del self._ours[key]
                owed = self._unechoed.get(key, [])
                waiting = [w for w in owed if w[0] > version]
                if len(waiting) < len(owed):
                    self.delivered_at = time.monotonic()
                if waiting:
                    self._unechoed[key] = waiting
                else:
                    self._unechoed.pop(key, None)
            known = self._objects.get(key)
        if known is not None and known.version >= version:
            # Held already, or newer: one resourceVersion is one content. The echo of each write
            # of ours comes here after its answer was kept, and needs no second encoding.
            return ours
        # managedFields are most of an object's size: only who wrote when, and whether the
        # spec, is kept (controller/drift.py names who fights over a Deployment from it).
        metadata = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
        if body["metadata"].get("managedFields"):
            metadata["managedFields"] = [_writer(e) for e in body["metadata"]["managedFields"]]
        text = zlib.compress(codec.dumps({**body, "metadata": metadata}), 1)
        kept = _Kept(version, text, self._summarize(body))
        with self._guard:
            known = self._objects.get(key)
            if known is not None:
                if known.version > version:
                    return ours
            elif self._deleted.get(key, -1) >= version:
                return ours  # a late event of the object we saw deleted
            self._deleted.pop(key, None)
            self._objects[key] = kept
        return ours

    def forget(self, body: dict[str, Any]) -> None:
        """The object was deleted (a watch's DELETED event carries its last version)."""
        key, version = _key(body), _version(body)
        if key is None:
            return
        with self._guard:
            known = self._objects.get(key)
            if known is not None and version is not None and known.version > version:
                return  # recreated since: the newer object stands
            self._objects.pop(key, None)
            self._unechoed.pop(key, None)
            self._delivered.pop(key, None)
            self._ours.pop(key, None)
            if version is not None:
                self._deleted[key] = version
                self._deleted.move_to_end(key)
                if len(self._deleted) > DELETED_REMEMBERED:
                    self._deleted.popitem(last=False)

    def expect(self, versions: dict[Key, int], at: float) -> int:
        """The API server has these versions (a list of ours read them at `at`): each that is
        newer than the store's must come on the watch too, as a write of ours must. Returns
        how many the watch has yet to deliver."""
        behind = 0
        with self._guard:
            for key, version in versions.items():
                known = self._objects.get(key)
                if known is not None and known.version >= version:
                    continue
                if known is None and self._deleted.get(key, -1) >= version:
                    continue  # its deletion came on the watch after the list was read
                behind += 1
                waiting = self._unechoed.setdefault(key, [])
                if not any(v >= version for v, _ in waiting):
                    waiting.append((version, at))
        return behind

    def owed(self, since: float) -> list[Key]:
        """Objects with a version the watch has owed since before `since`."""
        with self._guard:
            return [key for key, waiting in self._unechoed.items() if waiting[0][1] < since]

    def clear(self) -> None:
        """Know nothing: when the watches stopped (a replica paused in favour of another), what
        is kept stops being news, and a write of ours can no longer come back on them."""
        with self._guard:
            self._objects.clear()
            self._deleted.clear()
            self._unechoed.clear()
            self._delivered.clear()
            self._ours.clear()
            self.delivered_at = float("-inf")

    def get(self, namespace: str, name: str) -> tuple[bool, dict[str, Any] | None]:
        """(known, body): known is False when the store has never heard of the object, and the
        caller must ask the API server; (True, None) means it was seen deleted."""
        key = (namespace, name)
        with self._guard:
            kept = self._objects.get(key)
            if kept is None:
                return key in self._deleted, None
        body: dict[str, Any] = codec.loads(zlib.decompress(kept.text))
        return True, body

    def oldest_unechoed(self) -> tuple[Key, float] | None:
        """The object whose write has waited longest for its watch event, and when it was
        written; None when the watch has echoed every write."""
        with self._guard:
            if not self._unechoed:
                return None
            return min(
                ((key, waiting[0][1]) for key, waiting in self._unechoed.items()),
                key=lambda item: item[1],
            )

    def digests(self) -> list[tuple[Key, Any]]:
        """Every object known, by key, with its digest."""
        with self._guard:
            return [(key, kept.summary) for key, kept in self._objects.items()]

    def summaries(self) -> list[Any]:
        """The digest of every object known."""
        with self._guard:
            return [kept.summary for kept in self._objects.values()]

    def __len__(self) -> int:
        with self._guard:
            return len(self._objects)
