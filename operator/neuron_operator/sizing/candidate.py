"""A candidate: one core grouping at one batch size on one instance type, sized into replicas
and nodes. `Draft` is what the checks see before the sizing; it sizes itself when a check
first asks, since most rejections stop at memory."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from neuron_operator.api.plan import Fit
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec
from neuron_operator.sizing.catalog import InstanceType
from neuron_operator.sizing.fit import FitJudgement
from neuron_operator.sizing.grouping import Grouping
from neuron_operator.sizing.memory import MemoryFit, check_memory
from neuron_operator.sizing.performance import Performance, estimate
from neuron_operator.sizing.profile import ModelProfile


# Not frozen: the search builds one for every option it sizes, and a frozen dataclass takes
# twice as long to build. Nothing changes a candidate once built.
@dataclass(slots=True)
class Candidate:
    instance: InstanceType
    grouping: Grouping
    batch: int
    replicas: int
    replicas_per_node: int
    nodes: int
    performance: Performance
    memory: MemoryFit
    fit: FitJudgement
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
        return math.ceil(self.grouping.cores / self.instance.cores_per_device)

    @property
    def fit_model(self) -> Fit:
        return Fit(verdict=self.fit.verdict, message=self.fit.message)


def _replicas(spec: NeuronDeploymentSpec, per_replica: float) -> int:
    if spec.overrides.replicas is not None:
        return spec.overrides.replicas
    target = spec.slo.throughput
    if target is None:
        return 1
    return max(1, math.ceil(target / per_replica - 1e-9))


def _busy_cores_per_chip(instance: InstanceType, grouping: Grouping, replicas_on_node: int) -> int:
    """At full use every core of every planned replica is busy; replicas pack contiguously."""
    return max(1, min(instance.cores_per_device, replicas_on_node * grouping.cores))


class Memo:
    """Per-search cache: sizes of one instance family have identical cores, so a grouping's
    memory fit and speed are computed once per core shape, not once per instance size."""

    def __init__(self, profile: ModelProfile) -> None:
        self.profile = profile
        self._memory: dict[tuple[object, ...], MemoryFit] = {}
        self._speed: dict[tuple[object, ...], Performance] = {}

    def memory(self, instance: InstanceType, grouping: Grouping, batch: int) -> MemoryFit:
        key = (instance.core_shape, grouping.key, batch)
        found = self._memory.get(key)
        if found is None:
            found = check_memory(self.profile, instance, grouping.degree, grouping.copies, batch)
            self._memory[key] = found
        return found

    def speed(
        self, instance: InstanceType, grouping: Grouping, batch: int, busy: int
    ) -> Performance:
        key = (instance.core_shape, grouping.key, batch, busy)
        found = self._speed.get(key)
        if found is None:
            found = estimate(self.profile, instance, grouping, batch, busy)
            self._speed[key] = found
        return found


class Draft:
    """One core grouping at one batch size on one instance type: what the per-candidate checks
    read. Its memory fit is known from the start; the candidate it makes is sized on first use."""

    __slots__ = ("_candidate", "batch", "fit", "grouping", "instance", "memo", "memory", "spec")

    def __init__(
        self,
        spec: NeuronDeploymentSpec,
        memo: Memo,
        instance: InstanceType,
        fit: FitJudgement,
        grouping: Grouping,
        batch: int,
    ) -> None:
        self.spec, self.memo, self.instance, self.fit = spec, memo, instance, fit
        self.grouping, self.batch = grouping, batch
        self.memory = memo.memory(instance, grouping, batch)
        self._candidate: Candidate | None = None

    @property
    def candidate(self) -> Candidate:
        if self._candidate is None:
            self._candidate = self._size()
        return self._candidate

    def _size(self) -> Candidate:
        instance, grouping, batch, memo = self.instance, self.grouping, self.batch, self.memo
        capacity = instance.allocatable_neuroncore // grouping.cores
        if instance.max_pods is not None:
            capacity = min(capacity, instance.max_pods)
        # Size conservatively with a fully packed node, then estimate at the planned occupancy
        # (which only changes the figures where cores share bandwidth: Inf1).
        busy_full = _busy_cores_per_chip(instance, grouping, capacity)
        performance = memo.speed(instance, grouping, batch, busy_full)
        replicas = _replicas(self.spec, performance.throughput_per_replica)
        on_node = min(replicas, capacity)
        busy = _busy_cores_per_chip(instance, grouping, on_node)
        if busy != busy_full and instance.generation.bandwidth_shared_by_chip:
            performance = memo.speed(instance, grouping, batch, busy)
        return Candidate(
            instance=instance,
            grouping=grouping,
            batch=batch,
            replicas=replicas,
            replicas_per_node=on_node,
            nodes=math.ceil(replicas / capacity),
            performance=performance,
            memory=self.memory,
            fit=self.fit,
        )
