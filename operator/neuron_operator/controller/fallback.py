"""Fallback: when the pods of a plan stay Unschedulable, move to the next feasible plan. Pure.

The caller gathers what the cluster says (`Cluster`: its capacity, a fingerprint of it, and
since when this object's pods have waited for a node); this decides whether the wait has
lasted long enough, which plans are given up, and which plan replaces the one that waits.

The rules, from the user's side:
- opt-in per object (spec.placement.fallback.afterSeconds);
- the next plan is a feasible one within the spec's constraints, the given-up types excluded:
  one whose replicas all fit the free capacity now first, then the cheapest;
- a plan given up is not tried again while the cluster's capacity (its Neuron nodes and
  NodePools) is what it was when it failed, so the operator never flaps between two types;
- the first choice comes back only when the user asks: the spec changes, or the
  neuron.dev/retry-preferred annotation takes a new value.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from neuron_operator.api.plan import Option, Plan, PlanRecord
from neuron_operator.api.status import PlacementStatus, TriedPlan
from neuron_operator.controller.capacity import PodClaim
from neuron_operator.sizing.capacity import Capacity, NodeCapacity, NodePool

RETRY_PREFERRED = "neuron.dev/retry-preferred"


@dataclass(frozen=True)
class Waiting:
    """This object's pods that the scheduler finds no node for."""

    instance_type: str  # the type their plan chose
    since: float  # epoch seconds: the oldest such pod's Unschedulable transition
    why: str  # the scheduler's message


@dataclass(frozen=True)
class Cluster:
    """What the cluster says, as one reconcile sees it."""

    capacity: Capacity
    fingerprint: str
    waiting: tuple[Waiting, ...] = ()  # this object's pods, per instance type

    def waiting_on(self, instance_type: str | None) -> Waiting | None:
        return next((w for w in self.waiting if w.instance_type == instance_type), None)


def epoch(timestamp: str) -> float | None:
    try:
        return datetime.datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return None


def waiting_of(claims: Iterable[PodClaim]) -> tuple[Waiting, ...]:
    """The waits of one object's pods, per instance type: its oldest Unschedulable pod's."""
    oldest: dict[str, Waiting] = {}
    for claim in claims:
        since = epoch(claim.unschedulable_since) if claim.unschedulable_since else None
        if since is None:
            continue
        known = oldest.get(claim.instance_type)
        if known is None or since < known.since:
            oldest[claim.instance_type] = Waiting(claim.instance_type, since, claim.why)
    return tuple(oldest.values())


def fingerprint(nodes: Iterable[NodeCapacity], pools: Iterable[NodePool] | None) -> str:
    """What kinds of capacity the cluster has: its Neuron nodes (as allocatable, not as free:
    pods come and go all the time) and its NodePools. A change means a given-up plan may now
    be had."""
    described: dict[str, Any] = {
        "nodes": sorted((n.name, n.instance_type, n.free_cores, n.free_devices) for n in nodes),
        "pools": None
        if pools is None
        else sorted((p.name, repr(p.requirements), sorted(p.remaining.items())) for p in pools),
    }
    text = json.dumps(described, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def current_record(
    body: dict[str, Any], old: PlacementStatus | None
) -> tuple[PlacementStatus, bool]:
    """The fallback record for this spec, and whether the user just asked for the first choice
    back (the annotation changed). A new spec generation starts a new record."""
    metadata = body["metadata"]
    generation = metadata.get("generation")
    asked = ((metadata.get("annotations") or {}).get(RETRY_PREFERRED)) or None
    if old is not None and old.generation == generation:
        if old.retry_preferred == asked:
            return old, False
        return PlacementStatus(generation=generation, retry_preferred=asked), bool(old.tried)
    return PlacementStatus(generation=generation, retry_preferred=asked), False


def given_up(record: PlacementStatus, fingerprint_now: str) -> tuple[tuple[str, str], ...]:
    """The types not to plan now: those given up while the capacity was what it is."""
    return tuple(
        (
            t.instance_type,
            f"{t.message} (given up at {t.given_up_at}; tried again when the "
            "cluster's Neuron nodes or NodePools change)",
        )
        for t in record.tried
        if t.capacity == fingerprint_now
    )


def seconds_left(after: int, waiting: Waiting | None, now: float) -> float | None:
    """Seconds until the pods have waited `after` (≤ 0: they have); None when none wait."""
    if waiting is None:
        return None
    return waiting.since + after - now


def tried(
    plan: PlanRecord, waiting: Waiting, now: float, at: str, fingerprint_now: str
) -> TriedPlan:
    waited = max(0, round(now - waiting.since))
    return TriedPlan(
        instance_type=str(plan.instance_type),
        cores_per_replica=plan.cores_per_replica,
        given_up_at=at,
        message=f"its pods stayed Unschedulable for {waited} s: {waiting.why}".rstrip(": "),
        capacity=fingerprint_now,
    )


def with_tried(record: PlacementStatus, entry: TriedPlan, preferred: str) -> PlacementStatus:
    """The record with one more plan given up (replacing an older try of the same type)."""
    kept = [t for t in record.tried if t.instance_type != entry.instance_type]
    return record.model_copy(
        update={"tried": [*kept, entry], "preferred": record.preferred or preferred}
    )


def _hourly(option: Option) -> float:
    cost = option.estimate.hourly_cost
    return cost if cost is not None else float("inf")


def _fits_now(option: Option) -> bool:
    return (
        option.replicas_fitting_now is not None and option.replicas_fitting_now >= option.replicas
    )


def next_plan(plan: Plan, runs_as_is: Callable[[Option], bool] = lambda _: True) -> Plan | None:
    """The plan with the option to fall back to chosen: one the running server's compiled
    model runs on as it is (`runs_as_is`: any other waits for a recompile) ahead of one it does
    not, then one whose replicas all fit the free capacity now ahead of one that waits for
    nodes (waiting is what is being escaped), then the cheapest, then the engine's order. None
    when nothing is feasible."""
    winner = plan.chosen
    if winner is None:
        return None
    options = [winner, *plan.alternatives]
    best = min(  # first of equals
        options, key=lambda o: (not runs_as_is(o), not _fits_now(o), _hourly(o))
    )
    if best is winner:
        return plan
    others = [o for o in options if o is not best]
    fits = "fits the free capacity now, " if _fits_now(best) else ""
    why = (
        f"fallback: {fits}the cheapest such plan left (USD {_hourly(best):.2f}/h); "
        f"the engine ranked {winner.instance_type} first"
    )
    fields = best.model_dump()
    return plan.model_copy(
        update={**{k: getattr(best, k) for k in fields}, "why": why, "alternatives": others}
    )
