"""Core groupings: how a replica's NeuronCores are used, and which shapes can be placed.

- data: one model copy per core (`copies` copies per replica);
- pipeline (Inf1 only): one copy sharded over `degree` cores with NeuronCore Pipeline, starting
  from Neuron's rule of thumb 4 * round(weights / 2e7) and searching around it;
- tensor (Inf2/Trn): every layer split over `degree` cores, at the degrees each family supports
  (NxD Inference feature guide), dividing the attention heads when they are known;
- across nodes (`nodes` > 1, serving only): a model too large for one node's memory runs
  tensor parallel over all of each node's cores and pipeline parallel across `nodes` nodes
  of one EFA-capable type, as vLLM multi-node serving is set up (tensor parallel size = the
  accelerators of a node, pipeline parallel size = the nodes); Kubernetes runs such a replica
  as a LeaderWorkerSet group.
Placement (facts §2.3, §3.4): one or all cores of a node are always placeable; within a device
any count; across devices, Inf1/Inf2 rings take any contiguous device count, Trn1/Trn2 tori
only groups of 1, 4, 8 or 16 devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neuron_operator.api.plan import ParallelismMode
from neuron_operator.api.reasons import ReasonCode
from neuron_operator.api.v1alpha1 import ModelFamily, Workload
from neuron_operator.sizing.catalog import GIB, InstanceType
from neuron_operator.sizing.memory import check_memory
from neuron_operator.sizing.profile import ModelProfile

F = ModelFamily
# Families whose layers the serving/training libraries can split with tensor parallelism.
_TENSOR_FAMILIES = {
    F.TRANSFORMER_ENCODER,
    F.TRANSFORMER_DECODER,
    F.TRANSFORMER_ENCODER_DECODER,
    F.VISION_TRANSFORMER,
    F.DIFFUSION,
}


@dataclass(frozen=True)
class Grouping:
    mode: ParallelismMode
    degree: int  # cores per model copy (on each node, when it spans nodes)
    copies: int  # model copies per replica
    nodes: int = 1  # nodes one model copy spans: its pipeline stages, one per node
    # Derived once, as the search reads them for every candidate: the core count of a pod,
    # and the grouping as plain values (a cache key hashed and compared without Python calls).
    cores: int = field(init=False, repr=False, compare=False)
    key: tuple[str, int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cores", self.degree * self.copies)
        object.__setattr__(self, "key", (self.mode.value, self.degree, self.copies, self.nodes))

    def describe(self) -> str:
        """The grouping in words, for messages about it: "2 data-parallel copies of 1 core",
        "a tensor-parallel group of 8 cores", "a NeuronCore Pipeline of 16 cores"."""
        cores = f"{self.degree} core{'' if self.degree == 1 else 's'}"
        if self.nodes > 1:
            return f"a tensor-parallel group of {cores} on each of {self.nodes} nodes"
        if self.mode == ParallelismMode.DATA:
            return f"{self.copies} data-parallel cop{'y' if self.copies == 1 else 'ies'} of {cores}"
        unit = (
            "tensor-parallel group"
            if self.mode == ParallelismMode.TENSOR
            else "NeuronCore Pipeline"
        )
        if self.copies == 1:
            return f"a {unit} of {cores}"
        return f"{self.copies} {unit}s of {cores}"


@dataclass(frozen=True)
class GroupingRejection:
    grouping: Grouping
    reason: ReasonCode
    message: str

    @property
    def cores(self) -> int:
        return self.grouping.cores


def placement_problem(instance: InstanceType, cores: int) -> str | None:
    """Why a container asking for `cores` NeuronCores can never be placed on `instance`."""
    node_cores = instance.allocatable_neuroncore
    if cores > node_cores:
        return f"{cores} cores per replica, but {instance.name} has {node_cores}"
    if cores == node_cores or cores <= instance.cores_per_device:
        return None
    if cores % instance.cores_per_device:
        return (
            f"{cores} cores would split a device of {instance.cores_per_device} cores; "
            f"use a multiple of {instance.cores_per_device}"
        )
    devices = cores // instance.cores_per_device
    if devices not in instance.device_groups:
        groups = ", ".join(str(g) for g in instance.device_groups)
        return (
            f"the Neuron scheduler places only groups of {groups} devices on {instance.name}, "
            f"not {devices}"
        )
    return None


def pipeline_degrees(parameters: int, node_cores: int) -> list[int]:
    """Neuron's rule of thumb, 4 * round(weights / 2e7), and whole chips (multiples of 4 cores)
    from half to twice it: the rule is a starting point, the right length is found by trial
    (Neuron benchmarks BERT-base, 110 M weights, on 16 cores where the rule says 24)."""
    start = max(4, 4 * round(parameters / 2e7))
    high = min(node_cores, 2 * start)
    low = min(high, max(4, start // 2))
    candidates = {d for d in range(low - low % 4, high + 1, 4) if d >= 4}
    if parameters < 1e7:
        candidates.add(2)  # round() gives 0 below 10 M weights: a 2-core pipeline is the floor
    return sorted(d for d in candidates if d <= node_cores)


# Published tensor-parallel runs of non-generative models stop at 8 cores (FLUX.1 on
# inf2.24xlarge, optimum-neuron); beyond that the engine has no evidence TP keeps scaling.
MAX_NON_GENERATIVE_TP = 8


def _tensor_degrees(profile: ModelProfile, instance: InstanceType) -> list[int]:
    """TP degrees worth trying. Generative models and training: every supported degree.
    Encoders and vision transformers are served data parallel (every Neuron benchmark of
    them is), so TP is tried only when a copy would not fit one core; diffusion pipelines are
    split over up to 8 cores."""
    degrees = [d for d in instance.tensor_parallel_degrees if d >= 2]
    if profile.generative or profile.workload == Workload.TRAINING:
        return degrees
    if profile.family == ModelFamily.DIFFUSION:
        return [d for d in degrees if d <= MAX_NON_GENERATIVE_TP]
    if profile.weight_bytes < instance.memory_gib_per_core * GIB / 2:
        return []
    return [d for d in degrees if d <= MAX_NON_GENERATIVE_TP]


def _candidates(profile: ModelProfile, instance: InstanceType) -> list[Grouping]:
    per_device = instance.cores_per_device
    node_cores = instance.allocatable_neuroncore
    v1 = instance.core_version == "v1"
    groupings = [Grouping(ParallelismMode.DATA, 1, c) for c in {1, per_device}]
    if profile.workload == Workload.TRAINING:
        groupings.append(Grouping(ParallelismMode.DATA, 1, node_cores))
    if v1:
        groupings += [
            Grouping(ParallelismMode.PIPELINE, d, 1)
            for d in pipeline_degrees(profile.parameters, node_cores)
        ]
    elif profile.family in _TENSOR_FAMILIES:
        for degree in _tensor_degrees(profile, instance):
            groupings.append(Grouping(ParallelismMode.TENSOR, degree, 1))
            if profile.workload == Workload.TRAINING and node_cores // degree > 1:
                groupings.append(Grouping(ParallelismMode.TENSOR, degree, node_cores // degree))
        groupings += _across_nodes(profile, instance)
    return groupings


# Nodes one model copy may span. Published multi-node Neuron serving runs 2 (Llama 3.1 405B
# on trn1.32xlarge); beyond 8 the hops between stages dominate a token's time.
MAX_NODES_PER_REPLICA = 8


def _across_nodes(profile: ModelProfile, instance: InstanceType) -> list[Grouping]:
    """Serving a model too large for one node's memory: tensor parallel over the whole node,
    pipeline stages across 2..8 nodes of an EFA-capable type (the stages exchange activations
    over EFA; without it there is no multi-node collective on Neuron)."""
    node_cores = instance.allocatable_neuroncore
    if (
        profile.workload == Workload.TRAINING
        or profile.family not in _TENSOR_FAMILIES
        or not instance.efa_interfaces
        or node_cores not in instance.tensor_parallel_degrees
        or check_memory(profile, instance, node_cores, 1, 1).fits
    ):
        return []
    return [
        Grouping(ParallelismMode.TENSOR, node_cores, 1, nodes)
        for nodes in range(2, MAX_NODES_PER_REPLICA + 1)
    ]


def _pinned(instance: InstanceType, cores: int) -> list[Grouping]:
    """Every way to use exactly `cores` cores per replica that the generation supports."""
    groupings = [Grouping(ParallelismMode.DATA, 1, cores)]
    if instance.core_version == "v1" and cores >= 2:
        groupings.append(Grouping(ParallelismMode.PIPELINE, cores, 1))
    elif cores >= 2:
        groupings += [
            Grouping(ParallelismMode.TENSOR, d, cores // d)
            for d in instance.tensor_parallel_degrees
            if d >= 2 and cores % d == 0
        ]
    return groupings


def enumerate_groupings(
    profile: ModelProfile, instance: InstanceType, pinned_cores: int | None
) -> tuple[list[Grouping], list[GroupingRejection]]:
    if pinned_cores is not None:
        candidates = _pinned(instance, pinned_cores)
        if profile.family not in _TENSOR_FAMILIES:
            candidates = [g for g in candidates if g.mode != ParallelismMode.TENSOR]
    else:
        candidates = _candidates(profile, instance)
    rejected: list[GroupingRejection] = []
    accepted: list[Grouping] = []
    for grouping in dict.fromkeys(candidates):
        problem = placement_problem(instance, grouping.cores)
        if problem:
            # Placement depends on the core count alone: the message speaks of the count.
            rejected.append(
                GroupingRejection(grouping, ReasonCode.CORE_GROUP_NOT_PLACEABLE, problem)
            )
            continue
        if (
            grouping.mode == ParallelismMode.TENSOR
            and profile.heads_known
            and profile.attention_heads % grouping.degree
        ):
            rejected.append(
                GroupingRejection(
                    grouping,
                    ReasonCode.HEADS_NOT_DIVISIBLE,
                    f"{grouping.describe()} cannot split the model's {profile.attention_heads} "
                    "attention heads evenly",
                )
            )
            continue
        accepted.append(grouping)
    return accepted, rejected
