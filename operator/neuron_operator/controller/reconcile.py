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

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from pydantic import ValidationError

from neuron_operator.api.errors import format_validation_error
from neuron_operator.api.plan import Plan
from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec
from neuron_operator.controller.kube import Kube, UserError
from neuron_operator.controller.render import render_deployment, template_problems
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import (
    Event,
    Verdict,
    compute_status,
    describe,
    events_between,
    status_document,
)
from neuron_operator.sizing import plan as make_plan


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    plan_in_effect: Plan | None
    desired: dict[str, Any] | None  # the Deployment to converge to; None: leave it as it is


def _not_applied(body: dict[str, Any], previous: Plan | None, why: str) -> str:
    generation = body["metadata"].get("generation")
    if previous is None:
        return why
    return f"spec generation {generation} not applied ({why}); still running {describe(previous)}"


@lru_cache(maxsize=4096)
def _plan_for(spec_json: str) -> Plan:
    """plan() is pure and deterministic: a Deployment's many status events re-plan nothing."""
    return make_plan(NeuronDeploymentSpec.model_validate_json(spec_json))


def plan_cached(spec: NeuronDeploymentSpec) -> Plan:
    return _plan_for(spec.model_dump_json(exclude={"template"}))


def decide(body: dict[str, Any], old: NeuronDeploymentStatus, settings: Settings) -> Decision:
    """Pure: what the Deployment should be, or why the current spec cannot run."""
    previous = old.plan
    try:
        spec = NeuronDeploymentSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        message = format_validation_error(error, "spec").replace("\n", "; ")
        return Decision(
            Verdict(False, "InvalidSpec", _not_applied(body, previous, message)), previous, None
        )
    problems = template_problems(spec.template)
    if problems:
        message = "; ".join(str(p) for p in problems)
        return Decision(
            Verdict(False, "TemplateNotAllowed", _not_applied(body, previous, message)),
            previous,
            None,
        )
    result = plan_cached(spec)
    if not result.feasible:
        reason = result.reasons[0].reason if result.reasons else "NoFeasiblePlan"
        message = "; ".join(f"{r.reason}: {r.message}" for r in result.reasons)
        return Decision(
            Verdict(False, reason, _not_applied(body, previous, message)), previous, None
        )
    assert spec.template is not None  # template_problems requires it
    desired = render_deployment(body, spec.template, result, settings.scheduler_name)
    return Decision(Verdict(True, "Planned", f"{describe(result)}: {result.why}"), result, desired)


# --- drift --------------------------------------------------------------------------------

_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            try:
                return Decimal(text[: -len(suffix)]) * Decimal(str(_SUFFIXES[suffix]))
            except InvalidOperation:
                return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


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
    a, d = _quantity(actual), _quantity(desired)
    return a is not None and a == d


# --- the reconcile ------------------------------------------------------------------------

# applied: the Deployment was created or changed; refused: the spec cannot run (an existing
# Deployment was left as it was); unchanged: the cluster already matched.
Outcome = Literal["applied", "unchanged", "refused"]


def reconcile(
    kube: Kube,
    body: dict[str, Any],
    deployment: dict[str, Any] | None,
    settings: Settings,
    emit: Callable[[Event], None],
    now: Callable[[], str],
) -> Outcome:
    """`body` is the NeuronDeployment and `deployment` its Deployment (None: there is none),
    as the caller gathered them."""
    metadata = body["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    old = NeuronDeploymentStatus.model_validate(body.get("status") or {})
    decision = decide(body, old, settings)
    verdict, plan_in_effect = decision.verdict, decision.plan_in_effect
    events: list[Event] = []
    outcome: Outcome = "unchanged"
    if decision.desired is not None and not matches(deployment, decision.desired):
        try:
            existed = deployment is not None
            deployment = kube.apply_deployment(decision.desired)
            outcome = "applied"
            action = "updated" if existed else "created"
            assert plan_in_effect is not None  # a desired Deployment comes with its plan
            events.append(
                Event(
                    "Normal",
                    f"Deployment{action.capitalize()}",
                    f"Deployment {name} {action}: {describe(plan_in_effect)}",
                )
            )
        except UserError as error:
            why = f"the API server refused the Deployment: {error}"
            verdict = Verdict(False, "DeploymentRejected", _not_applied(body, old.plan, why))
            plan_in_effect = old.plan
    new = compute_status(body, old, verdict, plan_in_effect, deployment, now())
    document = status_document(new)
    current = body.get("status") or {}
    if document != current:
        # A merge patch: keys we no longer set are removed explicitly.
        patch: dict[str, Any] = {key: None for key in current if key not in document}
        patch.update(document)
        kube.patch_status(namespace, name, patch)
    events = events_between(old, new) + events
    for event in events:
        emit(event)
    return outcome if verdict.planned else "refused"
