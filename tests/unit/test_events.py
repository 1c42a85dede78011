"""The operator's own Kubernetes Events (controller/events.py): what one says, and that posting
one never fails a reconcile."""

from __future__ import annotations

import datetime
from typing import Any

from neuron_operator.controller.errors import Forbidden, TransientError
from neuron_operator.controller.events import ATTEMPTS, EventPoster, event_body

OWNER = {
    "apiVersion": "neuron.dev/v1alpha1",
    "kind": "NeuronDeployment",
    "metadata": {"name": "m", "namespace": "n", "uid": "u-1", "resourceVersion": "7"},
}
NOW = datetime.datetime(2026, 12, 1, 20, 0, 0, tzinfo=datetime.UTC)


def test_an_event_names_its_object_and_who_reported_it() -> None:
    event = event_body(OWNER, "Warning", "NotPlanned", "no instance fits", "pod-a", NOW)
    assert event["metadata"] == {"generateName": "m.", "namespace": "n"}
    assert event["involvedObject"] == {
        "apiVersion": "neuron.dev/v1alpha1",
        "kind": "NeuronDeployment",
        "namespace": "n",
        "name": "m",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert (event["type"], event["reason"], event["message"]) == (
        "Warning",
        "NotPlanned",
        "no instance fits",
    )
    assert event["source"] == {"component": "neuron-operator"}
    assert event["reportingInstance"] == "pod-a"
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-12-01T20:00:00Z"
    assert event["count"] == 1


class Sending:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.sent: list[tuple[str, str]] = []

    def __call__(self, namespace: str, event: dict[str, Any]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((namespace, event["reason"]))


def posted(failures: list[Exception]) -> tuple[list[tuple[str, str]], list[float]]:
    """What was sent, and the waits between attempts, when sending fails with `failures` first."""
    waits: list[float] = []
    send = Sending(failures)
    poster = EventPoster(send, "pod-a", wait=waits.append)
    poster.post(OWNER, "Warning", "NotPlanned", "no instance fits")
    poster.drain()
    return send.sent, waits


def test_posting_retries_what_may_pass() -> None:
    throttled = TransientError("429", "429", retry_after=4.0)
    # The server's 4 s, then the second attempt's own 2 s.
    assert posted([throttled, TransientError("503", "503")]) == ([("n", "NotPlanned")], [4.0, 2.0])


def test_posting_gives_up_without_raising() -> None:
    failures: list[Exception] = [TransientError("503", "503") for _ in range(ATTEMPTS)]
    assert posted(failures) == ([], [1.0, 2.0])
    assert posted([Forbidden("events is forbidden", "403")]) == ([], [])  # no retry of a 403


def test_the_posting_thread_sends_in_order() -> None:
    send = Sending([])
    poster = EventPoster(send, "pod-a")
    poster.start()
    for reason in ("A", "B", "C"):
        poster.post(OWNER, "Normal", reason, "")
    poster.stop()  # after what is queued: the stop mark comes last
    assert poster._thread is not None
    poster._thread.join(timeout=5)
    assert send.sent == [("n", "A"), ("n", "B"), ("n", "C")]
