"""A list-then-watch of one kind of object, kept as small values transformed on receipt.

The operator's watches: of what it reconciles, NeuronDeployments and their Deployments
(`EventInformer`, which hands every event on, controller/watches.py); for capacity, every
Neuron node and every pod bound to one in any namespace, whatever namespaces the operator
serves, and Karpenter's NodePools where their CRD exists; the peering object between replicas.
Keeping those as whole objects would cost kilobytes each; an informer keeps only what
`transform` returns (a few dozen bytes for a pod), reading the API's JSON page by page and
line by line, never as the client's model objects.

The protocol is the API's own (client-go's reflector does the same): list in pages, watch
from the list's resourceVersion with bookmarks, watch again from the last version when a watch
ends or goes silent, list again when the server says the version is gone (410) or the
connection fails. Read-only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import urllib3
from kubernetes import client
from kubernetes.watch.watch import iter_resp_lines

from neuron_operator.controller import codec
from neuron_operator.controller.kube import retry_after_seconds

log = logging.getLogger("neuron_operator")

T = TypeVar("T")
Key = tuple[str, str]  # (namespace or "", name)
# A watch request ends after this long (the server closes it); the informer resumes at once.
WATCH_SECONDS = 240
# A connection is dropped after this long without a byte, and the watch resumed from the last
# version it applied (_watch), not listed again. The watch cache's bookmarks (about a minute
# apart, k8s.io/apiserver storage/cacher) are no heartbeat to count on: `make bench` saw the pod
# watch silent for 90 s while nothing changed.
READ_TIMEOUT = 90.0
PAGE = 500
EVENT_PAGE = 100


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class Absent(Exception):
    """The kind is not served (404): its CRD is not installed."""


class Silent(Exception):
    """The watch's connection delivered nothing for READ_TIMEOUT; `version`: where it was."""

    def __init__(self, message: str, version: str) -> None:
        super().__init__(message)
        self.version = version


class Throttled(RuntimeError):
    """429: the server asked for no request before `seconds` (None: it did not say)."""

    def __init__(self, path: str, seconds: float | None) -> None:
        super().__init__(f"{path}: HTTP 429, retry after {seconds} s")
        self.seconds = seconds


def _key(body: dict[str, Any]) -> Key:
    metadata = body.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name"))


class Informer(Generic[T]):
    """The objects at `path` (e.g. "/api/v1/pods"), each kept as `transform(body)`; a body
    transformed to None is not kept (or no longer). `changed()` is called after each change
    the informer applied, from its own thread."""

    def __init__(
        self,
        api: client.ApiClient,
        path: str,
        transform: Callable[[dict[str, Any]], T | None],
        field_selector: str = "",
        changed: Callable[[Key, T | None, T | None], None] = lambda *_: None,
        absent_retry_seconds: float = 15.0,
        label_selector: str = "",
        page_size: int = PAGE,
    ) -> None:
        self.api = api
        self.path = path
        self.transform = transform
        self.field_selector = field_selector
        self.label_selector = label_selector
        self.page_size = page_size
        self.changed = changed
        self.absent_retry_seconds = absent_retry_seconds
        self._items: dict[Key, T] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Set once the first list is in: until then the informer knows nothing.
        self.synced = threading.Event()
        # Whether the kind is served: None until the first list answered.
        self.served: bool | None = None
        self.version = 0  # grows with every change applied: a cheap "has anything changed"

    # --- reading ---------------------------------------------------------------------------

    def items(self) -> list[T]:
        with self._guard:
            return list(self._items.values())

    def get(self, key: Key) -> T | None:
        with self._guard:
            return self._items.get(key)

    def __len__(self) -> int:
        with self._guard:
            return len(self._items)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"informer {self.path}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop at the next event or when the current watch request ends (the thread is a
        daemon: it never holds the process). The connection is not closed from here: closing
        a TLS socket another thread reads from blocks until that read returns."""
        self._stop.set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                version = self._list()
                failures = 0
                while not self._stop.is_set():
                    version = self._watch(version)
            except Gone:
                continue  # list again, at once
            except Absent:
                self._replace({}, served=False)
                self._stop.wait(self.absent_retry_seconds)
            except Exception as error:
                if self._stop.is_set():
                    return
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                if isinstance(error, Throttled) and error.seconds is not None:
                    delay = max(delay, error.seconds)  # never sooner than the server asked
                log.info("informer %s: %s; listing again in %.0f s", self.path, error, delay)
                self._stop.wait(delay)

    # --- the protocol ----------------------------------------------------------------------

    def _request(self, query: list[tuple[str, Any]], timeout: float) -> Any:
        if self.field_selector:
            query = [*query, ("fieldSelector", self.field_selector)]
        if self.label_selector:
            query = [*query, ("labelSelector", self.label_selector)]
        request = self.api.param_serialize(
            method="GET",
            resource_path=self.path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        answer = self.api.call_api(*request, _request_timeout=(5.0, timeout))
        if answer.status == 404:
            raise Absent(self.path)
        if answer.status == 429:
            answer.read()  # type: ignore[no-untyped-call]
            retry_after = answer.getheader("Retry-After")  # type: ignore[no-untyped-call]
            raise Throttled(self.path, retry_after_seconds(retry_after))
        return answer

    def _list(self) -> str:
        """Every object, in pages; returns the resourceVersion to watch from."""
        found: dict[Key, T] = {}
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", self.page_size)]
            if token:
                query.append(("continue", token))
            response = self._request(query, 60.0)
            if response.status == 410:
                raise Gone(self.path)
            if response.status >= 400:
                raise RuntimeError(f"list {self.path}: HTTP {response.status}")
            page = codec.loads(response.read())
            for body in page.get("items") or []:
                self._received(None, body)
                kept = self.transform(body)
                if kept is not None:
                    found[_key(body)] = kept
            metadata = page.get("metadata") or {}
            token = metadata.get("continue") or ""
            if not token:
                self._replace(found, served=True)
                return str(metadata.get("resourceVersion") or "")

    def _received(self, kind: str | None, body: dict[str, Any]) -> None:
        """Each object as it arrives: `kind` is the watch event's type, None from a list."""

    def _replace(self, found: dict[Key, T], served: bool) -> None:
        with self._guard:
            before = self._items
            self._items = found
            self.version += 1
            self.served = served
        for key in set(before) | set(found):
            if before.get(key) != found.get(key):
                self.changed(key, before.get(key), found.get(key))
        self.synced.set()

    def _events(self, version: str) -> Iterator[dict[str, Any]]:
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", WATCH_SECONDS),
        ]
        if version:
            query.append(("resourceVersion", version))
        answer = self._request(query, READ_TIMEOUT)
        if answer.status == 410:
            raise Gone(self.path)
        if answer.status >= 400:
            raise RuntimeError(f"watch {self.path}: HTTP {answer.status}")
        response = answer.response  # urllib3's, not yet read: the events stream in
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if self._stop.is_set():
                    return
                if line:
                    yield codec.loads(line)
        finally:
            response.release_conn()

    def _watch(self, version: str) -> str:
        """Apply one watch request's events; returns the version to resume from."""
        try:
            return self._apply_events(version)
        except Silent as error:
            # Nothing came for READ_TIMEOUT, not even a bookmark: watch again from the last
            # version applied. Listing again (every object) is for a version the server no
            # longer has (410): after a timed-out read, a list of every pod in `make bench`
            # left the operator's memory at 121 MiB instead of 90.
            log.info("informer %s: %s; watching again from %s", self.path, error, error.version)
            return error.version

    def _apply_events(self, version: str) -> str:
        for event in self._read_events(version):
            kind, body = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if body.get("code") == 410:
                    raise Gone(self.path)
                raise RuntimeError(f"watch {self.path}: {body.get('message')}")
            version = str((body.get("metadata") or {}).get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            self._received(kind, body)
            key = _key(body)
            kept = None if kind == "DELETED" else self.transform(body)
            with self._guard:
                before = self._items.get(key)
                if kept is None:
                    self._items.pop(key, None)
                else:
                    self._items[key] = kept
                if before != kept:
                    self.version += 1
            if before != kept:
                self.changed(key, before, kept)
        return version

    def _read_events(self, version: str) -> Iterator[dict[str, Any]]:
        """The watch's events; a read that times out is raised as Silent, with the version to
        resume from (the last event's)."""
        events = self._events(version)
        while True:
            try:
                event = next(events)
            except StopIteration:
                return
            except urllib3.exceptions.ReadTimeoutError as error:
                raise Silent(str(error), version) from error
            body = event.get("object") or {}
            version = str((body.get("metadata") or {}).get("resourceVersion") or version)
            yield event


def identity(body: dict[str, Any]) -> dict[str, Any]:
    """What an EventInformer keeps of an object: enough to name it, and its owner, once it is
    gone (a few hundred bytes)."""
    metadata = body.get("metadata") or {}
    kept = {k: metadata.get(k) for k in ("namespace", "name", "resourceVersion", "ownerReferences")}
    type_meta = {k: body.get(k) for k in ("apiVersion", "kind")}
    return {**type_meta, "metadata": {k: v for k, v in kept.items() if v}}


class EventInformer(Informer[dict[str, Any]]):
    """Every event handed to `on_event(type, body)` as it arrives, on the informer's thread,
    with the watch's own types ("ADDED", "MODIFIED", "DELETED"), and None for each object a
    list found (the first one, and any after the watch's version expired or its connection
    failed). An object deleted while no watch ran is found missing by the next list and handed
    on as "DELETED", with what `identity` kept of it: kopf's watch, which this replaces for
    the objects the operator reconciles, tells nothing of those.

    List items carry no apiVersion and kind: they are filled in, so that every body looks as a
    watch event's does."""

    def __init__(
        self,
        api: client.ApiClient,
        path: str,
        api_version: str,
        kind: str,
        on_event: Callable[[str | None, dict[str, Any]], None],
        label_selector: str = "",
    ) -> None:
        # Whole objects (a NeuronDeployment with its status is ~7 KB of JSON), held a page at
        # a time while they are handed on: pages of 500 made a restart in front of 1,000
        # objects peak at 160 MiB (make bench), where kopf's pages of 100 had peaked at 119.
        super().__init__(api, path, identity, label_selector=label_selector, page_size=EVENT_PAGE)
        self.type_meta = {"apiVersion": api_version, "kind": kind}
        self.on_event = on_event

    def _received(self, kind: str | None, body: dict[str, Any]) -> None:
        for field, value in self.type_meta.items():
            body.setdefault(field, value)
        self.on_event(kind, body)

    def _replace(self, found: dict[Key, dict[str, Any]], served: bool) -> None:
        with self._guard:
            vanished = [kept for key, kept in self._items.items() if key not in found]
        super()._replace(found, served)
        for kept in vanished:
            self.on_event("DELETED", kept)
