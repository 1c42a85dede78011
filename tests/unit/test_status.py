"""Status, conditions and events (pure)."""

from __future__ import annotations

from typing import Any

from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.controller.status import (
    Event,
    Verdict,
    compute_status,
    events_between,
    rolled_out,
    status_document,
    worth_posting,
)
from neuron_operator.sizing import load_catalog, plan

PLAN = plan(
    {
        "model": {"family": "cnn", "parameters": "25M"},
        "overrides": {"instanceType": "inf2.xlarge", "replicas": 2},
    }
)
BODY: dict[str, Any] = {"metadata": {"name": "r", "namespace": "ns", "generation": 3}}
PLANNED = Verdict(True, "Planned", "ok")


def deployment(ready: int, available: bool = True, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": generation,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available else "False",
                    "reason": "MinimumReplicasAvailable"
                    if available
                    else "MinimumReplicasUnavailable",
                    "message": "m",
                }
            ],
        },
    }


def conditions(status: NeuronDeploymentStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_ready_when_planned_available_and_rolled_out() -> None:
    status = compute_status(
        BODY, NeuronDeploymentStatus(), PLANNED, PLAN, deployment(ready=2), "t1"
    )
    assert conditions(status) == {
        "Planned": ("True", "Planned"),
        "Available": ("True", "MinimumReplicasAvailable"),
        "Ready": ("True", "Ready"),
    }
    assert status.observed_generation == 3
    assert all(c.observed_generation == 3 for c in status.conditions)
    assert status.ready_summary == "2/2"
    assert status.selector == "neuron.dev/neurondeployment=r"


def test_not_ready_while_rolling_out_or_without_a_deployment() -> None:
    rolling = compute_status(
        BODY, NeuronDeploymentStatus(), PLANNED, PLAN, deployment(ready=1), "t1"
    )
    assert conditions(rolling)["Ready"] == ("False", "RollingOut")
    missing = compute_status(BODY, NeuronDeploymentStatus(), PLANNED, PLAN, None, "t1")
    assert conditions(missing)["Available"] == ("False", "NoDeployment")
    assert missing.replicas is None and missing.ready_summary == "0/2"


def test_an_unplanned_spec_is_never_ready_even_if_the_old_pods_serve() -> None:
    verdict = Verdict(False, "OverBudget", "spec generation 3 not applied")
    status = compute_status(
        BODY, NeuronDeploymentStatus(), verdict, PLAN, deployment(ready=2), "t1"
    )
    assert conditions(status)["Planned"] == ("False", "OverBudget")
    assert conditions(status)["Available"][0] == "True"
    assert conditions(status)["Ready"] == ("False", "NotPlanned")
    assert status.plan == PLAN.record()  # each alternative in brief


def test_transition_time_moves_only_when_the_status_flips() -> None:
    first = compute_status(BODY, NeuronDeploymentStatus(), PLANNED, PLAN, deployment(ready=1), "t1")
    body = {**BODY, "status": status_document(first)}
    second = compute_status(body, first, PLANNED, PLAN, deployment(ready=1), "t2")
    third = compute_status(body, first, PLANNED, PLAN, deployment(ready=2), "t3")
    by_type = {c.type: c for c in second.conditions}
    assert by_type["Planned"].last_transition_time == "t1"
    assert by_type["Ready"].last_transition_time == "t1"
    assert {c.type: c for c in third.conditions}["Ready"].last_transition_time == "t3"


def test_events_once_per_change() -> None:
    empty = NeuronDeploymentStatus()
    first = compute_status(BODY, NeuronDeploymentStatus(), PLANNED, PLAN, deployment(ready=2), "t1")
    events = events_between(empty, first)
    assert [(e.type, e.reason) for e in events] == [
        ("Normal", "Planned"),
        ("Normal", "MinimumReplicasAvailable"),
        ("Normal", "Ready"),
    ]
    # A rollout reaching Ready is in the status and the log, not worth an API write.
    assert not any(e.posted for e in events)
    assert events_between(first, first) == []
    lost = compute_status(
        {**BODY, "status": status_document(first)},
        first,
        PLANNED,
        PLAN,
        deployment(ready=0, available=False),
        "t2",
    )
    reasons = {(e.type, e.reason) for e in events_between(first, lost)}
    assert ("Warning", "MinimumReplicasUnavailable") in reasons


def test_infeasible_is_a_warning_and_a_plan_change_is_announced() -> None:
    first = compute_status(BODY, NeuronDeploymentStatus(), PLANNED, PLAN, deployment(ready=2), "t1")
    bad = compute_status(
        BODY, NeuronDeploymentStatus(), Verdict(False, "OverBudget", "x"), PLAN, deployment(2), "t2"
    )
    assert ("Warning", "OverBudget") in {(e.type, e.reason) for e in events_between(first, bad)}
    other = plan(
        {
            "model": {"family": "cnn", "parameters": "25M"},
            "overrides": {"instanceType": "trn1.2xlarge", "replicas": 2},
        }
    )
    moved = compute_status(
        BODY, NeuronDeploymentStatus(), PLANNED, other, deployment(ready=2), "t3"
    )
    assert "PlanChanged" in {e.reason for e in events_between(first, moved)}


def test_rolled_out_needs_the_latest_generation_observed() -> None:
    stale = deployment(ready=2)
    stale["metadata"]["generation"] = 2
    assert not rolled_out(stale)
    assert rolled_out(deployment(ready=2))


def test_a_recovery_from_a_warning_is_posted_and_a_first_reconcile_posts_only_warnings() -> None:
    refused = compute_status(
        BODY, NeuronDeploymentStatus(), Verdict(False, "OverBudget", "x"), None, None, "t1"
    )
    fixed = compute_status(BODY, refused, PLANNED, PLAN, deployment(ready=2), "t2")
    planned = [e for e in events_between(refused, fixed) if e.reason == "Planned"]
    assert [(e.type, e.posted) for e in planned] == [("Normal", True)]
    happened = [Event("Normal", "DeploymentCreated", "m"), Event("Warning", "FellBack", "w")]
    first = worth_posting(happened, first_reconcile=True)
    assert [(e.reason, e.posted) for e in first] == [
        ("DeploymentCreated", False),
        ("FellBack", True),
    ]
    assert worth_posting(happened, first_reconcile=False) == happened


def test_the_status_keeps_each_alternative_in_brief_and_reads_one_written_in_full() -> None:
    """status.plan is the plan with each runner-up as the alternatives table shows it: the
    rest of the explanation, every rejected option included, as the engine gave it."""
    full = plan({"model": {"family": "transformer-decoder", "parameters": "8B"}})
    assert full.alternatives and full.rejections(), "the engine weighed runners-up and refusals"
    status = compute_status(BODY, NeuronDeploymentStatus(), PLANNED, full, deployment(2), "t1")
    kept = status_document(status)["plan"]
    wire = full.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert {k: v for k, v in kept.items() if k != "alternatives"} == {
        k: v for k, v in wire.items() if k != "alternatives"
    }
    headline = ("latencyMs", "throughput", "hourlyCost", "costPerMillion")
    for brief, option in zip(kept["alternatives"], wire["alternatives"], strict=True):
        assert "memory" not in brief and "fit" not in brief and len(brief) < len(option)
        assert {k: v for k, v in brief.items() if k != "estimate"} == {
            k: option[k] for k in brief if k != "estimate"
        }
        assert brief["estimate"] == {k: option["estimate"][k] for k in headline}
    # A status an earlier version wrote, every alternative in full, still reads: as the brief.
    earlier = NeuronDeploymentStatus.model_validate({"plan": wire})
    assert earlier.plan == status.plan


def test_the_status_groups_rejected_options_by_reason_and_reads_them_one_by_one() -> None:
    """Every option the engine ruled out is in status.plan.rejected, once, under its reason and
    message; a status written before the grouping (one entry per option) reads the same."""
    pinned = plan(
        {
            "model": {"family": "transformer-encoder", "parameters": "110M"},
            "overrides": {"instanceType": "inf2.xlarge"},
        }
    )
    groups = pinned.rejected
    keys = [(g.reason, g.message) for g in groups]
    assert len(keys) == len(set(keys)), "one group per reason and message"
    flat = pinned.rejections()
    assert len(flat) > len(groups), "options that share a reason share a group"
    assert len({(r.instance_type, r.cores_per_replica, r.batch_size, r.reason) for r in flat}) == (
        len(flat)
    )
    (pin,) = [g for g in groups if g.reason == "ExcludedByConstraints"]
    others = {i.name for i in load_catalog().instances} - {"inf2.xlarge"}
    assert {o.instance_type for o in pin.options} == others, "one group names every other type"
    wire = pinned.model_dump(mode="json", by_alias=True, exclude_none=True)
    # Written one entry per option, by an operator before the grouping: read as the groups.
    one_by_one = [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in flat]
    earlier = NeuronDeploymentStatus.model_validate({"plan": {**wire, "rejected": one_by_one}})
    assert earlier.plan is not None and earlier.plan.rejections() == flat
    # The same, once the API server pruned the fields the new schema lacks: the reasons stay.
    pruned = [{"reason": r.reason, "message": r.message} for r in flat]
    read = NeuronDeploymentStatus.model_validate({"plan": {**wire, "rejected": pruned}})
    assert read.plan is not None
    assert [(g.reason, g.message, g.options) for g in read.plan.rejected] == [
        (g.reason, g.message, []) for g in groups
    ]
