"""Behaviour of plan(): choice by objective, SLOs, budget, constraints, overrides, reasons."""

from __future__ import annotations

import math
import re

import pytest
from pydantic import ValidationError
from tests.helpers import spec

from neuron_operator.api.plan import ParallelismMode, Plan
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec
from neuron_operator.sizing import load_catalog, plan

CATALOG = load_catalog()
BERT = {"model_sequenceLength": 128, "model_layers": 12, "model_hiddenSize": 768}
LLAMA_8B = {
    "model_sequenceLength": 4096,
    "model_outputTokens": 256,
    "model_layers": 32,
    "model_hiddenSize": 4096,
    "model_attentionHeads": 32,
    "model_kvHeads": 8,
}


def feasible(result: Plan) -> Plan:
    assert result.feasible, result.reasons
    assert result.estimate is not None
    return result


def test_accepts_a_mapping_or_a_model() -> None:
    raw = spec("transformer-encoder", "110M", **BERT)
    assert plan(raw) == plan(NeuronDeploymentSpec.model_validate(raw))


def test_invalid_spec_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        plan({"model": {"family": "banana", "parameters": 1}})


def test_is_deterministic() -> None:
    raw = spec("transformer-decoder", "8B", slo={"throughput": 3}, **LLAMA_8B)
    assert plan(raw).model_dump_json() == plan(raw).model_dump_json()


def test_latency_objective_picks_the_lowest_p95() -> None:
    result = feasible(plan(spec("transformer-decoder", "8B", objective="latency", **LLAMA_8B)))
    assert result.estimate is not None
    for alternative in result.alternatives:
        assert alternative.estimate.latency_ms >= result.estimate.latency_ms


def test_throughput_objective_maximises_throughput_per_instance() -> None:
    result = feasible(plan(spec("cnn", "25M", objective="throughput")))
    assert result.estimate is not None and result.nodes
    best = result.estimate.throughput / result.nodes
    for alternative in result.alternatives:
        assert alternative.estimate.throughput / alternative.nodes <= best + 1e-9


def test_cost_objective_with_target_minimises_hourly_cost() -> None:
    result = feasible(plan(spec("cnn", "25M", slo={"throughput": 20_000})))
    assert result.estimate is not None and result.estimate.hourly_cost is not None
    for alternative in result.alternatives:
        assert alternative.estimate.hourly_cost is not None
        assert alternative.estimate.hourly_cost >= result.estimate.hourly_cost


def test_cost_objective_without_target_minimises_cost_per_million() -> None:
    result = feasible(plan(spec("transformer-encoder", "110M", **BERT)))
    assert result.estimate is not None and result.estimate.cost_per_million is not None
    for alternative in result.alternatives:
        assert alternative.estimate.cost_per_million is not None
        assert alternative.estimate.cost_per_million >= result.estimate.cost_per_million - 1e-9


def test_cost_objective_never_chooses_an_instance_without_a_price() -> None:
    result = plan(
        spec("transformer-decoder", "8B", constraints={"instanceFamilies": ["trn2"]}, **LLAMA_8B)
    )
    assert not result.feasible
    assert result.reasons[0].reason == "PriceUnknown"
    trn2 = [r for r in result.rejections() if r.instance_type.startswith("trn2")]
    assert trn2 and all(r.reason == "PriceUnknown" for r in trn2)


def test_latency_objective_may_choose_an_unpriced_instance_and_says_cost_is_unknown() -> None:
    result = feasible(
        plan(
            spec(
                "transformer-decoder",
                "8B",
                objective="latency",
                constraints={"instanceFamilies": ["trn2"]},
                **LLAMA_8B,
            )
        )
    )
    assert result.estimate is not None
    assert result.estimate.hourly_cost is None and result.estimate.cost_per_million is None


def test_replicas_meet_the_throughput_target_exactly_sized() -> None:
    target = 12_345.0
    result = feasible(plan(spec("transformer-encoder", "110M", slo={"throughput": target}, **BERT)))
    assert result.estimate is not None and result.replicas is not None
    # sized at the pessimistic end of the likely throughput: just enough replicas there
    pessimistic = result.estimate.throughput_range.low / result.replicas
    assert result.estimate.throughput_range.low >= target * (1 - 1e-5)
    assert result.replicas == math.ceil(target / pessimistic - 1e-5)


def test_latency_slo_is_met_or_the_plan_says_how_far_off() -> None:
    result = feasible(plan(spec("transformer-encoder", "110M", slo={"latencyMs": 5}, **BERT)))
    assert result.estimate is not None and result.estimate.latency_ms <= 5
    impossible = plan(spec("transformer-encoder", "110M", slo={"latencyMs": 0.01}, **BERT))
    assert not impossible.feasible
    assert impossible.reasons[0].reason == "LatencyUnreachable"
    assert "raise slo.latencyMs to at least" in impossible.reasons[0].message


def test_budget_is_respected_or_the_plan_names_the_cheapest_option() -> None:
    loose = feasible(
        plan(spec("cnn", "25M", slo={"throughput": 50_000}, budget={"maxHourlyCost": 100}))
    )
    assert loose.estimate is not None and loose.estimate.hourly_cost is not None
    assert loose.estimate.hourly_cost <= 100
    tight = plan(spec("cnn", "25M", slo={"throughput": 50_000}, budget={"maxHourlyCost": 0.1}))
    assert not tight.feasible
    assert tight.reasons[0].reason == "OverBudget"
    assert "raise budget.maxHourlyCost" in tight.reasons[0].message


def test_max_replicas_constraint() -> None:
    result = plan(
        spec(
            "cnn",
            "25M",
            slo={"throughput": 1e6},
            constraints={"maxReplicas": 2},
            overrides={"instanceType": "inf1.xlarge"},
        )
    )
    assert not result.feasible
    assert result.reasons[0].reason == "MaxReplicasExceeded"


def test_constraints_restrict_instance_types_and_families() -> None:
    by_type = feasible(plan(spec("cnn", "25M", constraints={"instanceTypes": ["trn1.2xlarge"]})))
    assert by_type.instance_type == "trn1.2xlarge"
    by_family = feasible(plan(spec("cnn", "25M", constraints={"instanceFamilies": ["inf2"]})))
    assert by_family.instance_type is not None and by_family.instance_type.startswith("inf2.")
    excluded = {
        r.instance_type for r in by_family.rejections() if r.reason == "ExcludedByConstraints"
    }
    assert excluded == {i.name for i in CATALOG.instances if i.family != "inf2"}


def test_overrides_pin_each_part_and_the_rest_is_still_chosen() -> None:
    result = feasible(
        plan(
            spec(
                "transformer-decoder",
                "8B",
                overrides={
                    "instanceType": "trn1.32xlarge",
                    "coresPerReplica": 8,
                    "batchSize": 4,
                    "replicas": 3,
                },
                **LLAMA_8B,
            )
        )
    )
    assert (result.instance_type, result.cores_per_replica, result.batch_size, result.replicas) == (
        "trn1.32xlarge",
        8,
        4,
        3,
    )
    assert result.parallelism is not None
    assert result.parallelism.mode == ParallelismMode.TENSOR
    assert result.replicas_per_node == 3 and result.nodes == 1  # 3 × 8 of 32 cores
    assert result.estimate is not None and result.estimate.latency_ms > 0


def test_unplaceable_override_is_explained() -> None:
    result = plan(
        spec(
            "transformer-decoder",
            "8B",
            overrides={"instanceType": "trn1.32xlarge", "coresPerReplica": 4},
            **LLAMA_8B,
        )
    )
    assert not result.feasible
    assert result.reasons[0].reason == "CoreGroupNotPlaceable"
    assert "1, 4, 8, 16" in result.reasons[0].message


def test_unknown_instance_type_is_named() -> None:
    result = plan(spec("cnn", "25M", overrides={"instanceType": "inf9.huge"}))
    assert not result.feasible
    assert any(
        r.reason == "UnknownInstanceType" and "inf9.huge" in r.message for r in result.reasons
    )


def test_decoder_on_inf1_only_is_infeasible_with_advice() -> None:
    result = plan(spec("transformer-decoder", "7B", constraints={"instanceFamilies": ["inf1"]}))
    assert not result.feasible
    codes = [r.reason for r in result.reasons]
    assert codes[0] == "ArchitectureNotAGoodFit"
    assert "allow inf2 or trn1" in result.reasons[0].message


def test_model_too_big_for_any_node_says_what_to_change() -> None:
    # 40 TB of weights: more than 8 of the largest nodes hold (multi-node replicas stop there).
    result = plan(spec("transformer-decoder", "20T"))
    assert not result.feasible
    memory = next(r for r in result.reasons if r.reason == "ExceedsMemory")
    assert "quantize" in memory.message


def test_every_rejection_has_a_code_and_a_message() -> None:
    result = plan(spec("transformer-decoder", "70B", slo={"latencyMs": 60_000}))
    assert result.rejections()
    for rejection in result.rejections():
        assert rejection.reason[0].isupper() and " " not in rejection.reason
        assert rejection.message


def test_training_runs_only_on_trainium() -> None:
    result = feasible(
        plan(
            spec(
                "transformer-encoder", "335M", workload="training", slo={"throughput": 1000}, **BERT
            )
        )
    )
    assert result.instance_type is not None and result.instance_type.startswith("trn")
    reasons = {r.instance_type: r.reason for r in result.rejections()}
    assert reasons["inf2.xlarge"] == "WorkloadNotSupported"
    assert reasons["inf1.xlarge"] == "WorkloadNotSupported"


def test_alternatives_exclude_the_chosen_grouping() -> None:
    result = feasible(plan(spec("cnn", "25M", slo={"throughput": 5000})))
    chosen = (result.instance_type, result.cores_per_replica, result.parallelism)
    assert all(
        (a.instance_type, a.cores_per_replica, a.parallelism) != chosen for a in result.alternatives
    )
    assert len(result.alternatives) <= 5


def test_inf1_shared_bandwidth_makes_packed_replicas_slower() -> None:
    # At full use four busy cores share an Inf1 chip's 50 GiB/s; one busy core has it all.
    def single_core_bert(replicas: int) -> Plan:
        overrides = {
            "instanceType": "inf1.xlarge",
            "coresPerReplica": 1,
            "batchSize": 1,
            "replicas": replicas,
        }
        return feasible(plan(spec("transformer-encoder", "110M", overrides=overrides, **BERT)))

    one, four = single_core_bert(1), single_core_bert(4)
    assert one.estimate is not None and four.estimate is not None
    assert four.estimate.latency_ms > one.estimate.latency_ms


def test_generative_plans_report_token_figures() -> None:
    result = feasible(plan(spec("transformer-decoder", "8B", **LLAMA_8B)))
    assert result.estimate is not None
    e = result.estimate
    assert e.time_to_first_token_ms is not None and e.time_per_output_token_ms is not None
    assert e.latency_p50_ms == pytest.approx(
        e.time_to_first_token_ms + 255 * e.time_per_output_token_ms, rel=1e-3
    )


def test_rejections_name_the_grouping_they_reject() -> None:
    only_inf2 = plan(
        spec(
            "transformer-decoder", "8B", constraints={"instanceTypes": ["inf2.xlarge"]}, **LLAMA_8B
        )
    )
    memory = {
        r.cores_per_replica: r.message
        for r in only_inf2.rejections()
        if r.reason == "ExceedsMemory"
    }
    assert memory[2].startswith("a replica of 2 data-parallel copies of 1 core needs")
    assert memory[1].startswith("a replica of 1 data-parallel copy of 1 core needs")
    slow = plan(
        spec(
            "transformer-decoder",
            "8B",
            overrides={"instanceType": "trn1.32xlarge", "coresPerReplica": 8},
            slo={"latencyMs": 1},
            **LLAMA_8B,
        )
    )
    latency = next(r for r in slow.reasons if r.reason == "LatencyUnreachable")
    # The fastest 8-core grouping depends on the performance model; it is named either way.
    assert re.search(
        r"trn1\.32xlarge with .*-parallel (copies|groups?) of \d+ cores? at batch", latency.message
    )


def test_throughput_ranks_what_a_node_delivers_filled_with_replicas() -> None:
    # One big replica leaves the rest of a large node idle: the objective compares nodes
    # filled with each option's replicas, not one replica of each.
    result = feasible(
        plan(
            {
                "model": {
                    "family": "transformer-encoder",
                    "parameters": "110M",
                    "layers": 12,
                    "hiddenSize": 768,
                    "sequenceLength": 128,
                },
                "objective": "throughput",
                "constraints": {"instanceTypes": ["inf1.24xlarge"]},
            }
        )
    )
    assert result.estimate is not None and result.cores_per_replica is not None
    per_node = result.estimate.throughput_per_replica * (64 // result.cores_per_replica)
    for option in result.alternatives:
        assert option.estimate.throughput_per_replica * (64 // option.cores_per_replica) <= (
            per_node * (1 + 1e-5)
        )
    assert f"{per_node:.1f}"[:4] in result.why


def test_a_cnns_likely_range_comes_from_figures_with_flops_of_the_same_kind() -> None:
    # The engine guesses a CNN's FLOPs from its weights unless told. Published CNNs predicted
    # with that guess ran well off the estimate; with their FLOPs known they did not. Each
    # plan's range comes from figures predicted the way the plan was.
    def likely(model: dict[str, object]) -> tuple[float, float]:
        result = feasible(
            plan(
                {
                    "model": model,
                    "objective": "latency",
                    "constraints": {"instanceTypes": ["inf2.xlarge"]},
                }
            )
        )
        assert result.estimate is not None
        e = result.estimate
        return e.latency_ms_range.low / e.latency_ms, e.latency_ms_range.high / e.latency_ms

    guessed: dict[str, object] = {"family": "cnn", "parameters": "25.6M"}
    given_low, given_high = likely({**guessed, "gflopsPerInference": 8.2})
    guessed_low, guessed_high = likely(guessed)
    assert given_low < 1 < given_high
    assert (guessed_low, guessed_high) != pytest.approx((given_low, given_high), rel=0.05)
