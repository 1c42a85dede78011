"""The status a NeuronDeployment should have, and the events that announce its changes — pure
functions of what the reconcile decided and observed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from neuron_operator.api.plan import PlanRecord
from neuron_operator.api.reasons import ReasonCode
from neuron_operator.api.status import (
    CONDITION_AVAILABLE,
    CONDITION_CONTIGUOUS_CORES,
    CONDITION_DEGRADED,
    CONDITION_PLANNED,
    CONDITION_READY,
    MAX_MESSAGE,
    AutoscalingStatus,
    CompiledShape,
    Condition,
    NeuronDeploymentStatus,
    PlacementStatus,
    PodSecurityStatus,
    RunStatus,
)
from neuron_operator.controller.render import selector_labels

ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Verdict:
    """The Planned condition's content: whether the current spec is the one running."""

    planned: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Event:
    """Something the operator did or saw. Every event is logged; `posted` ones also become
    Kubernetes Events, each an API write: only what a person acts on (a Warning, a recovery
    from one, a change to a workload that was already running; never the creation of one)."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str
    posted: bool = True

    def logged_only(self) -> Event:
        return replace(self, posted=False)


# The API server refuses an Event whose message is longer than 1,024 bytes ("can have at most
# 1024 characters"): kopf then logs the failure and the user never sees the event.
MAX_EVENT_MESSAGE_BYTES = 1024
TRUNCATED = " … (truncated)"


def event_message(message: str) -> str:
    """The message as an Event can carry it: its head, whole characters, when it is too long."""
    encoded = message.encode()
    if len(encoded) <= MAX_EVENT_MESSAGE_BYTES:
        return message
    room = MAX_EVENT_MESSAGE_BYTES - len(TRUNCATED.encode())
    return encoded[:room].decode(errors="ignore") + TRUNCATED


def worth_posting(events: list[Event], first_reconcile: bool) -> list[Event]:
    """On an object's first reconcile only warnings are posted: its creation is no news to
    the person who just created it, and the status says what happened, for one write instead
    of three (issue 15)."""
    if not first_reconcile:
        return events
    return [e if e.type == "Warning" else e.logged_only() for e in events]


def _condition(
    previous: dict[str, Condition],
    kind: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
    now: str,
) -> Condition:
    old = previous.get(kind)
    # lastTransitionTime moves only when the status flips (Kubernetes API conventions).
    since = old.last_transition_time if old is not None and old.status == status else now
    if len(message) > MAX_MESSAGE:  # the schema's bound; the head says what matters
        message = message[: MAX_MESSAGE - len(TRUNCATED)] + TRUNCATED
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def _deployment_condition(deployment: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for condition in ((deployment or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def rolled_out(deployment: dict[str, Any] | None) -> bool:
    """The Deployment's controller has seen its latest spec and every pod runs it and is ready."""
    if not deployment:
        return False
    status = deployment.get("status") or {}
    desired = (deployment.get("spec") or {}).get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
        and status.get("updatedReplicas", 0) == desired
        and status.get("readyReplicas", 0) == desired
        and status.get("replicas", 0) == desired
    )


def compute_status(
    body: dict[str, Any],
    old: NeuronDeploymentStatus,
    verdict: Verdict,
    plan_in_effect: PlanRecord | None,
    deployment: dict[str, Any] | None,
    now: str,
    contested: str | None = None,
    placement: PlacementStatus | None = None,
    contiguity: Verdict | None = None,
    autoscaling: AutoscalingStatus | None = None,
    run: RunStatus | None = None,
    training: bool = False,
    shape: CompiledShape | None = None,
    pod_security: PodSecurityStatus | None = None,
) -> NeuronDeploymentStatus:
    """`contested` says who keeps changing what the operator sets (None: nobody does now);
    `contiguity` whether the plan's side-by-side cores will be placed so (None: it needs none).
    """
    metadata = body["metadata"]
    generation = metadata.get("generation")
    previous = {c.type: c for c in old.conditions}

    planned = _condition(
        previous,
        CONDITION_PLANNED,
        "True" if verdict.planned else "False",
        verdict.reason,
        verdict.message,
        generation,
        now,
    )
    available_source = _deployment_condition(deployment, "Available")
    if deployment is None:
        available_args: tuple[ConditionStatus, str, str] = (
            "False",
            ReasonCode.NO_DEPLOYMENT,
            "no Deployment exists yet",
        )
    elif available_source.get("status") == "True":
        available_args = (
            "True",
            available_source.get("reason", ReasonCode.MINIMUM_REPLICAS_AVAILABLE),
            available_source.get("message", ""),
        )
    else:
        available_args = (
            "False",
            available_source.get("reason", ReasonCode.DEPLOYMENT_UNAVAILABLE),
            available_source.get("message", "pods are not available yet"),
        )
    if training:
        available_args = _run_available(run)
    available = _condition(previous, CONDITION_AVAILABLE, *available_args, generation, now)
    progressing = _deployment_condition(deployment, "Progressing")
    replica_failure = _deployment_condition(deployment, "ReplicaFailure")
    if not verdict.planned:
        ready_args: tuple[ConditionStatus, str, str] = (
            "False",
            ReasonCode.NOT_PLANNED,
            f"the current spec is not running: {verdict.message}",
        )
    elif replica_failure.get("status") == "True":
        # Quota, Pod Security admission, a missing ServiceAccount…: the ReplicaSet's words.
        ready_args = (
            "False",
            ReasonCode.POD_CREATION_FAILED,
            f"pods cannot be created: {replica_failure.get('message', '')}",
        )
    elif progressing.get("reason") == ReasonCode.PROGRESS_DEADLINE_EXCEEDED:
        ready_args = (
            "False",
            ReasonCode.PROGRESS_DEADLINE_EXCEEDED,
            progressing.get("message", ""),
        )
    elif available.status != "True":
        ready_args = ("False", ReasonCode.UNAVAILABLE, available.message)
    elif not rolled_out(deployment):
        ready_args = (
            "False",
            ReasonCode.ROLLING_OUT,
            "the Deployment is rolling out the current plan",
        )
    else:
        ready_args = ("True", ReasonCode.READY, "the current plan is running and available")
    if training and verdict.planned:
        ready_args = _run_ready(run)
    ready = _condition(previous, CONDITION_READY, *ready_args, generation, now)

    # Degraded appears with the first fight and then stays, False once it is over.
    degraded = []
    if contested is not None or CONDITION_DEGRADED in previous:
        degraded_args: tuple[ConditionStatus, str, str] = (
            ("True", ReasonCode.EXTERNAL_MODIFICATION, contested)
            if contested is not None
            else (
                "False",
                ReasonCode.NO_EXTERNAL_MODIFICATION,
                "nobody is changing the fields the operator sets on the Deployment",
            )
        )
        degraded = [_condition(previous, CONDITION_DEGRADED, *degraded_args, generation, now)]
    contiguous = []
    if contiguity is not None:
        contiguous = [
            _condition(
                previous,
                CONDITION_CONTIGUOUS_CORES,
                "True" if contiguity.planned else "False",
                contiguity.reason,
                contiguity.message,
                generation,
                now,
            )
        ]
    dep_status = (deployment or {}).get("status") or {}
    desired = plan_in_effect.replicas if plan_in_effect else None
    summary = None
    if training:
        nodes = run.workers if run else (plan_in_effect.nodes if plan_in_effect else None)
        done = run is not None and run.phase == "Succeeded"
        summary = f"{(run.succeeded if done else run.ready) if run else 0}/{nodes}"
    if autoscaling is not None and deployment is not None:
        desired = (deployment.get("spec") or {}).get("replicas", desired)  # the HPA's count
    ready_replicas = dep_status.get("readyReplicas", 0) if deployment else None
    return NeuronDeploymentStatus(
        observed_generation=generation,
        plan=plan_in_effect.record() if plan_in_effect else None,
        placement=placement,
        autoscaling=autoscaling,
        run=run,
        shape=shape,
        pod_security=pod_security,
        replicas=dep_status.get("replicas", 0) if deployment else None,
        ready_replicas=ready_replicas,
        available_replicas=dep_status.get("availableReplicas", 0) if deployment else None,
        ready_summary=summary
        or (f"{ready_replicas or 0}/{desired}" if desired is not None else None),
        selector=",".join(f"{k}={v}" for k, v in selector_labels(metadata["name"]).items()),
        deployment=metadata["name"] if deployment else None,
        conditions=[planned, available, ready, *degraded, *contiguous],
    )


def _run_available(run: RunStatus | None) -> tuple[ConditionStatus, str, str]:
    """A training run is available while every worker runs, and once it has succeeded."""
    if run is None:
        return ("False", ReasonCode.RUN_PENDING, "the run's Job is not created yet")
    if run.phase == "Succeeded":
        return ("True", ReasonCode.RUN_SUCCEEDED, f"Job {run.job} completed")
    if run.phase == "Failed":
        return (
            "False",
            ReasonCode.RUN_FAILED,
            f"Job {run.job} failed: {run.reason}: {run.message}",
        )
    if run.phase == "Running":
        return ("True", ReasonCode.RUN_RUNNING, f"all {run.workers} workers of Job {run.job} run")
    return (
        "False",
        ReasonCode.RUN_PENDING,
        f"{run.ready} of {run.workers} workers of Job {run.job} are ready",
    )


def _run_ready(run: RunStatus | None) -> tuple[ConditionStatus, str, str]:
    """A training run is Ready when it has finished successfully (kubectl wait's meaning)."""
    if run is not None and run.phase == "Succeeded":
        return ("True", ReasonCode.RUN_SUCCEEDED, f"run {run.run} completed (Job {run.job})")
    if run is not None and run.phase == "Failed":
        return (
            "False",
            ReasonCode.RUN_FAILED,
            f"run {run.run} failed: {run.reason}: {run.message}",
        )
    return (
        "False",
        ReasonCode.RUN_IN_PROGRESS,
        "a training run is Ready when it has completed; it has not yet",
    )


def events_between(old: NeuronDeploymentStatus, new: NeuronDeploymentStatus) -> list[Event]:
    """One event per change of a condition's status or reason, or of the plan in effect —
    never one per retry of the same outcome."""
    events: list[Event] = []
    before = {c.type: c for c in old.conditions}
    for condition in new.conditions:
        previous = before.get(condition.type)
        if previous is not None and (previous.status, previous.reason) == (
            condition.status,
            condition.reason,
        ):
            continue
        if (
            condition.type in (CONDITION_AVAILABLE, CONDITION_READY)
            and previous is None
            and condition.status == "False"
        ):
            continue  # a new object is not available or ready yet: no news
        severity = _severity(condition, previous)
        event = Event(severity, condition.reason, condition.message)
        # A Normal change is posted only as a recovery from what a Warning reported (Ready
        # after PodCreationFailed, Planned after a refused spec); a rollout reaching Ready is
        # in the status, and logged.
        recovered = previous is not None and _severity(previous, None) == "Warning"
        events.append(event if severity == "Warning" or recovered else event.logged_only())
    if new.plan is not None and old.plan is not None and _decision(new.plan) != _decision(old.plan):
        change = f"now {describe(new.plan)} (was {describe(old.plan)})"
        events.append(Event("Normal", ReasonCode.PLAN_CHANGED, change))
    return events


def _severity(condition: Condition, previous: Condition | None) -> Literal["Normal", "Warning"]:
    """Warnings are for what needs a person: a spec that cannot run, a workload that lost
    availability or is stuck. Pods starting up after a change are normal."""
    if condition.type == CONDITION_DEGRADED:
        return "Warning" if condition.status == "True" else "Normal"
    if condition.type == CONDITION_CONTIGUOUS_CORES:
        return "Normal" if condition.status == "True" else "Warning"
    if condition.status == "True":
        return "Normal"
    if condition.type == CONDITION_PLANNED or condition.reason == ReasonCode.NOT_PLANNED:
        return "Warning"
    if previous is not None and previous.status == "True" and condition.type == CONDITION_AVAILABLE:
        return "Warning"
    if condition.reason in (
        ReasonCode.PROGRESS_DEADLINE_EXCEEDED,
        ReasonCode.POD_CREATION_FAILED,
        ReasonCode.RUN_FAILED,
    ):
        return "Warning"
    return "Normal"


def _decision(plan: PlanRecord) -> tuple[Any, ...]:
    return (
        plan.instance_type,
        plan.cores_per_replica,
        plan.parallelism,
        plan.batch_size,
        plan.replicas,
    )


def describe(plan: PlanRecord) -> str:
    mode = plan.parallelism.mode.value if plan.parallelism else "?"
    where = (
        f"each of {plan.nodes_per_replica} {plan.instance_type}"
        if plan.nodes_per_replica
        else str(plan.instance_type)
    )
    return (
        f"{plan.replicas} × {plan.cores_per_replica} NeuronCore(s) on {where}, "
        f"{mode} parallel, batch {plan.batch_size}"
    )


def status_document(status: NeuronDeploymentStatus) -> dict[str, Any]:
    """The status as the API stores it (camelCase, no nulls)."""
    document: dict[str, Any] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return document


def minimal_status_document(status: NeuronDeploymentStatus) -> dict[str, Any]:
    """Only the generation and the conditions: what is written when the server refused the
    full document, so that the object still says what happened."""
    document = status_document(status)
    return {k: v for k, v in document.items() if k in ("observedGeneration", "conditions")}
