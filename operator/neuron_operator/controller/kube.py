"""The operator's API access: a thin, typed facade over the official client. Objects go in and
come out as plain dicts in the API's own (camelCase) shape; API errors are mapped to what the
reconcile should do about them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from neuron_operator.api.v1alpha1 import GROUP, VERSION
from neuron_operator.controller.metrics import API_ERRORS
from neuron_operator.crdgen import PLURAL

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


class UserError(Exception):
    """The API server refused what the user's object led us to send (e.g. an invalid pod
    template): retrying will not help, telling the user will."""


class TransientError(Exception):
    """A conflict, throttling or server error: try again after `delay` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


def _api_message(error: ApiException) -> str:
    import json

    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)


def classify(error: ApiException) -> Exception:
    """What an API error means for the reconcile (and count it: every error the API server
    returns, other than a 404 the caller expected, goes through here)."""
    status = error.status or 0
    API_ERRORS.labels(code=str(status)).inc()
    if status in (400, 422):
        return UserError(_api_message(error))
    delay = 1.0 if status == 409 else 5.0 if status in (429, 500, 502, 503, 504) else 15.0
    return TransientError(f"API error {status}: {_api_message(error)}", delay)


def _ignore(_: dict[str, Any]) -> None:
    pass


class Kube:
    def __init__(
        self,
        api_client: client.ApiClient,
        field_manager: str,
        written: Callable[[dict[str, Any]], None] = _ignore,
    ) -> None:
        """`written` is told every object as a write of ours left it (read-your-writes)."""
        self.api = api_client
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.field_manager = field_manager
        self.written = written

    def _plain(self, obj: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return result

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._plain(self.apps.read_namespaced_deployment(name, namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise classify(error) from error

    def get_neurondeployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
            return dict(result) if isinstance(result, dict) else None
        except ApiException as error:
            if error.status == 404:
                return None
            raise classify(error) from error

    def apply_deployment(self, desired: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply under our field manager. Forcing takes back only the fields we
        set (someone else's change to them is drift); fields others own are left alone."""
        metadata = desired["metadata"]
        try:
            applied = self._plain(
                self.apps.patch_namespaced_deployment(
                    metadata["name"],
                    metadata["namespace"],
                    desired,
                    field_manager=self.field_manager,
                    force=True,
                    _content_type=APPLY,
                )
            )
        except ApiException as error:
            raise classify(error) from error
        self.written(applied)
        return applied

    def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        try:
            patched = self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": patch},
                _content_type=MERGE,
            )
        except ApiException as error:
            if error.status == 404:
                return  # deleted meanwhile: nothing to report on
            raise classify(error) from error
        if isinstance(patched, dict):
            self.written(patched)
