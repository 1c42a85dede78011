"""Latency and throughput of one replica, predicted from hardware figures and model size.

The model (docs/sizing.md, "The performance model", with hand-worked examples) times one
execution of one model copy — one batch through the compiled graph — as a roofline with a
fixed cost:

    t = overhead + max(compute, memory) + overlap · min(compute, memory) + collectives

- compute = family cost · FLOPs / (cores · peak FLOP/s · efficiency(rows)), where
  efficiency(rows) = peak efficiency · rows / (rows + half-saturation rows): a systolic array
  is only as busy as the rows of work an execution gives it (tokens × batch for a transformer,
  output positions × batch for a CNN, one row per sequence in a decode step).
- memory = weight (and KV-cache) bytes read / (cores · bandwidth one core draws · efficiency).
  An Inf1 chip's 50 GiB/s is shared: one busy core draws at most a fitted share of it, and
  n busy cores each draw 1/n of it, whichever is less. Inf2/Trn cores own their bandwidth.
- collectives (tensor parallel): two all-reduces per layer (three in an encoder-decoder's
  decoder), each a latency per step of a log2(degree) tree plus the bytes a ring moves,
  2·(d-1)/d · activations, through device memory within a device and at the fitted per-core
  NeuronLink bandwidth across devices.

Modes:
- data parallel: copies are independent; on Inf1 they contend for the chip's bandwidth. With
  a second request in flight, the host's share of the overhead runs while the device works,
  so a copy's throughput is one batch per device time (or host time, if longer).
- Inf1 NeuronCore Pipeline: each of `degree` cores runs one stage (1/degree of the work) and
  keeps its share of the weights in on-chip memory up to its capacity; only the rest is read
  from DRAM. A stage also hands its activations to the next. Latency is the fill (every
  stage once, plus the overhead); throughput is one batch per slowest stage.
- tensor parallel: every layer over `degree` cores, with the collectives above.
Generative models: a prefill of the prompt, then one step per generated token that reads the
weights and the KV cache. Training: forward + backward = 3 × the forward FLOPs and weight reads.

The constants below are the only tuned numbers, each inside a physical prior range
(calibration/priors.py), fitted with regularisation toward its prior by `make calibrate` on
the published Neuron measurements in calibration/data/ and nothing else. NeuronCore-v3 (Trn2)
has no published measurement there: it uses v2's constants with its own peak figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from neuron_operator.api.plan import ParallelismMode
from neuron_operator.api.v1alpha1 import ModelFamily, Workload
from neuron_operator.sizing.catalog import GIB, InstanceType
from neuron_operator.sizing.grouping import Grouping
from neuron_operator.sizing.profile import ModelProfile

ACTIVATION_BYTES = 2  # bf16 hidden states between stages and in collectives
# Requests a server keeps in flight per model copy at full use, as Neuron's Inf1 throughput
# benchmarks ran them (workers per model, NEURON_MAX_NUM_INFERS).
REQUESTS_IN_FLIGHT = 2


@dataclass(frozen=True)
class GenerationConstants:
    compute_efficiency: float  # share of peak FLOP/s a saturated systolic array reaches
    half_saturation_rows: float  # rows per execution at which efficiency is half of that
    memory_efficiency: float  # share of the DRAM bandwidth reads reach
    overhead_ms: float  # fixed cost of one model execution (launch, host I/O)
    # Share of that overhead the host does while the device runs another request, when a copy
    # has two or more in flight (0 where no published figure ran more than one: Inf2/Trn).
    overlapped_overhead: float
    overlap_penalty: float  # 0: compute and memory overlap fully; 1: not at all
    core_bandwidth_share: float  # most of a chip's bandwidth one core draws (Inf1 only)
    collective_latency_us: float  # one step of an all-reduce
    collective_gbps: float  # per-core bandwidth an all-reduce's ring reaches, GB/s
    training_efficiency: float  # share of peak FLOP/s saturated training steps reach
    efa_efficiency: float  # share of a node's EFA line rate a gradient all-reduce reaches
    cached_weights_per_core: float  # weights a core keeps in on-chip memory (Inf1)
    pipeline_stage_ms: float  # fixed cost of one pipeline stage hand-off (Inf1 Pipeline)
    pipeline_balance: float  # mean stage time / slowest stage time (Inf1 Pipeline)
    p95_over_p50: float  # tail: p95 from the median (published p99/p50, interpolated)


# --- fitted by calibration/fit.py (see docs/sizing.md for the error per family) ---
CONSTANTS: dict[str, GenerationConstants] = {
    "v1": GenerationConstants(
        compute_efficiency=0.6674,
        half_saturation_rows=25.68,
        memory_efficiency=0.8271,
        overhead_ms=3.607,
        overlapped_overhead=0.5515,
        overlap_penalty=0.6186,
        core_bandwidth_share=0.8102,
        collective_latency_us=20,
        collective_gbps=50,
        training_efficiency=0.3,
        efa_efficiency=0.7,
        cached_weights_per_core=5e06,
        pipeline_stage_ms=0.03445,
        pipeline_balance=0.6067,
        p95_over_p50=1.072,
    ),
    "v2": GenerationConstants(
        compute_efficiency=0.4358,
        half_saturation_rows=46.87,
        memory_efficiency=0.824,
        overhead_ms=0.4079,
        overlapped_overhead=0,
        overlap_penalty=0.1578,
        core_bandwidth_share=1,
        collective_latency_us=27.01,
        collective_gbps=18.37,
        training_efficiency=0.2944,
        efa_efficiency=0.7029,
        cached_weights_per_core=0,
        pipeline_stage_ms=0.1,
        pipeline_balance=0.7,
        p95_over_p50=1.013,
    ),
}
FAMILY_COMPUTE_COST: dict[ModelFamily, float] = {
    ModelFamily.TRANSFORMER_ENCODER: 1,
    ModelFamily.TRANSFORMER_DECODER: 0.4295,
    ModelFamily.TRANSFORMER_ENCODER_DECODER: 1.41,
    ModelFamily.CNN: 1.449,
    ModelFamily.RCNN: 1,
    ModelFamily.LSTM: 1,
    ModelFamily.VISION_TRANSFORMER: 1.677,
    ModelFamily.DIFFUSION: 0.3444,
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
class DataParallel:
    """Where a training run's data-parallel ranks (model copies) sit. Their gradients are summed
    once per optimizer step, over `accumulation` micro-batches."""

    nodes: int = 1
    ranks_per_node: int = 1
    accumulation: int = 1


@dataclass(frozen=True)
class Work:
    """One execution of one model copy."""

    flops: float
    read_bytes: float
    rows: float  # rows each weight matrix sees: how busy the systolic array is
    activation_bytes: float  # hidden states one all-reduce carries
    collectives: int  # all-reduces in the execution (tensor parallel)


@dataclass(frozen=True)
class Machine:
    """What one model copy has to run on, at the occupancy the plan allows."""

    cores: int
    peak_flops: float  # per core
    bandwidth: float  # bytes/s one core draws
    constants: GenerationConstants
    compute_cost: float  # the family's cost per FLOP relative to a transformer's matmuls
    training: bool
    ring_bytes_per_second: float  # per core, for all-reduces among the copy's cores


def core_bandwidth(instance: InstanceType, busy_cores_per_chip: int, share: float) -> float:
    """Bytes/s one busy core draws, given how many of its chip's cores are busy."""
    if not instance.generation.bandwidth_shared_by_chip:
        return instance.bandwidth_gib_per_core * GIB
    chip = instance.bandwidth_gib_per_device * GIB
    return chip * min(share, 1.0 / max(1, busy_cores_per_chip))


def efficiency(peak: float, half_rows: float, rows: float) -> float:
    return peak * rows / (rows + half_rows)


def compute_ms(work: Work, machine: Machine) -> float:
    c = machine.constants
    peak = c.training_efficiency if machine.training else c.compute_efficiency
    rate = machine.cores * machine.peak_flops * efficiency(peak, c.half_saturation_rows, work.rows)
    return 1e3 * machine.compute_cost * work.flops / rate


def memory_ms(work: Work, machine: Machine) -> float:
    rate = machine.cores * machine.bandwidth * machine.constants.memory_efficiency
    return 1e3 * work.read_bytes / rate


def ring_bandwidth(instance: InstanceType, cores: int, c: GenerationConstants) -> float:
    """Bytes/s per core an all-reduce's ring moves: through device memory when the cores
    share one device, over NeuronLink (the fitted collective bandwidth) across devices."""
    if cores <= instance.cores_per_device:
        return instance.bandwidth_gib_per_core * GIB * c.memory_efficiency
    return c.collective_gbps * 1e9


def all_reduce_ms(activation_bytes: float, machine: Machine) -> float:
    """A tree's latency steps plus a ring's traffic per core."""
    degree = machine.cores
    if degree <= 1:
        return 0.0
    latency = machine.constants.collective_latency_us * 1e-3 * math.log2(degree)
    traffic = 2 * (degree - 1) / degree * activation_bytes / machine.ring_bytes_per_second
    return latency + traffic * 1e3


def gradient_sync_ms(
    profile: ModelProfile,
    instance: InstanceType,
    grouping: Grouping,
    layout: DataParallel,
    c: GenerationConstants,
) -> float:
    """The data-parallel gradient all-reduce of one training step, hierarchical as Neuron's
    collectives run it: a ring over NeuronLink among a node's ranks, each core carrying its
    tensor-parallel shard; then a ring across nodes over EFA, where each node's interfaces carry
    2(N-1)/N of one model copy's gradients. Summed once per optimizer step."""
    gradients = profile.parameters * profile.bytes_per_weight  # one model copy's
    shard = gradients / grouping.degree  # one core's: tensor parallelism splits the weights
    ms = 0.0
    ranks = layout.ranks_per_node
    if ranks > 1:
        ms += c.collective_latency_us * 1e-3 * math.log2(ranks)
        ms += 1e3 * 2 * (ranks - 1) / ranks * shard / (c.collective_gbps * 1e9)
    nodes = layout.nodes
    if nodes > 1:
        link = efa_bytes_per_second(instance, c)
        if link <= 0:
            return math.inf
        ms += c.collective_latency_us * 1e-3 * math.log2(nodes)
        ms += 1e3 * 2 * (nodes - 1) / nodes * gradients / link
    return ms / max(1, layout.accumulation)


def efa_bytes_per_second(instance: InstanceType, c: GenerationConstants) -> float:
    """What a node's EFA interfaces carry for collectives: the fitted share of the line rate."""
    return (instance.network_gbps or 0.0) * 1e9 / 8 * c.efa_efficiency


def stage_hops_ms(
    instance: InstanceType, nodes: int, activation_bytes: float, c: GenerationConstants
) -> float:
    """A forward pass through a copy pipelined across `nodes` nodes hands its activations from
    each stage to the next over EFA: nodes - 1 hops of one message each."""
    if nodes <= 1:
        return 0.0
    link = efa_bytes_per_second(instance, c)
    if link <= 0:
        return math.inf
    return (nodes - 1) * (c.collective_latency_us * 1e-3 + 1e3 * activation_bytes / link)


def execution_ms(work: Work, machine: Machine) -> float:
    c = machine.constants
    compute = compute_ms(work, machine)
    memory = memory_ms(work, machine)
    collectives = work.collectives * all_reduce_ms(work.activation_bytes, machine)
    return (
        c.overhead_ms
        + max(compute, memory)
        + c.overlap_penalty * min(compute, memory)
        + collectives
    )


def _machine(
    profile: ModelProfile,
    instance: InstanceType,
    cores: int,
    busy_cores_per_chip: int,
    c: GenerationConstants,
    compute_cost: float,
) -> Machine:
    training = profile.workload == Workload.TRAINING
    return Machine(
        cores=cores,
        peak_flops=instance.peak_share
        * instance.generation.peak_flops(profile.dtype, training=training),
        bandwidth=core_bandwidth(instance, busy_cores_per_chip, c.core_bandwidth_share),
        constants=c,
        compute_cost=compute_cost,
        training=training,
        ring_bytes_per_second=ring_bandwidth(instance, cores, c),
    )


def machine_for(
    profile: ModelProfile, instance: InstanceType, cores: int, busy_cores_per_chip: int
) -> Machine:
    """What one copy of `cores` cores runs on, with the fitted constants and family costs."""
    return _machine(
        profile,
        instance,
        cores,
        busy_cores_per_chip,
        constants_for(instance),
        FAMILY_COMPUTE_COST[profile.family],
    )


def uncached_bytes(profile: ModelProfile, cores: int, c: GenerationConstants) -> float:
    """Weight bytes one execution reads from DRAM: what the copy's cores cannot keep on chip
    (NeuronCore-v1; later generations stream weights, cached_weights_per_core = 0)."""
    cached = min(1.0, cores * c.cached_weights_per_core / profile.streamed_parameters)
    return profile.streamed_bytes * (1.0 - cached)


def _all_reduces_per_layer(profile: ModelProfile) -> int:
    # attention output and MLP output; an encoder-decoder's decoder adds cross-attention
    return 3 if profile.family == ModelFamily.TRANSFORMER_ENCODER_DECODER else 2


def _pipeline(
    profile: ModelProfile, machine: Machine, degree: int, batch: int
) -> tuple[float, float]:
    """Inf1 NeuronCore Pipeline: (latency ms, batches per second)."""
    c = machine.constants
    stage = Work(
        flops=batch * profile.flops_per_sample / degree,
        read_bytes=uncached_bytes(profile, degree, c) / degree,
        rows=batch * profile.rows_per_sample,
        activation_bytes=0.0,
        collectives=0,
    )
    one_core = replace(machine, cores=1)
    compute = compute_ms(stage, one_core)
    memory = memory_ms(stage, one_core)
    handoff = batch * profile.input_tokens * profile.hidden_size * ACTIVATION_BYTES
    handoff_ms = 1e3 * handoff / (machine.bandwidth * c.memory_efficiency)
    stage_ms = (
        c.pipeline_stage_ms
        + max(compute, memory)
        + c.overlap_penalty * min(compute, memory)
        + handoff_ms
    )
    latency = c.overhead_ms + degree * stage_ms
    return latency, c.pipeline_balance * 1e3 / stage_ms


def estimate(
    profile: ModelProfile,
    instance: InstanceType,
    grouping: Grouping,
    batch: int,
    busy_cores_per_chip: int,
    constants: GenerationConstants | None = None,
    family_costs: dict[ModelFamily, float] | None = None,
    requests_in_flight: int = REQUESTS_IN_FLIGHT,
    layout: DataParallel | None = None,
    machine: Machine | None = None,
) -> Performance:
    """Speed of one replica when `busy_cores_per_chip` cores of each of its chips are busy
    (the caller decides that from what the pod's resource request guarantees), with
    `requests_in_flight` requests kept in flight per model copy. A copy across nodes runs its
    stages one after another and hands activations between them (no credit is taken for
    pipelining several batches through them). Training: a step includes the
    gradient all-reduce among the data-parallel ranks `layout` places (default: the replica's
    own copies, on one node). `machine`: what machine_for gives for the copy's cores, when
    the caller keeps it (with the default constants and costs)."""
    c = constants or constants_for(instance)
    degree = grouping.degree
    if machine is None:
        cost = (family_costs or FAMILY_COMPUTE_COST)[profile.family]
        machine = _machine(profile, instance, degree, busy_cores_per_chip, c, cost)
    # Only transformer layers are split with all-reduces; another family's multi-core copy
    # (a diffusion pipeline over a device) is modelled as splitting its work without them.
    tensor = grouping.mode == ParallelismMode.TENSOR and degree > 1 and profile.family.transformer
    reduces = profile.layers * _all_reduces_per_layer(profile) if tensor else 0
    hidden_bytes = profile.hidden_size * ACTIVATION_BYTES

    if profile.workload == Workload.TRAINING:
        tokens = batch * profile.input_tokens
        step = execution_ms(
            Work(
                flops=3.0 * batch * profile.flops_per_sample,
                read_bytes=3.0 * profile.streamed_bytes,
                rows=batch * profile.rows_per_sample,
                activation_bytes=tokens * hidden_bytes,
                collectives=2 * reduces,
            ),
            machine,
        )
        ranks = layout or DataParallel(ranks_per_node=grouping.copies)
        step += gradient_sync_ms(profile, instance, grouping, ranks, c)
        return Performance(
            latency_p50_ms=step,
            latency_p95_ms=step * c.p95_over_p50,
            throughput_per_replica=grouping.copies * batch * 1e3 / step,
        )

    if profile.generative:
        prompt = batch * profile.input_tokens
        prefill = execution_ms(
            Work(
                flops=batch * profile.flops_per_sample,
                read_bytes=profile.streamed_bytes,
                rows=prompt,
                activation_bytes=prompt * hidden_bytes,
                collectives=reduces,
            ),
            machine,
        ) + stage_hops_ms(instance, grouping.nodes, prompt * hidden_bytes, c)
        context = profile.input_tokens + profile.output_tokens / 2
        step = execution_ms(
            Work(
                flops=batch * profile.decode_flops(context),
                read_bytes=profile.streamed_bytes * profile.decode_weights_fraction
                + profile.kv_cache_bytes(batch) * context / profile.sequence_length,
                rows=batch,
                activation_bytes=batch * hidden_bytes,
                collectives=reduces,
            ),
            machine,
        ) + stage_hops_ms(instance, grouping.nodes, batch * hidden_bytes, c)
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

    if grouping.mode == ParallelismMode.PIPELINE:
        latency, batches_per_second = _pipeline(profile, machine, degree, batch)
        return Performance(
            latency_p50_ms=latency,
            latency_p95_ms=latency * c.p95_over_p50,
            throughput_per_replica=batch * batches_per_second,
        )

    executions = profile.executions_per_sample
    rows = batch * profile.rows_per_sample
    latency = executions * execution_ms(
        Work(
            flops=batch * profile.flops_per_sample / executions,
            read_bytes=uncached_bytes(profile, degree, c),
            rows=rows,
            activation_bytes=rows * hidden_bytes,
            collectives=reduces,
        ),
        machine,
    ) + executions * stage_hops_ms(instance, grouping.nodes, rows * hidden_bytes, c)
    # With another request in flight, the host's share of the overhead runs while the device
    # works: a copy completes one execution per device time or host time, whichever is longer.
    period = latency
    if requests_in_flight > 1:
        hidden = executions * c.overhead_ms * c.overlapped_overhead
        period = max(latency - hidden, hidden)
    return Performance(
        latency_p50_ms=latency,
        latency_p95_ms=latency * c.p95_over_p50,
        throughput_per_replica=grouping.copies * batch * 1e3 / period,
    )
