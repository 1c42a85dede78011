"""Dynamic Resource Allocation rendering (controller/dra.py and reconcile's decide): a trn2 plan
on a cluster with the Neuron DRA driver claims connected devices through a
ResourceClaimTemplate, in the shapes of the Neuron SDK's deploy/eks/dra.rst, instead of asking
for extended resources; other families and the device-plugin mode are untouched."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes import FakeKube

from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.controller.dra import Mode, dra_families
from neuron_operator.controller.reconcile import decide, reconcile
from neuron_operator.controller.settings import Settings

SERVER = {"spec": {"containers": [{"name": "server", "image": "s:1"}]}}
TRN2: dict[str, Any] = {
    "model": {"family": "transformer-decoder", "parameters": "8B", "sequenceLength": 2048},
    "objective": "latency",
    "overrides": {"instanceType": "trn2.48xlarge", "coresPerReplica": 16, "replicas": 1},
    "template": SERVER,
}


def body(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "m", "namespace": "ns", "uid": "u", "generation": 1}, "spec": spec}


def test_auto_uses_dra_only_where_the_device_class_exists() -> None:
    assert dra_families(Mode.AUTO, device_class_present=False) == frozenset()
    assert dra_families(Mode.AUTO, device_class_present=True) == {"trn2"}
    assert dra_families(Mode.DRA, device_class_present=False) == {"trn2"}
    assert dra_families(Mode.DEVICE_PLUGIN, device_class_present=True) == frozenset()


def test_a_trn2_plan_claims_connected_devices_with_its_lnc() -> None:
    decision = decide(
        body(TRN2),
        NeuronDeploymentStatus(),
        Settings(scheduler_name="neuron-scheduler"),
        dra=frozenset({"trn2"}),
    )
    plan = decision.plan_in_effect
    assert plan is not None and plan.instance_type == "trn2.48xlarge"
    template = decision.claim_template
    assert template is not None
    assert template["apiVersion"] == "resource.k8s.io/v1"
    assert template["metadata"]["ownerReferences"][0]["uid"] == "u"
    devices = template["spec"]["spec"]["devices"]
    (request,) = devices["requests"]
    assert request["name"] == "neurons"
    assert request["exactly"]["deviceClassName"] == "neuron.aws.com"
    assert request["exactly"]["allocationMode"] == "ExactCount"
    assert request["exactly"]["count"] == plan.devices_per_replica == 4  # 16 cores at LNC 2
    assert request["exactly"]["selectors"] == [
        {
            "cel": {
                "expression": "device.attributes['neuron.aws.com'].instanceType == 'trn2.48xlarge'"
            }
        }
    ]
    assert devices["constraints"] == [
        {"requests": ["neurons"], "matchAttribute": "resource.aws.com/devicegroup4_id"}
    ]
    (config,) = devices["config"]
    assert config["opaque"]["parameters"] == {
        "apiVersion": "neuron.aws.com/v1",
        "kind": "NeuronConfig",
        "logicalNeuronCore": 2,
    }

    assert decision.desired is not None
    pod = decision.desired["spec"]["template"]["spec"]
    server = pod["containers"][0]
    assert server["resources"]["claims"] == [{"name": "neurons"}]
    for kind in ("requests", "limits"):
        assert not {"aws.amazon.com/neuroncore", "aws.amazon.com/neuron"} & set(
            server["resources"].get(kind, {})
        )
    assert pod["resourceClaims"] == [
        {"name": "neurons", "resourceClaimTemplateName": template["metadata"]["name"]}
    ]
    assert "schedulerName" not in pod  # the scheduler places connected devices itself


@pytest.mark.parametrize("dra", [frozenset(), frozenset({"trn2"})])
def test_other_families_and_the_device_plugin_keep_extended_resources(dra: frozenset[str]) -> None:
    spec = dict(TRN2)
    if dra:
        spec = {
            **TRN2,
            "overrides": {"instanceType": "inf2.48xlarge", "coresPerReplica": 8, "replicas": 1},
        }
    decision = decide(body(spec), NeuronDeploymentStatus(), Settings(), dra=dra)
    assert decision.claim_template is None and decision.desired is not None
    server = decision.desired["spec"]["template"]["spec"]["containers"][0]
    assert "aws.amazon.com/neuroncore" in server["resources"]["limits"] or (
        "aws.amazon.com/neuron" in server["resources"]["limits"]
    )
    assert "resourceClaims" not in decision.desired["spec"]["template"]["spec"]


def test_the_template_is_applied_before_the_deployment_that_names_it() -> None:
    kube = FakeKube(body(TRN2))
    reconcile(
        kube, kube.body, None, Settings(), lambda _: None, lambda: "t", dra=frozenset({"trn2"})
    )
    assert kube.writes()[:2] == ["apply_claim_template", "create_deployment"]
    conditions = {c["type"]: c for c in kube.body["status"]["conditions"]}
    assert conditions["ContiguousCores"]["reason"] == "DeviceClaim"
    assert conditions["ContiguousCores"]["status"] == "True"
