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
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent

# Property tests check correctness, not speed (benchmarks measure that): on a machine that is
# also running the control plane, a slow draw or example must not fail them.
settings.register_profile(
    "neuron-operator", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("neuron-operator")
# The repository root: tests import calibration/, hack/ and tests.helpers from it.
sys.path.insert(0, str(ROOT))

from hack.cluster import write_token_kubeconfig  # noqa: E402
from tests.kube import Cluster, wait_until  # noqa: E402
from tests.operator_process import Operator, start_operator  # noqa: E402

CLUSTER_FIXTURES = {"cluster", "kube", "namespace", "operator", "crd_installed", "operator_release"}
CHART = ROOT / "charts" / "neuron-operator"
# Where the operator under test gets its identity: the chart installed as users install it.
OPERATOR_NAMESPACE = "neuron-operator-system"
PEERING_CRDS = CHART / "crds" / "kopf.dev_peerings.yaml"
OPERATOR_RELEASE = "neuron-operator"
# The ConfigMap of prices the chart lets the operator under test read (created by the tests
# that need it; absent, the catalog's list prices apply).
PRICING_CONFIGMAP = "neuron-pricing"
# The operator under test serves /healthz and /metrics on these loopback ports.
LIVENESS_PORT = 18081
METRICS_PORT = 18083


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
    # Tests of real kubelets run only against kind (make e2e-kind sets NEURON_E2E_KIND=1);
    # elsewhere they are deselected, never skipped: there is nothing for them to check.
    if os.environ.get("NEURON_E2E_KIND") != "1":
        kind = [item for item in items if item.get_closest_marker("kind")]
        if kind:
            config.hook.pytest_deselected(items=kind)
            items[:] = [item for item in items if not item.get_closest_marker("kind")]


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    external = os.environ.get("NEURON_E2E_KUBECONFIG")
    if external:
        yield Cluster(
            Path(external),
            Path(os.environ.get("KUBECTL", "kubectl")),
            Path(os.environ.get("HELM", "helm")),
        )
        return
    script = [sys.executable, str(ROOT / "hack" / "cluster.py")]
    already_up = (
        subprocess.run([*script, "status"], capture_output=True, check=False).returncode == 0
    )
    if not already_up:
        subprocess.run([*script, "up"], check=True, timeout=600)
    try:
        bin_dir = ROOT / ".cluster" / "bin"
        yield Cluster(ROOT / ".cluster" / "kubeconfig", bin_dir / "kubectl", bin_dir / "helm")
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
    nodes' capacity is free for the next test. Their grace period is ended: kwok honours it
    (30 s by default) and a LeaderWorkerSet's pods go one after the other (the leader waits in
    foreground deletion for its workers), which took over a minute on a slow machine, while a
    simulated pod has no process to stop."""
    yield from fresh_namespace(kube, wait_for_pods=True, end_grace_periods=True)


def fresh_namespace(
    kube: Any, wait_for_pods: bool, end_grace_periods: bool = False
) -> Iterator[str]:
    from kubernetes import client

    core = client.CoreV1Api(kube)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    # Pods are admitted only once the service-account controller has made `default`.
    def default_account() -> bool:
        listed = core.list_namespaced_service_account(name).items
        return "default" in {s.to_dict()["metadata"]["name"] for s in listed}

    try:
        wait_until(f"serviceaccount {name}/default", default_account, timeout=20)
    except pytest.fail.Exception:
        # After a chaos test restarted the API server, the controller manager's informers
        # can take minutes to list again (its log: "connection refused", then backoff); the
        # operator is not what is being waited for. Make the account it would make.
        account = client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
        try:
            core.create_namespaced_service_account(name, account)
        except client.ApiException as error:
            if error.status != 409:  # the controller made it meanwhile
                raise
        wait_until(f"serviceaccount {name}/default", default_account)
    try:
        yield name
    finally:
        core.delete_namespace(name)
        if wait_for_pods:
            deadline = time.monotonic() + 60
            while left := core.list_namespaced_pod(name).items:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"pods of namespace {name} not deleted in 60 s: "
                        + ", ".join(
                            f"{m['name']} (deletion {m['deletion_timestamp']},"
                            f" finalizers {m['finalizers']})"
                            for m in (p.to_dict()["metadata"] for p in left)
                        )
                    )
                if end_grace_periods:
                    core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
                time.sleep(1)


@pytest.fixture(scope="session")
def crd_installed(cluster: Cluster) -> None:
    cluster.run(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(ROOT / "crds" / "neuron.dev_neurondeployments.yaml"),
    )
    # kopf's peering CRDs, which the chart installs from its crds/ (leader election).
    cluster.run("apply", "--server-side", "--force-conflicts", "-f", str(PEERING_CRDS))
    for crd in (
        "neurondeployments.neuron.dev",
        "kopfpeerings.kopf.dev",
        "clusterkopfpeerings.kopf.dev",
    ):
        cluster.run("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd}")


@pytest.fixture(scope="session")
def operator_release(cluster: Cluster, crd_installed: None) -> str:
    """The chart, installed with helm (its CRD is crd_installed's); returns the name of the
    ServiceAccount it made, whose RBAC the operator under test runs with."""
    cluster.helm_run(
        "upgrade",
        "--install",
        OPERATOR_RELEASE,
        str(CHART),
        f"--namespace={OPERATOR_NAMESPACE}",
        "--create-namespace",
        "--set=crds.install=false",
        f"--set=pricing.configMap={PRICING_CONFIGMAP}",
    )
    return OPERATOR_RELEASE  # the release name contains the chart's: the names are just it


def service_account_kubeconfig(cluster: Cluster, namespace: str, name: str, path: Path) -> Path:
    """A kubeconfig that authenticates with a token the API issues for the ServiceAccount, as
    a pod running as it would."""
    token = cluster.run("create", "token", name, f"--namespace={namespace}", "--duration=3h")
    user = f"system:serviceaccount:{namespace}:{name}"
    return write_token_kubeconfig(cluster.kubeconfig, user, token, path)


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, operator_release: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """`neuron-operator run` as a subprocess, watching every namespace, authenticated as the
    chart's ServiceAccount: every integration test also proves the chart's RBAC suffices."""
    directory = tmp_path_factory.mktemp("operator")
    kubeconfig = service_account_kubeconfig(
        cluster, OPERATOR_NAMESPACE, operator_release, directory / "kubeconfig"
    )
    running = start_operator(
        kubeconfig,
        directory / "operator.log",
        LIVENESS_PORT,
        METRICS_PORT,
        args=[f"--pricing-configmap={OPERATOR_NAMESPACE}/{PRICING_CONFIGMAP}"],
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def second_trn1_node(cluster: Cluster) -> Iterator[str]:
    """A second simulated trn1.32xlarge: the local control plane has one node per type, and a
    training run or a LeaderWorkerSet group across two whole nodes needs two."""
    from hack.simnodes import neuron_node
    from tests.kube import add_node, remove_node

    from neuron_operator.sizing.catalog import load_catalog

    instance = load_catalog().get("trn1.32xlarge")
    assert instance is not None
    name = add_node(cluster, neuron_node(instance, 1))
    try:
        yield name
    finally:
        remove_node(cluster, name)
