"""Requests the API server throttled (429) are not sent again before Retry-After: not by an
informer listing again, nor by reconciles asking discovery at once (the chaos suite's F3)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import urllib3

from neuron_operator.controller.informer import Informer


class Throttling:
    """An API client whose every answer is 429 with the given Retry-After."""

    def __init__(self, retry_after: str | None) -> None:
        self.retry_after = retry_after
        self.requests = 0

    def param_serialize(self, **_: Any) -> tuple[Any, ...]:
        return ("GET", "url", {}, None, None)

    def call_api(self, *_: Any, **__: Any) -> Any:
        self.requests += 1
        retry_after = self.retry_after

        class Answer:
            status = 429

            def read(self) -> bytes:
                return b"{}"

            def getheader(self, name: str) -> str | None:
                return retry_after if name == "Retry-After" else None

        return Answer()


def waits_after_first_refusal(retry_after: str | None) -> float:
    api = Throttling(retry_after)
    informer: Informer[dict[str, Any]] = Informer(api, "/apis/karpenter.sh/v1/nodepools", dict)  # type: ignore[arg-type]
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(float(timeout or 0))
            self.set()  # one round is enough
            return True

    informer._stop = Stop()
    informer._run()
    assert api.requests == 1 and len(waits) == 1
    return waits[0]


def test_retry_after_is_honoured_over_the_shorter_backoff() -> None:
    assert waits_after_first_refusal("5") == 5.0


def test_without_retry_after_the_backoff_applies() -> None:
    assert waits_after_first_refusal(None) == 1.0
    assert waits_after_first_refusal("Wed, 21 Oct 2026 07:28:00 GMT") == 1.0


def test_one_thread_asks_discovery_while_the_others_go_on() -> None:
    # Eight reconciles asking at once sent the same discovery GET eight times, a throttled one
    # again within milliseconds (the chaos suite's F3).
    from neuron_operator.controller.runtime import Runtime
    from neuron_operator.controller.settings import Settings

    asked = threading.Event()
    answer = threading.Event()
    calls: list[str] = []

    class Discovery:
        def served(self, group_version: str) -> bool:
            calls.append(group_version)
            asked.set()
            assert answer.wait(10)
            return False

    runtime = Runtime(Settings())
    runtime._kube = Discovery()  # type: ignore[assignment]
    first: list[bool] = []
    asking = threading.Thread(target=lambda: first.append(runtime.leader_worker_set_served()))
    asking.start()
    assert asked.wait(10)
    assert runtime.leader_worker_set_served() is True  # not known yet: the offline assumption
    answer.set()
    asking.join(10)
    assert first == [False] and len(calls) == 1
    assert runtime.leader_worker_set_served() is False  # known now, until the next check
    assert len(calls) == 1


def test_a_silent_watch_is_resumed_from_its_last_event_not_listed_again() -> None:
    """A read that times out (nothing, not even a bookmark, for READ_TIMEOUT) resumes the
    watch where it was; only a 410 asks for a list of every object."""
    informer: Informer[dict[str, Any]] = Informer(None, "/api/v1/pods", dict)  # type: ignore[arg-type]
    asked: list[str] = []

    def events(version: str) -> Iterator[dict[str, Any]]:
        asked.append(version)
        pod = {"metadata": {"namespace": "n", "name": "p", "resourceVersion": "7"}}
        yield {"type": "ADDED", "object": pod}
        raise urllib3.exceptions.ReadTimeoutError(None, "/api/v1/pods", "Read timed out.")  # type: ignore[arg-type]

    informer._events = events  # type: ignore[method-assign]
    assert informer._watch("5") == "7"
    assert asked == ["5"] and len(informer) == 1
