"""F12: two operator replicas at once. kopf peering keeps exactly one at work; when it dies the
other takes over within the record's lifetime, and at once when it stops normally.

Each replica talks to the API server through a proxy of its own, so every write is counted for
the replica that made it. They run with the chart's RBAC in namespaced mode: the test renders
the chart for its namespace and applies the Role, RoleBinding and KopfPeering it makes."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from conftest import CHART, OPERATOR_NAMESPACE
from hack.cluster import PKI, PORTS
from tests.chaos.common import all_converged, deployment_count, model
from tests.chaos.harness import FaultProxy, free_port, start_proxy, writes
from tests.kube import Cluster, create_ndep, neurondeployment, patch_ndep_spec, wait_until
from tests.operator_process import Operator, start_operator

PEERING = "neuron-operator"  # the chart names it after the release: fullname
LIFETIME = 15  # the chart's default leaderElection.lifetimeSeconds
STANDING_BY = "this replica is standing by"  # logged by the replica's first resync sweep


def grant_namespaced_peering(cluster: Cluster, namespace: str, release: str) -> None:
    """The chart's namespaced-mode Role, RoleBinding and KopfPeering for `namespace`."""
    assert release == "neuron-operator", "the chart's names are the release's"
    rendered = cluster.helm_template(
        CHART,
        f"--namespace={OPERATOR_NAMESPACE}",
        f"--set=watchNamespaces[0]={namespace}",
    )
    wanted = [
        d
        for d in yaml.safe_load_all(rendered)
        if d and d["kind"] in ("Role", "RoleBinding", "KopfPeering")
    ]
    assert {d["kind"] for d in wanted} == {"Role", "RoleBinding", "KopfPeering"}
    cluster.run("apply", "-f", "-", stdin=yaml.safe_dump_all(wanted))


class Replica:
    """One operator process with a proxy of its own."""

    def __init__(self, proxy: FaultProxy, kubeconfig: Path, log: Path) -> None:
        self.proxy = proxy
        self.kubeconfig = kubeconfig
        self.log = log
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        self.process: Operator | None = None

    def start(self, namespace: str) -> None:
        self.process = start_operator(
            self.kubeconfig,
            self.log,
            self.liveness_port,
            self.metrics_port,
            args=("--namespace", namespace, "--peering", PEERING),
            # The gauge and the "standing by" line come with the resync's sweeps: often, here.
            env={
                "NEURON_OPERATOR_PEERING_LIFETIME": str(LIFETIME),
                "NEURON_OPERATOR_RESYNC_SECONDS": "2",
            },
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def active(self) -> bool | None:
        """The replica's own neuron_operator_active gauge; None when it does not answer."""
        if not self.alive():
            return None
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return None
        found = re.search(r"^neuron_operator_active (\S+)$", text, re.MULTILINE)
        return found is not None and float(found.group(1)) == 1.0

    def object_writes(self, since: float) -> int:
        """Writes to NeuronDeployments and Deployments (not peering records or events)."""
        return len(
            [
                r
                for r in writes(self.proxy.requests(since))
                if "neurondeployments" in r["path"] or "/deployments" in r["path"]
            ]
        )


class Watcher:
    """Samples both replicas' gauges; counts the moments both said they were active."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self.both = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            states = [r.active() for r in self.replicas]
            self.samples += 1
            if states.count(True) > 1:
                self.both += 1

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def edit_all(kube: Any, namespace: str, names: list[str], replicas: int) -> None:
    for name in names:
        patch_ndep_spec(kube, namespace, name, model(replicas=replicas))


def test_f12_one_replica_works_and_the_other_takes_over(
    kube: Any,
    cluster: Cluster,
    operator_release: str,
    chaos: Any,
    record: Any,
    tmp_path: Path,
) -> None:
    namespace = chaos.namespace
    grant_namespaced_peering(cluster, namespace, operator_release)
    second_proxy = start_proxy(tmp_path / "proxy-b", PORTS["apiserver"], PKI / "ca.crt")
    try:
        # The first writes the log the chaos fixture checks; the second's is checked below.
        first = Replica(chaos.proxy, chaos.kubeconfig, chaos.log)
        second = Replica(
            second_proxy,
            second_proxy.kubeconfig(chaos.direct_kubeconfig, tmp_path / "b.kubeconfig"),
            tmp_path / "operator-b.log",
        )
        first.start(namespace)
        wait_until("the first replica to be active", first.active, timeout=60)
        second.start(namespace)
        wait_until("the second replica to stand by", lambda: second.active() is False, 60)

        names = [f"m{i}" for i in range(5)]
        with Watcher([first, second]) as watcher:
            began = time.time()
            for name in names:
                create_ndep(kube, namespace, neurondeployment(name, model()))
            all_converged(kube, namespace, names, timeout=60)
            for replicas in (2, 3):
                edit_all(kube, namespace, names, replicas)
                time.sleep(2)
            all_converged(kube, namespace, names, timeout=60)
            standby_writes = second.object_writes(began)
            leader_writes = first.object_writes(began)
            assert leader_writes > 0
            assert standby_writes == 0, "the standby wrote while the leader worked"

            # The leader dies without a word: the standby takes over once its record expires.
            assert first.process is not None
            first.process.kill()
            killed = time.monotonic()
            edit_all(kube, namespace, names, 1)
            all_converged(kube, namespace, names, timeout=LIFETIME + 60)
            failover = time.monotonic() - killed
            # The gauge follows within a resync period.
            wait_until("the second replica's gauge to say active", second.active, timeout=20)

            # The old leader comes back: now the junior, it stands by and writes nothing.
            standing_by = first.log.read_text().count(STANDING_BY)
            first.start(namespace)
            rejoined = time.time()
            wait_until(
                "the restarted replica to stand by",
                lambda: first.log.read_text().count(STANDING_BY) > standing_by,
                timeout=60,
            )
            for replicas in (2, 3):
                edit_all(kube, namespace, names, replicas)
                time.sleep(5)
            all_converged(kube, namespace, names, timeout=60)
            assert first.object_writes(rejoined) == 0, "the restarted replica preempted"

            # The leader stops normally (a rolling update): it hands over at once.
            assert second.process is not None
            second.process.stop()
            stopped = time.monotonic()
            edit_all(kube, namespace, names, 1)
            all_converged(kube, namespace, names, timeout=60)
            handover = time.monotonic() - stopped
            wait_until("the first replica's gauge to say active", first.active, timeout=20)
        assert watcher.both == 0, f"both replicas active in {watcher.both} samples"
        assert "ContextVar" not in second.log.read_text(errors="replace")
        assert deployment_count(kube, namespace) == len(names)
        assert failover <= LIFETIME + 30, f"failover took {failover:.1f} s"
        assert handover <= 20, f"handover took {handover:.1f} s"
    finally:
        for replica in (first, second):
            if replica.process is not None:
                replica.process.kill()
        second_proxy.stop()
    record(
        "F12",
        injection=(
            "two replicas sharing a KopfPeering (the chart's namespaced RBAC); the leader "
            "SIGKILLed, restarted, then the new leader stopped with SIGTERM; 5 objects edited "
            "after each step"
        ),
        promise=(
            f"exactly one replica writes; failover after a kill ≤ lifetime ({LIFETIME} s) + 30 s; "
            "a restarted replica does not preempt; a normal stop hands over at once"
        ),
        failover_seconds=round(failover, 1),
        handover_seconds=round(handover, 1),
        standby_writes=standby_writes,
        leader_writes=leader_writes,
        both_active_samples=f"{watcher.both} of {watcher.samples}",
        lost=0,
    )
