"""Table-driven tests of the engine's rules: architecture fit, memory, core grouping."""

from __future__ import annotations

import math

import pytest

from neuron_operator.api.plan import FitVerdict, ParallelismMode
from neuron_operator.api.v1alpha1 import DType, ModelFamily, ModelSpec, Workload
from neuron_operator.sizing.catalog import GIB, InstanceType, load_catalog
from neuron_operator.sizing.fit import judge_dtype, judge_fit
from neuron_operator.sizing.grouping import (
    Grouping,
    enumerate_groupings,
    pipeline_degrees,
    placement_problem,
)
from neuron_operator.sizing.memory import (
    INF1_MAX_COMPILED_WEIGHTS,
    check_memory,
    exceeds_inf1_compile_limit,
)
from neuron_operator.sizing.profile import ModelProfile, build_profile

F = ModelFamily
V = FitVerdict


def instance(name: str) -> InstanceType:
    found = load_catalog().get(name)
    assert found is not None
    return found


# --- architecture fit (facts §3.5) ---------------------------------------------------


@pytest.mark.parametrize(
    ("family", "instance_name", "workload", "verdict", "reason"),
    [
        (F.TRANSFORMER_ENCODER, "inf1.xlarge", Workload.INFERENCE, V.GOOD, "ArchitectureGoodFit"),
        (
            F.TRANSFORMER_DECODER,
            "inf1.xlarge",
            Workload.INFERENCE,
            V.POOR,
            "ArchitectureNotAGoodFit",
        ),
        (
            F.TRANSFORMER_ENCODER_DECODER,
            "inf1.6xlarge",
            Workload.INFERENCE,
            V.POOR,
            "ArchitectureNotAGoodFit",
        ),
        (
            F.DIFFUSION,
            "inf1.24xlarge",
            Workload.INFERENCE,
            V.UNSUPPORTED,
            "ArchitectureNotSupported",
        ),
        (
            F.RCNN,
            "inf1.xlarge",
            Workload.INFERENCE,
            V.LIMITED,
            "ArchitectureSupportedWithLimitations",
        ),
        (F.CNN, "inf1.xlarge", Workload.INFERENCE, V.GOOD, "ArchitectureGoodFit"),
        (F.TRANSFORMER_DECODER, "inf2.xlarge", Workload.INFERENCE, V.GOOD, "ArchitectureGoodFit"),
        (F.DIFFUSION, "inf2.xlarge", Workload.INFERENCE, V.GOOD, "ArchitectureGoodFit"),
        (
            F.LSTM,
            "inf2.xlarge",
            Workload.INFERENCE,
            V.LIMITED,
            "ArchitectureSupportedWithLimitations",
        ),
        (F.TRANSFORMER_DECODER, "trn2.48xlarge", Workload.INFERENCE, V.GOOD, "ArchitectureGoodFit"),
        (F.TRANSFORMER_DECODER, "trn1.32xlarge", Workload.TRAINING, V.GOOD, "ArchitectureGoodFit"),
        (
            F.CNN,
            "trn1.32xlarge",
            Workload.TRAINING,
            V.LIMITED,
            "ArchitectureSupportedWithLimitations",
        ),
        (
            F.TRANSFORMER_ENCODER,
            "inf2.48xlarge",
            Workload.TRAINING,
            V.UNSUPPORTED,
            "WorkloadNotSupported",
        ),
        (
            F.TRANSFORMER_ENCODER,
            "inf1.xlarge",
            Workload.TRAINING,
            V.UNSUPPORTED,
            "WorkloadNotSupported",
        ),
    ],
)
def test_architecture_fit(
    family: ModelFamily, instance_name: str, workload: Workload, verdict: FitVerdict, reason: str
) -> None:
    judgement = judge_fit(family, workload, instance(instance_name))
    assert (judgement.verdict, judgement.reason) == (verdict, reason)
    assert judgement.allowed == (verdict in (V.GOOD, V.LIMITED))


def test_poor_fit_message_says_what_to_allow() -> None:
    judgement = judge_fit(F.TRANSFORMER_DECODER, Workload.INFERENCE, instance("inf1.xlarge"))
    assert "allow inf2 or trn1" in judgement.message


def test_trn2_is_judged_like_v2_and_says_so() -> None:
    judgement = judge_fit(F.CNN, Workload.INFERENCE, instance("trn2.3xlarge"))
    assert "NeuronCore-v3" in judgement.message


@pytest.mark.parametrize(
    ("dtype", "instance_name", "supported"),
    [
        (DType.FP8, "inf1.xlarge", False),
        (DType.FP8, "inf2.xlarge", True),
        (DType.FP8, "trn2.3xlarge", True),
        (DType.INT8, "inf1.xlarge", True),
        (DType.FP32, "inf1.xlarge", True),
    ],
)
def test_dtype_support(dtype: DType, instance_name: str, supported: bool) -> None:
    assert (judge_dtype(dtype, instance(instance_name)) is None) == supported


# --- memory (facts §3.1, §3.2) ---------------------------------------------------------


def profile(family: str, parameters: str, **model: object) -> ModelProfile:
    return build_profile(
        ModelSpec.model_validate({"family": family, "parameters": parameters, **model}),
        Workload.INFERENCE,
    )


@pytest.mark.parametrize(
    ("dtype", "bytes_per_weight"),
    [(DType.FP32, 2), (DType.BF16, 2), (DType.FP16, 2), (DType.FP8, 1), (DType.INT8, 1)],
)
def test_weights_are_sized_as_compiled(dtype: DType, bytes_per_weight: int) -> None:
    p = build_profile(
        ModelSpec(family=F.CNN, parameters=1_000_000, dtype=dtype), Workload.INFERENCE
    )
    assert p.weight_bytes == 1_000_000 * bytes_per_weight


def test_fp32_cast_is_reported_as_an_assumption() -> None:
    p = build_profile(ModelSpec(family=F.CNN, parameters=1, dtype=DType.FP32), Workload.INFERENCE)
    assert any("bf16" in a for a in p.assumptions)


def llama(parameters: str, layers: int, hidden: int, heads: int, kv: int, seq: int) -> ModelProfile:
    return build_profile(
        ModelSpec.model_validate(
            {
                "family": "transformer-decoder",
                "parameters": parameters,
                "layers": layers,
                "hiddenSize": hidden,
                "attentionHeads": heads,
                "kvHeads": kv,
                "sequenceLength": seq,
            }
        ),
        Workload.INFERENCE,
    )


def test_kv_cache_follows_the_published_formula_and_gqa() -> None:
    # Neuron app note: kv = batch × layers × ctx × d_model × 2 (K and V) × dtype bytes (MHA).
    mha = llama("7B", 32, 4096, 32, 32, 4096)
    assert mha.kv_cache_bytes(16) == 16 * 32 * 4096 * 4096 * 2 * 2
    gqa = llama("8B", 32, 4096, 32, 8, 4096)
    assert gqa.kv_cache_bytes(16) == mha.kv_cache_bytes(16) / 4


@pytest.mark.parametrize(
    ("instance_name", "degree", "fits"),
    [
        # NxDI: Llama-3.1-8B bf16 bs1 "requires about 16GB" -> one 16 GiB core is not enough,
        # two cores (trn1.2xlarge) are.
        ("trn1.2xlarge", 1, False),
        ("trn1.2xlarge", 2, True),
        # Trn2 logical cores own 24 GiB: one holds it.
        ("trn2.3xlarge", 1, True),
    ],
)
def test_llama_8b_memory(instance_name: str, degree: int, fits: bool) -> None:
    p = llama("8.03B", 32, 4096, 32, 8, 4096)
    assert check_memory(p, instance(instance_name), degree, 1, 1).fits == fits


@pytest.mark.parametrize(("degree", "fits"), [(8, False), (16, True), (32, True)])
def test_llama_70b_needs_16_trn1_cores(degree: int, fits: bool) -> None:
    # NxDI: Llama-3.1-70B bf16 bs1 "about 148GB" -> 16 cores of trn1.32xlarge.
    p = llama("70.6B", 80, 8192, 64, 8, 4096)
    assert check_memory(p, instance("trn1.32xlarge"), degree, 1, 1).fits == fits


def test_inf1_cores_share_the_chip_memory() -> None:
    inf1 = instance("inf1.xlarge")
    assert inf1.memory_gib_per_core * inf1.cores_per_device == inf1.memory_gib_per_device
    # 900 M bf16 weights (1.8 GB) fit one Inf1 core's 2 GiB share only without the reserve.
    p = profile("transformer-encoder", "900M")
    fit = check_memory(p, inf1, 1, 1, 1)
    assert not fit.fits
    assert fit.available == 2 * GIB


def test_inf1_compile_limit_is_two_gigabytes_of_weights() -> None:
    below = profile("cnn", str(int(INF1_MAX_COMPILED_WEIGHTS / 2)))
    above = profile("cnn", str(int(INF1_MAX_COMPILED_WEIGHTS / 2) + 1))
    inf1, inf2 = instance("inf1.24xlarge"), instance("inf2.xlarge")
    assert not exceeds_inf1_compile_limit(below, inf1)
    assert exceeds_inf1_compile_limit(above, inf1)
    assert not exceeds_inf1_compile_limit(above, inf2)


def test_memory_reported_per_replica_scales_with_copies() -> None:
    p = profile("transformer-encoder", "110M")
    one = check_memory(p, instance("inf2.xlarge"), 1, 1, 4).per_replica()
    two = check_memory(p, instance("inf2.xlarge"), 1, 2, 4).per_replica()
    assert math.isclose(two.weights_gib, 2 * one.weights_gib, rel_tol=1e-2)


# --- core grouping and placement (facts §2.3, §3.2, §3.4) ------------------------------


@pytest.mark.parametrize(
    ("instance_name", "cores", "placeable"),
    [
        ("trn1.32xlarge", 1, True),  # one core is always valid
        ("trn1.32xlarge", 2, True),  # one device
        ("trn1.32xlarge", 4, False),  # two devices: the torus takes 1/4/8/16
        ("trn1.32xlarge", 8, True),
        ("trn1.32xlarge", 16, True),
        ("trn1.32xlarge", 24, False),  # twelve devices
        ("trn1.32xlarge", 32, True),  # all cores
        ("trn1.32xlarge", 33, False),
        ("inf2.48xlarge", 6, True),  # ring: any contiguous device count
        ("inf2.48xlarge", 3, False),  # splits a device
        ("inf1.6xlarge", 12, True),
        ("trn2.48xlarge", 8, False),  # two trn2 devices
        ("trn2.48xlarge", 16, True),
        ("trn2.3xlarge", 2, True),
    ],
)
def test_placement(instance_name: str, cores: int, placeable: bool) -> None:
    assert (placement_problem(instance(instance_name), cores) is None) == placeable


def test_placement_problem_names_the_scheduler_rule() -> None:
    problem = placement_problem(instance("trn1.32xlarge"), 4)
    assert problem is not None
    assert "1, 4, 8, 16" in problem


@pytest.mark.parametrize(
    ("parameters", "node_cores", "must_include"),
    [
        (110_000_000, 64, 24),  # 4 * round(110M / 20M) = 24
        (110_000_000, 64, 16),  # Neuron's published BERT-base pipeline length
        (40_000_000, 16, 8),  # 4 * round(2) = 8
        (5_000_000, 4, 4),  # round() gives 0: at least one chip
    ],
)
def test_pipeline_search_starts_from_the_rule_of_thumb(
    parameters: int, node_cores: int, must_include: int
) -> None:
    degrees = pipeline_degrees(parameters, node_cores)
    assert must_include in degrees
    assert all(d <= node_cores for d in degrees)


def test_tensor_degrees_follow_the_family_list_and_divide_heads() -> None:
    p = llama("13B", 40, 5120, 40, 40, 4096)
    groupings, rejected = enumerate_groupings(p, instance("inf2.48xlarge"), None)
    tensor = {g.degree for g in groupings if g.mode == ParallelismMode.TENSOR}
    # inf2 supports 1, 2, 4, 8, 24; 40 heads are divisible by 2, 4, 8 but not 24.
    assert tensor == {2, 4, 8}
    assert any(r.reason == "HeadsNotDivisible" and r.cores == 24 for r in rejected)


def test_pipeline_only_on_inf1_and_tensor_only_on_v2_and_later() -> None:
    # 6 B bf16 weights (12 GB) need more than half a v2 core: tensor parallelism is tried.
    p = profile("transformer-encoder", "6B")
    inf1_modes = {g.mode for g in enumerate_groupings(p, instance("inf1.24xlarge"), None)[0]}
    inf2_modes = {g.mode for g in enumerate_groupings(p, instance("inf2.48xlarge"), None)[0]}
    assert ParallelismMode.TENSOR not in inf1_modes
    assert ParallelismMode.PIPELINE in inf1_modes
    assert ParallelismMode.PIPELINE not in inf2_modes
    assert ParallelismMode.TENSOR in inf2_modes


def test_small_encoders_are_served_data_parallel() -> None:
    p = profile("transformer-encoder", "110M")
    modes = {g.mode for g in enumerate_groupings(p, instance("inf2.48xlarge"), None)[0]}
    assert modes == {ParallelismMode.DATA}


def test_pinned_cores_produce_only_that_shape() -> None:
    p = llama("8B", 32, 4096, 32, 8, 4096)
    groupings, _ = enumerate_groupings(p, instance("trn1.32xlarge"), 8)
    assert groupings
    assert all(g.cores == 8 for g in groupings)


def test_no_plan_runs_more_replicas_than_the_cap() -> None:
    from neuron_operator.api.v1alpha1 import MAX_REPLICAS
    from neuron_operator.sizing import plan

    result = plan({"model": {"family": "cnn", "parameters": "25M"}, "slo": {"throughput": 1e9}})
    assert not result.feasible
    assert result.reasons[0].reason == "MaxReplicasExceeded"
    assert f"at most {MAX_REPLICAS}" in result.reasons[0].message
    within = plan({"model": {"family": "cnn", "parameters": "25M"}, "slo": {"throughput": 1e4}})
    assert within.feasible and (within.replicas or 0) <= MAX_REPLICAS


@pytest.mark.parametrize(
    ("grouping", "words"),
    [
        (Grouping(ParallelismMode.DATA, 1, 1), "1 data-parallel copy of 1 core"),
        (Grouping(ParallelismMode.DATA, 1, 2), "2 data-parallel copies of 1 core"),
        (Grouping(ParallelismMode.TENSOR, 8, 1), "a tensor-parallel group of 8 cores"),
        (Grouping(ParallelismMode.TENSOR, 8, 4), "4 tensor-parallel groups of 8 cores"),
        (Grouping(ParallelismMode.PIPELINE, 16, 1), "a NeuronCore Pipeline of 16 cores"),
    ],
)
def test_a_grouping_describes_itself(grouping: Grouping, words: str) -> None:
    assert grouping.describe() == words


def test_heads_rejection_names_the_grouping() -> None:
    p = llama("13B", 40, 5120, 40, 40, 4096)
    _, rejected = enumerate_groupings(p, instance("inf2.48xlarge"), None)
    heads = next(r for r in rejected if r.reason == "HeadsNotDivisible")
    assert heads.message.startswith("a tensor-parallel group of 24 cores cannot split")
