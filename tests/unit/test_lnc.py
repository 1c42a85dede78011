"""Trainium2's logical NeuronCore config (issue 13, point 4): a node at LNC=1 presents twice
the cores, each with half the memory and FLOP/s, and other tensor-parallel degrees; plans say
which config they run at, the pod's runtime is told, nodes labelled with the other config are
avoided, and a compiled artifact's config pins the plan."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes import FakeKube

from neuron_operator.controller.reconcile import reconcile
from neuron_operator.controller.render import LNC_LABEL, replica_resources
from neuron_operator.controller.settings import Settings
from neuron_operator.sizing import plan
from neuron_operator.sizing.catalog import InstanceType, load_catalog

LLAMA_70B: dict[str, Any] = {
    "model": {"family": "transformer-decoder", "parameters": "70B", "sequenceLength": 4096},
    "objective": "latency",
    "constraints": {"instanceFamilies": ["trn2"]},
    "template": {"spec": {"containers": [{"name": "server", "image": "s:1"}]}},
}


def trn2() -> InstanceType:
    found = load_catalog().get("trn2.48xlarge")
    assert found is not None
    return found


def test_lnc_1_doubles_the_cores_and_halves_each_ones_share() -> None:
    default = trn2()
    assert default.lnc == 2 and default.allocatable_neuroncore == 64
    one = default.at_lnc(1)
    assert (one.lnc, one.cores, one.allocatable_neuroncore, one.cores_per_device) == (
        1,
        128,
        128,
        8,
    )
    assert one.memory_gib_per_core == default.memory_gib_per_core / 2
    assert one.bandwidth_gib_per_core == default.bandwidth_gib_per_core / 2
    assert one.peak_share == 0.5 and one.physical_cores_per_core == 1
    assert max(one.tensor_parallel_degrees) == 128 and max(default.tensor_parallel_degrees) == 64
    assert one.at_lnc(2) == default.at_lnc(2) == default
    assert [v.lnc for v in default.lnc_variants] == [2, 1]
    inf2 = load_catalog().get("inf2.xlarge")
    assert inf2 is not None and inf2.lnc_variants == (inf2,)


def test_plans_say_their_config_and_prefer_the_default_the_sdk_recommends() -> None:
    result = plan(LLAMA_70B)
    assert result.feasible and result.logical_neuron_cores == 2
    assert {a.logical_neuron_cores for a in result.alternatives} == {1, 2}
    other = plan({**LLAMA_70B, "constraints": {"instanceFamilies": ["inf2"]}})
    assert other.logical_neuron_cores is None


def test_a_compiled_config_pins_the_plan() -> None:
    pinned = plan({**LLAMA_70B, "constraints": {}, "compiled": {"logicalNeuronCores": 1}})
    assert pinned.feasible and pinned.logical_neuron_cores == 1
    assert all(a.logical_neuron_cores == 1 for a in pinned.alternatives)
    refused = {r.instance_type: r for r in pinned.rejections()}
    assert refused["inf2.48xlarge"].reason == "NotTheCompiledShape"
    assert "logical NeuronCore config 1" in refused["inf2.48xlarge"].message


def test_the_pod_runs_at_the_plans_config_and_avoids_nodes_at_the_other() -> None:
    body = {"metadata": {"name": "l", "namespace": "ml", "uid": "u", "generation": 1}}
    body["spec"] = {**copy.deepcopy(LLAMA_70B), "compiled": {"logicalNeuronCores": 1}}
    kube = FakeKube(body)
    reconcile(kube, copy.deepcopy(body), None, Settings(), lambda _: None, lambda: "t")
    assert kube.deployment is not None
    pod = kube.deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["NEURON_LOGICAL_NC_CONFIG"] == "1"
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert {"key": LNC_LABEL, "operator": "NotIn", "values": ["2"]} in term["matchExpressions"]
    cores = int(pod["containers"][0]["resources"]["requests"]["aws.amazon.com/neuroncore"])
    assert kube.body["status"]["plan"]["logicalNeuronCores"] == 1
    assert kube.body["status"]["shape"]["logicalNeuronCores"] == 1
    # The pod's CPU and memory share is counted against the 128 cores a node presents at LNC=1.
    requests = pod["containers"][0]["resources"]["requests"]
    share = replica_resources(trn2().at_lnc(1), cores)
    assert (requests["cpu"], requests["memory"]) == (share["cpu"], share["memory"])
    assert share != replica_resources(trn2(), cores)
