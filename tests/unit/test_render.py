"""The rendered Deployment and the template checks (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from neuron_operator.controller.policy import template_problems
from neuron_operator.controller.render import (
    NEURON_DEVICE,
    NEURONCORE,
    render_deployment,
    replica_resources,
)
from neuron_operator.sizing import load_catalog, plan

BODY = {"metadata": {"name": "bert", "namespace": "ml", "uid": "1234"}}
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"team": "search"}},
    "spec": {
        "containers": [
            {
                "name": "server",
                "image": "server:1",
                "env": [
                    {"name": "NEURON_PLAN_BATCH_SIZE", "value": "999"},
                    {"name": "X", "value": "1"},
                ],
            },
            {"name": "sidecar", "image": "proxy:1"},
        ],
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "topology.kubernetes.io/zone",
                                    "operator": "In",
                                    "values": ["us-east-1a"],
                                }
                            ]
                        }
                    ]
                }
            }
        },
    },
}
SPEC = {
    "model": {"family": "transformer-decoder", "parameters": "8B", "sequenceLength": 4096},
    "overrides": {"instanceType": "trn1.32xlarge", "coresPerReplica": 8, "replicas": 3},
}


def rendered(scheduler: str | None = None) -> dict[str, Any]:
    return render_deployment(BODY, TEMPLATE, plan(SPEC), scheduler)


def test_requests_the_planned_cores_and_a_share_of_the_node() -> None:
    result = plan(SPEC)
    server = rendered()["spec"]["template"]["spec"]["containers"][0]
    resources = server["resources"]
    assert resources["limits"][NEURONCORE] == resources["requests"][NEURONCORE] == "8"
    instance = load_catalog().get("trn1.32xlarge")
    assert instance is not None
    assert resources["requests"]["cpu"] == replica_resources(instance, 8)["cpu"]
    # 8 of 32 cores: a quarter of the node's allocatable, less 10 % headroom
    assert int(resources["requests"]["cpu"].rstrip("m")) < 128_000 / 4
    assert resources["limits"]["memory"] == resources["requests"]["memory"]
    assert result.replicas == rendered()["spec"]["replicas"] == 3


def test_renders_exactly_the_plans_neuron_resources_whole_devices_included() -> None:
    # Inf1, latency: a 1-core replica is fastest with its chip to itself, so the plan asks
    # for the whole device and the operator must render that, not a core.
    spec = {
        "model": {"family": "transformer-encoder", "parameters": "110M", "sequenceLength": 128},
        "objective": "latency",
        "constraints": {"instanceTypes": ["inf1.xlarge"]},
        "overrides": {"coresPerReplica": 1, "batchSize": 1},
    }
    result = plan(spec)
    assert result.resources == {NEURON_DEVICE: 1}
    template = copy.deepcopy(TEMPLATE)
    # a template's own Neuron request would void the estimate: it is replaced
    template["spec"]["containers"][0]["resources"] = {"limits": {NEURONCORE: "2"}}
    server = render_deployment(BODY, template, result, None)["spec"]["template"]["spec"][
        "containers"
    ][0]
    for table in ("requests", "limits"):
        neuron = {k: v for k, v in server["resources"][table].items() if "aws.amazon.com" in k}
        assert neuron == {NEURON_DEVICE: "1"}
    instance = load_catalog().get("inf1.xlarge")
    assert instance is not None
    # the whole device's four cores are the replica's, and so is their share of the node
    assert server["resources"]["requests"]["cpu"] == replica_resources(instance, 4)["cpu"]


def test_places_on_the_instance_type_within_the_users_terms_and_tolerates_the_taint() -> None:
    spec = rendered()["spec"]["template"]["spec"]
    [term] = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    keys = {e["key"]: e["values"] for e in term["matchExpressions"]}
    assert keys == {
        "topology.kubernetes.io/zone": ["us-east-1a"],
        "node.kubernetes.io/instance-type": ["trn1.32xlarge"],
    }
    assert {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    assert {"key": "dedicated", "operator": "Exists"} in spec["tolerations"]


def test_env_tells_the_server_its_plan_and_ours_wins() -> None:
    env = rendered()["spec"]["template"]["spec"]["containers"][0]["env"]
    values = {e["name"]: e["value"] for e in env}
    assert values["NEURON_PLAN_BATCH_SIZE"] == str(plan(SPEC).batch_size)
    assert values["NEURON_PLAN_PARALLELISM"] == "tensor"
    assert values["NEURON_PLAN_DEGREE"] == "8"
    assert values["NEURON_RT_NUM_CORES"] == "8"
    assert values["X"] == "1"
    assert [e["name"] for e in env].count("NEURON_PLAN_BATCH_SIZE") == 1


def test_labels_owner_selector_and_sidecars() -> None:
    deployment = rendered()
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["team"] == "search"
    assert labels["neuron.dev/neurondeployment"] == "bert"
    assert labels["app.kubernetes.io/managed-by"] == "neuron-operator"
    assert labels["neuron.dev/instance-type"] == "trn1.32xlarge"
    assert deployment["spec"]["selector"] == {
        "matchLabels": {"neuron.dev/neurondeployment": "bert"}
    }
    [owner] = deployment["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "neuron.dev/v1alpha1",
        "kind": "NeuronDeployment",
        "name": "bert",
        "uid": "1234",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    sidecar = deployment["spec"]["template"]["spec"]["containers"][1]
    # A sidecar is left as it is but for the secure defaults (test_hardening.py).
    assert sidecar == {
        "name": "sidecar",
        "image": "proxy:1",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def test_selector_never_depends_on_the_plan() -> None:
    other = render_deployment(BODY, TEMPLATE, plan({**SPEC, "overrides": {}}), None)
    assert other["spec"]["selector"] == rendered()["spec"]["selector"]


def test_scheduler_name_only_when_configured() -> None:
    assert "schedulerName" not in rendered()["spec"]["template"]["spec"]
    assert rendered("neuron-scheduler")["spec"]["template"]["spec"]["schedulerName"] == (
        "neuron-scheduler"
    )


@pytest.mark.parametrize(("cores", "extension"), [(1, False), (8, True), (32, False)])
def test_the_scheduler_extension_places_only_pods_that_need_contiguous_cores(
    cores: int, extension: bool
) -> None:
    # 8 of a trn1.32xlarge's 32 cores must sit side by side; one core, or all 32, need no
    # placing, and the default scheduler is left to them.
    spec = {
        "model": {"family": "transformer-encoder", "parameters": "110M"},
        "overrides": {"instanceType": "trn1.32xlarge", "coresPerReplica": cores, "replicas": 1},
    }
    deployment = render_deployment(BODY, TEMPLATE, plan(spec), "neuron-scheduler")
    assert ("schedulerName" in deployment["spec"]["template"]["spec"]) is extension


def test_progress_deadline_only_when_the_spec_sets_it() -> None:
    assert "progressDeadlineSeconds" not in rendered()["spec"]
    result = plan({**SPEC, "overrides": {}})
    with_deadline = render_deployment(BODY, TEMPLATE, result, None, 90)
    assert with_deadline["spec"]["progressDeadlineSeconds"] == 90


def test_rendering_does_not_change_its_inputs() -> None:
    before = copy.deepcopy(TEMPLATE)
    rendered()
    assert before == TEMPLATE


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"hostNetwork": True}, "spec.template.spec.hostNetwork"),
        ({"hostPID": True}, "spec.template.spec.hostPID"),
        ({"serviceAccountName": "admin"}, "spec.template.spec.serviceAccountName"),
        ({"nodeName": "n1"}, "spec.template.spec.nodeName"),
        (
            {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
            "spec.template.spec.volumes[0].hostPath",
        ),
        (
            {
                "volumes": [
                    {
                        "name": "t",
                        "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]},
                    }
                ]
            },
            "spec.template.spec.volumes[0].projected",
        ),
        (
            {"containers": [{"name": "s", "image": "i", "securityContext": {"privileged": True}}]},
            "spec.template.spec.containers[0].securityContext.privileged",
        ),
        (
            {
                "containers": [
                    {
                        "name": "s",
                        "image": "i",
                        "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}},
                    }
                ]
            },
            "spec.template.spec.containers[0].securityContext.capabilities.add",
        ),
        (
            {
                "containers": [
                    {"name": "s", "image": "i", "ports": [{"containerPort": 80, "hostPort": 80}]}
                ]
            },
            "spec.template.spec.containers[0].ports[0].hostPort",
        ),
        (
            {
                "initContainers": [
                    {"name": "s", "image": "i", "securityContext": {"privileged": True}}
                ]
            },
            "spec.template.spec.initContainers[0].securityContext.privileged",
        ),
        ({"containers": []}, "spec.template.spec.containers"),
    ],
)
def test_forbidden_template_fields_are_named(patch: dict[str, Any], field: str) -> None:
    template = copy.deepcopy(TEMPLATE)
    template["spec"].update(patch)
    assert field in [p.field for p in template_problems(template)]


def test_a_plain_template_passes() -> None:
    assert template_problems(TEMPLATE) == []
    assert (
        template_problems(
            {"spec": {"serviceAccountName": "default", "containers": [{"name": "s", "image": "i"}]}}
        )
        == []
    )
    assert template_problems(None)[0].field == "spec.template.spec.containers"
