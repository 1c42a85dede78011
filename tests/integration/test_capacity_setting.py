"""The capacity-awareness setting on the real API server: on, the operator watches nodes and
pods cluster-wide (read-only) and says what it keeps; off, it sends the API server no request
about nodes or pods at all. Measured from the API server's audit log, by the operator's own
identity, with an operator that watches an empty namespace of its own (no object of any other
test reaches it)."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hack.cluster import LOGS, RUN
from tests.chaos.harness import free_port
from tests.kube import wait_until
from tests.operator_process import start_operator

AUDIT = LOGS / "audit.log"
DEV_USER = "neuron-operator-dev"  # hack/cluster.py: the identity of operators run by tests


def requests_about(resources: set[str], since: str) -> list[dict[str, Any]]:
    found = []
    for line in AUDIT.read_text().splitlines():
        entry = json.loads(line)
        if (
            entry.get("user", {}).get("username") == DEV_USER
            and entry.get("requestReceivedTimestamp", "") >= since
            and (entry.get("objectRef") or {}).get("resource") in resources
        ):
            found.append(entry)
    return found


def kept(metrics_port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as r:
        text = r.read().decode()
    return {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("neuron_operator_capacity_objects{")
    }


@pytest.mark.parametrize("aware", [True, False], ids=["on", "off"])
def test_capacity_awareness_reads_nodes_and_pods_only_when_on(
    namespace: str, tmp_path: Path, aware: bool
) -> None:
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    metrics_port = free_port()
    flag = "--capacity-aware" if aware else "--no-capacity-aware"
    operator = start_operator(
        RUN / "operator.kubeconfig",
        tmp_path / "operator.log",
        free_port(),
        metrics_port,
        args=("--namespace", namespace, flag),
    )
    try:
        if aware:
            counts = wait_until("the nodes in view", lambda: kept(metrics_port).get("nodes"))
            assert counts > 0
            reads = wait_until(
                "its watches of nodes and pods",
                lambda: (
                    {e["objectRef"]["resource"] for e in requests_about({"nodes", "pods"}, since)}
                    == {"nodes", "pods"}
                ),
            )
            assert reads
            verbs = {e["verb"] for e in requests_about({"nodes", "pods"}, since)}
            assert verbs <= {"list", "watch"}, verbs
        else:
            time.sleep(5)  # as long as the informers take to list, when they run
            assert kept(metrics_port) == {}
            assert requests_about({"nodes", "pods"}, since) == []
    finally:
        operator.stop()
