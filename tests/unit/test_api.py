from __future__ import annotations

import pytest
from pydantic import ValidationError

from neuron_operator.api.v1alpha1 import (
    DType,
    NeuronDeploymentSpec,
    Objective,
    Workload,
    parse_parameters,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (110_000_000, 110_000_000),
        ("110M", 110_000_000),
        ("1.5B", 1_500_000_000),
        ("175B", 175_000_000_000),
        ("2T", 2_000_000_000_000),
        ("500k", 500_000),
        ("42", 42),
    ],
)
def test_parameters_accept_integers_and_suffixes(given: object, expected: int) -> None:
    spec = NeuronDeploymentSpec.model_validate({"model": {"family": "cnn", "parameters": given}})
    assert spec.model.parameters == expected


@pytest.mark.parametrize("bad", ["7Q", "B7", "", "1.5.2B", -3, 0, True])
def test_parameters_reject_nonsense_naming_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        NeuronDeploymentSpec.model_validate({"model": {"family": "cnn", "parameters": bad}})
    assert caught.value.errors()[0]["loc"][:2] == ("model", "parameters")


def test_parse_parameters_leaves_other_types_to_pydantic() -> None:
    assert parse_parameters(3.0) == 3.0


def test_defaults_match_the_api_contract() -> None:
    spec = NeuronDeploymentSpec.model_validate({"model": {"family": "cnn", "parameters": "25M"}})
    assert spec.workload == Workload.INFERENCE
    assert spec.objective == Objective.COST
    assert spec.model.dtype == DType.BF16
    assert spec.model.batch_size is None


def test_camel_case_fields_and_unknown_fields_are_refused() -> None:
    spec = NeuronDeploymentSpec.model_validate(
        {"model": {"family": "cnn", "parameters": 1, "gflopsPerInference": 2.5}}
    )
    assert spec.model.gflops_per_inference == 2.5
    with pytest.raises(ValidationError) as caught:
        NeuronDeploymentSpec.model_validate(
            {"model": {"family": "cnn", "parameters": 1, "sequenceLenght": 5}}
        )
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_unknown_family_is_an_enum_error() -> None:
    with pytest.raises(ValidationError) as caught:
        NeuronDeploymentSpec.model_validate({"model": {"family": "banana", "parameters": 1}})
    assert caught.value.errors()[0]["type"] == "enum"


def test_kv_heads_must_divide_attention_heads() -> None:
    with pytest.raises(ValidationError, match=r"kvHeads must divide attentionHeads"):
        NeuronDeploymentSpec.model_validate(
            {
                "model": {
                    "family": "transformer-decoder",
                    "parameters": "8B",
                    "attentionHeads": 32,
                    "kvHeads": 6,
                }
            }
        )


def test_decoder_output_tokens_fit_in_the_sequence() -> None:
    with pytest.raises(ValidationError, match="outputTokens must be smaller"):
        NeuronDeploymentSpec.model_validate(
            {
                "model": {
                    "family": "transformer-decoder",
                    "parameters": "8B",
                    "sequenceLength": 128,
                    "outputTokens": 128,
                }
            }
        )


def test_conflicting_batch_sizes_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"contradicts model\.batchSize"):
        NeuronDeploymentSpec.model_validate(
            {
                "model": {"family": "cnn", "parameters": 1, "batchSize": 4},
                "overrides": {"batchSize": 8},
            }
        )


def test_constraint_families_are_known() -> None:
    with pytest.raises(ValidationError) as caught:
        NeuronDeploymentSpec.model_validate(
            {
                "model": {"family": "cnn", "parameters": 1},
                "constraints": {"instanceFamilies": ["inf3"]},
            }
        )
    assert caught.value.errors()[0]["loc"][:2] == ("constraints", "instanceFamilies")
