"""F2–F5, F7, F8: the API server answering with errors, watches ended or reset, and the API
server and etcd restarted, while users keep editing their objects. Every test ends with the
same promises: the operator never exited, every object converged to its last generation with
exactly one Deployment, and none was lost."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.chaos.common import all_converged, deployment_count, model, problems
from tests.chaos.harness import rate, writes
from tests.kube import (
    create_ndep,
    neurondeployment,
    patch_ndep_spec,
    plain,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
OBJECTS = [f"m{i}" for i in range(5)]
EDIT_EVERY = 2.0  # seconds between rounds of edits (one edit of every object per round)


def start_and_converge(kube: Any, chaos: Any) -> None:
    chaos.start()
    for name in OBJECTS:
        create_ndep(kube, chaos.namespace, neurondeployment(name, model()))
    all_converged(kube, chaos.namespace, OBJECTS, timeout=60)


def edit_for(kube: Any, namespace: str, seconds: float, start_round: int = 0) -> int:
    """Edit every object every EDIT_EVERY seconds for `seconds`: the replica count flips, so
    each round needs a Deployment write and a status write per object. Returns rounds done."""
    rounds = start_round
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rounds += 1
        for name in OBJECTS:
            patch_ndep_spec(kube, namespace, name, model(replicas=1 + rounds % 2))
        time.sleep(EDIT_EVERY)
    return rounds


def promises_kept(kube: Any, chaos: Any, timeout: float) -> float:
    """Converged after the fault; returns the seconds it took."""
    seconds = all_converged(kube, chaos.namespace, OBJECTS, timeout=timeout)
    assert chaos.operator.alive(), f"the operator exited:\n{chaos.operator.tail()}"
    assert chaos.restarts == 0
    assert deployment_count(kube, chaos.namespace) == len(OBJECTS)
    return seconds


SHORT, FULL = 10.0, 120.0


@pytest.mark.parametrize(
    "seconds",
    [pytest.param(SHORT, id="10s"), pytest.param(FULL, id="2min", marks=pytest.mark.slow)],
)
def test_f2_conflicts_on_30_percent_of_writes(
    kube: Any, chaos: Any, record: Any, seconds: float
) -> None:
    start_and_converge(kube, chaos)
    chaos.proxy.rules(
        {
            "id": "F2",
            "methods": ["PATCH", "PUT", "POST"],
            "path": "deployments|neurondeployments",
            "action": "respond",
            "status": 409,
            "probability": 0.3,
        }
    )
    began = time.time()
    edit_for(kube, chaos.namespace, seconds)
    chaos.proxy.clear()
    converge = promises_kept(kube, chaos, timeout=120)
    injected = [r for r in chaos.proxy.requests(began) if r["fault"] == "F2"]
    assert injected, "the fault was injected"
    record(
        "F2",
        injection=f"409 Conflict on 30 % of writes for {seconds:.0f} s, 5 objects edited every 2 s",
        promise="no crash; converged ≤ 2 min after the fault",
        converge_seconds=round(converge, 1),
        injected=len(injected),
        restarts=chaos.restarts,
        lost=0,
        slow=seconds == FULL,
    )


@pytest.mark.parametrize(
    "seconds",
    [pytest.param(6.0, id="6s"), pytest.param(FULL, id="2min", marks=pytest.mark.slow)],
)
def test_f3_throttling_with_retry_after_is_honoured(
    kube: Any, chaos: Any, record: Any, seconds: float
) -> None:
    start_and_converge(kube, chaos)
    before = time.time()
    rounds = edit_for(kube, chaos.namespace, seconds)
    all_converged(kube, chaos.namespace, OBJECTS, timeout=60)
    baseline = rate(chaos.proxy.requests(before), window=10)
    chaos.proxy.rules(
        {"id": "F3", "action": "respond", "status": 429, "retry_after": 5, "probability": 0.5}
    )
    began = time.time()
    edit_for(kube, chaos.namespace, seconds, start_round=rounds)
    chaos.proxy.clear()
    converge = promises_kept(kube, chaos, timeout=120)
    during = [r for r in chaos.proxy.requests(began) if r["t"] < began + seconds]
    # Event POSTs share one path, each a different event: only repeats of a request count.
    throttled = [
        r
        for r in during
        if r["fault"] == "F3" and not r["watch"] and not r["path"].endswith("/events")
    ]
    # A request the server throttled is not sent again before Retry-After has passed.
    early = []
    for refused in throttled:
        again = [
            r
            for r in during
            if (r["method"], r["path"]) == (refused["method"], refused["path"])
            and not r["watch"]
            and r["t"] > refused["t"]
        ]
        if again and again[0]["t"] - refused["t"] < 5 - 0.2:
            early.append((refused["method"], refused["path"], again[0]["t"] - refused["t"]))
    fault_rate = rate(during, window=10)
    assert throttled
    assert not early, f"retried before Retry-After: {early[:5]}"
    assert fault_rate <= baseline, (fault_rate, baseline)
    record(
        "F3",
        injection=f"429 + Retry-After: 5 on 50 % of requests for {seconds:.0f} s",
        promise="Retry-After honoured; request rate never above the rate before the fault",
        converge_seconds=round(converge, 1),
        throttled=len(throttled),
        retried_early=len(early),
        requests_per_s_before=round(baseline, 2),
        requests_per_s_during=round(fault_rate, 2),
        restarts=chaos.restarts,
        lost=0,
        slow=seconds == FULL,
    )


@pytest.mark.parametrize(
    ("outage", "degraded"),
    [
        pytest.param(10.0, 6.0, id="10s+6s"),
        pytest.param(60.0, 120.0, id="60s+2min", marks=pytest.mark.slow),
    ],
)
def test_f4_server_errors_then_partial_recovery(
    kube: Any, chaos: Any, record: Any, outage: float, degraded: float
) -> None:
    start_and_converge(kube, chaos)
    chaos.proxy.rules({"id": "F4", "action": "respond", "status": 503})
    rounds = edit_for(kube, chaos.namespace, outage)
    chaos.proxy.rules({"id": "F4", "action": "respond", "status": 500, "probability": 0.1})
    edit_for(kube, chaos.namespace, degraded, start_round=rounds)
    chaos.proxy.clear()
    converge = promises_kept(kube, chaos, timeout=120)
    record(
        "F4",
        injection=f"503 on 100 % of requests for {outage:.0f} s, then 500 on 10 % for "
        f"{degraded:.0f} s",
        promise="0 crashes; converged ≤ 2 min after recovery",
        converge_seconds=round(converge, 1),
        restarts=chaos.restarts,
        lost=0,
        slow=outage == 60.0,
    )


def test_f5_watch_expired_relists_and_reconciles_the_gap(
    kube: Any, chaos: Any, record: Any
) -> None:
    start_and_converge(kube, chaos)
    chaos.proxy.rules(
        # The reconnect of each watch is told its resourceVersion is too old, once, as a real
        # server does (the relist's version is then current).
        {
            "id": "F5",
            "watch": True,
            "path": "neurondeployments|deployments",
            "action": "gone",
            "limit": 2,
        }
    )
    began = time.time()
    chaos.proxy.reset_connections()  # the watches reconnect, and are told 410 Gone
    edit_for(kube, chaos.namespace, 6)  # changes made while the watches are gone
    chaos.proxy.clear()
    converge = promises_kept(kube, chaos, timeout=60)
    requests = chaos.proxy.requests(began)
    gone = [r for r in requests if r["fault"] == "F5"]
    relists = [r for r in requests if not r["watch"] and r["method"] == "GET" and r["t"] > began]
    assert gone, "the watches were answered 410"
    assert relists, "and the operator listed again"
    record(
        "F5",
        injection="watches reset; their reconnects answered ERROR 410 Gone; 6 s of edits",
        promise="relist; every change made during the gap reconciled",
        converge_seconds=round(converge, 1),
        gone=len(gone),
        restarts=chaos.restarts,
        lost=0,
    )


# kopf reconnects a watch that delivered nothing, not even a bookmark, for this long.
KOPF_INACTIVITY_TIMEOUT = 70.0


def healthy(chaos: Any) -> bool:
    """Whether the operator's /healthz (the liveness probe) answers 200."""
    url = f"http://127.0.0.1:{chaos.liveness_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:  # HTTPError (500) included
        return False


@pytest.mark.parametrize(
    ("stall", "limit", "audit", "nudge"),
    [
        pytest.param(25.0, 10.0, 3.0, True, id="25s"),
        pytest.param(300.0, 120.0, 30.0, False, id="5min", marks=pytest.mark.slow),
    ],
)
def test_f6_a_silent_watch_stall(
    kube: Any, chaos: Any, record: Any, stall: float, limit: float, audit: float, nudge: bool
) -> None:
    """Every watch response held (the connection open, nothing delivered) for `stall` seconds,
    reconnects included, with the stall limit of the liveness probe at `limit`. After it, a
    quiet cluster waits for the next bookmark or reconnect to deliver what was held; with
    `nudge`, a user's edit right after the stall delivers it, as in a busy one."""
    chaos.start(
        env={
            "NEURON_OPERATOR_WATCH_STALL_SECONDS": str(limit),
            "NEURON_OPERATOR_WATCH_AUDIT_SECONDS": str(audit),
        }
    )
    for name in OBJECTS:
        create_ndep(kube, chaos.namespace, neurondeployment(name, model()))
    all_converged(kube, chaos.namespace, OBJECTS, timeout=60)
    assert healthy(chaos)
    chaos.proxy.rules({"id": "F6", "watch": True, "action": "stall"})
    began, started = time.time(), time.monotonic()
    for name in OBJECTS:  # a change the watches will not deliver
        patch_ndep_spec(kube, chaos.namespace, name, model(replicas=2))
    applied = probe_failed = None
    while time.monotonic() - started < stall:
        elapsed = time.monotonic() - started
        if applied is None and not problems(kube, chaos.namespace, OBJECTS):
            applied = elapsed
        if probe_failed is None and not healthy(chaos):
            probe_failed = elapsed
        time.sleep(1)
    chaos.proxy.clear()
    ended = time.monotonic()
    if nudge:
        patch_ndep_spec(kube, chaos.namespace, OBJECTS[0], model(replicas=1))
    wait_until("the liveness probe to pass again", lambda: healthy(chaos), timeout=120)
    recovered = time.monotonic() - ended
    converge = promises_kept(kube, chaos, timeout=60)
    watches = [w for w in chaos.proxy.watches_opened(began) if w["t"] < began + stall]
    if stall > KOPF_INACTIVITY_TIMEOUT:
        assert watches, "the watches reconnected during the stall"
    assert applied is not None, "the change made during the stall was not applied during it"
    assert probe_failed is not None, "the liveness probe never failed"
    assert probe_failed <= limit + 2 * audit + 15, f"it failed only after {probe_failed:.0f} s"
    record(
        "F6",
        injection=(
            f"every watch response held for {stall:.0f} s, reconnects included; an edit of 5 "
            f"objects at its start; stall limit {limit:.0f} s, audit every {audit:.0f} s"
            + ("; an edit right after it" if nudge else "; quiet after it")
        ),
        promise=(
            "reconnect; the liveness probe fails once the stall outlasts its limit; changes "
            "still applied; recovery after the stall"
        ),
        applied_during_stall_seconds=round(applied, 1),
        probe_failed_seconds=round(probe_failed, 1),
        watch_reconnects=len(watches),
        probe_recovered_seconds=round(recovered, 1),
        converge_seconds=round(converge, 1),
        restarts=chaos.restarts,
        lost=0,
        slow=not nudge,
    )


@pytest.mark.parametrize(
    ("resets", "every"),
    [
        pytest.param(3, 4.0, id="3x4s"),
        pytest.param(10, 30.0, id="10x30s", marks=pytest.mark.slow),
    ],
)
def test_f7_watches_reset_repeatedly(
    kube: Any, chaos: Any, record: Any, resets: int, every: float
) -> None:
    start_and_converge(kube, chaos)
    killed = 0
    rounds = 0
    for _ in range(resets):
        killed += chaos.proxy.reset_connections()
        rounds = edit_for(kube, chaos.namespace, every, start_round=rounds)
    converge = promises_kept(kube, chaos, timeout=60)
    assert killed >= resets, "connections were reset"
    record(
        "F7",
        injection=f"every TCP connection to the API reset (ss -K) {resets}× every {every:.0f} s",
        promise="no missed final state; no duplicate Deployment",
        converge_seconds=round(converge, 1),
        sockets_reset=killed,
        restarts=chaos.restarts,
        lost=0,
        slow=resets == 10,
    )


def restart(component: str) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "hack" / "cluster.py"), "restart", component],
        check=True,
        capture_output=True,
        timeout=180,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "apiserver_restarts", [pytest.param(1, id="1+etcd"), pytest.param(3, id="3+etcd")]
)
def test_f8_api_server_restarted_then_etcd(
    kube: Any, chaos: Any, record: Any, apiserver_restarts: int
) -> None:
    start_and_converge(kube, chaos)
    times = []
    rounds = 0
    for component in ("kube-apiserver",) * apiserver_restarts + ("etcd",):
        restart(component)
        rounds = edit_for(kube, chaos.namespace, EDIT_EVERY, start_round=rounds)
        # Measured from the last edit, made once the component served again.
        times.append(promises_kept(kube, chaos, timeout=120) + EDIT_EVERY)
    record(
        "F8",
        injection=f"kube-apiserver restarted {apiserver_restarts}×, then etcd, with edits "
        "after each",
        promise="operator alive; converged ≤ 2 min after each restart",
        converge_seconds=round(max(times), 1),
        restarts=chaos.restarts,
        lost=0,
        slow=apiserver_restarts > 1,
    )


LEAD_IN = 3.0  # seconds the world holds still before the quiet window opens


def test_an_operator_at_rest_writes_nothing(kube: Any, chaos: Any) -> None:
    """The harness itself: the request log counts the operator's writes. Once the objects
    converged and nothing it watches in their namespace moves (no Deployment or pod changed
    for LEAD_IN + 8 s), the operator writes nothing in the last 8 s. A window in which the
    Deployment controller did report something (a Deployment turning Available late, as after F8's
    restarts) proves nothing either way: the operator owes that a status write. So such a
    window is discarded and another taken; a world that never holds still fails the test."""
    start_and_converge(kube, chaos)
    deadline = time.monotonic() + 60
    while writes(chaos.proxy.requests(time.time() - 5)):
        assert time.monotonic() < deadline, "the operator was still writing after 60 s"
        time.sleep(1)
    for _ in range(10):
        before = watched_versions(kube, chaos.namespace)
        time.sleep(LEAD_IN)  # a change just before the window may be answered inside it
        began = time.time()
        time.sleep(8)
        if watched_versions(kube, chaos.namespace) != before:
            continue
        assert writes(chaos.proxy.requests(began)) == [], "an operator at rest writes nothing"
        return
    pytest.fail("the namespace's Deployments and pods never stood still for 8 s in 10 tries")


def watched_versions(kube: Any, namespace: str) -> dict[str, str]:
    """The resourceVersion of every Deployment and pod in `namespace`: what the Deployment
    controller and the kubelet change, and the operator reacts to."""
    from kubernetes import client

    deployments = client.AppsV1Api(kube).list_namespaced_deployment(namespace).items
    pods = client.CoreV1Api(kube).list_namespaced_pod(namespace).items
    return {
        f"{kind}/{item['metadata']['name']}": item["metadata"]["resourceVersion"]
        for kind, items in (("Deployment", deployments), ("Pod", pods))
        for item in map(plain, items)
    }
