"""The resync safety net: which objects it reconciles, and how it backs off."""

from __future__ import annotations

import threading
from typing import Any

from tests.fakes import FakeClock

from neuron_operator.controller.digest import plan_summary
from neuron_operator.controller.resync import Resync
from neuron_operator.controller.runtime import Runtime
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.store import Store


def body(name: str, generation: int, observed: int | None, version: int) -> dict[str, Any]:
    status = {} if observed is None else {"observedGeneration": observed}
    return {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "generation": generation,
            "resourceVersion": str(version),
        },
        "status": status,
    }


def test_only_objects_whose_status_is_behind_are_due_until_a_full_sweep() -> None:
    store = Store(summarize=plan_summary)
    store.observe(body("fresh", 3, 3, 1))
    store.observe(body("behind", 4, 3, 2))
    store.observe(body("new", 1, None, 3))
    clock = FakeClock()
    resync = Resync(store, lambda ns, name: None, stale_every=10, full_every=600, clock=clock)
    assert sorted(resync.due()) == [("ns", "behind"), ("ns", "new")]
    clock.now += 600
    assert sorted(resync.due()) == [("ns", "behind"), ("ns", "fresh"), ("ns", "new")]
    assert sorted(resync.due()) == [("ns", "behind"), ("ns", "new")]  # the next full in 600 s


def test_what_the_work_queue_holds_is_not_swept_again() -> None:
    """While a thousand objects are created at once most are stale and queued: the queue
    reconciles them; the sweep takes what the queue does not hold."""
    store = Store(summarize=plan_summary)
    store.observe(body("queued", 1, None, 1))
    store.observe(body("missed", 1, None, 2))  # its event was lost: nothing queued it
    queued = {("ns", "queued")}
    clock = FakeClock()
    resync = Resync(store, lambda ns, name: None, clock=clock, queued=queued.__contains__)
    assert resync.due() == [("ns", "missed")]
    queued.clear()  # reconciled, yet still behind (it failed): the safety net takes it
    assert sorted(resync.due()) == [("ns", "missed"), ("ns", "queued")]
    queued.add(("ns", "missed"))
    clock.now += 600  # a full sweep leaves the queue's keys to it as well
    assert resync.due() == [("ns", "queued")]


def test_a_failing_object_backs_off_and_others_are_still_reconciled() -> None:
    store = Store(summarize=plan_summary)
    store.observe(body("broken", 2, 1, 1))
    store.observe(body("ok", 2, 1, 2))
    clock = FakeClock()
    ran: list[str] = []

    def run(namespace: str, name: str) -> None:
        ran.append(name)
        if name == "broken":
            raise RuntimeError("API error 503")
        store.observe(body(name, 2, 2, 10))  # its status caught up

    resync = Resync(store, run, stale_every=10, clock=clock)
    assert resync.sweep() == 1
    assert sorted(ran) == ["broken", "ok"]
    ran.clear()
    clock.now += 10
    assert resync.sweep() == 0 and ran == [], "broken backs off 20 s after its first failure"
    clock.now += 10
    assert resync.sweep() == 1 and ran == ["broken"]
    ran.clear()
    clock.now += 20
    assert ran == [] and resync.sweep() == 0, "then 40 s"
    store.forget(body("broken", 2, 1, 11))
    clock.now += 60
    assert resync.sweep() == 0 and ran == []


def test_a_name_conflict_is_looked_at_on_every_sweep() -> None:
    store = Store(summarize=plan_summary)
    conflicted = body("conflicted", 1, 1, 1)
    conflicted["status"]["conditions"] = [
        {"type": "Planned", "status": "False", "reason": "NameConflict"}
    ]
    store.observe(conflicted)
    store.observe(body("fine", 1, 1, 2))
    resync = Resync(store, lambda ns, name: None, clock=FakeClock())
    assert resync.due() == [("ns", "conflicted")]


def test_a_standby_replica_reconciles_nothing_and_is_told_when_it_takes_over() -> None:
    store = Store(summarize=plan_summary)
    store.observe(body("behind", 2, 1, 1))
    ran: list[str] = []
    switches: list[bool] = []
    at_work = [False]

    def active() -> bool:
        return at_work[0]

    resync = Resync(
        store, lambda ns, name: ran.append(name), active=active, switched=switches.append
    )
    assert resync.sweep() == 0 and ran == []
    at_work[0] = True
    resync.sweep()
    assert ran == ["behind"]
    resync.sweep()
    at_work[0] = False
    resync.sweep()
    assert switches == [False, True, False]  # each change once, the first state too


def test_an_unreadable_peering_object_means_standing_by() -> None:
    store = Store(summarize=plan_summary)
    store.observe(body("behind", 2, 1, 1))
    ran: list[str] = []

    def active() -> bool:
        raise RuntimeError("API error 503")

    resync = Resync(store, lambda ns, name: ran.append(name), active=active)
    assert resync.sweep() == 0 and ran == []


def test_the_watch_audit_runs_every_period_and_its_failure_is_not_fatal() -> None:
    store = Store(summarize=plan_summary)
    clock = FakeClock()
    audits: list[float] = []

    def audit() -> None:
        audits.append(clock.now)
        raise RuntimeError("API error 503")

    resync = Resync(store, lambda ns, name: None, clock=clock, audit=audit, audit_every=60)
    for _ in range(13):
        resync.sweep()
        clock.now += 10
    assert audits == [1060.0, 1120.0]


class Overlapping(Runtime):
    """A Runtime whose reconcile takes a while, so two of them run at once."""

    def __init__(self) -> None:
        super().__init__(Settings())
        self.done: list[str] = []
        self.inside = threading.Barrier(2, timeout=5)

    def run(self, namespace: str, name: str, logger: Any, retry: int = 0) -> None:
        self.inside.wait()  # both are inside at the same time
        self.done.append(name)


def test_reconciles_off_kopfs_threads_may_overlap() -> None:
    """The resync, fallback's timers and the audit reconcile from threads of their own: two at
    once must both run (they ran in one kopf handler's Context once, which enters one thread at
    a time: "cannot enter context" lost a repricing's reconcile)."""
    runtime = Overlapping()
    errors: list[BaseException] = []

    def resync(name: str) -> None:
        try:
            runtime.resync_one("ns", name)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=resync, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors
    assert sorted(runtime.done) == ["a", "b"]


def test_the_sweep_and_the_peering_watch_decide_one_at_a_time() -> None:
    """Both ask `at_work` (the peering watch on every change of the peering object): one reads
    the peering object and tells a switch while the other waits, so a switch is told once."""
    inside = threading.Event()
    release = threading.Event()
    asking: list[int] = []  # how many were reading at each read
    reading = [0]
    switches: list[bool] = []

    def active() -> bool:
        reading[0] += 1
        asking.append(reading[0])
        inside.set()
        release.wait(5)
        reading[0] -= 1
        return True

    resync = Resync(Store(), lambda *_: None, active=active, switched=switches.append)
    first = threading.Thread(target=resync.at_work)
    first.start()
    assert inside.wait(5)
    second = threading.Thread(target=resync.at_work)
    second.start()
    second.join(0.5)  # long enough to be reading too, were it let in
    release.set()
    first.join(5)
    second.join(5)
    assert asking == [1, 1]
    assert switches == [True]
