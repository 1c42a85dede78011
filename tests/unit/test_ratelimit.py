"""The client-side pace of the operator's requests (issue 15): a token bucket as client-go's."""

from __future__ import annotations

import threading

import pytest
from tests.fakes import FakeClock

from neuron_operator.controller.ratelimit import TokenBucket
from neuron_operator.controller.settings import Settings


def test_a_burst_goes_at_once_then_requests_are_paced() -> None:
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(qps=10, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.take()
    assert clock.slept == []
    bucket.take()  # the fourth waits for a token: 1/10 s
    assert clock.slept == [0.1]
    clock.now += 1.0  # a second idle saves up no more than the burst
    for _ in range(3):
        bucket.take()
    assert clock.slept == [0.1]
    bucket.take()
    assert clock.slept[-1] == 0.1


def test_requests_in_threads_are_paced_together() -> None:
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(qps=100, burst=1, clock=clock, sleep=lambda _: None)
    waits: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        wait = bucket.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One token at once, then one per 10 ms: each request reserved its own slot.
    assert sorted(round(w, 6) for w in waits) == [round(i / 100, 6) for i in range(20)]


def test_zero_qps_does_not_pace() -> None:
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(qps=0, burst=1, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        bucket.take()
    assert clock.slept == []


def test_the_pace_and_workers_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURON_OPERATOR_WORKERS", "16")
    monkeypatch.setenv("NEURON_OPERATOR_API_QPS", "200")
    monkeypatch.setenv("NEURON_OPERATOR_API_BURST", "400")
    found = Settings.from_env()
    assert (found.workers, found.api_qps, found.api_burst) == (16, 200.0, 400)
