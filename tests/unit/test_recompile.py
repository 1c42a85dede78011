"""Compiled shapes pin the running workload (issue 13, point 3, the operator's part): a plan of
other shapes waits for the user (RecompileRequired) unless spec.compiled declares them or the
annotation acknowledges them; the server is told its artifact and shapes in the forms vLLM and
optimum-neuron read."""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.fakes import FakeKube

from neuron_operator.api.status import CompiledShape
from neuron_operator.api.v1alpha1 import CompiledTarget, NeuronDeploymentSpec
from neuron_operator.controller.artifact import artifact_env, with_shape_args
from neuron_operator.controller.fallback import next_plan
from neuron_operator.controller.recompile import (
    ACKNOWLEDGED,
    key,
    recompile_needed,
    runs_as_is,
    shape_of,
)
from neuron_operator.controller.reconcile import reconcile
from neuron_operator.controller.settings import Settings
from neuron_operator.sizing import plan

LLAMA: dict[str, Any] = {
    "model": {"family": "transformer-decoder", "parameters": "8B", "sequenceLength": 2048},
    "objective": "cost",
    "template": {
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "image": "vllm:1",
                    "args": [
                        "serve",
                        "--tensor-parallel-size",
                        "1",
                        "--max-num-seqs=1",
                        "--port=8",
                    ],
                }
            ]
        }
    },
}


def shape(**fields: Any) -> CompiledShape:
    base: dict[str, Any] = {
        "target": CompiledTarget.INF2,
        "tensor_parallel_degree": 8,
        "batch_size": 4,
        "sequence_length": 2048,
        "model": "transformer-decoder 8000000000 bf16",
    }
    return CompiledShape(**{**base, **fields})


def spec(**fields: Any) -> NeuronDeploymentSpec:
    return NeuronDeploymentSpec.model_validate({**LLAMA, **fields})


def test_a_plans_shapes_are_its_neuroncore_cores_per_copy_batch_and_sequence() -> None:
    s = spec(compiled={"tensorParallelDegree": 8, "batchSize": 4})
    found = shape_of(plan(s), s)
    assert found is not None
    assert key(found) == "neuroncore=v2,tp=8,batch=4,seq=2048"


def test_the_same_neuroncore_under_another_name_is_no_difference() -> None:
    assert recompile_needed(spec(), shape(), shape(target=CompiledTarget.TRN1), {}) is None


def test_other_shapes_are_held_until_acknowledged_with_their_key() -> None:
    wanted = shape(tensor_parallel_degree=4)
    held = recompile_needed(spec(), shape(), wanted, {})
    assert held is not None
    assert "compiled for neuroncore=v2,tp=4,batch=4,seq=2048" in held
    assert "tensor parallel degree differ" in held
    assert f"{ACKNOWLEDGED}={key(wanted)}" in held
    assert recompile_needed(spec(), shape(), wanted, {ACKNOWLEDGED: "neuroncore=v2,tp=2"})
    assert recompile_needed(spec(), shape(), wanted, {ACKNOWLEDGED: key(wanted)}) is None


def test_fields_spec_compiled_declares_and_a_new_model_are_the_users_own() -> None:
    declared = spec(compiled={"tensorParallelDegree": 4})
    assert recompile_needed(declared, shape(), shape(tensor_parallel_degree=4), {}) is None
    still = recompile_needed(declared, shape(), shape(tensor_parallel_degree=4, batch_size=8), {})
    assert still is not None and "batch size differ" in still
    other_model = shape(tensor_parallel_degree=4, model="transformer-decoder 70000000000 bf16")
    assert recompile_needed(spec(), shape(), other_model, {}) is None


def test_the_server_is_told_the_artifact_and_its_shapes() -> None:
    s = spec(model={**LLAMA["model"], "dtype": "bf16"}, compiled={"uri": "s3://b/llama-tp8"})
    env = {e["name"]: e["value"] for e in artifact_env(s, shape())}
    assert env == {
        "NEURON_COMPILED_ARTIFACTS": "s3://b/llama-tp8",
        "MAX_BATCH_SIZE": "4",
        "MAX_TOTAL_TOKENS": "2048",
        "HF_NUM_CORES": "8",
        "HF_AUTO_CAST_TYPE": "bf16",
    }
    args = ["serve", "--tensor-parallel-size", "1", "--max-num-seqs=1", "--port=8", "--x"]
    assert with_shape_args(args, shape()) == [
        "serve",
        "--tensor-parallel-size",
        "8",
        "--max-num-seqs=4",
        "--port=8",
        "--x",
    ]  # --max-model-len is not in the args: not added


def new_object() -> dict[str, Any]:
    return {
        "metadata": {"name": "llama", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": copy.deepcopy(LLAMA),
    }


def run(kube: FakeKube) -> None:
    body = copy.deepcopy(kube.body)
    reconcile(kube, body, copy.deepcopy(kube.deployment), Settings(), lambda _: None, lambda: "t")


def planned(kube: FakeKube) -> dict[str, Any]:
    return next(c for c in kube.body["status"]["conditions"] if c["type"] == "Planned")


def test_an_edit_that_changes_the_shapes_is_held_and_the_deployment_kept() -> None:
    kube = FakeKube(new_object())
    run(kube)
    first = kube.body["status"]["shape"]
    assert first["batchSize"] == kube.body["status"]["plan"]["batchSize"]
    deployment = copy.deepcopy(kube.deployment)
    # The cheapest plan batches 8 requests; the fastest, fewer and over more cores.
    kube.body["spec"]["objective"] = "latency"
    kube.body["metadata"]["generation"] = 2
    kube.calls.clear()
    run(kube)
    assert kube.writes() == ["patch_status"]
    assert kube.deployment == deployment, "the running Deployment is untouched"
    condition = planned(kube)
    assert (condition["status"], condition["reason"]) == ("False", "RecompileRequired")
    assert kube.body["status"]["shape"] == first
    asked = re.search(r"recompiled-for=([^\s);]+)", condition["message"])
    assert asked is not None

    kube.body["metadata"]["annotations"] = {ACKNOWLEDGED: asked.group(1)}
    kube.calls.clear()
    run(kube)
    assert kube.writes() == ["adopt_created_fields", "apply_deployment", "patch_status"]
    assert planned(kube)["status"] == "True"
    now = kube.body["status"]["shape"]
    assert now != first and f"tp={now['tensorParallelDegree']}" in asked.group(1)


def test_a_compiled_artifact_reaches_the_rendered_server() -> None:
    body = new_object()
    body["spec"]["compiled"] = {"uri": "/models/llama", "tensorParallelDegree": 2}
    kube = FakeKube(body)
    run(kube)
    assert kube.deployment is not None
    (server,) = kube.deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["NEURON_COMPILED_ARTIFACTS"] == "/models/llama"
    assert env["HF_NUM_CORES"] == "2"
    assert server["args"][:3] == ["serve", "--tensor-parallel-size", "2"]


def test_fallback_moves_first_to_a_plan_the_running_server_runs_as_it_is() -> None:
    s = spec()
    result = plan(s)
    assert len(result.alternatives) >= 2
    runnable = result.alternatives[-1]
    moved = next_plan(result, lambda option: option.instance_type == runnable.instance_type)
    assert moved is not None and moved.instance_type == runnable.instance_type
    running = shape_of(result, s)
    assert runs_as_is(s, running, result)  # the plan itself needs no other artifact
    other = next(a for a in result.alternatives if shape_of(a, s) != running)
    assert not runs_as_is(s, running, other)
