"""The operator's API access: a thin, typed facade over the official client's connection (its
configuration, TLS, authentication and pool). Objects go in and come out as plain dicts in the
API's own (camelCase) shape, as JSON on the wire; API errors are mapped to what the reconcile
should do about them.

Requests go by path through the client's `call_api`, not its generated per-kind methods: those
validate every argument (pydantic), build the response into typed models and the operator then
turned them back into dicts — with 1,000 objects, a fifth of the operator's CPU, and every
model class imported (memory) for no use."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTResponse

from neuron_operator.api.v1alpha1 import GROUP, KIND, VERSION
from neuron_operator.controller import codec
from neuron_operator.controller.autoscaling import SEED_SUFFIX
from neuron_operator.controller.errors import (
    AlreadyExists,
    ApiTrouble,
    Forbidden,
    TransientError,
    UserError,
)
from neuron_operator.controller.managed_fields import adopted
from neuron_operator.controller.metrics import API_ERRORS
from neuron_operator.controller.multinode import LWS_GROUP, LWS_PLURAL, LWS_VERSION
from neuron_operator.controller.ratelimit import TokenBucket
from neuron_operator.crdgen import PLURAL

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# Lists of metadata only: what the watch audit needs, at a fraction of the objects' size.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
# Objects per page of a metadata-only list. Metadata is mostly managedFields: 500
# NeuronDeployments with their status are ~1 MB of it, 5.5 MiB once parsed (7 MiB for 500
# Deployments), which the heap kept as a 20 MiB bump in resident memory each audit.
VERSIONS_PAGE = 100
# (connect, read) seconds for every call: a server that accepts a request and never answers
# must not hold a reconcile (and its object's lock) forever.
REQUEST_TIMEOUT = (5.0, 30.0)


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's seconds; None when absent or an HTTP date (rare from
    kube-apiserver: the caller's own backoff applies)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _retry_after(error: ApiException) -> float | None:
    return retry_after_seconds((error.headers or {}).get("Retry-After"))


def classify(error: Exception) -> ApiTrouble:
    """What a failed call means for the reconcile, counted by status ("network" when the
    server never answered). A 404 the caller expected never comes here."""
    if not isinstance(error, ApiException):
        API_ERRORS.labels(code="network").inc()
        return TransientError(f"no answer from the API server: {error}", "network")
    status = error.status or 0
    API_ERRORS.labels(code=str(status)).inc()
    message = _api_message(error)
    if status in (400, 422):
        return UserError(message, str(status))
    if status == 403:
        return Forbidden(message, "403")
    return TransientError(f"API error {status}: {message}", str(status), _retry_after(error))


# What a call can fail with: an API answer, or none (the connection, TLS or a timeout).
FAILURES = (ApiException, urllib3.exceptions.HTTPError, OSError)


def _ignore(_: dict[str, Any]) -> None:
    pass


# Where each kind the operator reads or writes lives: its group-version path and plural.
DEPLOYMENTS = ("/apis/apps/v1", "deployments")
NEURONDEPLOYMENTS = (f"/apis/{GROUP}/{VERSION}", PLURAL)
AUTOSCALERS = ("/apis/autoscaling/v2", "horizontalpodautoscalers")
JOBS = ("/apis/batch/v1", "jobs")
SERVICES = ("/api/v1", "services")
CLAIM_TEMPLATES = ("/apis/resource.k8s.io/v1", "resourceclaimtemplates")
LEADER_WORKER_SETS = (f"/apis/{LWS_GROUP}/{LWS_VERSION}", LWS_PLURAL)
KOPF_PEERINGS = ("/apis/kopf.dev/v1", "kopfpeerings")


def object_path(kind: tuple[str, str], namespace: str, name: str) -> str:
    group_version, plural = kind
    return f"{group_version}/namespaces/{quote(namespace)}/{plural}/{quote(name)}"


def path_of(kind: tuple[str, str], desired: dict[str, Any]) -> str:
    metadata = desired["metadata"]
    return object_path(kind, metadata["namespace"], metadata["name"])


class Kube:
    def __init__(
        self,
        api_client: client.ApiClient,
        field_manager: str,
        written: Callable[[dict[str, Any]], None] = _ignore,
        limiter: TokenBucket | None = None,
    ) -> None:
        """`written` is told every object as a write of ours left it (read-your-writes);
        `limiter` paces every request (None: unpaced)."""
        self.api = api_client
        self.field_manager = field_manager
        self.written = written
        # Until when (time.monotonic()) the server asked us to send nothing (429 Retry-After).
        self._quiet_until = 0.0
        self.limiter = limiter

    def _wait_turn(self) -> None:
        """Refuse to send while the server's Retry-After holds: the request would only add to
        the load it asked us to shed. The reconcile is retried after the remaining time."""
        remaining = self._quiet_until - time.monotonic()
        if remaining > 0:
            raise TransientError(
                f"the API server asked for no requests for {remaining:.1f} s more (429)",
                "429",
                retry_after=remaining,
            )
        if self.limiter is not None:
            self.limiter.take()

    def _failed(self, error: Exception) -> ApiTrouble:
        trouble = classify(error)
        if isinstance(trouble, TransientError) and trouble.retry_after:
            self._quiet_until = max(self._quiet_until, time.monotonic() + trouble.retry_after)
        return trouble

    def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, Any]] | None = None,
        body: dict[str, Any] | list[Any] | None = None,
        content_type: str | None = None,
        accept: str = "application/json",
    ) -> Any:
        """One request; the response read, or ApiException for any status but 2xx."""
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        method, url, headers, _, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or None,
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        if body is None:
            response = self.api.call_api(method, url, headers, None, None, REQUEST_TIMEOUT)
        else:
            response = self._send_body(method, url, headers, codec.dumps(body))
        response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            text = response.data.decode("utf-8", "replace") if response.data else None
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        return response

    def _send_body(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> RESTResponse:
        """A request with a body encoded already. The client's RESTClientObject would encode a
        JSON one again with the standard library (it passes bytes through only for types it
        does not take for JSON), so the encoded body goes to its connection pool directly, as
        the client itself sends it; its TLS errors are raised as the client raises them."""
        connect, read = REQUEST_TIMEOUT
        try:
            raw = self.api.rest_client.pool_manager.request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=connect, read=read),
                preload_content=False,
            )
        except urllib3.exceptions.SSLError as error:
            raise ApiException(status=0, reason=f"{type(error).__name__}\n{error}") from error
        return RESTResponse(raw)

    def _json(self, method: str, path: str, **request: Any) -> dict[str, Any]:
        """A request whose answer is one object (or list) as JSON."""
        response = self._send(method, path, **request)
        found = codec.loads(response.data) if response.data else {}
        return found if isinstance(found, dict) else {}

    def _read(self, path: str) -> dict[str, Any] | None:
        """One object by its path; None when there is none."""
        self._wait_turn()
        try:
            return self._json("GET", path)
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return None
            raise self._failed(error) from error

    def _apply(
        self, path: str, desired: dict[str, Any], manager: str | None = None
    ) -> dict[str, Any]:
        """Server-side apply of `desired` at its path, under our field manager (or `manager`).
        Forcing takes back only the fields we set; fields others own stay."""
        self._wait_turn()
        query = [("fieldManager", manager or self.field_manager), ("force", "true")]
        try:
            applied = self._json("PATCH", path, query=query, body=desired, content_type=APPLY)
        except FAILURES as error:
            raise self._failed(error) from error
        self.written(applied)
        return applied

    def _delete(self, path: str) -> None:
        self._wait_turn()
        try:
            self._send("DELETE", path)
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return
            raise self._failed(error) from error

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(object_path(DEPLOYMENTS, namespace, name))

    def get_neurondeployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(object_path(NEURONDEPLOYMENTS, namespace, name))

    def list_versions(
        self,
        kind: tuple[str, str],
        namespaces: tuple[str, ...],
        label_selector: str = "",
        page_size: int = VERSIONS_PAGE,
    ) -> dict[tuple[str, str], int]:
        """The resourceVersion of every object of `kind` (e.g. DEPLOYMENTS), in `namespaces`
        (none: all), read as metadata only and in pages of `page_size`."""
        group_version, plural = kind
        urls = [f"{group_version}/namespaces/{quote(n)}/{plural}" for n in namespaces] or [
            f"{group_version}/{plural}"
        ]
        versions: dict[tuple[str, str], int] = {}
        for url in urls:
            token = ""
            while True:
                query: list[tuple[str, Any]] = [("limit", page_size)]
                if label_selector:
                    query.append(("labelSelector", label_selector))
                if token:
                    query.append(("continue", token))
                page = self._get_metadata(url, query)
                for item in page.get("items") or []:
                    metadata = item.get("metadata") or {}
                    try:
                        version = int(str(metadata.get("resourceVersion")))
                    except ValueError:
                        continue
                    versions[(str(metadata.get("namespace")), str(metadata.get("name")))] = version
                token = (page.get("metadata") or {}).get("continue") or ""
                if not token:
                    break
        return versions

    def _get_metadata(self, url: str, query: list[tuple[str, Any]]) -> dict[str, Any]:
        self._wait_turn()
        try:
            return self._json("GET", url, query=query, accept=METADATA_ONLY)
        except FAILURES as error:
            raise self._failed(error) from error

    def get_peering(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        """kopf's peering object: a KopfPeering in `namespace`, or the ClusterKopfPeering."""
        if namespace is None:
            return self._read(f"{KOPF_PEERINGS[0]}/clusterkopfpeerings/{quote(name)}")
        return self._read(object_path(KOPF_PEERINGS, namespace, name))

    def create_deployment(self, desired: dict[str, Any]) -> dict[str, Any]:
        """A Deployment none is known of, with a POST: it costs the API server less than the
        server-side apply that creates one (1,000 of them: 2.3-2.5 s of its CPU against
        3.4-3.7 s), and needs no GET first to learn whether the name is taken: a 409 says so
        (AlreadyExists). Its fields are the field manager's as an Update until the first apply
        (adopt_created_fields)."""
        self._wait_turn()
        namespace = desired["metadata"]["namespace"]
        path = f"{DEPLOYMENTS[0]}/namespaces/{quote(namespace)}/{DEPLOYMENTS[1]}"
        query = [("fieldManager", self.field_manager)]
        try:
            created = self._json(
                "POST", path, query=query, body=desired, content_type="application/json"
            )
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 409:
                raise AlreadyExists(
                    f"deployment {namespace}/{desired['metadata']['name']}"
                ) from error
            raise self._failed(error) from error
        self.written(created)
        return created

    def adopt_created_fields(self, namespace: str, name: str) -> None:
        """The fields our create owns as an Update become our apply's (managed_fields.py):
        one JSON patch of the managed fields, on the version just read."""
        path = object_path(DEPLOYMENTS, namespace, name)
        live = self._read(path)
        if live is None:
            return
        metadata = live["metadata"]
        at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        entries = adopted(metadata.get("managedFields") or [], self.field_manager, at)
        if entries is None:
            return
        patch = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": metadata["resourceVersion"],
            },
            {"op": "replace", "path": "/metadata/managedFields", "value": entries},
        ]
        self._wait_turn()
        try:
            patched = self._json("PATCH", path, body=patch, content_type=JSON_PATCH)
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 422:
                # The `test` failed: someone wrote the Deployment since it was read (a patch of
                # our own managed fields has no other way to be invalid). A conflict, not the
                # user's error: read it again and retry.
                raise TransientError(
                    f"deployment {namespace}/{name} changed while its created fields were adopted",
                    "409",
                ) from error
            raise self._failed(error) from error
        self.written(patched)

    def apply_deployment(self, desired: dict[str, Any]) -> dict[str, Any]:
        """Someone else's change to a field we set is drift: the forced apply takes it back."""
        return self._apply(path_of(DEPLOYMENTS, desired), desired)

    def seed_replicas(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        """Set the Deployment's replicas under a field manager of their own (…-initial-replicas),
        whose ownership the HPA's writes take over: our apply can then leave them out."""
        document = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas},
        }
        path = object_path(DEPLOYMENTS, namespace, name)
        return self._apply(path, document, self.field_manager + SEED_SUFFIX)

    def get_autoscaler(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(object_path(AUTOSCALERS, namespace, name))

    def apply_autoscaler(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self._apply(path_of(AUTOSCALERS, desired), desired)

    def apply_claim_template(self, desired: dict[str, Any]) -> dict[str, Any]:
        """A ResourceClaimTemplate (resource.k8s.io/v1)."""
        return self._apply(path_of(CLAIM_TEMPLATES, desired), desired)

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(object_path(JOBS, namespace, name))

    def apply_job(self, desired: dict[str, Any]) -> dict[str, Any]:
        """A run's Job: the reconcile calls it only to create one."""
        return self._apply(path_of(JOBS, desired), desired)

    def get_leader_worker_set(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(object_path(LEADER_WORKER_SETS, namespace, name))

    def apply_leader_worker_set(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self._apply(path_of(LEADER_WORKER_SETS, desired), desired)

    def served(self, group_version: str) -> bool:
        """Whether the API server serves `group_version` (e.g. "leaderworkerset.x-k8s.io/v1"):
        its discovery document, which every authenticated client may read."""
        self._wait_turn()
        try:
            self._send("GET", f"/apis/{group_version}")
            return True
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return False
            raise self._failed(error) from error

    def apply_service(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self._apply(path_of(SERVICES, desired), desired)

    def delete_autoscaler(self, namespace: str, name: str) -> None:
        self._delete(object_path(AUTOSCALERS, namespace, name))

    def create_event(self, namespace: str, event: dict[str, Any]) -> dict[str, Any]:
        """Post a core/v1 Event (controller/events.py builds it); returns it as created."""
        self._wait_turn()
        try:
            return self._json("POST", f"/api/v1/namespaces/{quote(namespace)}/events", body=event)
        except FAILURES as error:
            raise self._failed(error) from error

    def count_event(
        self, namespace: str, name: str, count: int, last_timestamp: str
    ) -> dict[str, Any] | None:
        """The Event seen `count` times, the last at `last_timestamp`; None when it is gone."""
        self._wait_turn()
        patch = {"count": count, "lastTimestamp": last_timestamp}
        path = f"/api/v1/namespaces/{quote(namespace)}/events/{quote(name)}"
        try:
            return self._json("PATCH", path, body=patch, content_type=MERGE)
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return None
            raise self._failed(error) from error

    def patch_status(
        self, namespace: str, name: str, patch: dict[str, Any], whole_at: str | None = None
    ) -> None:
        """A merge patch of the status. `whole_at`: the object has no status yet, `patch` is
        all of it, and the object was read at this resourceVersion. Then the status is written
        with a PUT preconditioned on that version: the API server takes the document as it
        is, where a merge patch makes it apply the patch to the stored object first (1,000
        creations: ~0.6 s less of its CPU). A 409 means the object changed since it was read:
        the reconcile runs again. Where the operator's role lacks `update` (a chart older than
        the image), the merge patch does it."""
        self._wait_turn()
        path = object_path(NEURONDEPLOYMENTS, namespace, name) + "/status"
        # Named, or the API server records the client's user agent as the status's owner.
        query = [("fieldManager", self.field_manager)]
        try:
            patched = None
            if whole_at is not None:
                document = {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "metadata": {"name": name, "namespace": namespace, "resourceVersion": whole_at},
                    "status": patch,
                }
                try:
                    patched = self._json(
                        "PUT", path, query=query, body=document, content_type="application/json"
                    )
                except ApiException as error:
                    if error.status != 403:
                        raise
            if patched is None:
                patched = self._json(
                    "PATCH", path, query=query, body={"status": patch}, content_type=MERGE
                )
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return  # deleted meanwhile: nothing to report on
            raise self._failed(error) from error
        self.written(patched)
