"""Fixtures of the fault suite: the fault proxy, and an operator that talks to the API server
through it, as the chart's ServiceAccount, watching only the test's namespace (so the objects
of other tests never reach it), and that a test can kill and start again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    OPERATOR_NAMESPACE,
    OPERATOR_RELEASE,
    fresh_namespace,
    service_account_kubeconfig,
)
from hack.cluster import LOGS, PKI, PORTS
from tests.chaos.harness import FaultProxy, free_port, start_proxy
from tests.kube import Cluster
from tests.operator_process import Operator, start_operator

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos/" in str(item.path):
            # Faults last minutes by design; pytest-timeout's default of 120 s is for the rest.
            item.add_marker(pytest.mark.timeout(900))


# One JSON line per measured fault or bad input; tests/chaos/report.py renders them.
RESULTS = ROOT / ".chaos" / "results.jsonl"


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    """A fresh namespace; its deletion is not awaited (the fault tests need no pod to run,
    and the wait was a third of the fast subset's time)."""
    yield from fresh_namespace(kube, wait_for_pods=False)


@pytest.fixture
def proxy(cluster: Cluster, tmp_path: Path) -> Iterator[FaultProxy]:
    running = start_proxy(tmp_path / "proxy", PORTS["apiserver"], PKI / "ca.crt")
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Chaos:
    """The operator under fault: started, killed and restarted by the test."""

    namespace: str
    kubeconfig: Path  # through the proxy
    direct_kubeconfig: Path  # straight to the API server
    directory: Path
    proxy: FaultProxy
    liveness_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    operator: Operator | None = None
    restarts: int = 0

    @property
    def log(self) -> Path:
        return self.directory / "operator.log"

    def start(
        self,
        crash_at: str | None = None,
        direct: bool = False,
        wait: bool = True,
        env: dict[str, str] | None = None,
    ) -> Operator:
        if self.operator is not None and self.operator.alive():
            raise AssertionError("the operator is already running")
        if self.operator is not None:
            self.restarts += 1
        env = {**(env or {}), **({"NEURON_OPERATOR_CRASH_AT": crash_at} if crash_at else {})}
        self.operator = start_operator(
            self.direct_kubeconfig if direct else self.kubeconfig,
            self.log,
            self.liveness_port,
            self.metrics_port,
            args=("--namespace", self.namespace),
            env=env,
            wait=wait,
        )
        return self.operator

    def kill(self) -> None:
        if self.operator is not None:
            self.operator.kill()


@pytest.fixture
def chaos(
    cluster: Cluster,
    operator_release: str,
    namespace: str,
    proxy: FaultProxy,
    tmp_path: Path,
) -> Iterator[Chaos]:
    direct = service_account_kubeconfig(
        cluster, OPERATOR_NAMESPACE, operator_release, tmp_path / "direct.kubeconfig"
    )
    harness = Chaos(
        namespace=namespace,
        kubeconfig=proxy.kubeconfig(direct, tmp_path / "proxied.kubeconfig"),
        direct_kubeconfig=direct,
        directory=tmp_path,
        proxy=proxy,
    )
    try:
        yield harness
    finally:
        harness.kill()
    # Events posted from the resync thread once failed on kopf's context variables.
    assert "ContextVar" not in harness.log.read_text(errors="replace"), "see the operator log"


WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class AuditLog:
    """The API server's audit log (hack/cluster.py writes every request at Metadata level),
    read from where it ended when the test began."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def writes(self, namespace: str, user: str) -> int:
        """Writes by `user` to objects in `namespace` since the test began (0 if the log
        rotated meanwhile and the rest is in the rotated file: counted from the new one)."""
        if not self.path.exists():
            return 0
        offset = self.offset if self.path.stat().st_size >= self.offset else 0
        count = 0
        quoted = f'"namespace":"{namespace}"'.encode()
        with self.path.open("rb") as log:
            log.seek(offset)
            for line in log:
                if quoted not in line or b'"ResponseComplete"' not in line:
                    continue
                event = json.loads(line)
                if (
                    event.get("verb") in WRITE_VERBS
                    and (event.get("user") or {}).get("username") == user
                    and (event.get("objectRef") or {}).get("namespace") == namespace
                ):
                    count += 1
        return count


@pytest.fixture
def record(namespace: str) -> Any:
    """record(id, injection=..., promise=..., outcome=..., **figures): one row of
    docs/reliability.md, written only when the test gets that far. Each row also gets the
    operator's writes in the test's namespace, counted from the API server's audit log."""
    audit = AuditLog(LOGS / "audit.log")
    operator = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_RELEASE}"

    def write(row_id: str, **row: Any) -> None:
        row.setdefault("audited_writes", audit.writes(namespace, operator))
        RESULTS.parent.mkdir(exist_ok=True)
        with RESULTS.open("a") as out:
            out.write(json.dumps({"id": row_id, "at": time.time(), **row}) + "\n")

    return write
