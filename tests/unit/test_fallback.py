"""Fallback and the plan in effect, decided without a cluster (controller/fallback.py and
controller/reconcile.py `decide`): when pods wait too long the workload moves to the cheapest
feasible plan left, a given-up plan is not retried until capacity changes, the first choice
comes back only when the user asks, and capacity never moves a plan made for the same spec."""

from __future__ import annotations

import copy
import datetime
from typing import Any

from neuron_operator.api.plan import PlanRecord
from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.controller.capacity import PodClaim
from neuron_operator.controller.digest import plan_summary
from neuron_operator.controller.fallback import (
    RETRY_PREFERRED,
    Cluster,
    fingerprint,
    waiting_of,
)
from neuron_operator.controller.reconcile import Decision, decide
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import Verdict, compute_status, status_document
from neuron_operator.sizing.capacity import Capacity, NodeCapacity

SPEC: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25.6M", "gflopsPerInference": 8.2},
    "constraints": {"instanceFamilies": ["inf2"]},
    "overrides": {"replicas": 2},
    "placement": {"fallback": {"afterSeconds": 60}},
    "template": {"spec": {"containers": [{"name": "server", "image": "s:1"}]}},
}
NODES = (
    NodeCapacity("x", "inf2.xlarge", 2, 1),
    NodeCapacity("8x", "inf2.8xlarge", 2, 1),
    NodeCapacity("24x", "inf2.24xlarge", 12, 6),
)
NOW = 1_800_000_000.0


def body(
    spec: dict[str, Any] = SPEC,
    status: dict[str, Any] | None = None,
    generation: int = 1,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "r",
            "namespace": "ns",
            "uid": "u",
            "generation": generation,
            "annotations": annotations or {},
        },
        "spec": spec,
        "status": status or {},
    }


def cluster(nodes: tuple[NodeCapacity, ...] = NODES, *waiting: PodClaim) -> Cluster:
    return Cluster(Capacity(nodes=nodes), fingerprint(nodes, None), waiting_of(waiting))


def pending(instance_type: str, since: float) -> PodClaim:
    stamp = f"{datetime.datetime.fromtimestamp(since, datetime.UTC):%Y-%m-%dT%H:%M:%SZ}"
    message = "0/3 nodes are available: 1 Insufficient aws.amazon.com/neuroncore."
    return PodClaim("", 1, 0, "r", instance_type, stamp, message)


def run(
    the_body: dict[str, Any], the_cluster: Cluster | None, now: float = NOW
) -> tuple[Decision, dict[str, Any]]:
    """decide, and the status the reconcile would write from it."""
    old = NeuronDeploymentStatus.model_validate(the_body.get("status") or {})
    decision = decide(the_body, old, Settings(), the_cluster, now, "2027-01-15T08:00:00Z")
    placement = decision.placement if decision.verdict.planned else old.placement
    status = compute_status(
        the_body,
        old,
        decision.verdict,
        decision.plan_in_effect,
        None,
        "t",
        placement=placement,
    )
    return decision, status_document(status)


def test_capacity_never_moves_a_plan_made_for_the_same_spec() -> None:
    first, status = run(body(), cluster())
    assert first.plan_in_effect is not None
    assert first.plan_in_effect.instance_type == "inf2.xlarge"
    # The node of that type is gone: a new spec would not be planned there, this one stays.
    gone = tuple(n for n in NODES if n.instance_type != "inf2.xlarge")
    again, _ = run(body(status=status), cluster(gone))
    assert again.plan_in_effect == first.plan_in_effect.record()  # as the status keeps it
    # A new generation is planned afresh, against the cluster as it is now.
    edited, _ = run(body(status=status, generation=2), cluster(gone))
    assert edited.plan_in_effect is not None
    assert edited.plan_in_effect.instance_type == "inf2.8xlarge"


def test_pods_waiting_less_than_after_seconds_ask_to_be_looked_at_again() -> None:
    _, status = run(body(), cluster())
    decision, _ = run(body(status=status), cluster(NODES, pending("inf2.xlarge", NOW - 20)))
    assert decision.plan_in_effect is not None
    assert decision.plan_in_effect.instance_type == "inf2.xlarge"
    assert decision.recheck_after == 40
    assert decision.events == ()


def test_pods_waiting_past_after_seconds_move_to_the_cheapest_plan_left() -> None:
    _, status = run(body(), cluster())
    waited = cluster(NODES, pending("inf2.xlarge", NOW - 61))
    decision, moved = run(body(status=status), waited)
    assert decision.plan_in_effect is not None
    assert decision.plan_in_effect.instance_type == "inf2.8xlarge"
    assert decision.desired is not None
    (event,) = decision.events
    assert (event.type, event.reason) == ("Warning", "FellBack")
    assert "stayed Unschedulable for 61 s" in event.message
    assert "Insufficient aws.amazon.com/neuroncore" in event.message
    (tried,) = moved["placement"]["tried"]
    assert tried["instanceType"] == "inf2.xlarge"
    assert tried["capacity"] == waited.fingerprint
    assert moved["placement"]["preferred"].startswith("2 × 1 NeuronCore(s) on inf2.xlarge")
    rejected = {
        r.instance_type: r.reason for r in PlanRecord.model_validate(moved["plan"]).rejections()
    }
    assert rejected["inf2.xlarge"] == "StayedUnschedulable"
    # Every alternative left costs at least what was chosen.
    cost = moved["plan"]["estimate"]["hourlyCost"]
    assert all(a["estimate"]["hourlyCost"] >= cost for a in moved["plan"]["alternatives"])

    # It never flaps: the next reconciles keep the new plan, with the old type's pods still
    # waiting as they wind down, and say nothing more.
    later, again = run(body(status=moved), waited, now=NOW + 300)
    assert later.plan_in_effect == decision.plan_in_effect.record()  # as the status keeps it
    assert later.events == ()
    assert again["placement"] == moved["placement"]


def test_a_given_up_plan_comes_back_when_capacity_changes_or_the_user_asks() -> None:
    _, status = run(body(), cluster())
    _, moved = run(body(status=status), cluster(NODES, pending("inf2.xlarge", NOW - 61)))
    # The new plan's pods wait too: with the same capacity, inf2.xlarge stays given up.
    stuck = cluster(NODES, pending("inf2.8xlarge", NOW - 61))
    decision, twice = run(body(status=moved), stuck)
    assert decision.plan_in_effect is not None
    assert decision.plan_in_effect.instance_type == "inf2.24xlarge"
    assert [t["instanceType"] for t in twice["placement"]["tried"]] == [
        "inf2.xlarge",
        "inf2.8xlarge",
    ]
    # A node was added: the cluster changed, inf2.xlarge may be had again.
    grown = (*NODES, NodeCapacity("x2", "inf2.xlarge", 2, 1))
    waited = cluster(grown, pending("inf2.24xlarge", NOW - 61))
    decision, _ = run(body(status=twice), waited)
    assert decision.plan_in_effect is not None
    assert decision.plan_in_effect.instance_type == "inf2.xlarge"

    # The user asks for the first choice back: the record starts over.
    asked = body(status=moved, annotations={RETRY_PREFERRED: "1"})
    decision, restored = run(asked, cluster())
    assert decision.plan_in_effect is not None
    assert decision.plan_in_effect.instance_type == "inf2.xlarge"
    assert [e.reason for e in decision.events] == ["PreferredPlanRestored"]
    assert "placement" not in restored


def test_nothing_left_keeps_the_plan_and_says_so_once() -> None:
    pinned = copy.deepcopy(SPEC)
    pinned["constraints"] = {"instanceTypes": ["inf2.xlarge"]}
    _, status = run(body(pinned), cluster())
    waited = cluster(NODES, pending("inf2.xlarge", NOW - 61))
    decision, after = run(body(pinned, status=status), waited)
    assert decision.plan_in_effect is not None
    assert decision.plan_in_effect.instance_type == "inf2.xlarge"
    assert [e.reason for e in decision.events] == ["NoFallback"]
    assert "widen spec.constraints" in decision.events[0].message
    again, _ = run(body(pinned, status=after), waited, now=NOW + 300)
    assert again.events == ()


def test_without_fallback_or_without_a_cluster_pods_wait() -> None:
    spec = copy.deepcopy(SPEC)
    del spec["placement"]
    _, status = run(body(spec), cluster())
    decision, _ = run(body(spec, status=status), cluster(NODES, pending("inf2.xlarge", NOW - 999)))
    assert decision.plan_in_effect is not None
    assert (decision.plan_in_effect.instance_type, decision.events) == ("inf2.xlarge", ())
    _, status = run(body(), None)
    decision, _ = run(body(status=status), None)
    assert decision.recheck_after is None and decision.events == ()


def test_a_refused_edit_keeps_the_fallback_record() -> None:
    _, status = run(body(), cluster())
    _, moved = run(body(status=status), cluster(NODES, pending("inf2.xlarge", NOW - 61)))
    broken = copy.deepcopy(SPEC)
    broken["model"]["parameters"] = "7Q"
    decision, after = run(body(broken, status=moved, generation=2), cluster())
    assert not decision.verdict.planned
    assert after["placement"] == moved["placement"]
    assert after["plan"]["instanceType"] == "inf2.8xlarge"


def test_waiting_is_the_oldest_unschedulable_pod_of_each_type() -> None:
    waits = waiting_of(
        [
            pending("inf2.xlarge", NOW - 5),
            pending("inf2.xlarge", NOW - 50),
            pending("inf2.8xlarge", NOW - 1),
            PodClaim("node", 1, 0, "r", "inf2.xlarge"),  # running: not waiting
        ]
    )
    assert {(w.instance_type, w.since) for w in waits} == {
        ("inf2.xlarge", NOW - 50),
        ("inf2.8xlarge", NOW - 1),
    }


def test_the_fingerprint_follows_nodes_and_pools_not_the_pods_on_them() -> None:
    assert fingerprint(NODES, None) == fingerprint(tuple(reversed(NODES)), None)
    assert fingerprint(NODES, None) != fingerprint(NODES[:2], None)
    assert fingerprint(NODES, None) != fingerprint(NODES, ())


def test_the_status_round_trips_its_placement_record() -> None:
    _, status = run(body(), cluster())
    _, moved = run(body(status=status), cluster(NODES, pending("inf2.xlarge", NOW - 61)))
    parsed = NeuronDeploymentStatus.model_validate(moved)
    assert parsed.placement is not None
    assert (
        status_document(
            compute_status(
                body(status=moved),
                parsed,
                Verdict(True, "Planned", "ok"),
                parsed.plan,
                None,
                "t",
                placement=parsed.placement,
            )
        )["placement"]
        == moved["placement"]
    )


def test_a_new_retry_annotation_makes_the_object_stale_for_the_resync() -> None:
    _, status = run(body(), cluster())
    _, moved = run(body(status=status), cluster(NODES, pending("inf2.xlarge", NOW - 61)))
    assert not plan_summary(body(status=moved)).stale
    assert plan_summary(body(status=moved, annotations={RETRY_PREFERRED: "1"})).stale
    assert not plan_summary(body(status=status, annotations={RETRY_PREFERRED: "1"})).stale


def test_fallback_prefers_a_plan_that_fits_now_to_a_cheaper_one_that_waits() -> None:
    full = (
        NodeCapacity("x", "inf2.xlarge", 2, 1),
        NodeCapacity("8x", "inf2.8xlarge", 0, 0),  # cheaper, but full
        NodeCapacity("24x", "inf2.24xlarge", 12, 6),
    )
    _, status = run(body(), cluster(full))
    decision, moved = run(body(status=status), cluster(full, pending("inf2.xlarge", NOW - 61)))
    assert decision.plan_in_effect is not None
    assert decision.plan_in_effect.instance_type == "inf2.24xlarge"
    assert decision.plan_in_effect.why.startswith("fallback: fits the free capacity now")
    waiting = {a["instanceType"] for a in moved["plan"]["alternatives"]}
    assert "inf2.8xlarge" in waiting  # still listed: it is cheaper, only full
