"""One level-triggered, idempotent reconcile of a NeuronDeployment.

The caller gathers the object and its Deployment; this decides with pure code (validate, check
the template, plan, render), acts only where the cluster differs from the decision (server-side
apply of the Deployment, a status patch), and announces each change once. Whatever triggered
it — the object changed, its Deployment changed or vanished, the operator restarted — the same
function runs.

Bad input never reaches the running workload: a spec that cannot be planned, or a template
that is refused, leaves an existing Deployment exactly as it was; the Planned condition says
the new spec was not applied and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from neuron_operator.api.errors import format_validation_error
from neuron_operator.api.plan import Plan, PlanRecord
from neuron_operator.api.reasons import ReasonCode
from neuron_operator.api.status import (
    CONDITION_PLANNED,
    AutoscalingStatus,
    CompiledShape,
    NeuronDeploymentStatus,
    PlacementStatus,
    PodSecurityStatus,
    RunStatus,
)
from neuron_operator.api.v1alpha1 import Autoscaling, NeuronDeploymentSpec, Workload
from neuron_operator.controller.artifact import tell_the_server
from neuron_operator.controller.autoscaling import (
    Bounds,
    bounds,
    describe_metric,
    render_autoscaler,
)
from neuron_operator.controller.dra import claim_template, claiming, devices_claimed
from neuron_operator.controller.drift import (
    DriftGuard,
    Key,
    is_drift,
    other_writers,
    with_hash,
)
from neuron_operator.controller.errors import ApiTrouble, Forbidden, TransientError, UserError
from neuron_operator.controller.fallback import (
    RETRY_PREFERRED,
    Cluster,
    current_record,
    given_up,
    next_plan,
    seconds_left,
    tried,
    with_tried,
)
from neuron_operator.controller.managed_fields import created_not_applied
from neuron_operator.controller.multinode import (
    LWS_KIND,
    as_rollout,
    render_leader_worker_set,
    spans_nodes,
)
from neuron_operator.controller.patch import merge_patch
from neuron_operator.controller.pod_security import Level, assess, meets
from neuron_operator.controller.policy import image_problems, template_problems
from neuron_operator.controller.probes import port_probes, startup_probe
from neuron_operator.controller.quantity import quantity
from neuron_operator.controller.recompile import recompile_needed, runs_as_is, shape_of
from neuron_operator.controller.render import (
    instance_of,
    needs_contiguous_cores,
    neuron_resources,
    render_deployment,
    standard_labels,
)
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import (
    Event,
    Verdict,
    compute_status,
    describe,
    events_between,
    minimal_status_document,
    status_document,
    worth_posting,
)
from neuron_operator.controller.training import (
    render_job,
    render_workers_service,
    run_status,
    training_run,
)
from neuron_operator.sizing import plan as make_plan
from neuron_operator.sizing.capacity import Capacity
from neuron_operator.sizing.catalog import Catalog, load_catalog

log = logging.getLogger("neuron_operator")


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    plan_in_effect: PlanRecord | None
    desired: dict[str, Any] | None  # the Deployment to converge to; None: leave it as it is
    placement: PlacementStatus | None = None  # fallback's record, once it has one
    events: tuple[Event, ...] = ()  # what fallback did, said once
    # Seconds until fallback must look again (pods waiting, not yet for long enough).
    recheck_after: float | None = None
    # spec.autoscaling: the HPA to converge to and its bounds; None: no HPA (delete ours).
    autoscaler: dict[str, Any] | None = None
    bounds: Bounds | None = None
    # DRA: the ResourceClaimTemplate the pods claim their devices from (controller/dra.py).
    claim_template: dict[str, Any] | None = None
    # workload: training: the run's Job and headless Service (controller/training.py).
    job: dict[str, Any] | None = None
    service: dict[str, Any] | None = None
    # Serving: the shapes the plan's model is compiled for (controller/recompile.py).
    shape: CompiledShape | None = None
    # The Pod Security level the rendered pods meet (controller/pod_security.py).
    pod_security: PodSecurityStatus | None = None


def _not_applied(body: dict[str, Any], previous: PlanRecord | None, why: str) -> str:
    generation = body["metadata"].get("generation")
    if previous is None:
        return why
    return f"spec generation {generation} not applied ({why}); still running {describe(previous)}"


@lru_cache(maxsize=4096)
def _plan_for(spec_json: str, catalog: Catalog | None = None, groups: bool = True) -> Plan:
    """plan() is pure and deterministic: a Deployment's many status events re-plan nothing."""
    spec = NeuronDeploymentSpec.model_validate_json(spec_json)
    return make_plan(spec, catalog, leader_worker_set=groups)


@lru_cache(maxsize=16)
def _plan_against(
    spec_json: str, catalog: Catalog | None, capacity: Capacity, groups: bool
) -> Plan:
    """The same, against one reading of the cluster's capacity: the watch rebuilds it only
    when a node, pod or NodePool changed, and a team's many objects of one spec, created at
    once, are planned against the same reading. Few entries: each new reading makes the
    last ones useless."""
    spec = NeuronDeploymentSpec.model_validate_json(spec_json)
    return make_plan(spec, catalog, capacity, leader_worker_set=groups)


def plan_cached(
    spec: NeuronDeploymentSpec,
    catalog: Catalog | None = None,
    groups: bool = True,
    capacity: Capacity | None = None,
) -> Plan:
    """`groups`: whether the cluster runs LeaderWorkerSet (replicas may span nodes)."""
    spec_json = spec.model_dump_json(exclude={"template"})
    if capacity is None:
        return _plan_for(spec_json, catalog, groups)
    return _plan_against(spec_json, catalog, capacity, groups)


def _refused(body: dict[str, Any], previous: PlanRecord | None, reason: str, why: str) -> Decision:
    return Decision(Verdict(False, reason, _not_applied(body, previous, why)), previous, None)


def plan_stands(
    body: dict[str, Any], old: NeuronDeploymentStatus, pricing: str | None = None
) -> bool:
    """Whether the plan in effect was made for this very spec, at these prices: then it is
    kept as it is, so that nothing but the user, your prices or fallback moves a running
    workload — not the cluster filling up, not a new operator version."""
    generation = body["metadata"].get("generation")
    planned = next((c for c in old.conditions if c.type == CONDITION_PLANNED), None)
    return (
        old.plan is not None
        and old.plan.feasible
        and old.plan.pricing == pricing
        and old.observed_generation == generation
        and planned is not None
        and planned.status == "True"
        and planned.observed_generation == generation
    )


def _planned(
    spec: NeuronDeploymentSpec,
    cluster: Cluster | None,
    record: PlacementStatus,
    catalog: Catalog | None,
    groups: bool,
) -> Plan:
    if cluster is None:
        return plan_cached(spec, catalog, groups)
    capacity = cluster.capacity.without(given_up(record, cluster.fingerprint))
    return plan_cached(spec, catalog, groups, capacity)


@dataclass
class _Placed:
    plan: PlanRecord
    record: PlacementStatus
    events: list[Event] = field(default_factory=list)
    recheck_after: float | None = None


def _place(
    body: dict[str, Any],
    spec: NeuronDeploymentSpec,
    old: NeuronDeploymentStatus,
    cluster: Cluster | None,
    now: float,
    at: str,
    catalog: Catalog | None,
    groups: bool,
) -> _Placed:
    """The plan to run: the one in effect when it still stands, else the engine's; then, when
    its pods have waited too long for a node, the next feasible one (controller/fallback.py)."""
    record, restored = current_record(body, old.placement)
    pricing = catalog.pricing if catalog is not None else None
    placed = _Placed(
        old.plan
        if old.plan and plan_stands(body, old, pricing) and not restored
        else _planned(spec, cluster, record, catalog, groups),
        record,
    )
    if restored:
        why = f"{RETRY_PREFERRED} changed: planning afresh, given-up plans included"
        placed.events.append(Event("Normal", ReasonCode.PREFERRED_PLAN_RESTORED, why))
    fallback = spec.placement.fallback
    training = spec.workload == Workload.TRAINING  # a run's Job cannot move: no fallback
    if fallback is None or cluster is None or training or not placed.plan.feasible:
        return placed
    current = placed.plan
    waiting = cluster.waiting_on(current.instance_type)
    left = seconds_left(fallback.after_seconds, waiting, now)
    if waiting is None or left is None:
        return placed
    if left > 0:
        placed.recheck_after = left
        return placed
    already = {t for t, _ in given_up(record, cluster.fingerprint)}
    if current.instance_type in already:
        return placed  # given up before, nothing else was feasible: nothing new to try
    entry = tried(current, waiting, now, at, cluster.fingerprint)
    placed.record = with_tried(record, entry, describe(current))
    running = old.shape or shape_of(current, spec)
    moved = next_plan(
        _planned(spec, cluster, placed.record, catalog, groups),
        lambda option: runs_as_is(spec, running, option),
    )
    if moved is None:
        why = (
            f"{describe(current)}: {entry.message}; no other plan within the spec's constraints "
            "is feasible in this cluster, so the pods keep waiting (add capacity, or widen "
            "spec.constraints)"
        )
        placed.events.append(Event("Warning", ReasonCode.NO_FALLBACK, why))
        return placed
    why = f"{describe(current)}: {entry.message}; moved to {describe(moved)}"
    placed.events.append(Event("Warning", ReasonCode.FELL_BACK, why))
    placed.plan = moved
    return placed


def decide(
    body: dict[str, Any],
    old: NeuronDeploymentStatus,
    settings: Settings,
    cluster: Cluster | None = None,
    now: float = 0.0,
    at: str = "",
    catalog: Catalog | None = None,
    dra: frozenset[str] = frozenset(),
    groups: bool = True,
) -> Decision:
    """Pure: what the Deployment should be, or why the current spec cannot run. `cluster` is
    what the cluster says (None: plan against the catalog alone); `now` is the time in epoch
    seconds and `at` the same in RFC 3339; `catalog` the instance catalog with the operator's
    prices (None: list prices); `dra` the instance families whose pods claim devices through
    Dynamic Resource Allocation; `groups` whether the cluster runs LeaderWorkerSet, which a
    plan whose replicas span nodes runs as (the Decision's `desired` is then a LeaderWorkerSet).
    Never raises: a failure of the engine is a condition on the object, not a crash of the
    operator."""
    previous = old.plan
    try:
        spec = NeuronDeploymentSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        message = format_validation_error(error, "spec").replace("\n", "; ")
        return _refused(body, previous, ReasonCode.INVALID_SPEC, message)
    problems = template_problems(spec.template)
    if problems:
        message = "; ".join(str(p) for p in problems)
        return _refused(body, previous, ReasonCode.TEMPLATE_NOT_ALLOWED, message)
    problems = image_problems(spec.template, settings.allowed_images)
    if problems:
        message = "; ".join(str(p) for p in problems)
        return _refused(body, previous, ReasonCode.IMAGE_NOT_ALLOWED, message)
    try:
        if settings.engine_fault is not None:
            settings.engine_fault.before_plan(str(body["metadata"].get("name")))
        placed = _place(body, spec, old, cluster, now, at, catalog, groups)
        result = placed.plan
        if not result.feasible:
            reason = result.reasons[0].reason if result.reasons else ReasonCode.NO_FEASIBLE_PLAN
            message = "; ".join(f"{r.reason}: {r.message}" for r in result.reasons)
            return _refused(body, previous, reason, message)
        assert spec.template is not None  # template_problems requires it
        if spec.workload == Workload.TRAINING:
            run, limit = spec.training.run, spec.training.backoff_limit
            job = with_hash(render_job(body, spec.template, result, run, limit))
            message = f"{describe(result)}: {result.why}"
            planned = Decision(
                Verdict(True, ReasonCode.PLANNED, message),
                result,
                None,
                job=job,
                service=render_workers_service(body, run),
            )
            return _held_to_minimum(body, previous, settings, job["spec"]["template"], planned)
        shape = shape_of(result, spec)
        running = old.shape or (
            shape_of(previous, spec) if previous and previous.feasible else None
        )
        annotations = body["metadata"].get("annotations") or {}
        hold = recompile_needed(spec, running, shape, annotations)
        if hold is not None:
            return _refused(body, previous, ReasonCode.RECOMPILE_REQUIRED, hold)
        if spans_nodes(result):
            # No HPA and no device claims for a LeaderWorkerSet yet (docs/operator.md).
            rendered = render_leader_worker_set(body, spec.template, result)
            pod = rendered["spec"]["leaderWorkerTemplate"]["workerTemplate"]
            _finish_server(pod["spec"]["containers"][0], spec, result, shape)
            message = f"{describe(result)}: {result.why}"
            planned = Decision(
                Verdict(True, ReasonCode.PLANNED, message),
                result,
                with_hash(rendered),
                placed.record if placed.record.tried else None,
                tuple(placed.events),
                placed.recheck_after,
                shape=shape,
            )
            return _held_to_minimum(body, previous, settings, pod, planned)
        scaling, autoscaler = None, None
        if spec.autoscaling is not None:
            found = bounds(spec, result)
            if isinstance(found, str):
                return _refused(body, previous, ReasonCode.AUTOSCALING_NOT_BOUNDED, found)
            scaling = found
            labels = standard_labels(body["metadata"]["name"])
            autoscaler = render_autoscaler(body, spec.autoscaling, found, labels)
        instance = instance_of(result)
        claims = None
        if instance.family in dra:
            claims = claim_template(body, result, instance)
        rendered = render_deployment(
            body,
            spec.template,
            result,
            None if claims else settings.scheduler_name,  # DRA places connected devices
            spec.progress_deadline_seconds,
            autoscaled=scaling is not None,
        )
        pod = rendered["spec"]["template"]
        if claims is not None:
            pod["spec"] = claiming(pod["spec"], claims["metadata"]["name"])
        _finish_server(pod["spec"]["containers"][0], spec, result, shape)
        desired = with_hash(rendered)
    except Exception as error:  # a bug in the engine or renderer: report it, keep running
        log.exception("sizing failed for %s", body["metadata"].get("name"))
        why = f"the sizing engine failed ({type(error).__name__}: {error}); please report this"
        return _refused(body, previous, ReasonCode.SIZING_FAILED, why)
    message = f"{describe(result)}: {result.why}"
    planned = Decision(
        Verdict(True, ReasonCode.PLANNED, message),
        result,
        desired,
        placed.record if placed.record.tried else None,
        tuple(placed.events),
        placed.recheck_after,
        autoscaler,
        scaling,
        claims,
        shape=shape,
    )
    return _held_to_minimum(body, previous, settings, pod, planned)


def _held_to_minimum(
    body: dict[str, Any],
    previous: PlanRecord | None,
    settings: Settings,
    pod_template: dict[str, Any],
    planned: Decision,
) -> Decision:
    """`planned` with the Pod Security level its rendered pods meet; refused instead when
    that is below the operator's minimum."""
    found = assess(pod_template)
    status = PodSecurityStatus(level=found.level.value, unmet=[str(u) for u in found.unmet])
    minimum = Level(settings.minimum_pod_security)
    if meets(found, minimum):
        return replace(planned, pod_security=status)
    why = (
        f"its pods would meet the {found.level} Pod Security level, below the operator's "
        f"minimum ({minimum}): {'; '.join(status.unmet)}. Set these in spec.template (and "
        "use an image that runs as a non-root user)"
    )
    return _refused(body, previous, ReasonCode.POD_SECURITY_BELOW_MINIMUM, why)


def _finish_server(
    container: dict[str, Any],
    spec: NeuronDeploymentSpec,
    plan: PlanRecord,
    shape: CompiledShape | None,
) -> None:
    """The model server told its compiled artifact (spec.compiled), probed, and given the time
    to start that its plan needs (controller/probes.py), in place."""
    if spec.compiled is not None and shape is not None:
        tell_the_server(container, spec, shape)
    container.update(port_probes(container))
    precompiled = spec.compiled is not None and bool(spec.compiled.uri)
    probe = startup_probe(container, plan, precompiled)
    if probe is not None:
        container["startupProbe"] = probe


def contiguity(
    plan: PlanRecord, scheduler_name: str | None, dra: frozenset[str] = frozenset()
) -> Verdict | None:
    """Whether a plan whose pods ask for several cores or devices, not a whole node, gets
    them side by side: the Neuron scheduler extension places them so, and so does DRA (its
    claim constrains them to one connected group)."""
    instance = load_catalog().get(str(plan.instance_type), plan.logical_neuron_cores)
    if instance is None or not needs_contiguous_cores(plan, instance):
        return None
    asked = ", ".join(f"{count} {name}" for name, count in neuron_resources(plan).items())
    if instance.family in dra:
        count = devices_claimed(plan, instance)
        return Verdict(
            True,
            ReasonCode.DEVICE_CLAIM,
            f"each pod claims {count} connected {instance.name} device(s) through Dynamic "
            "Resource Allocation; the scheduler places them in one connected group",
        )
    if scheduler_name:
        return Verdict(
            True,
            ReasonCode.NEURON_SCHEDULER,
            f"each pod asks for {asked} on {instance.name}; scheduler {scheduler_name} (the "
            "Neuron scheduler extension) places them side by side",
        )
    return Verdict(
        False,
        ReasonCode.NO_NEURON_SCHEDULER,
        f"each pod asks for {asked} on {instance.name}, more than one and less than the whole "
        "node: the default scheduler only counts them, and cores that are not side by side "
        "can make the model fail to load or run slower. Install the Neuron scheduler extension "
        "and set the operator's schedulerName (the chart's value schedulerName)",
    )


def controlled_by(deployment: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether this NeuronDeployment (by uid) is the Deployment's controller."""
    uid = body["metadata"].get("uid")
    return any(
        o.get("controller") and o.get("uid") == uid
        for o in (deployment.get("metadata") or {}).get("ownerReferences") or []
    )


# --- drift --------------------------------------------------------------------------------


def matches(actual: Any, desired: Any) -> bool:
    """Whether every field we set has our value in `actual` (defaults and fields others set
    are ignored). Quantities compare by value: the API server canonicalises "2048Mi" to "2Gi"."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(actual[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(actual, list):
            return False
        if desired and all(isinstance(d, dict) and "name" in d for d in desired):
            by_name = {a.get("name"): a for a in actual if isinstance(a, dict)}
            return all(matches(by_name.get(d["name"]), d) for d in desired)
        return len(actual) == len(desired) and all(
            matches(a, d) for a, d in zip(actual, desired, strict=True)
        )
    if actual == desired:
        return True
    a, d = quantity(actual), quantity(desired)
    return a is not None and a == d


# --- the reconcile ------------------------------------------------------------------------

# applied: the Deployment was created or changed; refused: the spec cannot run (an existing
# Deployment was left as it was); unchanged: the cluster already matched.
Outcome = Literal["applied", "unchanged", "refused"]


class Writes(Protocol):
    """The writes a reconcile makes (controller/kube.py's Kube; a recording fake in tests).
    Each raises controller.errors' ApiTrouble subclasses."""

    def create_deployment(self, desired: dict[str, Any]) -> dict[str, Any]: ...

    def adopt_created_fields(self, namespace: str, name: str) -> None: ...

    def apply_deployment(self, desired: dict[str, Any]) -> dict[str, Any]: ...

    def seed_replicas(self, namespace: str, name: str, replicas: int) -> dict[str, Any]: ...

    def apply_autoscaler(self, desired: dict[str, Any]) -> dict[str, Any]: ...

    def apply_claim_template(self, desired: dict[str, Any]) -> dict[str, Any]: ...

    def delete_autoscaler(self, namespace: str, name: str) -> None: ...

    def apply_job(self, desired: dict[str, Any]) -> dict[str, Any]: ...

    def apply_leader_worker_set(self, desired: dict[str, Any]) -> dict[str, Any]: ...

    def apply_service(self, desired: dict[str, Any]) -> dict[str, Any]: ...

    def patch_status(
        self, namespace: str, name: str, patch: dict[str, Any], whole_at: str | None = None
    ) -> None: ...


def owns_replicas(deployment: dict[str, Any] | None, field_manager: str) -> bool:
    """Whether our apply owns the Deployment's spec.replicas (full managedFields as the API
    serves them, or the store's digest of them)."""
    for entry in (deployment or {}).get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") != field_manager or entry.get("operation") != "Apply":
            continue
        spec = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if entry.get("replicas") or "f:replicas" in spec:
            return True
    return False


@dataclass
class _Applied:
    """What converging the Deployment did: the Deployment as it now is, the verdict and plan
    the status reports, the events to post, and whether to retry."""

    deployment: dict[str, Any] | None
    verdict: Verdict
    plan_in_effect: PlanRecord | None
    outcome: Outcome = "unchanged"
    events: list[Event] = field(default_factory=list)
    retry: ApiTrouble | None = None
    contested: str | None = None  # who keeps changing what we set, and what we do about it


def _converge_deployment(
    kube: Writes,
    body: dict[str, Any],
    old: NeuronDeploymentStatus,
    decision: Decision,
    deployment: dict[str, Any] | None,
    settings: Settings,
    drift: DriftGuard | None,
    at: float,
    other: dict[str, Any] | None = None,
) -> _Applied:
    """Converge the object the plan runs as (`deployment`: the Deployment, or the
    LeaderWorkerSet of a plan across nodes), the other kind (`other`) left alone."""
    metadata = body["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    result = _Applied(deployment, decision.verdict, decision.plan_in_effect)
    desired = decision.desired
    kind = str((desired or deployment or {}).get("kind") or "Deployment")
    if deployment is not None and not controlled_by(deployment, body):
        why = (
            f"a {kind} named {name} already exists and is not controlled by this "
            f"NeuronDeployment; it is left untouched: rename one of them or delete the {kind}"
        )
        result.verdict = Verdict(False, ReasonCode.NAME_CONFLICT, _not_applied(body, old.plan, why))
        result.plan_in_effect, result.deployment = old.plan, None
        return result
    if desired is not None and other is not None and controlled_by(other, body):
        # Another kind of controller runs the workload now: switching would tear it down.
        why = (
            f"the new plan runs as a {kind} and {other.get('kind')} {name} runs the current "
            f"one; it is left running: delete {other.get('kind')} {name} to switch"
        )
        result.verdict = Verdict(
            False, ReasonCode.CONTROLLER_KIND_CHANGE, _not_applied(body, old.plan, why)
        )
        result.plan_in_effect, result.deployment = old.plan, other
        return result
    key = (namespace, name)
    if drift is not None and deployment is not None and drift.rounds(key, at) > 1:
        result.contested = _contested(deployment, settings, drift, key, at)  # not over yet
    if desired is None or matches(deployment, desired):
        return result
    # Someone else changed what we applied from this very desired state: a revert, spaced.
    if drift is not None and deployment is not None and is_drift(deployment, desired):
        wait = drift.wait(key, at)
        if wait > 0:
            result.contested = _contested(deployment, settings, drift, key, at)
            result.retry = TransientError(result.contested, "drift", retry_after=wait)
            return result
        if drift.reverted(key, at) > 1:
            result.contested = _contested(deployment, settings, drift, key, at)
    autoscaled = decision.bounds is not None
    try:
        existed = deployment is not None
        if autoscaled and existed and owns_replicas(deployment, settings.field_manager):
            # Hand the replicas over before our apply lets go of them: a field its only
            # manager stops applying is removed, and the Deployment would drop to 1 replica.
            assert decision.bounds is not None
            kube.seed_replicas(namespace, name, decision.bounds.start)
        if decision.claim_template is not None:  # the pods' claims name it: first
            kube.apply_claim_template(decision.claim_template)
        if kind == LWS_KIND:
            result.deployment = kube.apply_leader_worker_set(desired)
        elif not existed and not autoscaled:
            # A POST (Kube.create_deployment): AlreadyExists goes to the caller, which reads
            # the Deployment of that name and reconciles again with it.
            result.deployment = kube.create_deployment(desired)
        else:
            if existed and created_not_applied(deployment, settings.field_manager):
                kube.adopt_created_fields(namespace, name)
            result.deployment = kube.apply_deployment(desired)
        if autoscaled and not existed:
            assert decision.bounds is not None  # the HPA starts from the plan's replicas
            result.deployment = kube.seed_replicas(namespace, name, decision.bounds.start)
        result.outcome = "applied"
        assert result.plan_in_effect is not None  # a desired Deployment comes with its plan
        if kind == LWS_KIND:
            updated, created = ReasonCode.GROUP_SET_UPDATED, ReasonCode.GROUP_SET_CREATED
        else:
            updated, created = ReasonCode.DEPLOYMENT_UPDATED, ReasonCode.DEPLOYMENT_CREATED
        reason = updated if existed else created
        action = "updated" if existed else "created"
        message = f"{kind} {name} {action}: {describe(result.plan_in_effect)}"
        result.events.append(Event("Normal", reason, message))
    except UserError as error:
        why = f"the API server refused the {kind}: {error}"
        result.verdict = Verdict(
            False, ReasonCode.DEPLOYMENT_REJECTED, _not_applied(body, old.plan, why)
        )
        result.plan_in_effect = old.plan
    except Forbidden as error:
        resource = (
            "leaderworkersets.leaderworkerset.x-k8s.io"
            if kind == LWS_KIND
            else ("deployments.apps")
        )
        why = (
            f"the operator may not create or patch {kind}s in namespace "
            f"{namespace} (grant its service account create and patch on {resource}): {error}"
        )
        result.verdict = Verdict(False, ReasonCode.FORBIDDEN, _not_applied(body, old.plan, why))
        result.plan_in_effect, result.retry = old.plan, error
    return result


def _converge_autoscaler(
    kube: Writes,
    body: dict[str, Any],
    decision: Decision,
    autoscaler: dict[str, Any] | None,
    applied: _Applied,
) -> None:
    """The HPA as spec.autoscaling wants it: applied when it differs, deleted when the spec no
    longer asks for one (only ours: an HPA someone else made is left alone)."""
    name = body["metadata"]["name"]
    desired = decision.autoscaler
    if not applied.verdict.planned or applied.deployment is None:
        return  # a refused spec changes nothing; without our Deployment, nothing to scale
    if desired is not None:
        if matches(autoscaler, desired):
            return
        kube.apply_autoscaler(desired)
        assert decision.bounds is not None
        message = f"HorizontalPodAutoscaler {name}: {decision.bounds.describe()}"
        applied.events.append(Event("Normal", ReasonCode.AUTOSCALER_APPLIED, message))
    elif autoscaler is not None and controlled_by(autoscaler, body):
        kube.delete_autoscaler(body["metadata"]["namespace"], name)
        message = f"HorizontalPodAutoscaler {name} deleted: spec.autoscaling was removed"
        applied.events.append(Event("Normal", ReasonCode.AUTOSCALER_DELETED, message))


def _converge_run(
    kube: Writes,
    body: dict[str, Any],
    decision: Decision,
    job: dict[str, Any] | None,
    applied: _Applied,
) -> dict[str, Any] | None:
    """The run's Job: created once, then never changed or restarted (a Job's pods cannot
    change, and a finished run must stay finished). Returns the Job as it now is."""
    desired = decision.job
    if desired is None or not applied.verdict.planned:
        return job
    if job is not None:
        if not controlled_by(job, body):
            name = job["metadata"]["name"]
            why = (
                f"a Job named {name} already exists and is not controlled by this "
                "NeuronDeployment; it is left untouched: raise spec.training.run or delete it"
            )
            applied.verdict = Verdict(False, ReasonCode.NAME_CONFLICT, why)
            return None
        if not is_drift(job, desired):  # made from another spec than this one
            run = training_run(body)
            applied.verdict = Verdict(
                True,
                ReasonCode.PLANNED,
                f"{applied.verdict.message}; run {run} was started from an earlier spec and is "
                "left as it is: raise spec.training.run to start a run with this one",
            )
        return job
    assert decision.service is not None
    kube.apply_service(decision.service)
    created = kube.apply_job(desired)
    workers = desired["spec"]["parallelism"]
    plan = decision.plan_in_effect
    where = plan.instance_type if plan is not None else "?"
    message = f"Job {desired['metadata']['name']} started: {workers} worker(s), one per {where}"
    applied.events.append(Event("Normal", ReasonCode.RUN_STARTED, message))
    applied.outcome = "applied"
    return created


def _contested(
    deployment: dict[str, Any], settings: Settings, drift: DriftGuard, key: Key, at: float
) -> str:
    who = ", ".join(other_writers(deployment, settings.field_manager)[:2]) or "someone"
    return (
        f"{who} keeps changing fields the operator sets on Deployment {key[1]}; the operator "
        f"reverts them at most once every {drift.interval(key, at):.0f} s"
    )


def reconcile(
    kube: Writes,
    body: dict[str, Any],
    deployment: dict[str, Any] | None,
    settings: Settings,
    emit: Callable[[Event], None],
    now: Callable[[], str],
    drift: DriftGuard | None = None,
    at: float = 0.0,
    cluster: Cluster | None = None,
    wall: float = 0.0,
    recheck: Callable[[float], None] = lambda _: None,
    autoscaler: dict[str, Any] | None = None,
    catalog: Catalog | None = None,
    dra: frozenset[str] = frozenset(),
    job: dict[str, Any] | None = None,
    group_set: dict[str, Any] | None = None,
    groups: bool = True,
) -> Outcome:
    """`body` is the NeuronDeployment and `deployment` its Deployment (None: there is none),
    as the caller gathered them; `drift` spaces reverts of others' changes (`at`: monotonic
    seconds now). `cluster` is what the cluster says of capacity and of this object's waiting
    pods (None: plan against the catalog alone), at `wall` (epoch seconds); `recheck(seconds)`
    is told when fallback must look again; `autoscaler` is the HPA of that name, if any;
    `catalog` has the operator's prices (None: list prices); `dra` the families whose pods
    claim their devices through DRA; `job` the Job of the current training run, if any;
    `group_set` the LeaderWorkerSet of that name, if any, and `groups` whether the cluster runs
    LeaderWorkerSet at all.
    Raises TransientError or Forbidden when the reconcile must be retried; the status says why
    first, where it can be written."""
    metadata = body["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    old = NeuronDeploymentStatus.model_validate(body.get("status") or {})
    stamp = now()
    decision = decide(body, old, settings, cluster, wall, stamp, catalog, dra, groups)
    # The object the plan runs as: its kind follows the decision, or the plan in effect.
    desired_kind = (decision.desired or {}).get("kind")
    across = desired_kind == LWS_KIND or (desired_kind is None and spans_nodes(old.plan))
    workload, other = (group_set, deployment) if across else (deployment, group_set)
    applied = _converge_deployment(kube, body, old, decision, workload, settings, drift, at, other)
    training = decision.job is not None
    if applied.retry is None and training:
        try:
            job = _converge_run(kube, body, decision, job, applied)
        except UserError as error:
            why = f"the API server refused the run's Job: {error}"
            applied.verdict = Verdict(False, ReasonCode.DEPLOYMENT_REJECTED, why)
        except (Forbidden, TransientError) as error:
            applied.retry = error
        if deployment is not None and controlled_by(deployment, body):
            # An operator before training ran as Jobs rendered a Deployment, which restarts
            # the old trainers forever; it may not delete one, so it says so.
            applied.verdict = replace(
                applied.verdict,
                message=f"{applied.verdict.message}; Deployment {name}, made for this object by "
                "an earlier operator version, still restarts its training pods: delete it "
                f"(kubectl delete deployment {name} -n {namespace})",
            )
    if applied.retry is None and not training:
        try:
            _converge_autoscaler(kube, body, decision, autoscaler, applied)
        except UserError as error:
            why = f"the API server refused the HorizontalPodAutoscaler: {error}"
            applied.verdict = Verdict(False, ReasonCode.DEPLOYMENT_REJECTED, why)
        except (Forbidden, TransientError) as error:
            applied.retry = error
    placement = decision.placement if decision.verdict.planned else old.placement
    running = applied.plan_in_effect
    needs = contiguity(running, settings.scheduler_name, dra) if running is not None else None
    running_as = applied.deployment
    if running_as is not None and running_as.get("kind") == LWS_KIND:
        running_as = as_rollout(running_as)  # its groups as the status counts replicas
    new = compute_status(
        body,
        old,
        applied.verdict,
        applied.plan_in_effect,
        running_as,
        stamp,
        contested=applied.contested,
        placement=placement,
        contiguity=needs,
        autoscaling=autoscaling_status(body, decision) if applied.verdict.planned else None,
        run=run_of(body, job) if training or is_training(body) else None,
        training=training or is_training(body),
        shape=decision.shape if applied.verdict.planned else old.shape,
        pod_security=decision.pod_security if applied.verdict.planned else old.pod_security,
    )
    try:
        _write_status(kube, body, status_document(new))
    except UserError as error:
        # Our own document refused: an operator bug. Say so in a status the server accepts,
        # once: the next trigger finds that status already written and writes nothing more.
        why = f"the API server refused the status the operator wrote: {error}; please report this"
        verdict = Verdict(False, ReasonCode.STATUS_REJECTED, why)
        new = compute_status(body, old, verdict, None, applied.deployment, now())
        _write_status(kube, body, minimal_status_document(new))
    happened = [*decision.events, *events_between(old, new), *applied.events]
    for event in worth_posting(happened, first_reconcile=old.observed_generation is None):
        emit(event)
    if decision.recheck_after is not None:
        recheck(decision.recheck_after)
    if applied.retry is not None:
        raise applied.retry
    return applied.outcome if applied.verdict.planned else "refused"


def is_training(body: dict[str, Any]) -> bool:
    return (body.get("spec") or {}).get("workload") == Workload.TRAINING.value


def run_of(body: dict[str, Any], job: dict[str, Any] | None) -> RunStatus | None:
    return None if job is None else run_status(job, training_run(body))


def autoscaling_status(body: dict[str, Any], decision: Decision) -> AutoscalingStatus | None:
    found = decision.bounds
    spec = (body.get("spec") or {}).get("autoscaling")
    if found is None or not spec:
        return None
    scaling = Autoscaling.model_validate(spec)
    return AutoscalingStatus(
        min_replicas=found.min_replicas,
        max_replicas=found.max_replicas,
        starting_replicas=found.start,
        metric=describe_metric(scaling),
        hourly_cost=found.hourly_cost,
        autoscaler=body["metadata"]["name"],
    )


def _write_status(kube: Writes, body: dict[str, Any], document: dict[str, Any]) -> None:
    """The change from the status `body` holds; the first status whole, at the version the
    reconcile read (Kube.patch_status: cheaper for the API server on the creation of many
    objects)."""
    metadata = body["metadata"]
    current = body.get("status") or {}
    patch = merge_patch(current, document)
    if patch:
        whole_at = None if current else metadata.get("resourceVersion")
        kube.patch_status(metadata["namespace"], metadata["name"], patch, whole_at=whole_at)
