"""What only a real kubelet can answer: the operator running as a pod from its image, probes
acted on, containers started, rolled and stopped, Pod Security applied to running containers.

These run on kind (`make e2e-kind`, which `make test` includes wherever a container engine can
run): e2e/kind/up.sh has installed the chart with the operator's image and loaded the model
server's image (e2e/kind/model-server) into the nodes. On the local control plane no container
runs, so they are deselected there (the `kind` marker; conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from tests.kube import (
    Cluster,
    condition,
    create_ndep,
    get_ndep,
    neurondeployment,
    patch_ndep_spec,
    plain,
    pods,
    wait_until,
)

from neuron_operator.controller.render import shared_memory_mib

# Rollouts, restarts and probes on 2 cores take minutes, not the default 120 s.
pytestmark = [pytest.mark.kind, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_NAMESPACE = "neuron-operator-system"
OPERATOR_PODS = "app.kubernetes.io/name=neuron-operator"
SAMPLE_PORT = 8000
# What a user's template brings for the restricted profile: its image runs as a user. The
# operator's secure defaults add the rest (no privilege escalation, capabilities dropped,
# seccomp RuntimeDefault, no service-account token); the read-only root is this server's choice.
RESTRICTED_CONTAINER = {"runAsNonRoot": True, "readOnlyRootFilesystem": True}


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """The images e2e/kind/up.sh built or pulled, and loaded into the nodes."""
    path = Path(os.environ.get("NEURON_E2E_KIND_IMAGES", ROOT / ".cluster" / "kind-images.env"))
    lines = [line.partition("=") for line in path.read_text().splitlines() if "=" in line]
    return {key: value for key, _, value in lines}


@pytest.fixture
def restricted_namespace(kube: Any) -> Iterator[str]:
    """A fresh namespace whose Pod Security admission enforces the restricted profile."""
    from conftest import fresh_namespace

    for name in fresh_namespace(kube, wait_for_pods=True):
        labels = {
            f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn")
        }
        client.CoreV1Api(kube).patch_namespace(name, {"metadata": {"labels": labels}})
        yield name


def sample(image: str, model: dict[str, Any], replicas: int) -> dict[str, Any]:
    """A NeuronDeployment of the stand-in model server on the simulated trn1.32xlarge, sized
    for a kind node (the kind workers have the host's 2 CPUs, not a trn1's 128)."""
    return {
        "model": model,
        "objective": "cost",
        "constraints": {"instanceTypes": ["trn1.32xlarge"]},
        "overrides": {"replicas": replicas},
        "template": {
            "spec": {
                "terminationGracePeriodSeconds": 5,
                "containers": [
                    {
                        "name": "server",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "ports": [{"name": "http", "containerPort": SAMPLE_PORT}],
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http"},
                            "periodSeconds": 1,
                        },
                        "resources": {
                            "requests": {"cpu": "20m", "memory": "48Mi"},
                            "limits": {"memory": "96Mi"},
                        },
                        "securityContext": RESTRICTED_CONTAINER,
                    }
                ],
            }
        },
    }


BERT_BASE = {"family": "transformer-encoder", "parameters": "110M", "sequenceLength": 128}


def ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def serving(kube: Any, namespace: str, name: str, count: int) -> list[dict[str, Any]] | None:
    """The NeuronDeployment's pods once it is Ready with `count` ready pods, else None."""
    if condition(get_ndep(kube, namespace, name), "Ready").get("status") != "True":
        return None
    found = [p for p in pods(kube, namespace, f"neuron.dev/neurondeployment={name}") if ready(p)]
    return found if len(found) == count else None


def serve(kube: Any, namespace: str, images: dict[str, str], replicas: int) -> list[dict[str, Any]]:
    """The sample "bert" with `replicas` pods, once it is Ready with all of them ready."""
    spec = sample(images["MODEL_SERVER_IMAGE"], BERT_BASE, replicas)
    create_ndep(kube, namespace, neurondeployment("bert", spec))
    return wait_until(
        f"bert Ready with {replicas} ready pod(s)",
        lambda: serving(kube, namespace, "bert", replicas),
        180,
    )


def infer(cluster: Cluster, namespace: str, pod: str) -> dict[str, Any]:
    """POST-free GET of /v1/infer through the API server's proxy to the pod."""
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}:{SAMPLE_PORT}/proxy/v1/infer"
    answer: dict[str, Any] = json.loads(cluster.run("get", "--raw", path))
    return answer


def test_the_operator_runs_as_a_pod_from_its_image_under_the_restricted_profile(
    cluster: Cluster, kube: Any, images: dict[str, str]
) -> None:
    operators = pods(kube, OPERATOR_NAMESPACE, OPERATOR_PODS)
    assert operators, "the chart's operator pods"
    for pod in operators:
        assert ready(pod), f"{pod['metadata']['name']} is Ready"
        (container,) = pod["spec"]["containers"]
        assert container["image"].endswith(images["OPERATOR_IMAGE"])
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        pod_security = pod["spec"]["securityContext"]
        assert pod_security["runAsNonRoot"] is True
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
    # Enforcing the restricted profile on the operator's namespace would evict nobody: the API
    # server checks the running pods and warns about any that violate it.
    code, output = cluster.attempt(
        "label", "namespace", OPERATOR_NAMESPACE, "--overwrite", "--dry-run=server",
        "pod-security.kubernetes.io/enforce=restricted",
    )  # fmt: skip
    assert code == 0, output
    assert "violate" not in output, output


def test_the_operators_metrics_answer_through_its_service(cluster: Cluster) -> None:
    path = (
        f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/services/neuron-operator-metrics:metrics"
        "/proxy/metrics"
    )
    text = cluster.run("get", "--raw", path)
    assert "# TYPE neuron_operator_reconciles_total counter" in text


def test_a_samples_pods_run_and_answer_http_with_their_plan(
    cluster: Cluster, kube: Any, restricted_namespace: str, images: dict[str, str]
) -> None:
    ns = restricted_namespace
    running = serve(kube, ns, images, 2)
    plan = get_ndep(kube, ns, "bert")["status"]["plan"]  # type: ignore[index]
    for pod in running:
        answer = infer(cluster, ns, pod["metadata"]["name"])
        assert answer["pod"] == pod["metadata"]["name"]
        assert (
            answer["plan"]["NEURON_PLAN_INSTANCE_TYPE"] == plan["instanceType"] == "trn1.32xlarge"
        )
        assert answer["plan"]["NEURON_PLAN_BATCH_SIZE"] == str(plan["batchSize"])


def test_the_restricted_profile_holds_for_running_containers(
    cluster: Cluster, kube: Any, restricted_namespace: str, images: dict[str, str]
) -> None:
    ns = restricted_namespace
    (pod,) = serve(kube, ns, images, 1)
    status = get_ndep(kube, ns, "bert")["status"]  # type: ignore[index]
    assert status["podSecurity"] == {"level": "restricted", "unmet": []}
    # Inside the running container: not root, the root filesystem read-only, no capability
    # left, no service-account token, and a memory-backed /dev/shm of the plan's size.
    probe = (
        "import os, json\n"
        "try:\n open('/probe', 'w')\n"
        "except OSError as e:\n error = e.strerror\n"
        "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]\n"
        "shm = os.statvfs('/dev/shm')\n"
        "print(json.dumps({'uid': os.getuid(), 'error': error, 'caps': caps,"
        " 'token': os.path.exists('/var/run/secrets/kubernetes.io/serviceaccount/token'),"
        " 'shm': shm.f_blocks * shm.f_frsize}))"
    )
    code, output = cluster.attempt(
        "exec", "-n", ns, pod["metadata"]["name"], "--", "python3", "-c", probe
    )
    assert code == 0, output
    inside = json.loads(output.strip().splitlines()[-1])
    assert inside["uid"] != 0
    assert inside["error"] == "Read-only file system"
    assert int(inside["caps"], 16) == 0, inside
    assert inside["token"] is False
    (server,) = pod["spec"]["containers"]
    limit = server["resources"]["limits"]["memory"]
    assert inside["shm"] == shared_memory_mib(limit) * 1024 * 1024, (inside, limit)
    # And the namespace refuses what the profile forbids.
    privileged = client.V1Pod(
        metadata=client.V1ObjectMeta(name="privileged"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="c",
                    image=images["MODEL_SERVER_IMAGE"],
                    image_pull_policy="Never",
                    security_context=client.V1SecurityContext(privileged=True),
                )
            ]
        ),
    )
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(kube).create_namespaced_pod(ns, privileged)
    assert refused.value.status == 403
    assert 'violates PodSecurity "restricted' in json.loads(refused.value.body or "{}")["message"]


class ReadyPods:
    """Watches a NeuronDeployment's pods and remembers the fewest ready at any moment."""

    def __init__(self, kube: Any, namespace: str, name: str) -> None:
        self.ready: set[str] = set()
        self.fewest: int | None = None
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(kube, namespace, name))
        self._thread.start()

    def _watch(self, kube: Any, namespace: str, name: str) -> None:
        core = client.CoreV1Api(kube)
        selector = f"neuron.dev/neurondeployment={name}"
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        while not self._stop.is_set():
            for event in stream.stream(  # type: ignore[no-untyped-call]
                core.list_namespaced_pod, namespace, label_selector=selector, timeout_seconds=2
            ):
                pod = plain(event["object"])
                pod_name = pod["metadata"]["name"]
                self.seen.add(pod_name)
                if (
                    event["type"] != "DELETED"
                    and ready(pod)
                    and not pod["metadata"].get("deletionTimestamp")
                ):
                    self.ready.add(pod_name)
                else:
                    self.ready.discard(pod_name)
                self.fewest = (
                    len(self.ready) if self.fewest is None else min(self.fewest, len(self.ready))
                )
                if self._stop.is_set():
                    break

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_a_model_edit_that_changes_the_plan_rolls_the_pods_with_one_always_ready(
    cluster: Cluster, kube: Any, restricted_namespace: str, images: dict[str, str]
) -> None:
    ns = restricted_namespace
    before = serve(kube, ns, images, 2)
    old_plan = infer(cluster, ns, before[0]["metadata"]["name"])["plan"]
    watcher = ReadyPods(kube, ns, "bert")
    wait_until("the watch sees both ready pods", lambda: len(watcher.ready) == 2, 30)
    try:
        # A 7B-weight model no longer fits one core: tensor parallel over 8, a new plan
        patch_ndep_spec(kube, ns, "bert", {"model": {"parameters": "7B"}})
        old_names = {p["metadata"]["name"] for p in before}

        def rolled() -> list[dict[str, Any]] | None:
            found = serving(kube, ns, "bert", 2)
            names = {p["metadata"]["name"] for p in found or []}
            everything = {
                p["metadata"]["name"] for p in pods(kube, ns, "neuron.dev/neurondeployment=bert")
            }
            return found if found and not names & old_names and everything == names else None

        after = wait_until("the rollout to replace both pods", rolled, 240)
    finally:
        watcher.stop()
    new_plan = infer(cluster, ns, after[0]["metadata"]["name"])["plan"]
    assert (old_plan["NEURON_PLAN_PARALLELISM"], new_plan["NEURON_PLAN_PARALLELISM"]) == (
        "data",
        "tensor",
    ), "the edit changed the plan the pods run"
    assert watcher.seen >= old_names | {p["metadata"]["name"] for p in after}
    assert watcher.fewest is not None and watcher.fewest >= 1, (
        f"a moment with {watcher.fewest} ready pods during the rollout"
    )


def test_deleting_the_neurondeployment_stops_its_pods(
    cluster: Cluster, kube: Any, restricted_namespace: str, images: dict[str, str]
) -> None:
    ns = restricted_namespace
    serve(kube, ns, images, 2)
    client.CustomObjectsApi(kube).delete_namespaced_custom_object(
        "neuron.dev", "v1alpha1", ns, "neurondeployments", "bert"
    )
    # A pod leaves the API only once its kubelet has stopped its containers.
    wait_until(
        "bert's pods to be gone",
        lambda: not pods(kube, ns, "neuron.dev/neurondeployment=bert"),
        120,
    )
    assert not client.AppsV1Api(kube).list_namespaced_deployment(ns).items


def operator_processes(kube: Any) -> dict[str, tuple[str, str, int]]:
    """pod name -> (node, container ID, restart count) of each operator pod."""
    found = {}
    for pod in pods(kube, OPERATOR_NAMESPACE, OPERATOR_PODS):
        (status,) = pod["status"].get("containerStatuses") or [{}]
        if "containerID" in status:
            found[pod["metadata"]["name"]] = (
                pod["spec"]["nodeName"],
                status["containerID"].split("://", 1)[1],
                status["restartCount"],
            )
    return found


def stall(node: str, container_id: str) -> None:
    """SIGSTOP a container's processes from its node: nothing in it runs, its probes time out."""
    inspect = subprocess.run(
        ["docker", "exec", node, "crictl", "inspect", container_id],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    pid = json.loads(inspect.stdout)["info"]["pid"]
    subprocess.run(["docker", "exec", node, "kill", "-STOP", str(pid)], check=True)


def test_a_stalled_operator_is_restarted_by_its_liveness_probe_and_converges(
    cluster: Cluster, kube: Any, restricted_namespace: str, images: dict[str, str]
) -> None:
    before = operator_processes(kube)
    assert before, "the operator's pods are running"
    for node, container, _ in before.values():
        stall(node, container)
    stalled = time.monotonic()

    def restarted() -> dict[str, tuple[str, str, int]] | None:
        now = operator_processes(kube)
        done = all(
            name in now and now[name][2] > restarts for name, (_, _, restarts) in before.items()
        )
        return now if done else None

    # The chart's probe: 20 s period, 3 failures, 5 s timeout: about a minute to notice.
    wait_until("the kubelet to restart every stalled operator", restarted, 180, interval=2)
    restart_seconds = time.monotonic() - stalled
    wait_until(
        "the restarted operators to be Ready",
        lambda: all(ready(p) for p in pods(kube, OPERATOR_NAMESPACE, OPERATOR_PODS)),
        120,
    )
    # Converged: a new object is planned and served by the restarted operators.
    ns = restricted_namespace
    serve(kube, ns, images, 1)
    print(f"stalled operators restarted after {restart_seconds:.0f} s")  # noqa: T201
