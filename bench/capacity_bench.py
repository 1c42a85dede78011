"""Benchmark capacity-awareness: the operator's memory with 10,000 pods in the cluster, and what
planning against them costs. Writes its figures to a Markdown file.

    python bench/capacity_bench.py [--write docs/benchmarks.md] [--pods 10000]

On a fresh local control plane, with the operator running as its own process (as the chart
runs it: MALLOC_ARENA_MAX=2, PYTHONMALLOC=malloc) and capacity-awareness on:
1. its resident set size once its informers have listed the simulated nodes and no pods;
2. N pods created (8 threads), each asking for a NeuronCore and carrying what real pods carry
   (labels, annotations, a dozen environment variables: about 2 KB as the API serves them). A
   fifth are bound to the simulated Neuron nodes (kwok runs them); the rest wait for a
   scheduler that does not exist, so the scheduler spends nothing on them;
3. its resident set size once its metrics say the informers keep all N (read after a
   garbage-collection pause of 10 s), and the time from the last create to that;
4. `kubectl apply` of a NeuronDeployment → Planned, with all N pods in view, p50 over 10.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hack.simnodes import all_nodes  # noqa: E402
from kubernetes import client  # noqa: E402

from bench.operator_bench import (  # noqa: E402
    SPEC,
    STATE,
    api,
    kubectl_apply,
    planned,
    rss_mib,
)
from bench.plan_bench import machine, write_section  # noqa: E402

SECTION = ("<!-- capacity-bench:start -->", "<!-- capacity-bench:end -->")
METRICS = "http://127.0.0.1:18086/metrics"
BOUND_SHARE = 5  # one pod in this many is bound to a simulated Neuron node


def kept(kind: str) -> int:
    """What the operator's capacity informers keep of a kind, from its metrics."""
    try:
        with urllib.request.urlopen(METRICS, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return -1
    found = re.search(rf'neuron_operator_capacity_objects{{kind="{kind}"}} (\S+)', text)
    return int(float(found.group(1))) if found else -1


def wait_for(what: str, check: Any, timeout: float = 600) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def pod(index: int, nodes: list[str]) -> client.V1Pod:
    bound = index % BOUND_SHARE == 0
    env = [client.V1EnvVar(name=f"SETTING_{i}", value=f"value-{index}-{i}" * 3) for i in range(12)]
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=f"p-{index:05d}",
            labels={
                "app.kubernetes.io/name": f"service-{index % 50}",
                "app.kubernetes.io/instance": f"release-{index % 200}",
                "team": f"team-{index % 7}",
            },
            annotations={"example.com/owner": f"someone-{index % 31}@example.com"},
        ),
        spec=client.V1PodSpec(
            node_name=nodes[index % len(nodes)] if bound else None,
            scheduler_name=None if bound else "nobody-schedules-these",
            tolerations=[client.V1Toleration(key="aws.amazon.com/neuron", operator="Exists")],
            containers=[
                client.V1Container(
                    name="server",
                    image="registry.k8s.io/pause:3.10",
                    env=env,
                    resources=client.V1ResourceRequirements(
                        limits={"aws.amazon.com/neuroncore": "1"}
                    ),
                )
            ],
        ),
    )


def create_pods(kube: client.ApiClient, namespace: str, count: int, nodes: list[str]) -> float:
    core = client.CoreV1Api(kube)
    started = time.monotonic()

    def make(index: int) -> None:
        for attempt in range(5):
            try:
                core.create_namespaced_pod(namespace, pod(index, nodes))
                return
            except client.exceptions.ApiException as error:
                if error.status == 409:
                    return
                time.sleep(0.5 * (attempt + 1))
        raise SystemExit(f"could not create pod {index}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, range(count)))
    return time.monotonic() - started


def plan_latency(kube: client.ApiClient, namespace: str, samples: int) -> float:
    custom = client.CustomObjectsApi(kube)
    times = []
    for index in range(samples):
        name = f"lat-{index}"
        document = {
            "apiVersion": "neuron.dev/v1alpha1",
            "kind": "NeuronDeployment",
            "metadata": {"name": name},
            "spec": SPEC,
        }
        started = time.monotonic()
        kubectl_apply(document, namespace)
        wait_for(f"{name} planned", lambda n=name: planned(custom, namespace, n), timeout=60)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--pods", type=int, default=10_000)
    args = parser.parse_args()

    cluster = [sys.executable, str(ROOT / "hack" / "cluster.py")]
    subprocess.run([*cluster, "down"], check=True)
    subprocess.run([*cluster, "up"], check=True)
    kubectl = [str(STATE / "bin" / "kubectl"), f"--kubeconfig={STATE / 'kubeconfig'}"]
    crd = str(ROOT / "crds" / "neuron.dev_neurondeployments.yaml")
    subprocess.run([*kubectl, "apply", "--server-side", "-f", crd], check=True)
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "crd/neurondeployments.neuron.dev"],
        check=True,
    )
    kube = api()
    namespace = f"capacity-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(kube).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
    )
    neuron_nodes = [
        n["metadata"]["name"]
        for n in all_nodes()
        if "aws.amazon.com/neuroncore" in n["status"]["allocatable"]
    ]
    log = open(STATE / "logs" / "capacity-bench.log", "w")  # noqa: SIM115
    env = {
        **os.environ,
        "KUBECONFIG": str(STATE / "run" / "operator.kubeconfig"),
        "MALLOC_ARENA_MAX": "2",
        "PYTHONMALLOC": "malloc",
    }
    operator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neuron_operator",
            "run",
            "--capacity-aware",
            "--listen-address=127.0.0.1",
            "--liveness-port=18085",
            "--metrics-port=18086",
        ],
        stdout=log,
        stderr=log,
        env=env,
    )
    try:
        wait_for("the nodes in view", lambda: kept("nodes") == len(neuron_nodes), timeout=120)
        time.sleep(10)
        before = rss_mib(operator.pid)
        print(f"RSS with {len(neuron_nodes)} nodes and no pods: {before:.0f} MiB", flush=True)
        created = create_pods(kube, namespace, args.pods, neuron_nodes)
        print(f"{args.pods} pods created in {created:.0f} s", flush=True)
        caught_up = wait_for("every pod kept", lambda: kept("pods") >= args.pods)
        time.sleep(10)
        after = rss_mib(operator.pid)
        print(f"RSS with {args.pods} pods: {after:.0f} MiB", flush=True)
        latency = plan_latency(kube, namespace, 10)
        print(f"apply → Planned p50 with {args.pods} pods in view: {latency * 1e3:.0f} ms")
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        subprocess.run([*cluster, "down"], check=True)

    text = "\n".join(
        [
            SECTION[0],
            "## Capacity-awareness with many pods",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by `make bench` "
            f"(bench/capacity_bench.py) on {machine()}; control plane, kwok and operator on the "
            f"same 2 cores. {args.pods:,} pods of about 2 KB each, each asking for a "
            f"NeuronCore, one in {BOUND_SHARE} bound to a simulated Neuron node; the operator "
            "keeps each as its node, Neuron requests and phase (controller/capacity.py "
            "`PodClaim`).",
            "",
            "| figure | measured | target |",
            "|---|---|---|",
            f"| operator resident memory, {len(neuron_nodes)} Neuron nodes and no pods "
            f"| {before:.0f} MiB | |",
            f"| operator resident memory with {args.pods:,} pods in view | {after:.0f} MiB "
            "| ≤ 200 MiB |",
            f"| last pod created → the operator keeps every pod ({args.pods:,} created in "
            f"{created:.0f} s) | {caught_up:.1f} s | |",
            f"| `kubectl apply` → Planned with {args.pods:,} pods in view, p50 of 10 "
            f"| {latency * 1e3:.0f} ms | |",
            SECTION[1],
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, SECTION, text)


if __name__ == "__main__":
    main()
