"""Reconciles asked for later (controller/rechecks.py): one pending per object, the earliest
wins, and a thousand pending cost one thread, not a thousand."""

from __future__ import annotations

import threading
import time

from neuron_operator.controller.rechecks import Rechecks


class Calls:
    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []
        self.done = threading.Event()

    def __call__(self, namespace: str, name: str) -> None:
        self.keys.append((namespace, name))
        self.done.set()


def test_the_earliest_recheck_asked_for_wins_and_runs_once() -> None:
    rechecks, calls = Rechecks(), Calls()
    rechecks.at(("ns", "a"), 3600, calls)
    rechecks.at(("ns", "a"), 0, calls)  # sooner: replaces the hour's wait
    rechecks.at(("ns", "a"), 1800, calls)  # later than the pending one: ignored
    assert len(rechecks) == 1
    assert calls.done.wait(10)
    assert calls.keys == [("ns", "a")]
    assert len(rechecks) == 0  # the hour's entry left on the heap is no longer pending


def test_a_recheck_is_not_run_before_its_time() -> None:
    clock_start = time.monotonic()
    rechecks, calls = Rechecks(), Calls()
    rechecks.at(("ns", "a"), 0.2, calls)
    assert calls.done.wait(10)
    assert time.monotonic() - clock_start >= 0.2


def test_cancelled_rechecks_never_run() -> None:
    rechecks, calls = Rechecks(), Calls()
    rechecks.at(("ns", "a"), 0.1, calls)
    rechecks.cancel()
    assert len(rechecks) == 0
    rechecks.at(("ns", "b"), 0.3, calls)  # a later one still runs, and alone
    assert calls.done.wait(10)
    assert calls.keys == [("ns", "b")]


def test_many_pending_rechecks_cost_one_thread() -> None:
    before = threading.active_count()
    rechecks, calls = Rechecks(workers=2), Calls()
    for index in range(500):
        rechecks.at(("ns", f"o-{index}"), 3600, calls)
    assert len(rechecks) == 500
    assert threading.active_count() - before <= 1  # the waiting thread; no pool thread yet
    rechecks.cancel()
    assert calls.keys == []


def test_rechecks_due_together_all_run() -> None:
    rechecks = Rechecks(workers=2)
    ran: list[tuple[str, str]] = []
    all_ran = threading.Event()

    def run(namespace: str, name: str) -> None:
        ran.append((namespace, name))
        if len(ran) == 50:
            all_ran.set()

    for index in range(50):
        rechecks.at(("ns", f"o-{index}"), 0, run)
    assert all_ran.wait(10)
    assert sorted(ran) == sorted(("ns", f"o-{index}") for index in range(50))
