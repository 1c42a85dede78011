"""How long the operator waits before retrying after API trouble."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from neuron_operator.controller.errors import TransientError, backoff, retry_delay
from neuron_operator.controller.kube import classify


def throttled(retry_after: str | None) -> ApiException:
    error = ApiException(status=429, reason="Too Many Requests")
    error.headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return error


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(10_000) == 60


def test_a_retry_never_comes_sooner_than_the_server_asked() -> None:
    error = classify(throttled("7"))
    assert isinstance(error, TransientError)
    assert error.retry_after == 7.0
    assert retry_delay(error, 0) == 7.0
    assert retry_delay(error, 5) == 32.0  # our own backoff, once longer, wins
    assert retry_delay(classify(throttled(None)), 0) == 1.0
    assert retry_delay(classify(throttled("Wed, 21 Oct 2026 07:28:00 GMT")), 1) == 2.0


def test_object_locks_are_released_when_nobody_holds_them() -> None:
    from neuron_operator.controller.runtime import Locks

    locks = Locks()
    entered = threading.Event()
    release = threading.Event()

    def hold_a() -> None:
        with locks.hold(("ns", "a")):
            entered.set()
            release.wait(5)

    worker = threading.Thread(target=hold_a)
    worker.start()
    entered.wait(5)
    with locks.hold(("ns", "b")):
        assert len(locks) == 2
    assert len(locks) == 1
    release.set()
    worker.join(5)
    assert len(locks) == 0


def test_while_retry_after_holds_nothing_is_sent() -> None:
    from kubernetes import client

    from neuron_operator.controller.kube import Kube

    kube = Kube(client.ApiClient(), "neuron-operator")
    sent: list[str] = []

    def throttle(method: str, *_: object, **__: object) -> None:
        sent.append(method)
        raise throttled("30")

    kube._send = throttle  # type: ignore[method-assign]
    desired = {"metadata": {"name": "m", "namespace": "ns"}}
    for _ in range(3):
        with pytest.raises(TransientError) as refused:
            kube.apply_deployment(desired)
        assert refused.value.retry_after is not None and 29 < refused.value.retry_after <= 30
    assert sent == ["PATCH"], "only the first request went out"


def test_a_first_status_the_role_may_not_put_is_patched_instead() -> None:
    """A chart older than the image grants `patch` on the status but not `update`: the first
    status, written whole with a PUT, falls back to the merge patch, and is written."""
    from kubernetes import client

    from neuron_operator.controller.kube import Kube

    written: list[dict[str, Any]] = []
    kube = Kube(client.ApiClient(), "neuron-operator", written.append)
    sent: list[tuple[str, Any]] = []

    class Answer:
        status = 200
        data = b'{"metadata": {"resourceVersion": "8"}}'

    def answer(method: str, path: str, **request: Any) -> Answer:
        sent.append((method, request["body"]))
        if method == "PUT":
            raise ApiException(status=403, reason="Forbidden")
        return Answer()

    kube._send = answer  # type: ignore[method-assign,assignment]
    kube.patch_status("ns", "m", {"observedGeneration": 1}, whole_at="7")
    assert [method for method, _ in sent] == ["PUT", "PATCH"]
    assert sent[0][1]["metadata"]["resourceVersion"] == "7"
    assert sent[1][1] == {"status": {"observedGeneration": 1}}
    assert written == [{"metadata": {"resourceVersion": "8"}}]


def test_a_deployment_changed_while_its_created_fields_are_adopted_is_a_conflict() -> None:
    """The adoption's JSON patch tests the version it read; a write in between fails the test
    (422). That is someone else's write racing ours, not an invalid Deployment: a retry, never
    DeploymentRejected (found by the hostile co-writer of the reliability suite)."""
    from kubernetes import client

    from neuron_operator.controller.kube import Kube

    kube = Kube(client.ApiClient(), "neuron-operator")
    created = {"manager": "neuron-operator", "operation": "Update", "fieldsV1": {"f:spec": {}}}
    sent: list[str] = []

    class Live:
        status = 200
        data = json.dumps(
            {"metadata": {"resourceVersion": "7", "managedFields": [created]}}
        ).encode()

    def answer(method: str, path: str, **request: Any) -> Live:
        sent.append(method)
        if method == "PATCH":
            raise ApiException(status=422, reason="Unprocessable Entity")
        return Live()

    kube._send = answer  # type: ignore[method-assign,assignment]
    with pytest.raises(TransientError) as raised:
        kube.adopt_created_fields("ns", "m")
    assert raised.value.code == "409"
    assert sent == ["GET", "PATCH"]
