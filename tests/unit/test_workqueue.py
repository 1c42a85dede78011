"""The reconcile queue: each object waits once, runs on one thread at a time, and an event that
arrives while it runs brings it back once."""

from __future__ import annotations

import threading
import time

import pytest

from neuron_operator.controller.workqueue import WorkQueue

WAIT = 10.0  # seconds a test waits for a thread before it fails: never reached when it works


class Recorder:
    """A reconcile that records each key it ran and holds the ones told to wait."""

    def __init__(self, held: frozenset[str] = frozenset()) -> None:
        self.ran: list[str] = []
        self.held = set(held)
        self.started = {name: threading.Event() for name in "abcxyz"}
        self.release = threading.Event()
        self.finished = threading.Semaphore(0)
        self.running: set[str] = set()
        self.overlapped = False
        self._guard = threading.Lock()

    def __call__(self, namespace: str, name: str) -> None:
        with self._guard:
            self.overlapped |= name in self.running
            self.running.add(name)
        self.started[name].set()
        if name in self.held:
            assert self.release.wait(WAIT)
        with self._guard:
            self.running.discard(name)
            self.ran.append(name)
        if name == "x":
            self.finished.release()
            raise RuntimeError("the API server is gone")
        self.finished.release()

    def wait_for(self, runs: int) -> None:
        for _ in range(runs):
            assert self.finished.acquire(timeout=WAIT)


def test_events_of_an_object_already_waiting_become_one_reconcile() -> None:
    run = Recorder(held=frozenset("a"))
    depths: list[int] = []
    queue = WorkQueue(run, workers=1, depth=depths.append)
    queue.add(("ns", "a"))
    assert run.started["a"].wait(WAIT)  # the one thread is busy with a
    for _ in range(3):
        queue.add(("ns", "b"))
    assert len(queue) == 1
    run.release.set()
    run.wait_for(2)
    assert run.ran == ["a", "b"]
    assert depths[-1] == 0 and max(depths) == 1
    queue.stop()


def test_the_queue_holds_a_key_while_it_waits_and_while_it_runs_and_not_after() -> None:
    run = Recorder(held=frozenset("a"))
    queue = WorkQueue(run, workers=1)
    queue.add(("ns", "a"))
    assert run.started["a"].wait(WAIT)
    queue.add(("ns", "b"))
    assert queue.holds(("ns", "a")), "running"
    assert queue.holds(("ns", "b")), "waiting"
    assert not queue.holds(("ns", "c"))
    run.release.set()
    run.wait_for(2)
    # The recorder reports a run done just before the queue lets go of its key: wait for that.
    deadline = time.monotonic() + WAIT
    while (queue.holds(("ns", "a")) or queue.holds(("ns", "b"))) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not queue.holds(("ns", "a")) and not queue.holds(("ns", "b"))
    queue.stop()


def test_an_event_while_the_object_runs_runs_it_once_more_after_never_at_once() -> None:
    run = Recorder(held=frozenset("a"))
    queue = WorkQueue(run, workers=4)
    queue.add(("ns", "a"))
    assert run.started["a"].wait(WAIT)
    queue.add(("ns", "a"))  # news arrived while a was being reconciled
    queue.add(("ns", "a"))
    assert len(queue) == 0, "a runs already: it is not handed to a second thread"
    run.release.set()
    run.wait_for(2)
    assert run.ran == ["a", "a"]
    assert not run.overlapped
    queue.stop()


def test_other_objects_run_at_the_same_time() -> None:
    run = Recorder(held=frozenset("ab"))
    queue = WorkQueue(run, workers=2)
    queue.add(("ns", "a"))
    queue.add(("ns", "b"))
    assert run.started["a"].wait(WAIT) and run.started["b"].wait(WAIT)
    run.release.set()
    run.wait_for(2)
    assert sorted(run.ran) == ["a", "b"]
    queue.stop()


def test_a_failing_reconcile_does_not_stop_its_thread(caplog: pytest.LogCaptureFixture) -> None:
    run = Recorder()
    queue = WorkQueue(run, workers=1)
    queue.add(("ns", "x"))
    queue.add(("ns", "y"))
    run.wait_for(2)
    assert run.ran == ["x", "y"]
    assert "reconcile of ns/x failed" in caplog.text
    queue.stop()


def test_nothing_runs_after_stop() -> None:
    run = Recorder(held=frozenset("a"))
    queue = WorkQueue(run, workers=1)
    queue.add(("ns", "a"))
    assert run.started["a"].wait(WAIT)
    queue.add(("ns", "b"))
    queue.add(("ns", "a"))
    queue.stop()  # the reconcile under way finishes; b and a's second run never start
    run.release.set()
    run.wait_for(1)
    queue.add(("ns", "c"))
    assert len(queue) == 0
    assert run.ran == ["a"]


def test_a_replica_paused_for_another_forgets_what_it_had_queued() -> None:
    from neuron_operator.controller.runtime import Runtime
    from neuron_operator.controller.settings import Settings

    run = Recorder(held=frozenset("a"))
    runtime = Runtime(Settings())
    runtime.queue = WorkQueue(run, workers=1)
    runtime.switched(True)
    runtime.enqueue("ns", "a")
    assert run.started["a"].wait(WAIT)
    runtime.enqueue("ns", "b")  # queued while active
    runtime.switched(False)  # kopf paused this replica for another: that one reconciles b
    assert len(runtime.queue) == 0
    runtime.switched(True)  # taking over: kopf's relist queues everything again
    runtime.enqueue("ns", "c")
    run.release.set()
    run.wait_for(2)
    assert run.ran == ["a", "c"]
    runtime.stop()
