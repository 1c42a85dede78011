"""pytest fixtures for tests/ and e2e/: the local control plane, a fresh namespace per test,
and bounded waits that fail with a message saying what did not happen.

The cluster is the one `make cluster-up` starts (hack/cluster.py); the `cluster` fixture
starts it when it is not up and then stops it at the end of the session. Set
NEURON_E2E_KUBECONFIG to run the same tests against another cluster (kind: `make e2e-kind`).
Every test that uses the cluster gets the `cluster` marker, so `pytest -m "not cluster"` runs
the rest without one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
# The repository root: tests import calibration/, hack/ and tests.helpers from it.
sys.path.insert(0, str(ROOT))

from tests.kube import Cluster, wait_until  # noqa: E402

CLUSTER_FIXTURES = {"cluster", "kube", "namespace", "operator", "crd_installed"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    external = os.environ.get("NEURON_E2E_KUBECONFIG")
    if external:
        yield Cluster(Path(external), Path(os.environ.get("KUBECTL", "kubectl")))
        return
    script = [sys.executable, str(ROOT / "hack" / "cluster.py")]
    already_up = (
        subprocess.run([*script, "status"], capture_output=True, check=False).returncode == 0
    )
    if not already_up:
        subprocess.run([*script, "up"], check=True, timeout=600)
    try:
        yield Cluster(ROOT / ".cluster" / "kubeconfig", ROOT / ".cluster" / "bin" / "kubectl")
    finally:
        if not already_up:
            subprocess.run([*script, "down"], check=False, timeout=120)


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> Any:
    """An API client for the cluster (the official kubernetes client)."""
    from kubernetes import config

    return config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig)
    )


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    """A fresh namespace, deleted afterwards; waits until its pods are gone so the simulated
    nodes' capacity is free for the next test."""
    from kubernetes import client

    core = client.CoreV1Api(kube)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # Pods are admitted only once the service-account controller has made `default`.
    wait_until(
        f"serviceaccount {name}/default",
        lambda: (
            "default"
            in {
                s.to_dict()["metadata"]["name"]
                for s in core.list_namespaced_service_account(name).items
            }
        ),
    )
    try:
        yield name
    finally:
        core.delete_namespace(name)
        wait_until(
            f"pods of namespace {name} to be deleted",
            lambda: not core.list_namespaced_pod(name).items,
            timeout=60,
        )


@dataclass(frozen=True)
class Operator:
    """The operator running as a subprocess against the cluster, and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def crd_installed(cluster: Cluster) -> None:
    cluster.run(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(ROOT / "crds" / "neuron.dev_neurondeployments.yaml"),
    )
    cluster.run(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/neurondeployments.neuron.dev"
    )


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, crd_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """`neuron-operator run` as a subprocess, watching every namespace."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "neuron_operator", "run", "--liveness-port", "18081"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    running = Operator(process, log)
    try:
        wait_until(
            "the operator to start watching",
            lambda: (
                process.poll() is not None
                or "Initial authentication has finished" in log.read_text(errors="replace")
            ),
        )
        assert process.poll() is None, f"operator exited:\n{running.tail()}"
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
