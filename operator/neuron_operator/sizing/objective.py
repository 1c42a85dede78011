"""How the objective ranks feasible candidates, and how the winner is explained — both from
one place, so the figure a plan says it minimised is the figure it was ranked by."""

from __future__ import annotations

from enum import Enum

from neuron_operator.api.plan import ParallelismMode
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec, Objective
from neuron_operator.sizing.candidate import Candidate

INFINITY = float("inf")


class Ranking(Enum):
    """The figure an objective minimises (lower is better)."""

    P95_LATENCY = "latency"
    THROUGHPUT_PER_NODE = "throughput"
    HOURLY_COST = "hourly cost"
    COST_PER_MILLION = "cost per million"

    @classmethod
    def of(cls, spec: NeuronDeploymentSpec) -> Ranking:
        if spec.objective == Objective.LATENCY:
            return cls.P95_LATENCY
        if spec.objective == Objective.THROUGHPUT:
            return cls.THROUGHPUT_PER_NODE
        # Cost. When the request sets the fleet's size (a throughput target or fixed replicas),
        # the cheapest fleet that meets it wins; otherwise the cheapest inference at full use.
        if spec.slo.throughput is not None or spec.overrides.replicas is not None:
            return cls.HOURLY_COST
        return cls.COST_PER_MILLION

    def measure(self, candidate: Candidate) -> float:
        """The candidate's figure; an unknown price ranks last."""
        if self is Ranking.P95_LATENCY:
            return candidate.performance.latency_p95_ms
        if self is Ranking.THROUGHPUT_PER_NODE:
            return -candidate.node_throughput
        value = candidate.hourly_cost if self is Ranking.HOURLY_COST else candidate.cost_per_million
        return INFINITY if value is None else value

    def explain(self, winner: Candidate) -> str:
        """One line on why `winner` won, naming its figure."""
        if self is Ranking.P95_LATENCY:
            latency = winner.performance.latency_p95_ms
            return f"lowest p95 latency ({latency:.2f} ms) of all feasible options"
        if self is Ranking.THROUGHPUT_PER_NODE:
            return (
                f"most inferences/s per instance paid for ({winner.node_throughput:.1f} at full "
                f"use: {winner.node_capacity} replica(s) per node)"
            )
        if winner.hourly_cost is None or winner.cost_per_million is None:
            return "cheapest feasible option"
        if self is Ranking.HOURLY_COST:
            return f"lowest hourly cost (${winner.hourly_cost:.4f}/h) that meets the request"
        return f"lowest cost per million inferences (${winner.cost_per_million:.4f}) at full use"


def score(ranking: Ranking, candidate: Candidate, fits_now: bool = False) -> tuple[float, ...]:
    """Lower is better. Ties on the objective break toward a plan whose replicas all fit the
    cluster's free capacity now (`fits_now`), then lower hourly cost, lower p95 latency (not for
    training, whose step time nobody waits on), higher throughput, fewer cores per replica, data
    parallelism, a smaller batch and cores over whole devices; the sort is stable over the
    catalog order, so the answer is deterministic."""
    key = (ranking, fits_now)
    found = candidate.scores.get(key)
    if found is None:
        found = candidate.scores[key] = _score(ranking, candidate, fits_now)
    return found


def _score(ranking: Ranking, candidate: Candidate, fits_now: bool) -> tuple[float, ...]:
    cost = candidate.hourly_cost
    performance = candidate.performance
    return (
        ranking.measure(candidate),
        0 if fits_now else 1,
        INFINITY if cost is None else cost,
        0.0 if candidate.training else performance.latency_p95_ms,
        -candidate.throughput,
        candidate.grouping.cores,
        0 if candidate.grouping.mode == ParallelismMode.DATA else 1,
        candidate.batch,
        1 if candidate.whole_devices else 0,
    )
