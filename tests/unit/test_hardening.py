"""Secure defaults in the rendered pods (issue 14, point 1): each applied only where the template
leaves the field unset, on every kind of workload the operator renders; /dev/shm sized from the
plan; readiness and liveness from the server's port."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.helpers import example_spec

from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.controller.hardening import with_secure_defaults
from neuron_operator.controller.probes import port_probes
from neuron_operator.controller.reconcile import decide
from neuron_operator.controller.render import (
    SHM_FLOOR_MIB,
    render_deployment,
    shared_memory_mib,
)
from neuron_operator.controller.settings import Settings
from neuron_operator.sizing import plan

BODY = {"metadata": {"name": "m", "namespace": "ml", "uid": "1", "generation": 1}}
SPEC: dict[str, Any] = {
    "model": {"family": "transformer-encoder", "parameters": "110M", "sequenceLength": 128},
    "objective": "cost",
}


def pod_template(**server: Any) -> dict[str, Any]:
    return {
        "spec": {
            "initContainers": [{"name": "fetch", "image": "fetch:1"}],
            "containers": [
                {"name": "server", "image": "s:1", **server},
                {"name": "p", "image": "p:1"},
            ],
        }
    }


def deployment_pod(template: dict[str, Any]) -> dict[str, Any]:
    spec = {**SPEC, "template": template}
    pod: dict[str, Any] = render_deployment(BODY, template, plan(spec), None)["spec"]["template"]
    return pod


def test_every_container_and_the_pod_get_the_four_defaults() -> None:
    pod = deployment_pod(pod_template())["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in [*pod["initContainers"], *pod["containers"]]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, container["name"]
        assert security["capabilities"]["drop"] == ["ALL"], container["name"]


def test_the_templates_own_values_win() -> None:
    template = pod_template(
        securityContext={
            "allowPrivilegeEscalation": True,
            "capabilities": {"drop": ["NET_RAW"], "add": ["NET_BIND_SERVICE"]},
        }
    )
    template["spec"]["automountServiceAccountToken"] = True
    template["spec"]["securityContext"] = {
        "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}
    }
    pod = deployment_pod(template)["spec"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "Localhost"
    security = pod["containers"][0]["securityContext"]
    assert security["allowPrivilegeEscalation"] is True
    assert security["capabilities"] == {"drop": ["NET_RAW"], "add": ["NET_BIND_SERVICE"]}
    # The other containers still get the defaults.
    assert pod["containers"][1]["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_an_added_capability_keeps_drop_all() -> None:
    spec: dict[str, Any] = {
        "containers": [
            {"name": "s", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}}
        ]
    }
    with_secure_defaults(spec)
    assert spec["containers"][0]["securityContext"]["capabilities"] == {
        "add": ["NET_BIND_SERVICE"],
        "drop": ["ALL"],
    }


def test_the_defaults_never_touch_the_callers_template() -> None:
    template = pod_template()
    before = copy.deepcopy(template)
    deployment_pod(template)
    assert template == before


@pytest.mark.parametrize("name", ["bert-base", "bert-large-training", "llama-3.1-405b", "resnet50"])
def test_every_workload_kind_gets_them(name: str) -> None:
    """Deployment, Job and LeaderWorkerSet pods alike."""
    body = {**BODY, "spec": example_spec(name)}
    decision = decide(body, NeuronDeploymentStatus(), Settings())
    rendered = decision.job or decision.desired
    assert rendered is not None
    spec = rendered["spec"]
    template = spec.get("template") or spec["leaderWorkerTemplate"]["workerTemplate"]
    pod = template["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["containers"][0]["securityContext"]["capabilities"]["drop"] == ["ALL"]
    (shm,) = [v for v in pod["volumes"] if v["name"] == "dshm"]
    limit = pod["containers"][0]["resources"]["limits"]["memory"]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": f"{shared_memory_mib(limit)}Mi"}


@pytest.mark.parametrize(
    ("limit", "mib"),
    [
        ("256Mi", 128),  # half, when a quarter is below the floor and the limit is small
        ("2Gi", 1024),  # the floor
        ("16Gi", 4096),  # a quarter
        ("480Gi", 122880),
        (None, SHM_FLOOR_MIB),
    ],
)
def test_shared_memory_is_a_quarter_of_the_limit_with_a_floor(limit: str | None, mib: int) -> None:
    assert shared_memory_mib(limit) == mib


def test_shared_memory_never_exceeds_the_limit_it_is_charged_to() -> None:
    for mib in (64, 300, 1000, 5000, 100_000):
        assert shared_memory_mib(f"{mib}Mi") <= mib


def test_a_templates_own_shm_mount_is_kept() -> None:
    mounts = [{"name": "mine", "mountPath": "/dev/shm"}]
    template = pod_template(volumeMounts=mounts)
    template["spec"]["volumes"] = [
        {"name": "mine", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}
    ]
    pod = deployment_pod(template)["spec"]
    assert pod["containers"][0]["volumeMounts"] == mounts
    assert pod["volumes"] == template["spec"]["volumes"]


def test_port_probes_check_the_first_port_by_name_or_number() -> None:
    named = port_probes({"ports": [{"name": "http", "containerPort": 8000}, {"containerPort": 9}]})
    assert named["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert named["livenessProbe"]["tcpSocket"] == {"port": "http"}
    assert named["livenessProbe"]["periodSeconds"] > named["readinessProbe"]["periodSeconds"]
    numbered = port_probes({"ports": [{"containerPort": 8080}]})
    assert numbered["readinessProbe"]["tcpSocket"] == {"port": 8080}


def test_port_probes_leave_the_templates_own_and_need_a_port() -> None:
    ready = {"httpGet": {"path": "/health", "port": 8000}}
    assert set(port_probes({"ports": [{"containerPort": 1}], "readinessProbe": ready})) == {
        "livenessProbe"
    }
    assert port_probes({"image": "x"}) == {}


def test_a_served_port_gets_readiness_liveness_and_a_startup_budget() -> None:
    template = pod_template(ports=[{"name": "http", "containerPort": 8080}])
    body = {**BODY, "spec": {**SPEC, "template": template}}
    decision = decide(body, NeuronDeploymentStatus(), Settings())
    assert decision.desired is not None
    server = decision.desired["spec"]["template"]["spec"]["containers"][0]
    assert server["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert server["startupProbe"]["tcpSocket"] == {"port": "http"}
    assert (
        server["startupProbe"]["failureThreshold"] * server["startupProbe"]["periodSeconds"] >= 120
    )
    # The sidecar is not the model server: it is not probed.
    assert "readinessProbe" not in decision.desired["spec"]["template"]["spec"]["containers"][1]


def test_training_workers_are_not_probed() -> None:
    spec = example_spec("bert-large-training")
    spec["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 29500}]
    decision = decide({**BODY, "spec": spec}, NeuronDeploymentStatus(), Settings())
    assert decision.job is not None
    worker = decision.job["spec"]["template"]["spec"]["containers"][0]
    assert not {"readinessProbe", "livenessProbe", "startupProbe"} & set(worker)
