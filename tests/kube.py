"""Helpers for tests that talk to a cluster (fixtures are in the root conftest.py)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


def kube_version() -> str:
    """The Kubernetes version hack/tools.sh builds (hack/versions.env)."""
    text = (ROOT / "hack" / "versions.env").read_text()
    found = re.search(r"^K8S_VERSION=(\S+)", text, re.MULTILINE)
    assert found, "K8S_VERSION missing from hack/versions.env"
    return found.group(1)


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    kubectl: Path
    helm: Path = Path("helm")

    def _exec(
        self, binary: Path, args: tuple[str, ...], stdin: str | None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def attempt(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        """Run kubectl; return its exit status and everything it printed."""
        done = self._exec(self.kubectl, args, stdin)
        return done.returncode, done.stdout + done.stderr

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = self._exec(self.kubectl, args, stdin)
        if check and done.returncode:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def helm_attempt(self, *args: str) -> tuple[int, str]:
        """Run helm against the cluster; return its exit status and everything it printed."""
        done = self._exec(self.helm, args, None)
        return done.returncode, done.stdout + done.stderr

    def helm_template(self, chart: Path, *args: str) -> str:
        """The chart rendered for the Kubernetes version the local control plane runs."""
        return self.helm_run(
            "template", "neuron-operator", str(chart), f"--kube-version={kube_version()}", *args
        )

    def helm_run(self, *args: str) -> str:
        code, output = self.helm_attempt(*args)
        if code:
            raise AssertionError(f"helm {' '.join(args)} failed: {output.strip()}")
        return output


def add_node(cluster: Cluster, node: dict[str, Any]) -> str:
    """A simulated node (hack/simnodes.py), its status written as its kubelet would; returns
    its name. kwok runs its pods."""
    cluster.run("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(node))
    status = {k: node["status"][k] for k in ("capacity", "allocatable", "nodeInfo")}
    name = str(node["metadata"]["name"])
    patch = json.dumps({"status": status})
    cluster.run("patch", "node", name, "--subresource=status", "--type=merge", "-p", patch)
    return name


def remove_node(cluster: Cluster, name: str) -> None:
    """Its pods first, while kwok still runs the node (a pod on a deleted node waits for the
    pod garbage collector), then the node."""
    cluster.run(
        "delete",
        "pods",
        "--all-namespaces",
        f"--field-selector=spec.nodeName={name}",
        "--wait=true",
        "--timeout=60s",
        check=False,
    )
    cluster.run("delete", "node", name, check=False)


def wait_until(
    what: str, probe: Callable[[], T | None], timeout: float = 60, interval: float = 0.25
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last seen: {last!r})")
        time.sleep(interval)


# --- NeuronDeployments and their Deployments, as plain dicts ---------------------------------


def plain(obj: Any) -> Any:
    """An API object as the API server's JSON: camelCase keys, no nulls."""
    from kubernetes import client

    return client.ApiClient().sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]


GROUP, VERSION, PLURAL = "neuron.dev", "v1alpha1", "neurondeployments"


def neurondeployment(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NeuronDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def create_ndep(kube: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    from kubernetes import client

    result = client.CustomObjectsApi(kube).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )
    assert isinstance(result, dict)
    return result


def get_ndep(kube: Any, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        result = client.CustomObjectsApi(kube).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
        assert isinstance(result, dict)
        return result
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def patch_ndep_spec(kube: Any, namespace: str, name: str, spec: dict[str, Any]) -> None:
    from kubernetes import client

    client.CustomObjectsApi(kube).patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        {"spec": spec},
        _content_type="application/merge-patch+json",
    )


def condition(body: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for item in ((body or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


def get_deployment(kube: Any, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        deployment = client.AppsV1Api(kube).read_namespaced_deployment(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    result: dict[str, Any] = plain(deployment)
    return result


def pods(kube: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    from kubernetes import client

    items = client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector=selector).items
    return [plain(pod) for pod in items]


def node_instance_type(kube: Any, node: str) -> str:
    from kubernetes import client

    labels = plain(client.CoreV1Api(kube).read_node(node))["metadata"]["labels"]
    return str(labels["node.kubernetes.io/instance-type"])


def events_for(kube: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    from kubernetes import client

    items = (
        client.CoreV1Api(kube)
        .list_namespaced_event(
            namespace,
            field_selector=f"involvedObject.kind=NeuronDeployment,involvedObject.name={name}",
        )
        .items
    )
    return [plain(event) for event in items]
