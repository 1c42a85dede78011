"""Each mode's formula on the hand-worked examples of docs/sizing.md ("Worked examples").

The constants here are round numbers chosen for the arithmetic, not the fitted ones, so every
expected figure can be checked with a pencil: the test spells the arithmetic out instead of
calling the engine's helpers.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from neuron_operator.api.plan import ParallelismMode
from neuron_operator.api.v1alpha1 import ModelFamily, ModelSpec, Workload
from neuron_operator.sizing.catalog import GIB, load_catalog
from neuron_operator.sizing.grouping import Grouping
from neuron_operator.sizing.performance import GenerationConstants, Performance, estimate
from neuron_operator.sizing.profile import build_profile

CATALOG = load_catalog()
ROUND = GenerationConstants(
    compute_efficiency=0.5,
    half_saturation_rows=128,
    memory_efficiency=0.5,
    overhead_ms=1.0,
    overlapped_overhead=0.0,
    overlap_penalty=0.0,
    core_bandwidth_share=0.5,
    cached_weights_per_core=5e6,
    collective_latency_us=10,
    collective_gbps=100,
    training_efficiency=0.25,
    efa_efficiency=0.5,
    pipeline_stage_ms=0.1,
    pipeline_balance=0.8,
    p95_over_p50=1.1,
)
COSTS = dict.fromkeys(ModelFamily, 1.0)
# 100 M weights in 8 blocks of width 1024 (12 x 8 x 1024² > 100 M: no embedding share),
# 128 tokens, 25.6 GFLOPs = 2 x 100 M x 128: 128 rows per sample.
ENCODER = build_profile(
    ModelSpec.model_validate(
        {
            "family": "transformer-encoder",
            "parameters": 100_000_000,
            "layers": 8,
            "hiddenSize": 1024,
            "attentionHeads": 16,
            "sequenceLength": 128,
            "dtype": "bf16",
            "gflopsPerInference": 25.6,
        }
    ),
    Workload.INFERENCE,
)


def run(instance: str, grouping: Grouping, batch: int, busy: int, **changes: float) -> Performance:
    constants = replace(ROUND, **changes)
    if not instance.startswith("inf1"):
        constants = replace(constants, cached_weights_per_core=0.0)  # only NeuronCore-v1 caches
    return estimate(ENCODER, CATALOG.get(instance), grouping, batch, busy, constants, COSTS)  # type: ignore[arg-type]


def test_data_parallel_on_inf2_is_overhead_plus_the_larger_of_compute_and_memory() -> None:
    # efficiency at 128 rows: 0.5 x 128 / (128 + 128) = 0.25
    compute = 25.6e9 / (95e12 * 0.25) * 1e3  # 1.078 ms
    memory = 200e6 / (410 * GIB * 0.5) * 1e3  # 0.908 ms: 2 bytes x 100 M weights
    assert compute > memory
    performance = run("inf2.xlarge", Grouping(ParallelismMode.DATA, 1, 2), 1, 2)
    assert performance.latency_p50_ms == pytest.approx(1.0 + compute)
    assert performance.latency_p95_ms == pytest.approx(1.1 * (1.0 + compute))
    assert performance.throughput_per_replica == pytest.approx(2 * 1e3 / (1.0 + compute))


def test_a_bigger_batch_fills_the_array_so_each_sample_costs_less() -> None:
    # batch 8: 1024 rows, efficiency 0.5 x 1024 / 1152 = 0.444
    compute = 8 * 25.6e9 / (95e12 * 0.5 * 1024 / 1152) * 1e3
    performance = run("inf2.xlarge", Grouping(ParallelismMode.DATA, 1, 1), 8, 2)
    assert performance.latency_p50_ms == pytest.approx(1.0 + compute)
    one = run("inf2.xlarge", Grouping(ParallelismMode.DATA, 1, 1), 1, 2)
    assert performance.latency_p50_ms / 8 < one.latency_p50_ms


@pytest.mark.parametrize(
    ("busy", "share"),
    [(1, 0.5), (2, 0.5), (4, 0.25)],  # min(core share 0.5, 1 / busy cores)
)
def test_inf1_copies_share_their_chips_bandwidth(busy: int, share: float) -> None:
    # 95 % of the weights are read from DRAM: one core keeps 5 M of 100 M on chip.
    memory = 0.95 * 200e6 / (50 * GIB * share * 0.5) * 1e3
    compute = 25.6e9 / (16e12 * 0.25) * 1e3  # 6.4 ms
    performance = run("inf1.xlarge", Grouping(ParallelismMode.DATA, 1, 1), 1, busy)
    assert performance.latency_p50_ms == pytest.approx(1.0 + max(compute, memory))


def test_inf1_neuroncore_pipeline_fills_then_runs_one_batch_per_slowest_stage() -> None:
    degree = 4
    # each stage: a quarter of the FLOPs on one core; 4 x 5 M weights cached of 100 M
    compute = 25.6e9 / degree / (16e12 * 0.25) * 1e3  # 1.6 ms
    memory = (1 - 0.2) * 200e6 / degree / (50 * GIB * 0.25 * 0.5) * 1e3  # 6.4 ms at 4 busy
    handoff = 128 * 1024 * 2 / (50 * GIB * 0.25 * 0.5) * 1e3  # hidden states to the next stage
    stage = 0.1 + max(compute, memory) + handoff
    performance = run("inf1.xlarge", Grouping(ParallelismMode.PIPELINE, degree, 1), 1, 4)
    assert performance.latency_p50_ms == pytest.approx(1.0 + degree * stage)
    assert performance.throughput_per_replica == pytest.approx(0.8 * 1e3 / stage)


def test_tensor_parallel_adds_two_all_reduces_per_layer() -> None:
    degree = 8
    layers = 8
    activations = 128 * 1024 * 2  # one sample's hidden states, bf16
    all_reduce = 10e-3 * math.log2(degree) + 2 * 7 / 8 * activations / 100e9 * 1e3
    compute = 25.6e9 / (degree * 95e12 * 0.25) * 1e3
    memory = 200e6 / (degree * 410 * GIB * 0.5) * 1e3
    expected = 1.0 + max(compute, memory) + 2 * layers * all_reduce
    performance = run("inf2.48xlarge", Grouping(ParallelismMode.TENSOR, degree, 1), 1, 2)
    assert performance.latency_p50_ms == pytest.approx(expected)


def test_overlap_penalty_adds_the_hidden_part_back() -> None:
    compute = 25.6e9 / (95e12 * 0.25) * 1e3
    memory = 200e6 / (410 * GIB * 0.5) * 1e3
    performance = run(
        "inf2.xlarge", Grouping(ParallelismMode.DATA, 1, 1), 1, 2, overlap_penalty=0.5
    )
    assert performance.latency_p50_ms == pytest.approx(1.0 + compute + 0.5 * memory)


def test_an_all_reduce_within_one_device_moves_its_bytes_through_device_memory() -> None:
    degree = 2  # both cores of one Inferentia2 device: no NeuronLink hop
    activations = 128 * 1024 * 2
    ring = 410 * GIB * 0.5  # the cores' own bandwidth at the memory efficiency
    all_reduce = 10e-3 * math.log2(degree) + 2 * 1 / 2 * activations / ring * 1e3
    compute = 25.6e9 / (degree * 95e12 * 0.25) * 1e3
    memory = 200e6 / (degree * 410 * GIB * 0.5) * 1e3
    expected = 1.0 + max(compute, memory) + 2 * 8 * all_reduce
    performance = run("inf2.xlarge", Grouping(ParallelismMode.TENSOR, degree, 1), 1, 2)
    assert performance.latency_p50_ms == pytest.approx(expected)


def test_with_two_requests_in_flight_the_hosts_overhead_hides_behind_the_device() -> None:
    # Inf1, 4 busy cores: device time 28.3 ms (memory) and a 1 ms overhead of which 0.6 is
    # host work; with a second request in flight a copy completes one every 28.3 + 0.4 ms.
    memory = 0.95 * 200e6 / (50 * GIB * 0.25 * 0.5) * 1e3
    grouping = Grouping(ParallelismMode.DATA, 1, 1)
    alone = run("inf1.xlarge", grouping, 1, 4, overlapped_overhead=0.6)
    assert alone.latency_p50_ms == pytest.approx(1.0 + memory)
    assert alone.throughput_per_replica == pytest.approx(1e3 / (1.0 + memory - 0.6))
    single = estimate(
        ENCODER,
        CATALOG.get("inf1.xlarge"),  # type: ignore[arg-type]
        grouping,
        1,
        4,
        replace(ROUND, overlapped_overhead=0.6),
        COSTS,
        requests_in_flight=1,
    )
    assert single.throughput_per_replica == pytest.approx(1e3 / (1.0 + memory))
