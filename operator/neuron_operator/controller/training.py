"""A training run as Kubernetes runs one: an Indexed Job and a headless Service. Pure builders.

A Deployment only restarts its pods, so a run that finishes would start again forever and a
failed one would never say so. Neuron's own Kubernetes training samples run an Indexed Job
(completions = parallelism = nodes, restartPolicy Never) whose pods find worker 0 through a
headless Service, take whole trn1.32xlarge / trn1n.32xlarge / trn2.48xlarge nodes with their
EFA interfaces, and hand torchrun and the Neuron runtime worker 0's address. So does this.

Each pod is one node's worker: all of the node's Neuron devices, every EFA interface it has,
a memory-backed /dev/shm, and the rendezvous environment:
- MASTER_ADDR (worker 0's DNS name), MASTER_PORT, WORLD_SIZE = NNODES = the nodes,
  NODE_RANK = the pod's completion index, NPROC_PER_NODE = the cores the plan uses per node;
- NEURON_RT_ROOT_COMM_ID = worker 0 and the port Neuron's collectives bootstrap on;
- with EFA: FI_PROVIDER=efa, FI_EFA_USE_DEVICE_RDMA=1, FI_EFA_FORK_SAFE=1 (as Neuron's
  multi-node samples set them).
A Job's pod template cannot change; a new run (spec.training.run) is a new Job.
"""

from __future__ import annotations

from typing import Any

from neuron_operator.api.plan import PlanRecord
from neuron_operator.api.status import RunStatus
from neuron_operator.controller.render import (
    NEURON_DEVICE,
    NEURONCORE,
    instance_of,
    merge_env,
    owner_reference,
    plan_labels,
    render_pod_template,
    replica_resources,
    standard_labels,
    with_shared_memory,
)

EFA_RESOURCE = "vpc.amazonaws.com/efa"
RUN_LABEL = "neuron.dev/run"
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
MASTER_PORT = 29500  # torchrun's default
ROOT_COMM_PORT = 62128  # the port Neuron's collectives examples bootstrap on
EFA_ENV = {"FI_PROVIDER": "efa", "FI_EFA_USE_DEVICE_RDMA": "1", "FI_EFA_FORK_SAFE": "1"}


def job_name(name: str, run: int) -> str:
    return f"{name}-run{run}"


def training_run(body: dict[str, Any]) -> int:
    """spec.training.run of a NeuronDeployment as stored (1 when unset or not a number)."""
    run = ((body.get("spec") or {}).get("training") or {}).get("run", 1)
    return run if isinstance(run, int) and not isinstance(run, bool) else 1


def workers_service_name(name: str) -> str:
    return f"{name}-workers"


def rendezvous_env(name: str, run: int, plan: PlanRecord, efa: bool) -> list[dict[str, Any]]:
    """What torchrun and the Neuron runtime need to find each other."""
    nodes = int(plan.nodes or 1)
    master = f"{job_name(name, run)}-0.{workers_service_name(name)}"
    per_node = int(plan.replicas_per_node or 1) * int(plan.cores_per_replica or 1)
    env: list[dict[str, Any]] = [
        {"name": "MASTER_ADDR", "value": master},
        {"name": "MASTER_PORT", "value": str(MASTER_PORT)},
        {"name": "WORLD_SIZE", "value": str(nodes)},
        {"name": "NNODES", "value": str(nodes)},
        {"name": "NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}},
        {"name": "NPROC_PER_NODE", "value": str(per_node)},
        {"name": "NEURON_RT_ROOT_COMM_ID", "value": f"{master}:{ROOT_COMM_PORT}"},
    ]
    if efa:
        env += [{"name": k, "value": v} for k, v in EFA_ENV.items()]
    return env


def _worker(
    container: dict[str, Any], theirs: dict[str, Any], name: str, run: int, plan: PlanRecord
) -> dict[str, Any]:
    """The model server container as render_pod_template made it (`theirs`: as the user wrote
    it), turned into one node's worker: the whole node's devices, EFA, CPU and memory share,
    the rendezvous env."""
    instance = instance_of(plan)
    whole = {NEURON_DEVICE: str(instance.allocatable_neuron)}
    if instance.efa_interfaces:
        whole[EFA_RESOURCE] = str(instance.efa_interfaces)
    asked = (theirs.get("resources") or {}).get("requests") or {}
    sized = replica_resources(instance, instance.allocatable_neuroncore)
    requests = {**sized, **asked, **whole}  # the user's CPU and memory win; Neuron is ours
    limits = {
        k: v
        for k, v in ((container.get("resources") or {}).get("limits") or {}).items()
        if k not in (NEURONCORE, NEURON_DEVICE, "memory")
    }
    limits.update(whole)
    limits["memory"] = ((theirs.get("resources") or {}).get("limits") or {}).get(
        "memory", requests["memory"]
    )
    container["resources"] = {
        **(container.get("resources") or {}),
        "requests": requests,
        "limits": limits,
    }
    ours = rendezvous_env(name, run, plan, bool(instance.efa_interfaces))
    container["env"] = merge_env(container.get("env") or [], ours)
    return container


def render_job(
    body: dict[str, Any],
    template: dict[str, Any],
    plan: PlanRecord,
    run: int,
    backoff_limit: int,
) -> dict[str, Any]:
    """The Indexed Job of run `run` of a training NeuronDeployment `body`."""
    metadata = body["metadata"]
    name = metadata["name"]
    pod = render_pod_template(body, template, plan, scheduler_name=None)
    pod["metadata"]["labels"][RUN_LABEL] = str(run)
    spec = pod["spec"]
    worker = _worker(spec["containers"][0], template["spec"]["containers"][0], name, run, plan)
    spec["containers"] = [worker, *spec["containers"][1:]]
    with_shared_memory(spec)
    spec["restartPolicy"] = "Never"
    spec["subdomain"] = workers_service_name(name)
    nodes = int(plan.nodes or 1)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name, run),
            "namespace": metadata["namespace"],
            "labels": {**standard_labels(name), **plan_labels(plan), RUN_LABEL: str(run)},
            "ownerReferences": [owner_reference(body)],
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": nodes,
            "parallelism": nodes,
            "backoffLimit": backoff_limit,
            "template": pod,
        },
    }


def render_workers_service(body: dict[str, Any], run: int) -> dict[str, Any]:
    """The headless Service the run's workers find worker 0 by (`<job>-0.<service>`)."""
    metadata = body["metadata"]
    name = metadata["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": workers_service_name(name),
            "namespace": metadata["namespace"],
            "labels": standard_labels(name),
            "ownerReferences": [owner_reference(body)],
        },
        "spec": {
            "clusterIP": "None",
            # Workers must find each other before they are ready.
            "publishNotReadyAddresses": True,
            "selector": {"batch.kubernetes.io/job-name": job_name(name, run)},
        },
    }


def _job_condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def run_status(job: dict[str, Any], run: int) -> RunStatus:
    """The run as its Job reports it: finished (Complete or Failed, with the Job's reason), or
    Running once every worker is ready, else Pending."""
    status = job.get("status") or {}
    counts = {k: int(status.get(k) or 0) for k in ("active", "succeeded", "failed", "ready")}
    workers = int((job.get("spec") or {}).get("parallelism") or 1)
    common = {
        "job": job["metadata"]["name"],
        "run": run,
        "workers": workers,
        "ready": counts["ready"],
        "active": counts["active"],
        "succeeded": counts["succeeded"],
        "failed": counts["failed"],
        "start_time": status.get("startTime"),
        "completion_time": status.get("completionTime"),
    }
    for kind, phase in (("Complete", "Succeeded"), ("Failed", "Failed")):
        found = _job_condition(job, kind)
        if found is not None:
            return RunStatus(
                phase=phase,
                reason=found.get("reason") or kind,
                message=found.get("message") or None,
                **common,
            )
    phase = "Running" if counts["ready"] >= workers else "Pending"
    return RunStatus(phase=phase, **common)
