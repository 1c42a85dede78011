"""Turn a search into a Plan: the winner, the next best alternatives, every rejection, and —
when nothing is feasible — reasons that say what to change."""

from __future__ import annotations

import math
from collections import defaultdict

from neuron_operator.api.plan import (
    Estimate,
    Option,
    Parallelism,
    Plan,
    Range,
    Reason,
    Rejection,
    RejectionGroup,
)
from neuron_operator.api.reasons import ReasonCode
from neuron_operator.api.v1alpha1 import MAX_REPLICAS, NeuronDeploymentSpec
from neuron_operator.sizing.candidate import Candidate
from neuron_operator.sizing.capacity import Capacity
from neuron_operator.sizing.choose import Rejected, Search
from neuron_operator.sizing.objective import Ranking, score
from neuron_operator.sizing.profile import ModelProfile

MAX_ALTERNATIVES = 5


def _round(value: float | None, significant: int = 6) -> float | None:
    """Round to significant digits: figures span 0.001 req/s to 100,000 inferences/s."""
    if value is None or value == 0:
        return value
    return round(value, significant - 1 - math.floor(math.log10(abs(value))))


def _sig(value: float) -> float:
    rounded = _round(value)
    assert rounded is not None
    return rounded


def _range(bounds: tuple[float, float]) -> Range:
    return Range(low=_sig(bounds[0]), high=_sig(bounds[1]))


def fitting_now(candidate: Candidate, capacity: Capacity | None) -> int | None:
    """Replicas the cluster's free capacity holds now; None when planned without a cluster."""
    if capacity is None:
        return None
    pods = capacity.replicas_fitting_now(
        candidate.instance.name, candidate.resources, candidate.replicas_per_node
    )
    return min(pods // candidate.grouping.nodes, candidate.replicas)  # a pod on each node


def to_option(candidate: Candidate, capacity: Capacity | None = None) -> Option:
    """The candidate as the plan shows it. Without a cluster in view it depends on the
    candidate alone, which outlives its search in the model's memo: built once (API models
    are frozen, so plans may share it)."""
    if capacity is not None:
        return _option(candidate, capacity)
    if candidate.option is None:
        candidate.option = _option(candidate, None)
    return candidate.option


def _option(candidate: Candidate, capacity: Capacity | None) -> Option:
    p = candidate.performance
    grouping = candidate.grouping
    return Option(
        instance_type=candidate.instance.name,
        cores_per_replica=grouping.cores,
        devices_per_replica=candidate.devices_per_replica,
        parallelism=Parallelism(mode=grouping.mode, degree=grouping.degree, copies=grouping.copies),
        resources=candidate.resources,
        batch_size=candidate.batch,
        replicas=candidate.replicas,
        replicas_per_node=candidate.replicas_per_node,
        nodes=candidate.nodes,
        nodes_per_replica=grouping.nodes if grouping.nodes > 1 else None,
        logical_neuron_cores=candidate.instance.lnc,
        replicas_fitting_now=fitting_now(candidate, capacity),
        price_source=candidate.instance.price_source or None,
        estimate=Estimate(
            latency_ms=_sig(p.latency_p95_ms),
            latency_ms_range=_range(candidate.latency_p95_range),
            latency_p50_ms=_sig(p.latency_p50_ms),
            throughput_per_replica=_sig(p.throughput_per_replica),
            throughput=_sig(candidate.throughput),
            throughput_range=_range(candidate.throughput_range),
            hourly_cost=_round(candidate.hourly_cost),
            cost_per_million=_round(candidate.cost_per_million),
            time_to_first_token_ms=_round(p.ttft_ms),
            time_per_output_token_ms=_round(p.tpot_ms),
            output_tokens_per_second=_round(p.output_tokens_per_second),
        ),
        memory=candidate.memory.per_replica(),
        fit=candidate.fit_model,
    )


def _dedupe(rejected: list[Rejected]) -> list[Rejected]:
    """One entry per instance, core count and reason (the first grouping and batch that hit
    it): the plan lists rejections by cores per replica."""
    seen: dict[tuple[str, int | None, ReasonCode], Rejected] = {}
    for r in rejected:
        seen.setdefault((r.instance, r.cores, r.reason), r)
    return list(seen.values())


def _suggestion(code: ReasonCode, group: list[Rejected]) -> str:
    closest = min(group, key=lambda r: math.inf if r.value is None else r.value)
    where = f"{closest.instance}"
    if closest.grouping is not None:
        where += f" with {closest.grouping.describe()}"
    elif closest.cores is not None:
        where += f" with {closest.cores} core(s)"
    if closest.batch is not None:
        where += f" at batch {closest.batch}"
    if code == ReasonCode.LATENCY_UNREACHABLE and closest.value is not None:
        return (
            f"the fastest option, {where}, has a p95 of up to {closest.value:.1f} ms (the "
            "pessimistic end of its likely range, where SLOs are checked): raise "
            f"slo.latencyMs to at least {math.ceil(closest.value * 10) / 10:g}, or allow "
            "other instance types"
        )
    if code == ReasonCode.OVER_BUDGET and closest.value is not None:
        return (
            f"the cheapest option, {where}, costs ${closest.value:.2f}/h: raise "
            "budget.maxHourlyCost to at least that, or lower slo.throughput"
        )
    if code == ReasonCode.MAX_REPLICAS_EXCEEDED and closest.value is not None:
        return (
            f"the best option, {where}, needs {closest.value:.0f} replicas: raise "
            f"constraints.maxReplicas (at most {MAX_REPLICAS}) or lower slo.throughput; a "
            "larger fleet is several NeuronDeployments"
        )
    if code == ReasonCode.EXCEEDS_MEMORY and closest.value is not None:
        return (
            f"the model needs at least {closest.value:.1f} GiB per replica ({where}) and no "
            "allowed option has that much device memory: allow larger instances (inf2.48xlarge, "
            "trn1.32xlarge, trn2.48xlarge), quantize (dtype int8 or fp8), or shorten "
            "sequenceLength"
        )
    if code == ReasonCode.EXCLUDED_BY_CONSTRAINTS:
        names = ", ".join(r.instance for r in group)
        return (
            f"constraints or overrides exclude {names}: widen constraints.instanceFamilies / "
            "constraints.instanceTypes or drop overrides.instanceType to consider them"
        )
    messages = list(dict.fromkeys(r.message for r in group))
    return "; ".join(messages)


def infeasible_reasons(rejected: list[Rejected]) -> list[Reason]:
    by_code: dict[ReasonCode, list[Rejected]] = defaultdict(list)
    for r in rejected:
        by_code[r.reason].append(r)
    # Closest to feasible first: a budget or SLO miss says more than a constraint exclusion.
    order = sorted(by_code, key=lambda code: -max(r.stage for r in by_code[code]))
    return [Reason(reason=code, message=_suggestion(code, by_code[code])) for code in order]


def build_plan(
    spec: NeuronDeploymentSpec,
    profile: ModelProfile,
    found: Search,
    catalog_version: str,
    capacity: Capacity | None = None,
    pricing: str | None = None,
    capacity_type: str | None = None,
) -> Plan:
    rejected = _dedupe(found.rejected)
    rejections = [
        Rejection(
            instance_type=r.instance,
            cores_per_replica=r.cores,
            batch_size=r.batch,
            reason=r.reason,
            message=r.message,
        )
        for r in rejected
    ]
    common = {
        "objective": spec.objective.value,
        "catalog_version": catalog_version,
        "pricing": pricing,
        "capacity_type": capacity_type,
        "assumptions": list(profile.assumptions),
        "rejected": RejectionGroup.gather(rejections),
    }
    if not found.candidates:
        return Plan(feasible=False, reasons=infeasible_reasons(rejected), **common)
    ranking = Ranking.of(spec)
    # Many candidates share a request (batch sizes of one grouping): count each once.
    fitting: dict[tuple[str, tuple[tuple[str, int], ...], int], int] = {}

    def fits_now(candidate: Candidate) -> bool:
        if capacity is None:
            return False
        key = (
            candidate.instance.name,
            tuple(candidate.resources.items()),
            candidate.replicas_per_node,
        )
        if key not in fitting:
            fitting[key] = capacity.replicas_fitting_now(key[0], candidate.resources, key[2])
        return fitting[key] // candidate.grouping.nodes >= candidate.replicas

    ranked = sorted(found.candidates, key=lambda c: score(ranking, c, fits_now(c)))
    winner = ranked[0]

    # Alternatives: the best of each other instance family, core grouping and request (a
    # bigger size of the same family with the same grouping is the same option at a higher
    # price), and, with a cluster in view, the best of those that fit its free capacity now:
    # a bigger size with room is what a workload whose pods cannot be placed falls back to.
    def kind(c: Candidate) -> tuple[object, ...]:
        return (c.instance.family, c.instance.lnc, c.grouping, c.whole_devices, fits_now(c))

    seen = {kind(winner)}
    alternatives: list[Option] = []
    for candidate in ranked[1:]:
        if kind(candidate) in seen:
            continue
        seen.add(kind(candidate))
        alternatives.append(to_option(candidate, capacity))
        if len(alternatives) == MAX_ALTERNATIVES:
            break
    chosen = to_option(winner, capacity)
    return Plan(
        feasible=True,
        why=ranking.explain(winner),
        alternatives=alternatives,
        **chosen.model_dump(),
        **common,
    )
