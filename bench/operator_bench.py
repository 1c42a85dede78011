"""Benchmark the operator on the local control plane and write the figures to a Markdown file.

    python bench/operator_bench.py [--write docs/benchmarks.md] [--objects 1000]

Measures, with the operator running as its own process (identity `neuron-operator-dev`):
1. latency: from `kubectl apply` of a NeuronDeployment to its Deployment existing with the
   status written (Planned condition for generation 1), p50/p95 over sequential applies,
   beside the floor: `kubectl apply` of an equivalent Deployment until it exists, observed
   the same way (the same 5 ms polling);
2. scale: N NeuronDeployments created at once (8 threads), a mix of objectives and of priced
   and unpriced instance types (MIX), time until every one is Planned and has its Deployment
   (seen on watches, which cost the cluster far less than polling); beside the floor: one
   `kubectl apply --server-side` of the N Deployments the operator renders for them
   (`plan -o manifests`), until it returns (the median of 3), with no operator running (they
   carry its labels: it would watch them); for
   reference, the same client applying the N NeuronDeployments themselves first (the part of
   the operator's figure its users' own apply is); and the operator's writes per object on
   creation (audit log): each object's writes up to its first status write, and every event
   and write of the object itself in that time;
3. quiet: API writes by the operator (from the API server's audit log) during 60 s after
   everything converged;
4. memory: the operator's resident set size with N objects, its peak over those 60 s;
5. restart: the operator restarted in front of them, until it has reconciled as many times as
   there are objects (its reconcile counter), with its CPU, memory and threads.

The API server's CPU seconds are measured beside both scale figures: on 2 cores shared by
everything, the server's work on the requests each path makes is most of the difference.
Each timed scale run, the floor's and the operator's, has a fresh control plane of its own,
and they are taken in turn (floor, operator, floor, ...), so that both see the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from kubernetes import client, config, watch  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402

from bench.plan_bench import machine, write_section  # noqa: E402
from neuron_operator import kube_yaml  # noqa: E402

STATE = ROOT / ".cluster"
AUDIT = STATE / "logs" / "audit.log"
OPERATOR_USER = "neuron-operator-dev"
BENCH_USER = "neuron-operator-admin"  # hack/cluster.py's admin kubeconfig, which api() uses
POLL = 0.005
# When this run began: audit files rotated out before it belong to earlier runs.
STARTED = time.time()
METRICS_PORT = 18084
SPEC: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25.6M", "gflopsPerInference": 8.2},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 1},
    "template": {
        "spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]}
    },
}
# What the scale figure creates, in turn: every objective, priced and unpriced instance types
# (trn2 has no public price, so those plans carry no cost estimate), pinned and free choices,
# as users' objects are. Each is feasible; the comment says where the engine puts it.
MIX: list[dict[str, Any]] = [
    SPEC,  # cost, pinned: inf2.xlarge
    {  # latency: trn2.3xlarge (unpriced)
        "model": {"family": "transformer-encoder", "parameters": "110M", "sequenceLength": 128},
        "objective": "latency",
    },
    {  # throughput: trn2.3xlarge (unpriced)
        "model": {"family": "transformer-encoder", "parameters": "62M", "batchSize": 3},
        "objective": "throughput",
    },
    {  # cost: inf2.48xlarge
        "model": {"family": "transformer-decoder", "parameters": "8B", "sequenceLength": 2048},
        "objective": "cost",
    },
    {  # throughput within trn2 (unpriced)
        "model": {"family": "vision-transformer", "parameters": "86M"},
        "objective": "throughput",
        "constraints": {"instanceFamilies": ["trn2"]},
    },
    {  # latency: trn2.3xlarge (unpriced)
        "model": {"family": "cnn", "parameters": "25M"},
        "objective": "latency",
    },
]
NEURONDEPLOYMENTS = ("neuron.dev", "v1alpha1", "neurondeployments")
DEPLOYMENTS = ("apps", "v1", "deployments")
SECTION = ("<!-- operator-bench:start -->", "<!-- operator-bench:end -->")


def api() -> client.ApiClient:
    made: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(STATE / "kubeconfig")
    )
    return made


def ndep(name: str, spec: dict[str, Any] = SPEC) -> dict[str, Any]:
    return {
        "apiVersion": "neuron.dev/v1alpha1",
        "kind": "NeuronDeployment",
        "metadata": {"name": name},
        "spec": {**spec, "template": SPEC["template"]},
    }


def planned(custom: client.CustomObjectsApi, namespace: str, name: str) -> bool:
    body: Any = custom.get_namespaced_custom_object(
        "neuron.dev", "v1alpha1", namespace, "neurondeployments", name
    )
    status = body.get("status") or {}
    return status.get("observedGeneration") == 1 and any(
        c["type"] == "Planned" and c["status"] == "True" for c in status.get("conditions", [])
    )


def deployment_exists(apps: client.AppsV1Api, namespace: str, name: str) -> bool:
    try:
        apps.read_namespaced_deployment(name, namespace)
        return True
    except ApiException as error:
        if error.status == 404:
            return False
        raise


def wait(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(POLL)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def kubectl_apply(document: dict[str, Any], namespace: str) -> None:
    subprocess.run(
        [
            str(STATE / "bin" / "kubectl"),
            f"--kubeconfig={STATE / 'kubeconfig'}",
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
        ],
        input=json.dumps(document),
        text=True,
        check=True,
        capture_output=True,
    )


def latency(kube: client.ApiClient, namespace: str, samples: int) -> dict[str, float]:
    """Both paths start with `kubectl apply` (the client users have) and end when the result
    is visible through the API, polled the same way."""
    custom, apps = client.CustomObjectsApi(kube), client.AppsV1Api(kube)
    operator_ms, floor_ms = [], []
    for index in range(samples):
        name = f"lat-{index}"
        start = time.perf_counter()
        kubectl_apply(ndep(name), namespace)
        wait(lambda n=name: deployment_exists(apps, namespace, n) and planned(custom, namespace, n))
        operator_ms.append((time.perf_counter() - start) * 1e3)

        floor_name = f"floor-{index}"
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": floor_name},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"b": floor_name}},
                "template": {
                    "metadata": {"labels": {"b": floor_name}},
                    "spec": SPEC["template"]["spec"],
                },
            },
        }
        start = time.perf_counter()
        kubectl_apply(deployment, namespace)
        wait(lambda n=floor_name: deployment_exists(apps, namespace, n))
        floor_ms.append((time.perf_counter() - start) * 1e3)
    return {
        "p50": statistics.median(operator_ms),
        "p95": percentile(operator_ms, 0.95),
        "floor_p50": statistics.median(floor_ms),
        "floor_p95": percentile(floor_ms, 0.95),
    }


def _watch_names(
    kube: client.ApiClient,
    namespace: str,
    resource: tuple[str, str, str],
    done: Any,
    seen: set[str],
    stop: threading.Event,
) -> None:
    """Add to `seen` the name of every object for which `done(body)` holds, from a watch: the
    API server sends each change once, where polling lists of 1,000 objects every second
    cost the 2 cores more than the operator's own reads."""
    custom = client.CustomObjectsApi(kube)
    group, version, plural = resource
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    events = stream.stream(  # type: ignore[no-untyped-call]
        custom.list_namespaced_custom_object, group, version, namespace, plural, timeout_seconds=600
    )
    try:
        for event in events:
            body = event["object"]
            if done(body):
                seen.add(body["metadata"]["name"])
            if stop.is_set():
                stream.stop()  # type: ignore[no-untyped-call]
    except Exception:
        if not stop.is_set():  # the run still needed it
            raise


def _planned_now(body: dict[str, Any]) -> bool:
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Planned" and c["status"] == "True" for c in conditions)


def scale(kube: client.ApiClient, namespace: str, objects: int) -> float:
    custom = client.CustomObjectsApi(kube)
    names = {f"scale-{i}" for i in range(objects)}
    specs = {f"scale-{i}": MIX[i % len(MIX)] for i in range(objects)}
    planned_names: set[str] = set()
    deployment_names: set[str] = set()
    stop = threading.Event()
    watchers = [
        threading.Thread(
            target=_watch_names,
            args=(kube, namespace, NEURONDEPLOYMENTS, _planned_now, planned_names, stop),
            daemon=True,
        ),
        threading.Thread(
            target=_watch_names,
            args=(kube, namespace, DEPLOYMENTS, lambda _: True, deployment_names, stop),
            daemon=True,
        ),
    ]
    for watcher in watchers:
        watcher.start()
    time.sleep(1)  # both watches established before the first object exists
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: custom.create_namespaced_custom_object(
                    "neuron.dev", "v1alpha1", namespace, "neurondeployments", ndep(n, specs[n])
                ),
                sorted(names),
            )
        )
    deadline = time.monotonic() + 600
    while not names <= (planned_names & deployment_names) and time.monotonic() < deadline:
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    stop.set()
    pending = names - (planned_names & deployment_names)
    if pending:
        raise TimeoutError(f"{len(pending)} of {objects} never converged")
    return seconds


def apiserver_cpu() -> float:
    """CPU seconds the local control plane's API server has used so far."""
    found = subprocess.run(
        ["pgrep", "-f", str(STATE / "bin" / "kube-apiserver")], capture_output=True, text=True
    ).stdout.split()
    return cpu_seconds(int(found[0])) if found else float("nan")


def render_in(namespace: str) -> tuple[str, ...]:
    return ("-o", "manifests", "-n", namespace)


def floor_scale(kube: client.ApiClient, objects: int) -> tuple[float, float, float]:
    """One client applying the Deployments the operator would render for the scale figure's
    objects, at once: what a platform team's `kubectl apply` of them costs the cluster. Also,
    first and apart, the same client applying the NeuronDeployments themselves (no operator
    runs yet): what creating the objects costs before anything acts on them. Seconds and API
    server CPU of the first; seconds of the second."""
    namespace = f"floor-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(kube)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    manifests = STATE / "floor-neurondeployments.yaml"
    manifests.write_text(
        "---\n".join(
            json.dumps(ndep(f"scale-{i}", MIX[i % len(MIX)])) + "\n" for i in range(objects)
        )
    )
    rendered = subprocess.run(
        [
            sys.executable,
            "-m",
            "neuron_operator",
            "plan",
            "-f",
            str(manifests),
            *render_in(namespace),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    objects_rendered = [o for o in yaml.safe_load_all(rendered) if o]
    for obj in objects_rendered:
        # Their owner exists only in the operator's namespace: the garbage collector would
        # start deleting them while the floor is measured.
        obj["metadata"].pop("ownerReferences", None)
    deployments = STATE / "floor-deployments.yaml"
    deployments.write_text(kube_yaml.dump_all(objects_rendered))
    kubectl = [str(STATE / "bin" / "kubectl"), f"--kubeconfig={STATE / 'kubeconfig'}"]

    def apply(path: Path) -> tuple[float, float]:
        server_before, start = apiserver_cpu(), time.perf_counter()
        done = subprocess.run(
            [*kubectl, "apply", "--server-side", "-n", namespace, "-f", str(path)],
            check=False,
            capture_output=True,
            text=True,
        )
        seconds, server = time.perf_counter() - start, apiserver_cpu() - server_before
        if done.returncode:
            raise RuntimeError(f"the floor's kubectl apply failed: {done.stderr[-2000:]}")
        return seconds, server

    objects_seconds, _ = apply(manifests)
    seconds, server = apply(deployments)
    return seconds, server, objects_seconds


def audit_lines() -> list[str]:
    """The API server's audit log, with the files it rotated out during this run (at 200 MB:
    a bench run writes more than that)."""
    rotated = [p for p in AUDIT.parent.glob("audit-*.log") if p.stat().st_mtime >= STARTED]
    files = [*sorted(rotated), AUDIT]
    return [line for path in files if path.exists() for line in path.read_text().splitlines()]


def creation_writes(namespace: str, names: set[str]) -> dict[str, float]:
    """The operator's writes per object on creation, from the audit log: for each object, the
    writes to its Deployment and its status up to and including its first status write; and,
    in the whole namespace over that time, writes to the objects themselves (kopf's
    bookkeeping) and events."""
    entries = []
    for line in audit_lines():
        entry = json.loads(line)
        ref = entry.get("objectRef") or {}
        if (
            entry.get("user", {}).get("username") == OPERATOR_USER
            and entry.get("verb") in ("create", "update", "patch", "delete")
            and ref.get("namespace") == namespace
            and entry.get("stage") == "ResponseComplete"
        ):
            resource = ref.get("resource", "") + ("/status" if ref.get("subresource") else "")
            entries.append((entry["requestReceivedTimestamp"], resource, ref.get("name", "")))
    entries.sort()
    done: set[str] = set()
    counted = {"deployment": 0, "status": 0, "object": 0, "events": 0}
    last = ""
    for when, resource, name in entries:
        if resource == "neurondeployments/status" and name in names and name not in done:
            counted["status"] += 1
            done.add(name)
            last = when
        elif resource == "deployments" and name not in done:
            counted["deployment"] += 1
    for when, resource, _ in entries:
        if when <= last and resource == "neurondeployments":
            counted["object"] += 1
        elif when <= last and resource == "events":
            counted["events"] += 1
    total = sum(counted.values())
    return {**{k: v / len(names) for k, v in counted.items()}, "total": total / len(names)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cluster_writes(namespaces: set[str]) -> int:
    """Writes in the bench's namespaces by anyone but the bench itself: the operator, and the
    controllers, scheduler and kwok acting on what it created. Their events are left out: the
    scheduler records its retries of pods that fit nowhere for as long as they wait."""
    writes = 0
    for line in audit_lines():
        entry = json.loads(line)
        user = entry.get("user", {}).get("username")
        ref = entry.get("objectRef") or {}
        if (
            user != BENCH_USER
            and ref.get("namespace") in namespaces
            and entry.get("verb") in ("create", "update", "patch", "delete")
            and (user == OPERATOR_USER or ref.get("resource") != "events")
        ):
            writes += 1
    return writes


def wait_until_quiet(namespaces: set[str], quiet_for: float = 15, timeout: float = 600) -> None:
    """Converged = nobody but the bench has written in its namespaces for `quiet_for`
    seconds. The operator's own writes are not enough to watch: its status follows the
    Deployments' conditions, which the controller manager (at its 20 QPS) changes in waves
    for minutes after every object is Planned, and a lull between two waves is not the end."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = cluster_writes(namespaces)
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
        time.sleep(2)
    raise TimeoutError("the cluster never stopped writing")


def operator_writes(since: str, until: str) -> int:
    writes = 0
    for line in audit_lines():
        entry = json.loads(line)
        when = entry.get("requestReceivedTimestamp", "")
        if (
            entry.get("user", {}).get("username") == OPERATOR_USER
            and since <= when <= until
            and entry.get("verb") in ("create", "update", "patch", "delete")
        ):
            writes += 1
    return writes


def reconciles_done() -> float:
    """Reconciles the operator has finished since it started (its metrics endpoint)."""
    url = f"http://127.0.0.1:{METRICS_PORT}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("neuron_operator_reconciles_total{")
    )


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def restart(pid: int, objects: int, settle: float = 30.0) -> dict[str, float]:
    """An operator started in front of `objects` converged objects: seconds until it has
    reconciled as many times, its CPU by then, its memory and threads `settle` s later, and the
    highest of its memory readings (every 0.2 s, then every second) until then."""
    start = time.perf_counter()
    peak = 0.0
    while reconciles_done() < objects:
        if time.perf_counter() - start > 600:
            raise TimeoutError("the restarted operator never reconciled every object")
        peak = max(peak, rss_mib(pid))
        time.sleep(0.2)
    seconds, cpu = time.perf_counter() - start, cpu_seconds(pid)
    settled = time.monotonic() + settle
    while time.monotonic() < settled:
        peak = max(peak, rss_mib(pid))
        time.sleep(1)
    rss = rss_mib(pid)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rss": rss,
        "peak": max(peak, rss),
        "threads": threads(pid),
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


CLUSTER = [sys.executable, str(ROOT / "hack" / "cluster.py")]


def fresh_control_plane() -> client.ApiClient:
    """The control plane down and up again, with the CRD: nothing an earlier run left (objects,
    etcd's history, the garbage collector's work) competes for the 2 cores."""
    subprocess.run([*CLUSTER, "down"], check=True)
    subprocess.run([*CLUSTER, "up"], check=True)
    kubectl = [str(STATE / "bin" / "kubectl"), f"--kubeconfig={STATE / 'kubeconfig'}"]
    crd = ROOT / "crds" / "neuron.dev_neurondeployments.yaml"
    subprocess.run(
        [*kubectl, "apply", "--server-side", "-f", str(crd)], check=True, capture_output=True
    )
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "crd/neurondeployments.neuron.dev"],
        check=True,
        capture_output=True,
    )
    return api()


def start_operator(log: Any, ready: bool = True) -> subprocess.Popen[bytes]:
    """The operator as its own process, in the environment the chart gives its container;
    with `ready`, once its /readyz answers (its watches listed)."""
    env = {
        **os.environ,
        "KUBECONFIG": str(STATE / "run" / "operator.kubeconfig"),
        "MALLOC_ARENA_MAX": "2",
        "PYTHONMALLOC": "malloc",
    }
    command = [
        sys.executable,
        "-m",
        "neuron_operator",
        "run",
        "--listen-address=127.0.0.1",
        "--liveness-port=18082",
        f"--metrics-port={METRICS_PORT}",
        # The Neuron scheduler extension extending the default scheduler, as a production
        # cluster with multi-core replicas runs it: without it a third of the mix would
        # rightly warn NoNeuronScheduler (an event each).
        "--scheduler-name=default-scheduler",
    ]
    operator = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    deadline = time.monotonic() + 120
    while ready:
        try:
            url = f"http://127.0.0.1:{METRICS_PORT}/readyz"
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if operator.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the operator never became ready: see .cluster/logs")
        time.sleep(0.2)
    return operator


def stop(operator: subprocess.Popen[bytes]) -> None:
    operator.terminate()
    operator.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--quiet-seconds", type=int, default=60)
    parser.add_argument("--floor-runs", type=int, default=3)
    parser.add_argument("--scale-runs", type=int, default=3)
    args = parser.parse_args()

    # Each timed run on a fresh control plane of its own, and the floor's runs taken in turn
    # with the operator's. In one control plane each run was about a second slower than the
    # one before (10.7, 12.1, 13.0 s; 11.0, 11.8, 13.3 s); on fresh ones they still drifted
    # (10.2, 10.7, 11.2 s after floors of 6.3-6.9 s), so not only from what the control plane
    # kept (the cause is not known). Whichever was measured later looked worse; in turn, both
    # see the same drift.
    log = open(STATE / "logs" / "operator-bench.log", "w")  # noqa: SIM115
    floors: list[tuple[float, float, float]] = []
    runs: list[tuple[float, float, float]] = []
    operator: subprocess.Popen[bytes] | None = None
    try:
        for run in range(max(args.floor_runs, args.scale_runs)):
            if run < args.floor_runs:
                floors.append(floor_scale(fresh_control_plane(), args.objects))
                print(
                    f"floor {run + 1}: {args.objects} Deployments applied in "
                    f"{floors[-1][0]:.1f}s (API server CPU {floors[-1][1]:.1f}s); the "
                    f"NeuronDeployments themselves in {floors[-1][2]:.1f}s",
                    flush=True,
                )
            if run >= args.scale_runs:
                continue
            if operator is not None:
                stop(operator)
            # The same steps every run: a fresh control plane, the operator started and
            # ready, the latency figure's sequential applies, then the objects at once. The
            # last run's objects stay for the figures below.
            kube = fresh_control_plane()
            core = client.CoreV1Api(kube)
            namespaces = [f"bench-{uuid.uuid4().hex[:6]}" for _ in range(2)]
            for name in namespaces:
                core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
            operator = start_operator(log)
            lat = latency(kube, namespaces[0], args.samples)
            print(f"latency: {lat}", flush=True)
            cpu_before, server_before = cpu_seconds(operator.pid), apiserver_cpu()
            took = scale(kube, namespaces[1], args.objects)
            runs.append(
                (
                    took,
                    cpu_seconds(operator.pid) - cpu_before,
                    apiserver_cpu() - server_before,
                )
            )
            print(
                f"run {run + 1}: {args.objects} objects converged in {took:.1f}s; operator CPU "
                f"{runs[-1][1]:.1f}s, API server CPU {runs[-1][2]:.1f}s",
                flush=True,
            )
        assert operator is not None
        seconds, cpu, server = sorted(runs)[len(runs) // 2]
        floor, floor_server, _ = sorted(floors)[len(floors) // 2]
        objects_floor = statistics.median(f[2] for f in floors)
        per_object = creation_writes(namespaces[1], {f"scale-{i}" for i in range(args.objects)})
        print(f"writes per object on creation: {per_object}", flush=True)
        wait_until_quiet(set(namespaces))
        since = now()
        # Resident memory each second of the quiet window, which holds one watch audit (every
        # 60 s): a single reading at its end missed or caught that audit's lists by chance.
        samples = []
        ends = time.monotonic() + args.quiet_seconds
        while time.monotonic() < ends:
            samples.append(rss_mib(operator.pid))
            time.sleep(1)
        until = now()
        writes = operator_writes(since, until)
        memory, memory_last = max(samples), samples[-1]
        print(
            f"writes in {args.quiet_seconds}s after convergence: {writes}; RSS peak "
            f"{memory:.0f} MiB, last {memory_last:.0f} MiB"
        )
        stop(operator)
        operator = start_operator(log, ready=False)
        again = restart(operator.pid, args.objects + args.samples)
        print(f"restarted: {again}", flush=True)
    finally:
        if operator is not None:
            stop(operator)
        subprocess.run([*CLUSTER, "down"], check=True)

    ratio = lat["p50"] / lat["floor_p50"]
    text = "\n".join(
        [
            SECTION[0],
            "## Operator on the local control plane",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by `make bench` "
            f"(bench/operator_bench.py) on {machine()}; control plane, kwok and operator on the "
            "same 2 cores.",
            "",
            "| figure | measured | target |",
            "|---|---|---|",
            f"| `kubectl apply` → Deployment exists and status written, p50 / p95 "
            f"({args.samples} sequential applies, {POLL * 1e3:.0f} ms polling) "
            f"| {lat['p50']:.0f} ms / {lat['p95']:.0f} ms | |",
            f"| floor: `kubectl apply` of an equivalent Deployment until it exists, p50 / p95 "
            f"(same polling) | {lat['floor_p50']:.0f} ms / {lat['floor_p95']:.0f} ms | |",
            f"| p50 ÷ floor p50 | {ratio:.2f}× | ≤ 1.5× |",
            f"| {args.objects} NeuronDeployments created at once ({len(MIX)} specs in turn: cost, "
            "latency and throughput objectives, priced and unpriced instance types) → all "
            "Planned with Deployments"
            f"; median of {len(runs)} ({', '.join(f'{r[0]:.1f}' for r in runs)} s, in the "
            "order run), each on a fresh control plane after the latency figure's applies; "
            "the last one's objects stay for the figures below "
            f"| {seconds:.1f} s (operator CPU {cpu:.1f} s, API server CPU {server:.1f} s, "
            "of that run) | ≤ 60 s |",
            f"| floor: one `kubectl apply --server-side` of the {args.objects} Deployments the "
            "operator renders for them (`plan -o manifests`), until it returns, no operator "
            f"running; median of {args.floor_runs} "
            f"({', '.join(f'{f[0]:.1f}' for f in floors)} s, in the order run), each on a "
            "fresh control plane, taken in turn with the operator's runs "
            f"| {floor:.1f} s (API server CPU {floor_server:.1f} s) | |",
            f"| operator ÷ floor | {seconds / floor:.2f}× | ≤ 2× |",
            f"| for reference: the same client applying the {args.objects} NeuronDeployments "
            "themselves, before the floor's Deployments; median of "
            f"{args.floor_runs} ({', '.join(f'{f[2]:.1f}' for f in floors)} s) "
            f"| {objects_floor:.1f} s | |",
            "| for reference: operator ÷ (the objects' apply + the Deployments' apply), what a "
            "user who wrote both would wait "
            f"| {seconds / (objects_floor + floor):.2f}× | |",
            "| operator writes per object on creation (audit log: its Deployment and status up "
            "to the first status write; writes to the object itself and events meanwhile) "
            f"| {per_object['total']:.2f} (Deployment {per_object['deployment']:.2f}, status "
            f"{per_object['status']:.2f}, object {per_object['object']:.2f}, events "
            f"{per_object['events']:.2f}) | ≤ 2 |",
            f"| operator API writes in {args.quiet_seconds} s once converged (nobody but the "
            "bench had written in its namespaces for 15 s: the operator, the controllers, the "
            "scheduler and kwok; audit log) "
            f"| {writes} | 0 |",
            f"| operator resident memory with {args.objects + args.samples} objects (the "
            "chart's environment: PYTHONMALLOC=malloc, MALLOC_ARENA_MAX=2): the highest of "
            f"{len(samples)} readings, one a second over those {args.quiet_seconds} s "
            f"| {memory:.0f} MiB (last reading {memory_last:.0f} MiB) | ≤ 120 MiB |",
            f"| operator restarted in front of them: until it has reconciled "
            f"{args.objects + args.samples} times; then, 30 s later, its memory and threads; "
            "the highest memory reading until then "
            f"| {again['seconds']:.1f} s (CPU {again['cpu']:.1f} s); {again['rss']:.0f} MiB, "
            f"{again['threads']:.0f} threads; peak {again['peak']:.0f} MiB | |",
            SECTION[1],
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, SECTION, text)


if __name__ == "__main__":
    main()
