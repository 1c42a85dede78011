"""A replica across nodes as Kubernetes runs one: a LeaderWorkerSet group. Pure builders.

A model one node's memory cannot hold is planned over several nodes of one EFA-capable type
(sizing/grouping.py). A Deployment cannot run that: its pods are independent, while these must
start, find each other and restart together. LeaderWorkerSet (sigs.k8s.io/lws) does exactly
this, and Neuron's multi-node serving samples run on it: `size` pods per replica (a leader and
size - 1 workers), each on its own node, the group recreated when one of them restarts.

Each pod takes its whole node: every NeuronCore and EFA interface. LeaderWorkerSet puts
LWS_LEADER_ADDRESS, LWS_GROUP_SIZE and LWS_WORKER_INDEX first in every container's env, so
NEURON_RT_ROOT_COMM_ID can name the leader as $(LWS_LEADER_ADDRESS); the EFA env is the one
training uses (controller/training.py). Rollouts keep every serving group until its
replacement is ready (maxUnavailable 0, maxSurge 1).
"""

from __future__ import annotations

from typing import Any

from neuron_operator.api.plan import PlanRecord
from neuron_operator.controller.render import (
    instance_of,
    merge_env,
    owner_reference,
    plan_labels,
    render_pod_template,
    standard_labels,
    with_shared_memory,
)
from neuron_operator.controller.training import EFA_ENV, EFA_RESOURCE, ROOT_COMM_PORT

LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS_VERSION = "v1"
LWS_PLURAL = "leaderworkersets"
LWS_API_VERSION = f"{LWS_GROUP}/{LWS_VERSION}"
LWS_KIND = "LeaderWorkerSet"


def spans_nodes(plan: PlanRecord | None) -> bool:
    """Whether the plan's replicas span nodes: they run as a LeaderWorkerSet."""
    return plan is not None and (plan.nodes_per_replica or 1) > 1


def group_env(plan: PlanRecord, efa: bool) -> list[dict[str, str]]:
    env = [
        {"name": "NEURON_RT_ROOT_COMM_ID", "value": f"$(LWS_LEADER_ADDRESS):{ROOT_COMM_PORT}"},
        {"name": "NEURON_PLAN_NODES_PER_REPLICA", "value": str(plan.nodes_per_replica)},
    ]
    if efa:
        env += [{"name": k, "value": v} for k, v in EFA_ENV.items()]
    return env


def _group_member(container: dict[str, Any], plan: PlanRecord) -> dict[str, Any]:
    """The model server as render_pod_template made it, given its node's EFA interfaces."""
    instance = instance_of(plan)
    if instance.efa_interfaces:
        resources = container["resources"]
        for table in ("requests", "limits"):
            resources[table][EFA_RESOURCE] = str(instance.efa_interfaces)
    container["env"] = merge_env(
        container.get("env") or [], group_env(plan, bool(instance.efa_interfaces))
    )
    return container


def render_leader_worker_set(
    body: dict[str, Any], template: dict[str, Any], plan: PlanRecord
) -> dict[str, Any]:
    """The LeaderWorkerSet of a NeuronDeployment `body` whose feasible `plan` spans nodes."""
    metadata = body["metadata"]
    name = metadata["name"]
    # Whole nodes need no placing of cores side by side: no scheduler extension.
    pod = render_pod_template(body, template, plan, scheduler_name=None)
    spec = pod["spec"]
    spec["containers"] = [_group_member(spec["containers"][0], plan), *spec["containers"][1:]]
    with_shared_memory(spec)
    return {
        "apiVersion": LWS_API_VERSION,
        "kind": LWS_KIND,
        "metadata": {
            "name": name,
            "namespace": metadata["namespace"],
            "labels": {**standard_labels(name), **plan_labels(plan)},
            "ownerReferences": [owner_reference(body)],
        },
        "spec": {
            "replicas": plan.replicas,
            "startupPolicy": "LeaderCreated",
            "rolloutStrategy": {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "leaderWorkerTemplate": {
                "size": plan.nodes_per_replica,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "workerTemplate": pod,
            },
        },
    }


def as_rollout(group_set: dict[str, Any] | None) -> dict[str, Any] | None:
    """A LeaderWorkerSet's state in the shape of a Deployment's, which the status is computed
    from: replicas are groups, ready when every pod of the group is; Available as it says."""
    if group_set is None:
        return None
    status = group_set.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    return {
        "apiVersion": group_set.get("apiVersion"),
        "kind": group_set.get("kind"),
        "metadata": group_set.get("metadata") or {},
        "spec": {"replicas": (group_set.get("spec") or {}).get("replicas", 1)},
        "status": {
            # LeaderWorkerSet reports no observedGeneration: its counts are taken as current.
            "observedGeneration": (group_set.get("metadata") or {}).get("generation", 0),
            "replicas": int(status.get("replicas") or 0),
            "updatedReplicas": int(status.get("updatedReplicas") or 0),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                c for c in status.get("conditions") or [] if c.get("type") in ("Available",)
            ],
        },
    }
