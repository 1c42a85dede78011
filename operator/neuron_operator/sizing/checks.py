"""The checks a candidate must pass, in the order they run (cert-manager's policy chain).

Each check is a small pure function of what was gathered for it that returns None, or a
Refusal: a reason code, a message, and the figure that failed. The first refusal rules the
candidate out. Per instance type: constraints and the cluster's capacity, architecture fit,
dtype, Inf1's compile limit, price; then per core grouping and batch size: memory, latency SLO,
replica limit, budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from neuron_operator.api.reasons import ReasonCode
from neuron_operator.api.v1alpha1 import MAX_REPLICAS, NeuronDeploymentSpec, Objective, Workload
from neuron_operator.sizing.candidate import MAX_TRAINING_NODES, Draft, Memo
from neuron_operator.sizing.capacity import Capacity
from neuron_operator.sizing.catalog import InstanceType
from neuron_operator.sizing.fit import FitJudgement, judge_dtype
from neuron_operator.sizing.memory import INF1_MAX_COMPILED_WEIGHTS
from neuron_operator.sizing.memory import exceeds_inf1_compile_limit as too_big_for_inf1
from neuron_operator.sizing.profile import ModelProfile


class Refusal(NamedTuple):
    """A check's answer when it rules a candidate out."""

    reason: ReasonCode
    message: str
    # The figure that failed the check (p95 ms, replicas, USD/h, GiB), to say how far off it was.
    value: float | None = None


# A check is a small pure function of what was gathered for it: None when it passes.
S = TypeVar("S")
Check = Callable[[S], Refusal | None]
# Checks in the order they run, stage by stage. A rejection's stage is the position of its
# check's stage in the chains (the instance chain's, then the candidate chain's): a later stage
# means the candidate came closer to being chosen, and an infeasible plan's reasons put the
# closest first. Checks within one stage are peers: their codes rank by where they first occur.
Chain = tuple[tuple[Check[S], ...], ...]
# A chain unrolled once into (stage, check) pairs, in order, so running it is one flat loop.
Steps = tuple[tuple[int, Check[S]], ...]


def unroll(chain: Chain[S], first_stage: int) -> Steps[S]:
    return tuple(
        (stage, check) for stage, checks in enumerate(chain, start=first_stage) for check in checks
    )


def first_refusal(steps: Steps[S], subject: S) -> tuple[int, Refusal] | None:
    for stage, check in steps:
        refusal = check(subject)
        if refusal is not None:
            return stage, refusal
    return None


@dataclass(frozen=True)
class InstanceInput:
    """What the per-instance checks read."""

    spec: NeuronDeploymentSpec
    profile: ModelProfile
    instance: InstanceType
    fit: FitJudgement
    capacity: Capacity | None = None  # the cluster's, when planning against one


def _allowed_by_constraints(i: InstanceInput) -> Refusal | None:
    spec, name = i.spec, i.instance.name
    pinned = spec.overrides.instance_type
    if pinned is not None and name != pinned:
        return Refusal(ReasonCode.EXCLUDED_BY_CONSTRAINTS, f"overrides.instanceType pins {pinned}")
    families = spec.constraints.instance_families
    if families is not None and i.instance.family not in families:
        allowed = ", ".join(f.value for f in families)
        return Refusal(
            ReasonCode.EXCLUDED_BY_CONSTRAINTS,
            f"constraints.instanceFamilies allows only {allowed}",
        )
    types = spec.constraints.instance_types
    if types is not None and name not in types:
        return Refusal(
            ReasonCode.EXCLUDED_BY_CONSTRAINTS,
            f"constraints.instanceTypes allows only {', '.join(types)}",
        )
    return None


def _can_exist_in_the_cluster(i: InstanceInput) -> Refusal | None:
    why = None if i.capacity is None else i.capacity.unprovisionable(i.instance)
    return None if why is None else Refusal(ReasonCode.NOT_PROVISIONABLE, why)


def _not_given_up(i: InstanceInput) -> Refusal | None:
    why = None if i.capacity is None else i.capacity.failed_here(i.instance)
    return None if why is None else Refusal(ReasonCode.STAYED_UNSCHEDULABLE, why)


# The NeuronCore generation each compiler target runs on (catalog core versions).
TARGET_CORES = {"inf1": "v1", "inf2": "v2", "trn1": "v2", "trn2": "v3"}


def _runs_the_compiled_artifact(i: InstanceInput) -> Refusal | None:
    compiled = i.spec.compiled
    lnc = compiled.logical_neuron_cores if compiled else None
    if lnc is not None and i.instance.lnc != lnc:
        at = f"runs at LNC={i.instance.lnc}" if i.instance.lnc else "has no LNC"
        return Refusal(
            ReasonCode.NOT_THE_COMPILED_SHAPE,
            f"the artifact was compiled for logical NeuronCore config {lnc} (Trainium2); "
            f"{i.instance.name} here {at}; compile for it, or change "
            "spec.compiled.logicalNeuronCores",
        )
    target = compiled.target if compiled else None
    if target is None or TARGET_CORES[target.value] == i.instance.core_version:
        return None
    return Refusal(
        ReasonCode.NOT_THE_COMPILED_SHAPE,
        f"the artifact was compiled for {target.value} (NeuronCore-{TARGET_CORES[target.value]}), "
        f"which {i.instance.name}'s NeuronCore-{i.instance.core_version} cannot run; compile "
        "for it, or change spec.compiled.target",
    )


def _architecture_fits(i: InstanceInput) -> Refusal | None:
    return None if i.fit.allowed else Refusal(i.fit.reason, i.fit.message)


def _dtype_supported(i: InstanceInput) -> Refusal | None:
    dtype = judge_dtype(i.profile.dtype, i.instance)
    return None if dtype is None else Refusal(dtype.reason, dtype.message)


def _within_inf1_compile_limit(i: InstanceInput) -> Refusal | None:
    if not too_big_for_inf1(i.profile, i.instance):
        return None
    return Refusal(
        ReasonCode.EXCEEDS_INF1_COMPILE_LIMIT,
        f"{i.profile.weight_bytes / 1e9:.1f} GB of weights exceed the "
        f"{INF1_MAX_COMPILED_WEIGHTS / 1e9:.0f} GB that Inf1's compilers can serialize; "
        "allow inf2 or trn1",
    )


def _price_known_if_needed(i: InstanceInput) -> Refusal | None:
    spec, name = i.spec, i.instance.name
    needed = spec.objective == Objective.COST or spec.budget.max_hourly_cost is not None
    if needed and i.instance.price_per_hour is None:
        why = "the cost objective" if spec.objective == Objective.COST else "budget.maxHourlyCost"
        return Refusal(
            ReasonCode.PRICE_UNKNOWN,
            f"{name} has {i.instance.price_source or 'no price'}, so {why} cannot be "
            "evaluated; give its price in the operator's pricing ConfigMap, or pin it with "
            "overrides.instanceType and objective latency or throughput",
        )
    return None


INSTANCE_CHECKS: Chain[InstanceInput] = (
    # May the spec use this instance type at all, and can the cluster have one; then, can it
    # run this model.
    (
        _allowed_by_constraints,
        _runs_the_compiled_artifact,
        _can_exist_in_the_cluster,
        _not_given_up,
    ),
    (_architecture_fits, _dtype_supported, _within_inf1_compile_limit, _price_known_if_needed),
)
INSTANCE_STEPS = unroll(INSTANCE_CHECKS, first_stage=0)
# Names the spec gives that the catalog lacks are ruled out at the constraints' stage.
CONSTRAINTS_STAGE = next(s for s, check in INSTANCE_STEPS if check is _allowed_by_constraints)


def _is_the_compiled_grouping(d: Draft) -> Refusal | None:
    degree = d.spec.compiled.tensor_parallel_degree if d.spec.compiled else None
    if degree is None or d.grouping.degree == degree:
        return None
    return Refusal(
        ReasonCode.NOT_THE_COMPILED_SHAPE,
        f"the artifact spans {degree} core(s) per model copy (tensor parallel), not the "
        f"{d.grouping.degree} of {d.grouping.describe()}",
    )


def _fits_memory(d: Draft) -> Refusal | None:
    if d.memory.fits:
        return None
    m = d.memory.per_replica()
    return Refusal(
        ReasonCode.EXCEEDS_MEMORY,
        f"a replica of {d.grouping.describe()} needs {m.required_gib:.1f} GiB (weights "
        f"{m.weights_gib:.1f}, KV cache {m.kv_cache_gib:.1f}) but its {d.grouping.cores} "
        f"core(s) own {m.available_gib:.1f} GiB",
        m.required_gib,
    )


def _meets_latency_slo(d: Draft) -> Refusal | None:
    """At the pessimistic end of the p95's likely range: an SLO met only in the optimistic
    half is a coin toss, and the message says when that is the case."""
    ceiling = d.spec.slo.latency_ms
    if ceiling is None:
        return None
    candidate = d.candidate
    low, high = candidate.latency_p95_range
    if high <= ceiling:
        return None
    p95 = candidate.performance.latency_p95_ms
    likely = f"p95 {p95:.1f} ms (likely {low:.1f}–{high:.1f}) with {d.grouping.describe()}"
    if p95 <= ceiling:
        return Refusal(
            ReasonCode.LATENCY_UNREACHABLE,
            f"{likely} meets slo.latencyMs {ceiling:g} only in the optimistic half of its "
            "likely range",
            high,
        )
    return Refusal(
        ReasonCode.LATENCY_UNREACHABLE, f"{likely} exceeds slo.latencyMs {ceiling:g}", high
    )


def _within_replica_limit(d: Draft) -> Refusal | None:
    replicas, asked = d.candidate.replicas, d.spec.constraints.max_replicas
    max_replicas = asked or MAX_REPLICAS
    if replicas > max_replicas:
        limit = (
            f"constraints.maxReplicas is {max_replicas}"
            if asked
            else f"one NeuronDeployment runs at most {MAX_REPLICAS}"
        )
        return Refusal(
            ReasonCode.MAX_REPLICAS_EXCEEDED,
            f"{replicas} replicas of {d.grouping.describe()} needed for slo.throughput, {limit}",
            replicas,
        )
    return None


def _trains_across_nodes(d: Draft) -> Refusal | None:
    """A training run across nodes sums its gradients over EFA, which only the largest sizes
    have (Neuron: "EFA is currently not available on the smaller instances sizes and they
    cannot be used for running multi-node jobs")."""
    if d.memo.profile.workload != Workload.TRAINING:
        return None
    candidate = d.candidate
    name, nodes = d.instance.name, candidate.nodes
    if nodes > 1 and not d.instance.efa_interfaces:
        return Refusal(
            ReasonCode.MULTI_NODE_NEEDS_EFA,
            f"slo.throughput needs {nodes} {name} nodes, and training across nodes needs EFA, "
            f"which {name} lacks; trn1.32xlarge, trn1n.32xlarge and trn2.48xlarge have it",
            nodes,
        )
    target = d.spec.slo.throughput
    reached = candidate.throughput_range[0]
    if target is not None and reached < target and d.spec.overrides.replicas is None:
        return Refusal(
            ReasonCode.MAX_REPLICAS_EXCEEDED,
            f"{MAX_TRAINING_NODES} {name} nodes of {d.grouping.describe()} reach {reached:.0f} "
            f"samples/s with their gradient all-reduce, short of slo.throughput {target:g}; "
            "the engine plans at most that many nodes for one run",
            nodes,
        )
    return None


def _runs_as_a_group_here(d: Draft) -> Refusal | None:
    """A replica across nodes runs as a LeaderWorkerSet group: the cluster must have it."""
    nodes = d.grouping.nodes
    if nodes == 1 or d.memo.leader_worker_set:
        return None
    return Refusal(
        ReasonCode.LEADER_WORKER_SET_NOT_INSTALLED,
        f"a replica of {d.grouping.describe()} needs LeaderWorkerSet (not installed): the "
        f"model does not fit one {d.instance.name}, and a replica across {nodes} nodes runs as "
        "a LeaderWorkerSet group; install LeaderWorkerSet (sigs.k8s.io/lws) in the cluster",
        nodes,
    )


def _within_budget(d: Draft) -> Refusal | None:
    budget = d.spec.budget.max_hourly_cost
    if budget is not None:
        cost, nodes = d.candidate.hourly_cost, d.candidate.nodes
        if cost is not None and cost > budget:
            return Refusal(
                ReasonCode.OVER_BUDGET,
                f"replicas of {d.grouping.describe()} need {nodes} node(s) at ${cost:.2f}/h, "
                f"over budget.maxHourlyCost ${budget:g}",
                cost,
            )
    return None


# Stages after the instance checks. A core grouping's own checks (placement, attention heads:
# grouping.enumerate_groupings) share the first with memory: can the replica's cores hold it.
CANDIDATE_CHECKS: Chain[Draft] = (
    # Is it the artifact's grouping, can the replica's cores hold the model; then, does it
    # meet the request.
    (_is_the_compiled_grouping, _fits_memory),
    (_meets_latency_slo,),
    (_within_replica_limit, _trains_across_nodes, _runs_as_a_group_here),
    (_within_budget,),
)
GROUPING_STAGE = len(INSTANCE_CHECKS)
CANDIDATE_STEPS = unroll(CANDIDATE_CHECKS, first_stage=GROUPING_STAGE)


def candidate_steps(spec: NeuronDeploymentSpec, memo: Memo) -> Steps[Draft]:
    """CANDIDATE_STEPS less the checks that pass every draft of this search, because what
    they check is absent from the spec (or LeaderWorkerSet is installed): the same answers,
    with a few hundred fewer calls per plan. Stages keep their numbers."""
    compiled_degree = spec.compiled.tensor_parallel_degree if spec.compiled else None
    passes_all: set[Check[Draft]] = set()
    if compiled_degree is None:
        passes_all.add(_is_the_compiled_grouping)
    if spec.slo.latency_ms is None:
        passes_all.add(_meets_latency_slo)
    if memo.profile.workload != Workload.TRAINING:
        passes_all.add(_trains_across_nodes)
    if memo.leader_worker_set:
        passes_all.add(_runs_as_a_group_here)
    if spec.budget.max_hourly_cost is None:
        passes_all.add(_within_budget)
    return tuple((stage, check) for stage, check in CANDIDATE_STEPS if check not in passes_all)
