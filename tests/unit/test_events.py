"""The operator's own Kubernetes Events (controller/events.py): what one says, and that posting
one never fails a reconcile."""

from __future__ import annotations

import datetime
from typing import Any

from tests.fakes import FakeClock

from neuron_operator.controller.errors import Forbidden, TransientError
from neuron_operator.controller.events import (
    ATTEMPTS,
    REPEAT_WINDOW_SECONDS,
    EventPoster,
    event_body,
)

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


class Recording:
    """The API as the poster sees it: every call recorded; `failures` raised first, in order."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.failures = failures or []
        self.calls: list[tuple[Any, ...]] = []
        self.events: dict[str, dict[str, Any]] = {}

    def _fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def create_event(self, namespace: str, event: dict[str, Any]) -> dict[str, Any]:
        self._fail()
        name = f"m.{len(self.events)}"
        self.calls.append(("create", namespace, event["reason"]))
        self.events[name] = {**event, "metadata": {**event["metadata"], "name": name}}
        return self.events[name]

    def count_event(
        self, namespace: str, name: str, count: int, last_timestamp: str
    ) -> dict[str, Any] | None:
        self._fail()
        self.calls.append(("count", name, count))
        if name not in self.events:
            return None
        self.events[name].update(count=count, lastTimestamp=last_timestamp)
        return self.events[name]


def posted(failures: list[Exception]) -> tuple[list[tuple[Any, ...]], list[float]]:
    """What was sent, and the waits between attempts, when sending fails with `failures` first."""
    waits: list[float] = []
    api = Recording(failures)
    poster = EventPoster(api, "pod-a", wait=waits.append)
    poster.post(OWNER, "Warning", "NotPlanned", "no instance fits")
    poster.drain()
    return api.calls, waits


def test_posting_retries_what_may_pass() -> None:
    throttled = TransientError("429", "429", retry_after=4.0)
    # The server's 4 s, then the second attempt's own 2 s.
    assert posted([throttled, TransientError("503", "503")]) == (
        [("create", "n", "NotPlanned")],
        [4.0, 2.0],
    )


def test_posting_gives_up_without_raising() -> None:
    failures: list[Exception] = [TransientError("503", "503") for _ in range(ATTEMPTS)]
    assert posted(failures) == ([], [1.0, 2.0])
    assert posted([Forbidden("events is forbidden", "403")]) == ([], [])  # no retry of a 403


def test_the_same_event_again_counts_up_the_one_posted() -> None:
    api, clock = Recording(), FakeClock()
    poster = EventPoster(api, "pod-a", clock=clock)
    for _ in range(3):
        poster.post(OWNER, "Warning", "Degraded", "2 of 3 pods ready")
        clock.now += 60
    poster.post(OWNER, "Warning", "Degraded", "1 of 3 pods ready")  # another message: another
    poster.drain()
    assert api.calls == [
        ("create", "n", "Degraded"),
        ("count", "m.0", 2),
        ("count", "m.0", 3),
        ("create", "n", "Degraded"),
    ]
    assert api.events["m.0"]["count"] == 3


def test_a_repeat_after_the_window_or_of_an_expired_event_is_posted_anew() -> None:
    api, clock = Recording(), FakeClock()
    poster = EventPoster(api, "pod-a", clock=clock)
    poster.post(OWNER, "Warning", "Degraded", "x")
    poster.drain()
    clock.now += REPEAT_WINDOW_SECONDS
    poster.post(OWNER, "Warning", "Degraded", "x")
    poster.drain()
    del api.events["m.1"]  # expired (an hour by default)
    clock.now += 1
    poster.post(OWNER, "Warning", "Degraded", "x")
    poster.drain()
    assert api.calls == [
        ("create", "n", "Degraded"),
        ("create", "n", "Degraded"),
        ("count", "m.1", 2),
        ("create", "n", "Degraded"),
    ]


def test_the_posting_thread_sends_in_order() -> None:
    api = Recording()
    poster = EventPoster(api, "pod-a")
    poster.start()
    for reason in ("A", "B", "C"):
        poster.post(OWNER, "Normal", reason, "")
    poster.stop()  # after what is queued: the stop mark comes last
    assert poster._thread is not None
    poster._thread.join(timeout=5)
    assert api.calls == [("create", "n", "A"), ("create", "n", "B"), ("create", "n", "C")]
