"""The Deployment a NeuronDeployment runs as: a pure function of the object, its plan and the
operator's settings (what the template may not ask for is controller/policy.py)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from neuron_operator.api.plan import NEURON_DEVICE_RESOURCE, NEURONCORE_RESOURCE, PlanRecord
from neuron_operator.api.v1alpha1 import API_VERSION, KIND
from neuron_operator.controller.hardening import with_secure_defaults
from neuron_operator.controller.quantity import quantity
from neuron_operator.sizing.catalog import InstanceType, load_catalog

NEURONCORE = NEURONCORE_RESOURCE
NEURON_DEVICE = NEURON_DEVICE_RESOURCE
NEURON_TAINT_KEY = "aws.amazon.com/neuron"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
SELECTOR_LABEL = "neuron.dev/neurondeployment"
# Label your Trainium2 nodes with the logical NeuronCore config their launch template sets
# (/opt/aws/neuron/logical_nc_config): a plan at one LNC then avoids nodes at the other.
LNC_LABEL = "neuron.dev/logical-neuroncore-config"
MANAGED_BY = {"app.kubernetes.io/managed-by": "neuron-operator"}
# Share of a replica's slice of node CPU and memory it requests: the rest stays for the node's
# DaemonSets (device plugin, CNI, kube-proxy, monitoring).
REQUEST_SHARE = 0.9
EVICTION_HARD_MIB = 100


# --- node capacity ------------------------------------------------------------------------


def kube_reserved_cpu_millicores(vcpus: int) -> int:
    """EKS AMI (and Bottlerocket) kube-reserved CPU: 6 % of the first core, 1 % of the second,
    0.5 % of the next two, 0.25 % of every core above four."""
    reserved = 0.0
    for core in range(vcpus):
        reserved += 60 if core == 0 else 10 if core == 1 else 5 if core < 4 else 2.5
    return round(reserved)


def kube_reserved_memory_mib(max_pods: int) -> int:
    """EKS AMI (and Bottlerocket) kube-reserved memory: 11 MiB per pod + 255 MiB."""
    return 11 * max_pods + 255


@dataclass(frozen=True)
class Allocatable:
    cpu_millicores: int
    memory_mib: int


def node_allocatable(vcpus: int, memory_gib: float, max_pods: int) -> Allocatable:
    """What the kubelet of an EKS node offers pods: capacity less kube-reserved and the
    100 MiB hard-eviction threshold."""
    return Allocatable(
        cpu_millicores=vcpus * 1000 - kube_reserved_cpu_millicores(vcpus),
        memory_mib=int(memory_gib * 1024) - kube_reserved_memory_mib(max_pods) - EVICTION_HARD_MIB,
    )


def replica_resources(instance: InstanceType, cores: int) -> dict[str, str]:
    """CPU and memory a replica requests: its cores' share of the node, less headroom."""
    node = node_allocatable(instance.vcpus, instance.host_memory_gib, instance.max_pods or 110)
    share = cores / instance.allocatable_neuroncore * REQUEST_SHARE
    return {
        "cpu": f"{max(100, math.floor(node.cpu_millicores * share))}m",
        "memory": f"{max(256, math.floor(node.memory_mib * share))}Mi",
    }


# --- the Deployment -----------------------------------------------------------------------


def selector_labels(name: str) -> dict[str, str]:
    """The pods' selector: set once, never changed (a Deployment's selector is immutable)."""
    return {SELECTOR_LABEL: name}


def standard_labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "model-server",
        **MANAGED_BY,
    }


def plan_labels(plan: PlanRecord) -> dict[str, str]:
    return {
        "neuron.dev/instance-type": str(plan.instance_type),
        "neuron.dev/cores-per-replica": str(plan.cores_per_replica),
    }


def plan_env(plan: PlanRecord) -> list[dict[str, str]]:
    """What the model server needs to know to match the plan (Neuron shapes are static)."""
    assert plan.parallelism is not None
    return [
        # The device plugin sets NEURON_RT_VISIBLE_CORES to the cores it allocated; this tells
        # the runtime how many to take.
        {"name": "NEURON_RT_NUM_CORES", "value": str(plan.cores_per_replica)},
        {"name": "NEURON_PLAN_INSTANCE_TYPE", "value": str(plan.instance_type)},
        {"name": "NEURON_PLAN_CORES", "value": str(plan.cores_per_replica)},
        {"name": "NEURON_PLAN_PARALLELISM", "value": plan.parallelism.mode.value},
        {"name": "NEURON_PLAN_DEGREE", "value": str(plan.parallelism.degree)},
        {"name": "NEURON_PLAN_COPIES", "value": str(plan.parallelism.copies)},
        {"name": "NEURON_PLAN_BATCH_SIZE", "value": str(plan.batch_size)},
    ] + (
        # The runtime's LNC must be the one the plan's cores are counted at.
        [{"name": "NEURON_LOGICAL_NC_CONFIG", "value": str(plan.logical_neuron_cores)}]
        if plan.logical_neuron_cores
        else []
    )


def merge_env(user: list[dict[str, Any]], ours: list[dict[str, str]]) -> list[dict[str, Any]]:
    """`user`'s env with ours appended: ours override same-named variables of theirs."""
    names = {item["name"] for item in ours}
    return [item for item in user if item.get("name") not in names] + ours


SHM = "dshm"
SHM_PATH = "/dev/shm"
# /dev/shm's size: a quarter of the model server's memory limit, at least 1 GiB (or half the
# limit, when that is less). It is memory the container is charged for, so it is bounded by
# what the plan gave the pod; a quarter leaves the server its host memory for weights on their
# way to the device.
SHM_SHARE = 0.25
SHM_FLOOR_MIB = 1024


def shared_memory_mib(memory_limit: Any) -> int:
    """The size of the memory-backed /dev/shm for a container limited to `memory_limit`."""
    limit = quantity(memory_limit)
    if limit is None or limit <= 0:
        return SHM_FLOOR_MIB
    limit_mib = int(limit) // (1024 * 1024)
    return max(min(SHM_FLOOR_MIB, limit_mib // 2), int(limit_mib * SHM_SHARE))


def with_shared_memory(pod_spec: dict[str, Any]) -> None:
    """A memory-backed /dev/shm for the model server (the first container), in place, sized
    from its memory limit: Neuron's serving and training containers exchange tensors between
    processes through it (torch multiprocessing, the collectives of a multi-node worker), and
    the container runtime's default is 64 MiB. A template that mounts its own /dev/shm keeps
    it."""
    container = pod_spec["containers"][0]
    mounts = container.get("volumeMounts") or []
    if any(m.get("mountPath") == SHM_PATH and m.get("name") != SHM for m in mounts):
        return
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    size = f"{shared_memory_mib(limit)}Mi"
    container["volumeMounts"] = [
        *(m for m in mounts if m.get("name") != SHM),
        {"name": SHM, "mountPath": SHM_PATH},
    ]
    volumes = [v for v in pod_spec.get("volumes") or [] if v.get("name") != SHM]
    pod_spec["volumes"] = [
        *volumes,
        {"name": SHM, "emptyDir": {"medium": "Memory", "sizeLimit": size}},
    ]


def _node_affinity(
    affinity: dict[str, Any] | None,
    instance_type: str,
    capacity_type: str | None = None,
    lnc: int | None = None,
) -> dict[str, Any]:
    """Require the chosen instance type (and the capacity type its prices are for, Karpenter's
    karpenter.sh/capacity-type; and no node labelled with another LNC), within every
    node-selector term the user gave."""
    affinity = copy.deepcopy(affinity or {})
    node = affinity.setdefault("nodeAffinity", {})
    required = node.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.get("nodeSelectorTerms") or [{}]
    ours = [{"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": [instance_type]}]
    if capacity_type:
        ours.append({"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": [capacity_type]})
    if lnc is not None:  # NotIn: an unlabelled node is taken at its word (the default)
        others = [str(n) for n in (1, 2) if n != lnc]
        ours.append({"key": LNC_LABEL, "operator": "NotIn", "values": others})
    keys = {e["key"] for e in ours}
    for term in terms:
        expressions = [e for e in term.get("matchExpressions") or [] if e.get("key") not in keys]
        term["matchExpressions"] = [*expressions, *ours]
    required["nodeSelectorTerms"] = terms
    return affinity


def neuron_resources(plan: PlanRecord) -> dict[str, int]:
    """The plan's extended resources: what its estimate relies on (api/plan.py D_RESOURCES).
    A plan written before the engine said so asked for its cores."""
    return dict(plan.resources or {NEURONCORE: int(plan.cores_per_replica or 0)})


def _model_server(
    container: dict[str, Any], plan: PlanRecord, instance: InstanceType
) -> dict[str, Any]:
    container = copy.deepcopy(container)
    resources = container.setdefault("resources", {})
    neuron = neuron_resources(plan)
    # A replica of whole devices owns all of their cores, and a share of the node to match.
    owned_cores = neuron.get(NEURON_DEVICE, 0) * instance.cores_per_device or int(
        plan.cores_per_replica or 0
    )
    sized = replica_resources(instance, owned_cores)
    requests = {**sized, **(resources.get("requests") or {})}  # the user's figures win
    limits = dict(resources.get("limits") or {})
    limits.setdefault("memory", requests["memory"])
    # Exactly the plan's Neuron resources: a template's own would void its estimate.
    for table in (requests, limits):
        table.pop(NEURON_DEVICE, None)
        table.pop(NEURONCORE, None)
        table.update({name: str(count) for name, count in neuron.items()})
    resources["requests"], resources["limits"] = requests, limits
    container["env"] = merge_env(container.get("env") or [], plan_env(plan))
    return container


def needs_contiguous_cores(plan: PlanRecord, instance: InstanceType) -> bool:
    """Whether a pod asks for more than one core (or device) but not the whole node: the
    default scheduler only counts them, the Neuron scheduler extension places them side by
    side, as a multi-core model needs. One core, or every core, needs no placing."""
    resources = neuron_resources(plan)
    devices = resources.get(NEURON_DEVICE, 0)
    if devices:
        return 1 < devices < instance.devices
    return 1 < resources.get(NEURONCORE, 0) < instance.cores


def owner_reference(body: dict[str, Any]) -> dict[str, Any]:
    """The NeuronDeployment as controller of what the operator makes for it: deleted with it."""
    metadata = body["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def instance_of(plan: PlanRecord) -> InstanceType:
    """The plan's instance type, at the logical NeuronCore config it runs at (Trainium2)."""
    instance = load_catalog().get(str(plan.instance_type), plan.logical_neuron_cores)
    if instance is None:  # a plan always names a catalog instance
        raise ValueError(f"plan names unknown instance type {plan.instance_type}")
    return instance


def render_pod_template(
    body: dict[str, Any], template: dict[str, Any], plan: PlanRecord, scheduler_name: str | None
) -> dict[str, Any]:
    """The user's pod template placed as the plan says: labels, the model server's resources
    and env, node affinity, the Neuron toleration, schedulerName where needed, and the secure
    defaults (controller/hardening.py)."""
    name = body["metadata"]["name"]
    instance = instance_of(plan)
    template = copy.deepcopy(template)
    pod_meta = template.setdefault("metadata", {})
    labels = {
        **(pod_meta.get("labels") or {}),
        **standard_labels(name),
        **selector_labels(name),
        **plan_labels(plan),
    }
    pod_meta["labels"] = labels
    pod_meta.pop("name", None)
    pod_meta.pop("namespace", None)
    spec = template["spec"]
    containers = spec["containers"]
    spec["containers"] = [_model_server(containers[0], plan, instance), *containers[1:]]
    spec["affinity"] = _node_affinity(
        spec.get("affinity"), instance.name, plan.capacity_type, plan.logical_neuron_cores
    )
    tolerations = [t for t in spec.get("tolerations") or [] if t.get("key") != NEURON_TAINT_KEY]
    spec["tolerations"] = [
        *tolerations,
        {"key": NEURON_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
    ]
    if scheduler_name and needs_contiguous_cores(plan, instance):
        spec["schedulerName"] = scheduler_name
    with_secure_defaults(spec)
    return template


def render_deployment(
    body: dict[str, Any],
    template: dict[str, Any],
    plan: PlanRecord,
    scheduler_name: str | None,
    progress_deadline_seconds: int | None = None,
    autoscaled: bool = False,
) -> dict[str, Any]:
    """The desired Deployment for a NeuronDeployment `body` whose `plan` is feasible. When
    `autoscaled`, its replicas are left out: the HorizontalPodAutoscaler sets them, and a
    server-side apply without the field never changes it back."""
    metadata = body["metadata"]
    name, namespace = metadata["name"], metadata["namespace"]
    template = render_pod_template(body, template, plan, scheduler_name)
    with_shared_memory(template["spec"])
    deadline = (
        {"progressDeadlineSeconds": progress_deadline_seconds}
        if progress_deadline_seconds is not None
        else {}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**standard_labels(name), **plan_labels(plan)},
            "ownerReferences": [owner_reference(body)],
        },
        "spec": {
            **({} if autoscaled else {"replicas": plan.replicas}),
            "selector": {"matchLabels": selector_labels(name)},
            # A new plan (a new spec, or a fallback) replaces running pods only once their
            # replacements are available: a plan whose pods cannot be had loses nothing.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
            },
            "template": template,
            **deadline,
        },
    }
