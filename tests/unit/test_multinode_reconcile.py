"""Replicas across nodes run as a LeaderWorkerSet (issue 13, point 2, the operator's part):
the renderer's group of whole nodes with their EFA, and the reconcile against the recording
fake (tests/fakes.py): the LeaderWorkerSet is applied instead of a Deployment, the status counts
its groups, a cluster without LeaderWorkerSet gets the reason, and a running Deployment is never
torn down for it."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes import FakeKube
from tests.helpers import example_spec

from neuron_operator.controller.multinode import render_leader_worker_set
from neuron_operator.controller.reconcile import reconcile
from neuron_operator.controller.render import owner_reference, shared_memory_mib
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Event
from neuron_operator.sizing import plan

LLAMA_405B = example_spec(
    "llama-3.1-405b",
    template={
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "image": "s:1",
                    "env": [{"name": "NEURON_RT_ROOT_COMM_ID", "value": "mine"}],
                }
            ]
        }
    },
)


def new_object(spec: dict[str, Any] = LLAMA_405B) -> dict[str, Any]:
    return {
        "metadata": {"name": "llama", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": copy.deepcopy(spec),
    }


def run(kube: FakeKube, groups: bool = True) -> list[Event]:
    events: list[Event] = []
    reconcile(
        kube,
        copy.deepcopy(kube.body),
        copy.deepcopy(kube.deployment),
        Settings(),
        events.append,
        lambda: "t",
        group_set=copy.deepcopy(kube.group_set),
        groups=groups,
    )
    return events


def condition(kube: FakeKube, kind: str) -> dict[str, Any]:
    return next(c for c in kube.body["status"]["conditions"] if c["type"] == kind)


def test_the_group_takes_whole_nodes_with_their_efa_and_finds_its_leader() -> None:
    body = new_object()
    result = plan(body["spec"])
    group_set = render_leader_worker_set(body, body["spec"]["template"], result)
    assert group_set["kind"] == "LeaderWorkerSet"
    assert group_set["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    assert group_set["metadata"]["ownerReferences"] == [owner_reference(body)]
    spec = group_set["spec"]
    assert spec["replicas"] == result.replicas
    assert spec["rolloutStrategy"]["rollingUpdateConfiguration"]["maxUnavailable"] == 0
    template = spec["leaderWorkerTemplate"]
    assert template["size"] == 2
    assert template["restartPolicy"] == "RecreateGroupOnPodRestart"
    (server,) = template["workerTemplate"]["spec"]["containers"]
    for table in ("requests", "limits"):
        assert server["resources"][table]["aws.amazon.com/neuroncore"] == "32"
        assert server["resources"][table]["vpc.amazonaws.com/efa"] == "8"
    env = {e["name"]: e["value"] for e in server["env"] if "value" in e}
    # LeaderWorkerSet puts LWS_LEADER_ADDRESS first in the env, so it expands here.
    assert env["NEURON_RT_ROOT_COMM_ID"] == "$(LWS_LEADER_ADDRESS):62128"
    assert env["NEURON_PLAN_NODES_PER_REPLICA"] == "2"
    assert env["FI_PROVIDER"] == "efa"
    volumes = template["workerTemplate"]["spec"]["volumes"]
    (shm,) = [v for v in volumes if v["name"] == "dshm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    assert (
        shm["emptyDir"]["sizeLimit"]
        == f"{shared_memory_mib(server['resources']['limits']['memory'])}Mi"
    )


def test_a_plan_across_nodes_is_applied_as_a_leaderworkerset_and_its_groups_counted() -> None:
    kube = FakeKube(new_object())
    events = run(kube)
    assert kube.writes() == ["apply_leader_worker_set", "patch_status"]
    assert "LeaderWorkerSetCreated" in [e.reason for e in events]
    status = kube.body["status"]
    assert status["plan"]["nodesPerReplica"] == 2
    assert status["readySummary"] == "0/1"
    assert condition(kube, "Ready")["status"] == "False"

    assert kube.group_set is not None
    kube.group_set["status"] = {
        "replicas": 1,
        "readyReplicas": 1,
        "updatedReplicas": 1,
        "conditions": [{"type": "Available", "status": "True", "reason": "AllGroupsReady"}],
    }
    kube.calls.clear()
    run(kube)
    assert kube.writes() == ["patch_status"], "an unchanged LeaderWorkerSet is not applied again"
    assert kube.body["status"]["readySummary"] == "1/1"
    assert condition(kube, "Ready")["status"] == "True"
    assert condition(kube, "Available")["reason"] == "AllGroupsReady"


def test_without_leaderworkerset_nothing_is_created_and_the_status_says_why() -> None:
    kube = FakeKube(new_object())
    run(kube, groups=False)
    assert kube.writes() == ["patch_status"]
    planned = condition(kube, "Planned")
    assert planned["reason"] == "LeaderWorkerSetNotInstalled"
    assert "needs LeaderWorkerSet (not installed)" in planned["message"]


def test_a_running_deployment_is_never_torn_down_for_a_plan_across_nodes() -> None:
    small = {**LLAMA_405B, "model": {**LLAMA_405B["model"], "parameters": "8B", "layers": 32}}
    kube = FakeKube(new_object(small))
    run(kube)
    assert kube.deployment is not None and kube.group_set is None
    kube.body["spec"] = copy.deepcopy(LLAMA_405B)
    kube.body["metadata"]["generation"] = 2
    kube.calls.clear()
    run(kube)
    assert kube.writes() == ["patch_status"], "neither applied nor deleted"
    planned = condition(kube, "Planned")
    assert (planned["status"], planned["reason"]) == ("False", "ControllerKindChange")
    assert "delete Deployment llama to switch" in planned["message"]
    assert kube.body["status"]["plan"].get("nodesPerReplica") is None  # still the old plan
