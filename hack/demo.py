"""`make demo`: the samples in examples/ running on the local control plane.

1. start the local control plane (hack/cluster.py up) with simulated Neuron nodes;
2. provision the simulated nodes the samples' plans ask for, as Karpenter or a node group
   would on EKS (the cluster starts with one node per instance type);
3. install the CRD and the chart (ServiceAccount, RBAC, metrics Service);
4. run the operator on this machine, authenticated as the chart's ServiceAccount (its
   container image cannot run here: there is no container engine);
5. apply examples/*.yaml, wait until every NeuronDeployment is Ready, and print them and where
   each pod landed. Exits non-zero if a sample is not Ready on the instance type it was planned
   for.

Samples that opt in to fallback (spec.placement.fallback) show it: no node is provisioned for
their first choice (nodes for the cheapest other type their compiled model runs on are, as
spare capacity), and they are applied once the others run, so the nodes of that type are
taken. Their pods stay Unschedulable, and after afterSeconds the operator moves them to the
next feasible plan; the demo prints the move.

The cluster and the operator keep running afterwards; `make cluster-down` stops both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hack.cluster import (  # noqa: E402
    BIN,
    KUBECONFIG,
    LOGS,
    RUN,
    apply_nodes,
    kubectl,
    log,
    running,
    start,
    write_token_kubeconfig,
)
from hack.simnodes import neuron_node  # noqa: E402
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec, Workload  # noqa: E402
from neuron_operator.controller.recompile import runs_as_is, shape_of  # noqa: E402
from neuron_operator.sizing import plan  # noqa: E402
from neuron_operator.sizing.catalog import load_catalog  # noqa: E402

NAMESPACE = "neuron-demo"
OPERATOR_NAMESPACE = "neuron-operator-system"
RELEASE = "neuron-operator"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
READY_TIMEOUT = 240


def samples() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in EXAMPLES]


def falls_back(manifest: dict[str, Any]) -> bool:
    return bool(((manifest.get("spec") or {}).get("placement") or {}).get("fallback"))


def provision_nodes(manifests: list[dict[str, Any]]) -> None:
    """Enough simulated nodes of each instance type for every sample's plan at once, but those
    that show fallback. The default scheduler spreads pods rather than packing them as the plan
    counts, so each replica may take a node of its own: provision for that."""
    needed: Counter[str] = Counter()
    for manifest in manifests:
        spec = NeuronDeploymentSpec.model_validate(manifest["spec"])
        result = plan(spec)
        if not (result.feasible and result.instance_type and result.replicas and result.nodes):
            continue
        if falls_back(manifest):
            # Room for the move: the cheapest other type the same compiled model runs on.
            shape = shape_of(result, spec)
            target = next(
                (
                    a
                    for a in sorted(result.alternatives, key=lambda a: a.estimate.hourly_cost or 0)
                    if a.instance_type != result.instance_type and runs_as_is(spec, shape, a)
                ),
                None,
            )
            if target is not None:
                needed[target.instance_type] += target.replicas
            continue
        # A training run's workers and a LeaderWorkerSet group's pods take whole nodes: the
        # plan's nodes. Other replicas may each land on a node of their own.
        whole_nodes = spec.workload == Workload.TRAINING or result.nodes_per_replica
        needed[result.instance_type] += result.nodes if whole_nodes else result.replicas
    catalog = {instance.name: instance for instance in load_catalog().instances}
    nodes = [
        neuron_node(catalog[instance_type], index)
        for instance_type, count in sorted(needed.items())
        for index in range(count)
    ]
    summary = ", ".join(f"{count} × {name}" for name, count in sorted(needed.items()))
    log(f"provisioning the simulated nodes the plans need: {summary}")
    apply_nodes(nodes)


def install_chart() -> None:
    log("installing the CRD and the chart (helm upgrade --install)")
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(ROOT / "crds" / "neuron.dev_neurondeployments.yaml"),
    )
    kubectl("wait", "--for=condition=Established", "crd/neurondeployments.neuron.dev")
    subprocess.run(
        [
            str(BIN / "helm"),
            f"--kubeconfig={KUBECONFIG}",
            "upgrade",
            "--install",
            RELEASE,
            str(ROOT / "charts" / "neuron-operator"),
            f"--namespace={OPERATOR_NAMESPACE}",
            "--create-namespace",
            "--set=crds.install=false",  # applied above, shared with `make test`
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_operator() -> None:
    if running("operator"):
        log("the operator is already running (.cluster/logs/operator.log)")
        return
    token = kubectl(
        "create", "token", RELEASE, f"--namespace={OPERATOR_NAMESPACE}", "--duration=24h"
    )
    user = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{RELEASE}"
    kubeconfig = write_token_kubeconfig(KUBECONFIG, user, token, RUN / "demo-operator.kubeconfig")
    log(f"starting the operator as {user} (log: .cluster/logs/operator.log)")
    # The environment the chart gives the operator's container.
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "MALLOC_ARENA_MAX": "2",
        "PYTHONMALLOC": "malloc",
    }
    start(
        "operator",
        [
            sys.executable,
            "-m",
            "neuron_operator",
            "run",
            "--log-format=text",
            "--listen-address=127.0.0.1",
        ],
        env=env,
    )


def apply_samples(paths: list[Path]) -> None:
    kubectl("create", "namespace", NAMESPACE, check=False)
    names = ", ".join(path.name for path in paths)
    log(f"applying {names} to namespace {NAMESPACE}")
    for path in paths:
        kubectl("apply", f"--namespace={NAMESPACE}", "-f", str(path))


def fallbacks() -> list[str]:
    """What fallback did, from the events: one line per move."""
    events = json.loads(
        kubectl(
            "get",
            "events",
            f"-n={NAMESPACE}",
            "--field-selector=reason=FellBack",
            "-o=json",
        )
    )["items"]
    return [f"{e['involvedObject']['name']}: {e['message']}" for e in events]


def ready_names(items: list[dict[str, Any]]) -> set[str]:
    return {
        item["metadata"]["name"]
        for item in items
        if any(
            c["type"] == "Ready"
            and c["status"] == "True"
            and c.get("observedGeneration") == item["metadata"].get("generation")
            for c in (item.get("status") or {}).get("conditions") or []
        )
    }


def wait_ready(expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + READY_TIMEOUT
    last = -1
    while True:
        items = json.loads(kubectl("get", "neurondeployments", f"-n={NAMESPACE}", "-o=json"))[
            "items"
        ]
        ready = ready_names(items)
        if len(ready) != last:
            log(f"{len(ready)}/{expected} NeuronDeployments Ready")
            last = len(ready)
        if len(ready) >= expected or time.monotonic() > deadline:
            return list(items)
        time.sleep(2)


def placement(items: list[dict[str, Any]]) -> list[str]:
    """One line per sample: its pods, the instance types of their nodes, and the plan's."""
    nodes = json.loads(kubectl("get", "nodes", "-o=json"))["items"]
    instance_type = {
        n["metadata"]["name"]: n["metadata"]["labels"].get("node.kubernetes.io/instance-type")
        for n in nodes
    }
    pods = json.loads(kubectl("get", "pods", f"-n={NAMESPACE}", "-o=json"))["items"]
    landed: dict[str, Counter[str]] = defaultdict(Counter)
    for pod in pods:
        owner = pod["metadata"].get("labels", {}).get("neuron.dev/neurondeployment")
        # A training run's workers finish (kwok completes them at once): Succeeded counts.
        if owner and pod["status"].get("phase") in ("Running", "Succeeded"):
            landed[owner][str(instance_type.get(pod["spec"].get("nodeName", "")))] += 1
    lines = []
    for item in sorted(items, key=lambda i: i["metadata"]["name"]):
        name = item["metadata"]["name"]
        planned = ((item.get("status") or {}).get("plan") or {}).get("instanceType")
        where = ", ".join(f"{count} on {kind}" for kind, count in sorted(landed[name].items()))
        ok = bool(landed[name]) and set(landed[name]) == {planned}
        verdict = "ok  " if ok else "FAIL"
        lines.append(f"{verdict} {name:22s} planned {planned}; pods: {where or 'none'}")
    return lines


def main() -> int:
    subprocess.run([sys.executable, str(ROOT / "hack" / "cluster.py"), "up"], check=True)
    manifests = samples()
    provision_nodes(manifests)
    install_chart()
    start_operator()
    first = [p for p, m in zip(EXAMPLES, manifests, strict=True) if not falls_back(m)]
    apply_samples(first)
    wait_ready(len(first))
    apply_samples([p for p in EXAMPLES if p not in first])
    items = wait_ready(len(manifests))
    print()
    print(f"$ kubectl get neurondeployments -n {NAMESPACE}")
    print(kubectl("get", "neurondeployments", f"-n={NAMESPACE}"), end="")
    print()
    print("Where the pods landed (node instance type, from the node's label):")
    lines = placement(items)
    print("\n".join(lines))
    moves = fallbacks()
    if moves:
        print()
        print("Fallback (events with reason FellBack):")
        print("\n".join(moves))
    print()
    expected_moves = sum(1 for m in manifests if falls_back(m))
    healthy = (
        len(ready_names(items)) == len(manifests)
        and all(line.startswith("ok") for line in lines)
        and len(moves) >= expected_moves
    )
    if healthy:
        print(
            f"Every sample is Ready on the instance type its plan chose. Try:\n"
            f"  export KUBECONFIG={KUBECONFIG}\n"
            f"  kubectl describe neurondeployment -n {NAMESPACE} llama-3-8b\n"
            f"  .venv/bin/kubectl-neuron explain -n {NAMESPACE} llama-3-8b\n"
            f"Stop everything with `make cluster-down`."
        )
        return 0
    print(f"Not every sample became Ready: see {LOGS / 'operator.log'}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
