"""Enumerate every placement, size replicas and nodes, and keep what meets the request.

Each candidate passes small checks in order — constraints, architecture fit, dtype, Inf1's
compile limit, core grouping, memory, latency SLO, replica limit, budget — and the first that
fails becomes its rejection (a reason code and a message). Survivors are ranked by the
objective (see objective.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from neuron_operator.api.plan import Fit
from neuron_operator.api.reasons import ReasonCode
from neuron_operator.api.v1alpha1 import MAX_REPLICAS, NeuronDeploymentSpec, Objective
from neuron_operator.sizing.catalog import Catalog, InstanceType
from neuron_operator.sizing.fit import FitJudgement, judge_dtype, judge_fit
from neuron_operator.sizing.grouping import Grouping, enumerate_groupings
from neuron_operator.sizing.memory import INF1_MAX_COMPILED_WEIGHTS, MemoryFit, check_memory
from neuron_operator.sizing.memory import exceeds_inf1_compile_limit as too_big_for_inf1
from neuron_operator.sizing.performance import Performance, estimate
from neuron_operator.sizing.profile import ModelProfile

# Batch sizes tried when the spec does not fix one. Neuron's LLM guidance: "up to batch=256.
# A larger batch-size typically does not help"; beyond 64 the gains are small everywhere in the
# published tables, so the search stops there.
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
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
        object.__setattr__(self, "throughput", throughput)
        object.__setattr__(self, "hourly_cost", cost)
        object.__setattr__(self, "cost_per_million", per_million)

    @property
    def devices_per_replica(self) -> int:
        return math.ceil(self.grouping.cores / self.instance.cores_per_device)

    @property
    def fit_model(self) -> Fit:
        return Fit(verdict=self.fit.verdict, message=self.fit.message)


@dataclass(frozen=True)
class Rejected:
    instance: str
    reason: ReasonCode
    message: str
    cores: int | None = None
    batch: int | None = None
    # How far the candidate got: later checks mean it was closer to being chosen.
    stage: int = 0
    # The figure that failed the check (p95 ms, replicas, USD/h, GiB), to say how far off it was.
    value: float | None = None


@dataclass
class Search:
    candidates: list[Candidate]
    rejected: list[Rejected]


def _constraint_problem(spec: NeuronDeploymentSpec, instance: InstanceType) -> str | None:
    pinned = spec.overrides.instance_type
    if pinned is not None and instance.name != pinned:
        return f"overrides.instanceType pins {pinned}"
    families = spec.constraints.instance_families
    if families is not None and instance.family not in families:
        return f"constraints.instanceFamilies allows only {', '.join(f.value for f in families)}"
    types = spec.constraints.instance_types
    if types is not None and instance.name not in types:
        return f"constraints.instanceTypes allows only {', '.join(types)}"
    return None


def _instance_problem(
    spec: NeuronDeploymentSpec, profile: ModelProfile, instance: InstanceType
) -> tuple[FitJudgement, Rejected | None]:
    fit = judge_fit(profile.family, spec.workload, instance)
    name = instance.name
    problem = _constraint_problem(spec, instance)
    if problem:
        return fit, Rejected(name, ReasonCode.EXCLUDED_BY_CONSTRAINTS, problem, stage=0)
    if not fit.allowed:
        return fit, Rejected(name, fit.reason, fit.message, stage=1)
    dtype = judge_dtype(profile.dtype, instance)
    if dtype is not None:
        return fit, Rejected(name, dtype.reason, dtype.message, stage=1)
    if too_big_for_inf1(profile, instance):
        return fit, Rejected(
            name,
            ReasonCode.EXCEEDS_INF1_COMPILE_LIMIT,
            f"{profile.weight_bytes / 1e9:.1f} GB of weights exceed the "
            f"{INF1_MAX_COMPILED_WEIGHTS / 1e9:.0f} GB that Inf1's compilers can serialize; "
            "allow inf2 or trn1",
            stage=1,
        )
    if (
        spec.objective == Objective.COST or spec.budget.max_hourly_cost is not None
    ) and instance.price_per_hour is None:
        why = "the cost objective" if spec.objective == Objective.COST else "budget.maxHourlyCost"
        return fit, Rejected(
            name,
            ReasonCode.PRICE_UNKNOWN,
            f"no public on-demand price for {name}, so {why} cannot be evaluated; pin it "
            "with overrides.instanceType and objective latency or throughput",
            stage=1,
        )
    return fit, None


def _batches(spec: NeuronDeploymentSpec) -> tuple[int, ...]:
    pinned = spec.overrides.batch_size or spec.model.batch_size
    return (pinned,) if pinned is not None else BATCH_SIZES


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


class _Memo:
    """Per-search cache: sizes of one instance family have identical cores, so a grouping's
    memory fit and speed are computed once per core shape, not once per instance size."""

    def __init__(self, profile: ModelProfile) -> None:
        self.profile = profile
        self._memory: dict[tuple[object, ...], MemoryFit] = {}
        self._speed: dict[tuple[object, ...], Performance] = {}

    def memory(self, instance: InstanceType, grouping: Grouping, batch: int) -> MemoryFit:
        key = (instance.core_shape, grouping, batch)
        found = self._memory.get(key)
        if found is None:
            found = check_memory(self.profile, instance, grouping.degree, grouping.copies, batch)
            self._memory[key] = found
        return found

    def speed(
        self, instance: InstanceType, grouping: Grouping, batch: int, busy: int
    ) -> Performance:
        key = (instance.core_shape, grouping, batch, busy)
        found = self._speed.get(key)
        if found is None:
            found = estimate(self.profile, instance, grouping, batch, busy)
            self._speed[key] = found
        return found


def _evaluate(
    spec: NeuronDeploymentSpec,
    memo: _Memo,
    instance: InstanceType,
    fit: FitJudgement,
    grouping: Grouping,
    batch: int,
) -> Candidate | Rejected:
    name, cores = instance.name, grouping.cores
    memory = memo.memory(instance, grouping, batch)
    if not memory.fits:
        m = memory.per_replica()
        return Rejected(
            name,
            ReasonCode.EXCEEDS_MEMORY,
            f"needs {m.required_gib:.1f} GiB per replica (weights {m.weights_gib:.1f}, KV cache "
            f"{m.kv_cache_gib:.1f}) but {cores} core(s) own {m.available_gib:.1f} GiB",
            cores,
            batch,
            stage=2,
            value=m.required_gib,
        )
    capacity = instance.allocatable_neuroncore // cores
    if instance.max_pods is not None:
        capacity = min(capacity, instance.max_pods)
    # Size conservatively with a fully packed node, then estimate at the planned occupancy
    # (which only changes the figures where cores share bandwidth: Inf1).
    busy_full = _busy_cores_per_chip(instance, grouping, capacity)
    performance = memo.speed(instance, grouping, batch, busy_full)
    replicas = _replicas(spec, performance.throughput_per_replica)
    on_node = min(replicas, capacity)
    busy = _busy_cores_per_chip(instance, grouping, on_node)
    if busy != busy_full and instance.generation.bandwidth_shared_by_chip:
        performance = memo.speed(instance, grouping, batch, busy)
    ceiling = spec.slo.latency_ms
    if ceiling is not None and performance.latency_p95_ms > ceiling:
        return Rejected(
            name,
            ReasonCode.LATENCY_UNREACHABLE,
            f"p95 latency {performance.latency_p95_ms:.1f} ms exceeds slo.latencyMs {ceiling:g}",
            cores,
            batch,
            stage=3,
            value=performance.latency_p95_ms,
        )
    max_replicas = spec.constraints.max_replicas or MAX_REPLICAS
    if replicas > max_replicas:
        limit = (
            f"constraints.maxReplicas is {max_replicas}"
            if spec.constraints.max_replicas
            else f"one NeuronDeployment runs at most {MAX_REPLICAS}"
        )
        return Rejected(
            name,
            ReasonCode.MAX_REPLICAS_EXCEEDED,
            f"{replicas} replicas needed for slo.throughput, {limit}",
            cores,
            batch,
            stage=4,
            value=replicas,
        )
    candidate = Candidate(
        instance=instance,
        grouping=grouping,
        batch=batch,
        replicas=replicas,
        replicas_per_node=on_node,
        nodes=math.ceil(replicas / capacity),
        performance=performance,
        memory=memory,
        fit=fit,
    )
    budget = spec.budget.max_hourly_cost
    cost = candidate.hourly_cost
    if budget is not None and cost is not None and cost > budget:
        return Rejected(
            name,
            ReasonCode.OVER_BUDGET,
            f"{candidate.nodes} node(s) cost ${cost:.2f}/h, over budget.maxHourlyCost ${budget:g}",
            cores,
            batch,
            stage=5,
            value=cost,
        )
    return candidate


def _options(
    spec: NeuronDeploymentSpec, memo: _Memo, instance: InstanceType, fit: FitJudgement
) -> Iterator[Candidate | Rejected]:
    groupings, problems = enumerate_groupings(
        memo.profile, instance, spec.overrides.cores_per_replica
    )
    for problem in problems:
        yield Rejected(instance.name, problem.reason, problem.message, problem.cores, stage=2)
    if not groupings and not problems:
        yield Rejected(
            instance.name,
            ReasonCode.CORE_GROUP_NOT_PLACEABLE,
            f"no core grouping of {spec.overrides.cores_per_replica} cores suits this model",
            spec.overrides.cores_per_replica,
            stage=2,
        )
    for grouping in groupings:
        for batch in _batches(spec):
            outcome = _evaluate(spec, memo, instance, fit, grouping, batch)
            yield outcome
            # Larger batches only need more memory and take longer.
            if isinstance(outcome, Rejected) and outcome.reason in (
                ReasonCode.EXCEEDS_MEMORY,
                ReasonCode.LATENCY_UNREACHABLE,
            ):
                break


def _unknown_instance_types(spec: NeuronDeploymentSpec, catalog: Catalog) -> list[Rejected]:
    named = list(spec.constraints.instance_types or [])
    if spec.overrides.instance_type is not None:
        named.append(spec.overrides.instance_type)
    known = ", ".join(i.name for i in catalog.instances)
    return [
        Rejected(
            name,
            ReasonCode.UNKNOWN_INSTANCE_TYPE,
            f"{name} is not a Neuron instance type in catalog {catalog.version}; known: {known}",
            stage=0,
        )
        for name in dict.fromkeys(named)
        if catalog.get(name) is None
    ]


def search(spec: NeuronDeploymentSpec, profile: ModelProfile, catalog: Catalog) -> Search:
    result = Search(candidates=[], rejected=_unknown_instance_types(spec, catalog))
    memo = _Memo(profile)
    for instance in catalog.instances:
        fit, problem = _instance_problem(spec, profile, instance)
        if problem is not None:
            result.rejected.append(problem)
            continue
        for outcome in _options(spec, memo, instance, fit):
            if isinstance(outcome, Candidate):
                result.candidates.append(outcome)
            else:
                result.rejected.append(outcome)
    return result
