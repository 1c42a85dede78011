"""spec.compiled as hard constraints on the plan (issue 13, point 3, the engine's part): the
artifact's target NeuronCore, tensor-parallel degree, batch and sequence length pin the plan,
and contradictions are refused naming both fields."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec
from neuron_operator.sizing import plan

LLAMA: dict[str, Any] = {
    "model": {"family": "transformer-decoder", "parameters": "8B"},
    "objective": "cost",
}


def test_the_target_keeps_the_plan_on_the_neuroncore_the_artifact_runs_on() -> None:
    free = plan({**LLAMA, "model": {**LLAMA["model"], "sequenceLength": 2048}})
    assert free.instance_type == "inf2.xlarge"
    pinned = plan({**LLAMA, "compiled": {"target": "trn2", "sequenceLength": 2048}})
    # trn2 has no public price: with the cost objective nothing else may be chosen.
    assert not pinned.feasible
    refused = {r.instance_type: r for r in pinned.rejections()}
    assert refused["inf2.xlarge"].reason == "NotTheCompiledShape"
    assert "compiled for trn2 (NeuronCore-v3)" in refused["inf2.xlarge"].message
    latency = plan(
        {**LLAMA, "objective": "latency", "compiled": {"target": "trn1", "sequenceLength": 2048}}
    )
    assert latency.feasible
    assert str(latency.instance_type).split(".")[0] in ("inf2", "trn1", "trn1n")


def test_the_tensor_parallel_degree_and_batch_pin_the_grouping() -> None:
    spec = {
        **LLAMA,
        "compiled": {"tensorParallelDegree": 8, "batchSize": 4, "sequenceLength": 4096},
    }
    result = plan(spec)
    assert result.feasible
    assert result.parallelism is not None and result.parallelism.degree == 8
    assert result.batch_size == 4
    assert all(a.parallelism.degree == 8 and a.batch_size == 4 for a in result.alternatives)
    other = [r for r in result.rejections() if r.reason == "NotTheCompiledShape"]
    assert other and "spans 8 core(s) per model copy" in other[0].message


def test_the_artifacts_sequence_length_is_the_models_unless_it_says() -> None:
    spec = NeuronDeploymentSpec.model_validate({**LLAMA, "compiled": {"sequenceLength": 4096}})
    assert spec.model.sequence_length == 4096


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            {
                "model": {**LLAMA["model"], "sequenceLength": 2048},
                "compiled": {"sequenceLength": 4096},
            },
            "compiled.sequenceLength \\(4096\\) contradicts model.sequenceLength \\(2048\\)",
        ),
        (
            {"overrides": {"batchSize": 8}, "compiled": {"batchSize": 4}},
            "compiled.batchSize \\(4\\) contradicts overrides.batchSize \\(8\\)",
        ),
        ({"compiled": {"target": "trn3"}}, "compiled.target"),
    ],
)
def test_contradictions_are_refused_naming_both_fields(extra: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        NeuronDeploymentSpec.model_validate({**LLAMA, **extra})
