"""Memory fit: does one model copy fit in the device memory its cores own?

Rules (facts §3.1, §3.2): weights + KV cache (+ activations and a runtime reserve) must be
smaller than the memory of the cores holding the copy — 16 GiB per NeuronCore on Inf2/Trn1,
24 GiB per logical core on Trn2, and on Inf1 the chip's 8 GiB shared by its 4 cores (2 GiB
each when every core holds a copy). Inf1's compilers also cap a compiled model's weights at
2 GB (protobuf limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neuron_operator.api.plan import Memory
from neuron_operator.api.v1alpha1 import Workload
from neuron_operator.sizing.catalog import GIB, InstanceType
from neuron_operator.sizing.profile import ModelProfile

# The runtime keeps ~96 MB of model micro-code per physical NeuronCore
# (aws-neuron-sdk neuron-runtime/explore/device-memory.rst); we add 256 MiB per model copy
# for NEFF scratchpad and I/O tensors — an engine assumption, documented in docs/sizing.md.
MICROCODE_BYTES_PER_PHYSICAL_CORE = 96 * 2**20
SCRATCH_BYTES_PER_COPY = 256 * 2**20
INF1_MAX_COMPILED_WEIGHTS = 2e9  # bytes


@dataclass(frozen=True)
class MemoryFit:
    """Bytes one model copy needs, the bytes its cores own, and how many copies a replica runs."""

    weights: float
    kv_cache: float
    activations: float
    reserve: float
    available: float
    copies: int
    # Read by every candidate of the search: computed once.
    required: float = field(init=False)
    fits: bool = field(init=False)

    def __post_init__(self) -> None:
        required = self.weights + self.kv_cache + self.activations + self.reserve
        object.__setattr__(self, "required", required)
        object.__setattr__(self, "fits", required <= self.available)

    def per_replica(self) -> Memory:
        def gib(value: float) -> float:
            return round(value * self.copies / GIB, 3)

        return Memory(
            weights_gib=gib(self.weights),
            kv_cache_gib=gib(self.kv_cache),
            activations_gib=gib(self.activations),
            runtime_reserve_gib=gib(self.reserve),
            required_gib=gib(self.required),
            available_gib=gib(self.available),
        )


def copy_requirement(
    profile: ModelProfile, instance: InstanceType, degree: int, batch: int, stages: int = 1
) -> tuple[float, float, float, float]:
    """Bytes (weights, kv, activations, reserve) one model copy spread over `degree` cores
    needs; split into `stages` pipeline stages (one per node), what one stage's cores need."""
    if profile.workload == Workload.TRAINING:
        weights = profile.training_state_bytes()
        kv = 0.0
        activations = profile.training_activation_bytes(batch) / degree
    else:
        weights = profile.weight_bytes
        # KV heads are split over the TP degree, but never below one head per core
        # (with fewer KV heads than cores they are replicated).
        kv_shards = min(degree, profile.kv_heads)
        kv = profile.kv_cache_bytes(batch) * degree / kv_shards
        activations = profile.activation_bytes(batch)
    weights, kv = weights / stages, kv / stages  # each stage holds its layers and their cache
    reserve = (
        MICROCODE_BYTES_PER_PHYSICAL_CORE * instance.physical_cores_per_core * degree
        + SCRATCH_BYTES_PER_COPY
    )
    return weights, kv, activations, reserve


def check_memory(
    profile: ModelProfile,
    instance: InstanceType,
    degree: int,
    copies: int,
    batch: int,
    stages: int = 1,
) -> MemoryFit:
    """One node's share: with `stages` > 1 a copy spans that many nodes, a stage on each."""
    weights, kv, activations, reserve = copy_requirement(profile, instance, degree, batch, stages)
    available = instance.memory_gib_per_core * degree * GIB
    return MemoryFit(weights, kv, activations, reserve, available, copies)


def exceeds_inf1_compile_limit(profile: ModelProfile, instance: InstanceType) -> bool:
    return instance.core_version == "v1" and profile.weight_bytes > INF1_MAX_COMPILED_WEIGHTS
