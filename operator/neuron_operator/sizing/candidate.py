"""A candidate: one core grouping at one batch size on one instance type, sized into replicas
and nodes. `Draft` is what the checks see before the sizing; it sizes itself when a check
first asks, since most rejections stop at memory."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from neuron_operator.api.plan import NEURON_DEVICE_RESOURCE, NEURONCORE_RESOURCE, Fit, Option
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec, Workload
from neuron_operator.sizing.catalog import InstanceType
from neuron_operator.sizing.fit import FitJudgement
from neuron_operator.sizing.grouping import Grouping, GroupingRejection, enumerate_groupings
from neuron_operator.sizing.memory import MemoryFit, check_memory
from neuron_operator.sizing.performance import (
    DataParallel,
    Machine,
    Performance,
    estimate,
    machine_for,
)
from neuron_operator.sizing.profile import ModelProfile
from neuron_operator.sizing.uncertainty import Band, load_bands


# Not frozen: the search builds one for every option it sizes, and a frozen dataclass takes
# twice as long to build. Nothing changes a candidate once built.
@dataclass(slots=True)
class Candidate:
    instance: InstanceType
    grouping: Grouping
    batch: int
    replicas: int
    replicas_per_node: int  # a replica across nodes: 1 (its pod on each node takes the node)
    node_capacity: int  # replicas one node holds: what a node delivers at full use
    nodes: int
    performance: Performance
    memory: MemoryFit
    fit: FitJudgement
    whole_devices: bool  # the pod requests whole devices, not cores (see busy_cores_per_chip)
    band: Band  # how far off the estimate is likely to be (uncertainty.py)
    training: bool = False  # a training run: its latency is a step's, which nobody waits on
    # score() by (ranking, fits now): a candidate outlives its search in the model's memo.
    scores: dict[tuple[object, bool], tuple[float, ...]] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )
    # explain.to_option's answer without a cluster in view (it depends on nothing else).
    option: Option | None = field(init=False, default=None, repr=False, compare=False)
    throughput: float = field(init=False)  # all replicas, per second
    hourly_cost: float | None = field(init=False)  # nodes × on-demand price
    cost_per_million: float | None = field(init=False)  # at full use

    def __post_init__(self) -> None:
        throughput = self.replicas * self.performance.throughput_per_replica
        price = self.instance.price_per_hour
        cost = None if price is None else self.nodes * price
        per_million = None if cost is None else cost / (throughput * 3600) * 1e6
        self.throughput = throughput
        self.hourly_cost = cost
        self.cost_per_million = per_million

    @property
    def devices_per_replica(self) -> int:
        return devices_spanned(self.instance, self.grouping)

    @property
    def node_throughput(self) -> float:
        """Inferences/s of one node filled with these replicas: what an instance paid for
        delivers at full use (one replica of a few cores on a large node wastes the rest)."""
        return self.node_capacity * self.performance.throughput_per_replica / self.grouping.nodes

    @property
    def latency_p95_range(self) -> tuple[float, float]:
        """The likely range of the p95 latency; SLOs are checked at its high end."""
        return self.band.time(self.performance.latency_p95_ms)

    @property
    def throughput_range(self) -> tuple[float, float]:
        """The likely range of all replicas' throughput; replicas are sized at its low end."""
        return self.band.rate(self.throughput)

    @property
    def resources(self) -> dict[str, int]:
        """The extended resources each pod requests: what the estimate relies on."""
        if self.whole_devices:
            return {NEURON_DEVICE_RESOURCE: self.devices_per_replica}
        return {NEURONCORE_RESOURCE: self.grouping.cores}

    @property
    def fit_model(self) -> Fit:
        return Fit(verdict=self.fit.verdict, message=self.fit.message)


def _replicas(spec: NeuronDeploymentSpec, per_replica: float, band: Band) -> int:
    """Enough replicas for slo.throughput at the pessimistic end of their likely throughput."""
    if spec.overrides.replicas is not None:
        return spec.overrides.replicas
    target = spec.slo.throughput
    if target is None:
        return 1
    pessimistic = band.rate(per_replica)[0]
    return max(1, math.ceil(target / pessimistic - 1e-9))


# Beyond this many nodes the engine does not plan a training run: the published Trainium
# runs use 16 to 32, and a target needing more is better met by asking for less.
MAX_TRAINING_NODES = 128


def devices_spanned(instance: InstanceType, grouping: Grouping) -> int:
    """Neuron devices a replica's cores span (cores may share a device)."""
    return math.ceil(grouping.cores / instance.cores_per_device)


def busy_cores_per_chip(instance: InstanceType, grouping: Grouping, whole_devices: bool) -> int:
    """The busiest the replica's chips can be, given what its pod requests. Cores
    (aws.amazon.com/neuroncore) leave the scheduler free to put other pods on the rest of
    each chip, so the estimate assumes every core of the chip is busy. Whole devices
    (aws.amazon.com/neuron) keep them away: only the replica's own cores are busy."""
    if whole_devices:
        return min(instance.cores_per_device, grouping.cores)
    return instance.cores_per_device


def may_request_whole_devices(instance: InstanceType, grouping: Grouping) -> bool:
    """Whether whole devices would change the estimate: only where a chip's cores share its
    bandwidth (Inf1) and the replica leaves some of the chip to others."""
    return (
        instance.generation.bandwidth_shared_by_chip and grouping.cores < instance.cores_per_device
    )


class Memo:
    """Per-search cache: sizes of one instance family have identical cores, so a grouping's
    memory fit and speed are computed once per core shape, not once per instance size."""

    def __init__(self, profile: ModelProfile, leader_worker_set: bool = True) -> None:
        self.profile = profile
        # Whether replicas may span nodes: the cluster runs LeaderWorkerSet (checks.py).
        self.leader_worker_set = leader_worker_set
        self._bands: dict[str, Band] = {}
        # By core shape and grouping, then by batch: one hashed lookup per grouping a search
        # tries, not one per batch (the search's innermost loop).
        self._memory: dict[tuple[object, ...], dict[int, MemoryFit]] = {}
        self._speed: dict[tuple[object, ...], Performance] = {}
        self._machines: dict[tuple[object, ...], Machine] = {}
        self._sized: dict[tuple[object, ...], dict[int, Candidate]] = {}
        self._groupings: dict[
            tuple[InstanceType, int | None], tuple[list[Grouping], list[GroupingRejection]]
        ] = {}

    def sized(self, key: tuple[object, ...]) -> dict[int, Candidate]:
        """The candidates sized so far for `key` (an instance type, grouping, whole devices and
        what sizing reads of the spec: Draft.candidate), by batch; filled by the drafts. Specs
        of one model ask for few distinct throughputs; past SIZED_KEPT keys the oldest half is
        dropped."""
        found = self._sized.get(key)
        if found is None:
            if len(self._sized) >= SIZED_KEPT:
                for old in list(self._sized)[: SIZED_KEPT // 2]:
                    self._sized.pop(old, None)  # reconciles plan in parallel threads
            found = self._sized[key] = {}
        return found

    def groupings(
        self, instance: InstanceType, pinned_cores: int | None
    ) -> tuple[list[Grouping], list[GroupingRejection]]:
        """The core groupings of the model on `instance` (grouping.enumerate_groupings)."""
        key = (instance, pinned_cores)
        found = self._groupings.get(key)
        if found is None:
            found = enumerate_groupings(self.profile, instance, pinned_cores)
            self._groupings[key] = found
        return found

    def memory_by_batch(
        self, instance: InstanceType, grouping: Grouping
    ) -> Callable[[int], MemoryFit]:
        """The memory fit of `grouping` on `instance`'s cores, as a function of the batch."""
        key = (instance.core_shape, grouping.key)
        fits = self._memory.get(key)
        if fits is None:
            fits = self._memory[key] = {}
        profile = self.profile

        def at(batch: int) -> MemoryFit:
            found = fits.get(batch)
            if found is None:
                found = fits[batch] = check_memory(
                    profile, instance, grouping.degree, grouping.copies, batch, grouping.nodes
                )
            return found

        return at

    def band(self, instance: InstanceType) -> Band:
        generation = instance.core_version
        found = self._bands.get(generation)
        if found is None:
            profile = self.profile
            found = load_bands().band(
                profile.family, generation, profile.workload, profile.flops_estimated
            )
            self._bands[generation] = found
        return found

    def speed(
        self,
        instance: InstanceType,
        grouping: Grouping,
        batch: int,
        busy: int,
        layout: DataParallel | None = None,
    ) -> Performance:
        # A layout across nodes depends on the size's network, not only its core shape.
        shape = instance.name if layout is not None and layout.nodes > 1 else instance.core_shape
        key = (shape, grouping.key, batch, busy, layout)
        found = self._speed.get(key)
        if found is None:
            # What one copy runs on is the same at every batch: built once per grouping.
            on = (instance.core_shape, grouping.degree, busy)
            machine = self._machines.get(on)
            if machine is None:
                machine = self._machines[on] = machine_for(
                    self.profile, instance, grouping.degree, busy
                )
            found = estimate(
                self.profile, instance, grouping, batch, busy, layout=layout, machine=machine
            )
            self._speed[key] = found
        return found


# Groupings with sized candidates (up to one per batch each) one model's memo keeps: a hundred
# or so per distinct throughput asked for.
SIZED_KEPT = 3_000
# Models a process keeps the computations of (an operator plans the same few models again and
# again: every reconcile of a changed spec, every fallback, every `plan --cluster`).
SHARED_MODELS = 256


@lru_cache(maxsize=SHARED_MODELS)
def shared_memo(profile: ModelProfile, leader_worker_set: bool = True) -> Memo:
    """The Memo of a model, kept across searches: what it holds depends only on the model and
    the catalog's core shapes, never on the spec's objective, SLOs, prices or the cluster."""
    return Memo(profile, leader_worker_set)


class Ladder:
    """What the drafts of one core grouping on one instance type share across batch sizes:
    its memory fits and its sized candidates, looked up once for the grouping."""

    __slots__ = ("_basis", "grouping", "instance", "memo", "memory", "sized", "whole_devices")

    def __init__(
        self,
        spec: NeuronDeploymentSpec,
        memo: Memo,
        instance: InstanceType,
        grouping: Grouping,
        whole_devices: bool,
    ) -> None:
        self.memo, self.instance, self.grouping = memo, instance, grouping
        self.whole_devices = whole_devices
        self._basis: tuple[int, int, Band] | None = None
        self.memory = memo.memory_by_batch(instance, grouping)
        # What sizing reads besides the model: the option, and of the spec only the replicas
        # it pins and the throughput it asks for (Draft._size, _size_training).
        self.sized = memo.sized(
            (instance, grouping.key, whole_devices, spec.overrides.replicas, spec.slo.throughput)
        )

    def basis(self) -> tuple[int, int, Band]:
        """What sizing the grouping at any batch starts from: replicas one node holds, the
        cores busy on each of its chips, and the estimate's likely range."""
        if self._basis is None:
            instance, grouping = self.instance, self.grouping
            if self.whole_devices:
                capacity = instance.allocatable_neuron // devices_spanned(instance, grouping)
            else:
                capacity = instance.allocatable_neuroncore // grouping.cores
            if instance.max_pods is not None:
                capacity = min(capacity, instance.max_pods)
            # The estimate holds whatever else the scheduler puts beside the replica: it
            # depends on the request, never on how many replicas the plan places on a node.
            busy = busy_cores_per_chip(instance, grouping, self.whole_devices)
            self._basis = capacity, busy, self.memo.band(instance)
        return self._basis


class Draft:
    """One core grouping at one batch size on one instance type: what the per-candidate checks
    read. Its memory fit is known from the start; the candidate it makes is sized on first use."""

    __slots__ = (
        "_candidate",
        "_ladder",
        "batch",
        "fit",
        "grouping",
        "instance",
        "memo",
        "memory",
        "spec",
        "whole_devices",
    )

    def __init__(
        self, spec: NeuronDeploymentSpec, fit: FitJudgement, ladder: Ladder, batch: int
    ) -> None:
        self.spec, self.fit, self.batch = spec, fit, batch
        # The ladder's, as plain attributes: the checks read them for every draft.
        self.memo, self.instance, self.grouping = ladder.memo, ladder.instance, ladder.grouping
        self.whole_devices = ladder.whole_devices
        self.memory = ladder.memory(batch)
        self._ladder = ladder
        self._candidate: Candidate | None = None

    @property
    def candidate(self) -> Candidate:
        if self._candidate is None:
            sized = self._ladder.sized
            found = sized.get(self.batch)
            if found is None:
                found = sized[self.batch] = self._size()
            self._candidate = found
        return self._candidate

    def _size(self) -> Candidate:
        instance, grouping, batch = self.instance, self.grouping, self.batch
        capacity, busy, band = self._ladder.basis()
        if self.memo.profile.workload == Workload.TRAINING:
            replicas, performance = self._size_training(capacity, busy, band)
        else:
            performance = self.memo.speed(instance, grouping, batch, busy)
            replicas = _replicas(self.spec, performance.throughput_per_replica, band)
        return Candidate(
            instance=instance,
            grouping=grouping,
            batch=batch,
            replicas=replicas,
            replicas_per_node=min(replicas, capacity),
            node_capacity=capacity,
            nodes=math.ceil(replicas / capacity) * grouping.nodes,
            performance=performance,
            memory=self.memory,
            fit=self.fit,
            whole_devices=self.whole_devices,
            band=band,
            training=self.memo.profile.workload == Workload.TRAINING,
        )

    def _size_training(self, capacity: int, busy: int, band: Band) -> tuple[int, Performance]:
        """A training run takes whole nodes (its Job's workers request every device), and every
        step sums the gradients of all of them, so the speed of a replica depends on how many
        nodes there are: the fewest nodes that meet slo.throughput at the pessimistic end,
        with the all-reduce across them counted. Without EFA there is no second node."""
        instance, grouping, batch = self.instance, self.grouping, self.batch

        def at(nodes: int, replicas: int) -> Performance:
            layout = DataParallel(nodes, min(replicas, capacity) * grouping.copies)
            return self.memo.speed(instance, grouping, batch, busy, layout)

        pinned = self.spec.overrides.replicas
        if pinned is not None:
            return pinned, at(math.ceil(pinned / capacity), pinned)
        target = self.spec.slo.throughput
        one_node = at(1, capacity)
        if target is None:
            return capacity, one_node
        # Start where the first node's speed says; the all-reduce only slows each node
        # further, so count up from there.
        per_node = band.rate(capacity * one_node.throughput_per_replica)[0]
        nodes = max(1, math.ceil(target / per_node - 1e-9))
        if nodes > 1 and not instance.efa_interfaces:
            return nodes * capacity, one_node  # refused: no EFA (checks._trains_across_nodes)
        while True:
            nodes = min(nodes, MAX_TRAINING_NODES)
            performance = at(nodes, nodes * capacity)
            total = band.rate(nodes * capacity * performance.throughput_per_replica)[0]
            if total >= target - 1e-9 or nodes == MAX_TRAINING_NODES:
                return nodes * capacity, performance
            nodes = max(nodes + 1, math.ceil(nodes * target / total))
