"""Latency and throughput of one replica, predicted from hardware figures and model size.

The model (explained in docs/sizing.md) is a roofline with a fixed cost per execution:

    t = family factor · (overhead + max(compute, memory) + overlap · min(compute, memory)
                         + collectives)

- compute = FLOPs / (cores · peak FLOP/s · compute efficiency)
- memory  = weight (and KV-cache) bytes read / (cores · bandwidth per core · memory efficiency);
  on Inf1 a chip's 50 GiB/s is shared by its busy cores, so it is divided by how many of the
  chip's cores the plan keeps busy at full use. NeuronCore Pipeline keeps weights in on-chip
  memory (about 5 M weights per core: Neuron's rule of thumb of 4 cores per 2e7 weights), so
  only the uncached share is read from DRAM.
- collectives = per-layer all-reduce cost · log2(tensor-parallel degree).
- family factor: how much longer a family's compiled graphs take than a transformer encoder's
  of the same FLOPs and bytes (1 for encoders, and for families without published data).
Generative models: a prefill of the prompt, then one step per generated token that reads the
weights and the KV cache. Training: forward + backward = 3 × the forward FLOPs.

The constants below are the only tuned numbers. They were fitted by `make calibrate`
(calibration/fit.py) on the published Neuron benchmarks in calibration/data/ (aws-neuron-sdk
81ce03ae, about-neuron/benchmarks) and on nothing else. NeuronCore-v3 (Trn2) has no published
benchmark there: it uses v2's efficiencies with its own peak figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from neuron_operator.api.plan import ParallelismMode
from neuron_operator.api.v1alpha1 import ModelFamily, Workload
from neuron_operator.sizing.catalog import GIB, InstanceType
from neuron_operator.sizing.grouping import Grouping
from neuron_operator.sizing.profile import ModelProfile

PIPELINE_CACHED_WEIGHTS_PER_CORE = 5e6


@dataclass(frozen=True)
class GenerationConstants:
    compute_efficiency: float  # share of peak FLOP/s that compiled graphs reach
    prefill_efficiency: float  # the same for generative prefill (context encoding)
    memory_efficiency: float  # share of the memory bandwidth
    overhead_ms: float  # fixed cost of one model execution
    overlap_penalty: float  # 0: compute and memory overlap fully; 1: not at all
    collective_ms_per_layer: float  # all-reduce cost per layer per log2(TP degree)
    training_efficiency: float  # share of peak FLOP/s in training steps
    pipeline_efficiency: float  # Inf1 NeuronCore Pipeline: stage balance
    p95_over_p50: float  # tail: p95 from the median (published p99/p50, interpolated)


# --- fitted by calibration/fit.py (see docs/sizing.md for the error per family) ---
CONSTANTS: dict[str, GenerationConstants] = {
    "v1": GenerationConstants(
        compute_efficiency=0.9997,
        prefill_efficiency=0.1227,
        memory_efficiency=0.746,
        overhead_ms=3.703,
        overlap_penalty=1.505e-07,
        collective_ms_per_layer=0.04826,
        training_efficiency=0.3067,
        pipeline_efficiency=0.9995,
        p95_over_p50=1.072,
    ),
    "v2": GenerationConstants(
        compute_efficiency=0.5812,
        prefill_efficiency=0.1227,
        memory_efficiency=0.5788,
        overhead_ms=0.1918,
        overlap_penalty=0.151,
        collective_ms_per_layer=0.04826,
        training_efficiency=0.3067,
        pipeline_efficiency=0.8,
        p95_over_p50=1.013,
    ),
}
FAMILY_TIME_FACTOR: dict[ModelFamily, float] = {
    ModelFamily.TRANSFORMER_ENCODER: 1,
    ModelFamily.TRANSFORMER_DECODER: 1.055,
    ModelFamily.TRANSFORMER_ENCODER_DECODER: 4,
    ModelFamily.CNN: 2.411,
    ModelFamily.RCNN: 1,
    ModelFamily.LSTM: 1,
    ModelFamily.VISION_TRANSFORMER: 2.126,
    ModelFamily.DIFFUSION: 0.4477,
}
# --- end of fitted constants ---


def constants_for(instance: InstanceType) -> GenerationConstants:
    return CONSTANTS.get(instance.core_version, CONSTANTS["v2"])


@dataclass(frozen=True)
class Performance:
    latency_p50_ms: float  # one request batch (generative: the whole request)
    latency_p95_ms: float
    throughput_per_replica: float  # inferences (training: samples) per second
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    output_tokens_per_second: float | None = None


@dataclass(frozen=True)
class _Rates:
    flops: float  # FLOP/s one copy can use
    bytes: float  # bytes/s one copy can read
    constants: GenerationConstants
    family_factor: float  # how much longer than an encoder's this family's executions take


def _rates(
    profile: ModelProfile,
    instance: InstanceType,
    degree: int,
    busy_cores_per_chip: int,
    constants: GenerationConstants,
    family_factor: float,
    *,
    prefill: bool = False,
) -> _Rates:
    generation = instance.generation
    training = profile.workload == Workload.TRAINING
    efficiency = constants.compute_efficiency
    if training:
        efficiency = constants.training_efficiency
    elif prefill:
        efficiency = constants.prefill_efficiency
    peak = generation.peak_flops(profile.dtype, training=training)
    bandwidth = instance.bandwidth_gib_per_core * GIB
    if generation.bandwidth_shared_by_chip:
        bandwidth = instance.bandwidth_gib_per_device * GIB / max(1, busy_cores_per_chip)
    return _Rates(
        flops=degree * peak * efficiency,
        bytes=degree * bandwidth * constants.memory_efficiency,
        constants=constants,
        family_factor=family_factor,
    )


def _execution_ms(flops: float, read_bytes: float, rates: _Rates, collectives_ms: float) -> float:
    compute = 1e3 * flops / rates.flops
    memory = 1e3 * read_bytes / rates.bytes
    c = rates.constants
    return rates.family_factor * (
        c.overhead_ms
        + max(compute, memory)
        + c.overlap_penalty * min(compute, memory)
        + collectives_ms
    )


def estimate(
    profile: ModelProfile,
    instance: InstanceType,
    grouping: Grouping,
    batch: int,
    busy_cores_per_chip: int,
    constants: GenerationConstants | None = None,
    family_factors: dict[ModelFamily, float] | None = None,
) -> Performance:
    c = constants or constants_for(instance)
    factor = (family_factors or FAMILY_TIME_FACTOR)[profile.family]
    degree = grouping.degree
    rates = _rates(profile, instance, degree, busy_cores_per_chip, c, factor)
    collectives = 0.0
    if grouping.mode == ParallelismMode.TENSOR and degree > 1:
        collectives = c.collective_ms_per_layer * profile.layers * math.log2(degree)

    if profile.workload == Workload.TRAINING:
        step = _execution_ms(3.0 * batch * profile.flops_per_sample, 0.0, rates, 3 * collectives)
        return Performance(
            latency_p50_ms=step,
            latency_p95_ms=step * c.p95_over_p50,
            throughput_per_replica=grouping.copies * batch * 1e3 / step,
        )

    if profile.generative:
        prefill_rates = _rates(
            profile, instance, degree, busy_cores_per_chip, c, factor, prefill=True
        )
        prefill = _execution_ms(
            batch * profile.flops_per_sample, profile.weight_bytes, prefill_rates, collectives
        )
        context = profile.input_tokens + profile.output_tokens / 2
        step_bytes = (
            profile.weight_bytes * profile.decode_weights_fraction
            + profile.kv_cache_bytes(batch) * context / profile.sequence_length
        )
        step = _execution_ms(batch * profile.decode_flops(context), step_bytes, rates, collectives)
        request = prefill + (profile.output_tokens - 1) * step
        per_copy = batch * 1e3 / request
        return Performance(
            latency_p50_ms=request,
            latency_p95_ms=request * c.p95_over_p50,
            throughput_per_replica=grouping.copies * per_copy,
            ttft_ms=prefill,
            tpot_ms=step,
            output_tokens_per_second=grouping.copies * per_copy * profile.output_tokens,
        )

    read = profile.weight_bytes
    if grouping.mode == ParallelismMode.PIPELINE:
        cached = min(1.0, degree * PIPELINE_CACHED_WEIGHTS_PER_CORE / profile.parameters)
        read *= 1.0 - cached
        # The stages run one after another for one batch; `degree` batches are in flight.
        one_core = _rates(profile, instance, 1, busy_cores_per_chip, c, factor)
        stages_ms = _execution_ms(batch * profile.flops_per_sample, read, one_core, 0.0)
        per_copy = c.pipeline_efficiency * degree * batch * 1e3 / stages_ms
        return Performance(
            latency_p50_ms=stages_ms,
            latency_p95_ms=stages_ms * c.p95_over_p50,
            throughput_per_replica=per_copy,
        )
    latency = _execution_ms(batch * profile.flops_per_sample, read, rates, collectives)
    return Performance(
        latency_p50_ms=latency,
        latency_p95_ms=latency * c.p95_over_p50,
        throughput_per_replica=grouping.copies * batch * 1e3 / latency,
    )
