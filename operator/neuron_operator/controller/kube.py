"""The operator's API access: a thin, typed facade over the official client. Objects go in and
come out as plain dicts in the API's own (camelCase) shape; API errors are mapped to what the
reconcile should do about them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from neuron_operator.api.v1alpha1 import GROUP, VERSION
from neuron_operator.controller.autoscaling import SEED_SUFFIX
from neuron_operator.controller.errors import ApiTrouble, Forbidden, TransientError, UserError
from neuron_operator.controller.metrics import API_ERRORS
from neuron_operator.controller.multinode import LWS_GROUP, LWS_PLURAL, LWS_VERSION
from neuron_operator.controller.ratelimit import TokenBucket
from neuron_operator.crdgen import PLURAL

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
# Lists of metadata only: what the watch audit needs, at a fraction of the objects' size.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
# (connect, read) seconds for every call: a server that accepts a request and never answers
# must not hold a reconcile (and its object's lock) forever.
REQUEST_TIMEOUT = (5.0, 30.0)


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)


def _retry_after(error: ApiException) -> float | None:
    value = (error.headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP date: rare from kube-apiserver; our own backoff applies


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
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
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

    def _plain(self, obj: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return result

    def _read(self, read: Callable[..., Any], namespace: str, name: str) -> dict[str, Any] | None:
        """One object by a client's read_namespaced_* call; None when there is none."""
        self._wait_turn()
        try:
            return self._plain(read(name, namespace, _request_timeout=REQUEST_TIMEOUT))
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return None
            raise self._failed(error) from error

    def _apply(
        self, patch: Callable[..., Any], desired: dict[str, Any], manager: str | None = None
    ) -> dict[str, Any]:
        """Server-side apply by a client's patch_namespaced_* call, under our field manager
        (or `manager`). Forcing takes back only the fields we set; fields others own stay."""
        metadata = desired["metadata"]
        self._wait_turn()
        try:
            applied = self._plain(
                patch(
                    metadata["name"],
                    metadata["namespace"],
                    desired,
                    field_manager=manager or self.field_manager,
                    force=True,
                    _content_type=APPLY,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )
        except FAILURES as error:
            raise self._failed(error) from error
        self.written(applied)
        return applied

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(self.apps.read_namespaced_deployment, namespace, name)

    def get_neurondeployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._wait_turn()
        try:
            result = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
            )
            return dict(result) if isinstance(result, dict) else None
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return None
            raise self._failed(error) from error

    def list_versions(
        self, path: str, namespaces: tuple[str, ...], label_selector: str = ""
    ) -> dict[tuple[str, str], int]:
        """The resourceVersion of every object at `path` (e.g. "/apis/apps/v1/deployments"),
        in `namespaces` (none: all), read as metadata only and in pages."""
        group_version, plural = path.rsplit("/", 1)
        urls = [f"{group_version}/namespaces/{n}/{plural}" for n in namespaces] or [path]
        versions: dict[tuple[str, str], int] = {}
        for url in urls:
            token = ""
            while True:
                query: list[tuple[str, Any]] = [("limit", 500)]
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
            request = self.api.param_serialize(
                method="GET",
                resource_path=url,
                query_params=query,
                header_params={"Accept": METADATA_ONLY},
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
            response.read()  # type: ignore[no-untyped-call]
            data = self.api.response_deserialize(response, {"200": "object"}).data
        except FAILURES as error:
            raise self._failed(error) from error
        return dict(data) if isinstance(data, dict) else {}

    def get_peering(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        """kopf's peering object: a KopfPeering in `namespace`, or the ClusterKopfPeering."""
        self._wait_turn()
        try:
            if namespace is None:
                result = self.custom.get_cluster_custom_object(
                    "kopf.dev", "v1", "clusterkopfpeerings", name, _request_timeout=REQUEST_TIMEOUT
                )
            else:
                result = self.custom.get_namespaced_custom_object(
                    "kopf.dev",
                    "v1",
                    namespace,
                    "kopfpeerings",
                    name,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            return dict(result) if isinstance(result, dict) else None
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return None
            raise self._failed(error) from error

    def apply_deployment(self, desired: dict[str, Any]) -> dict[str, Any]:
        """Someone else's change to a field we set is drift: the forced apply takes it back."""
        return self._apply(self.apps.patch_namespaced_deployment, desired)

    def seed_replicas(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        """Set the Deployment's replicas under a field manager of their own (…-initial-replicas),
        whose ownership the HPA's writes take over: our apply can then leave them out."""
        document = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas},
        }
        return self._apply(
            self.apps.patch_namespaced_deployment, document, self.field_manager + SEED_SUFFIX
        )

    def get_autoscaler(self, namespace: str, name: str) -> dict[str, Any] | None:
        read = self.autoscaling.read_namespaced_horizontal_pod_autoscaler
        return self._read(read, namespace, name)

    def apply_autoscaler(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self._apply(self.autoscaling.patch_namespaced_horizontal_pod_autoscaler, desired)

    def apply_claim_template(self, desired: dict[str, Any]) -> dict[str, Any]:
        """A ResourceClaimTemplate (resource.k8s.io/v1), through the custom-objects client."""

        def patch(name: str, namespace: str, body: dict[str, Any], **kwargs: Any) -> Any:
            return self.custom.patch_namespaced_custom_object(
                "resource.k8s.io", "v1", namespace, "resourceclaimtemplates", name, body, **kwargs
            )

        return self._apply(patch, desired)

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(self.batch.read_namespaced_job, namespace, name)

    def apply_job(self, desired: dict[str, Any]) -> dict[str, Any]:
        """A run's Job: the reconcile calls it only to create one."""
        return self._apply(self.batch.patch_namespaced_job, desired)

    def get_leader_worker_set(self, namespace: str, name: str) -> dict[str, Any] | None:
        def read(name: str, namespace: str, **kwargs: Any) -> Any:
            return self.custom.get_namespaced_custom_object(
                LWS_GROUP, LWS_VERSION, namespace, LWS_PLURAL, name, **kwargs
            )

        return self._read(read, namespace, name)

    def apply_leader_worker_set(self, desired: dict[str, Any]) -> dict[str, Any]:
        def patch(name: str, namespace: str, body: dict[str, Any], **kwargs: Any) -> Any:
            return self.custom.patch_namespaced_custom_object(
                LWS_GROUP, LWS_VERSION, namespace, LWS_PLURAL, name, body, **kwargs
            )

        return self._apply(patch, desired)

    def served(self, group_version: str) -> bool:
        """Whether the API server serves `group_version` (e.g. "leaderworkerset.x-k8s.io/v1"):
        its discovery document, which every authenticated client may read."""
        self._wait_turn()
        try:
            request = self.api.param_serialize(
                method="GET", resource_path=f"/apis/{group_version}", auth_settings=["BearerToken"]
            )
            response = self.api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
            response.read()  # type: ignore[no-untyped-call]
            return bool(response.status == 200)
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return False
            raise self._failed(error) from error

    def apply_service(self, desired: dict[str, Any]) -> dict[str, Any]:
        return self._apply(self.core.patch_namespaced_service, desired)

    def delete_autoscaler(self, namespace: str, name: str) -> None:
        self._wait_turn()
        try:
            self.autoscaling.delete_namespaced_horizontal_pod_autoscaler(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return
            raise self._failed(error) from error

    def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self._wait_turn()
        try:
            patched = self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": patch},
                _content_type=MERGE,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return  # deleted meanwhile: nothing to report on
            raise self._failed(error) from error
        if isinstance(patched, dict):
            self.written(patched)
