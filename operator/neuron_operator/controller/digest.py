"""The little the operator keeps of each NeuronDeployment beside the object itself (the store
keeps it with each version): what the metrics count and what the resync looks for. Pure."""

from __future__ import annotations

from typing import Any, NamedTuple

from neuron_operator.api.reasons import ReasonCode
from neuron_operator.api.status import CONDITION_DEGRADED, CONDITION_PLANNED
from neuron_operator.controller.fallback import RETRY_PREFERRED
from neuron_operator.controller.recompile import ACKNOWLEDGED


class Digest(NamedTuple):
    """What the operator keeps of each NeuronDeployment beside the object: the instance type
    of the plan in effect, the reason its current spec has no plan (None when it has one), and
    whether its status is behind its spec (a reconcile is owed)."""

    instance_type: str | None
    unplanned: str | None
    stale: bool
    contested: bool = False  # Degraded: someone keeps changing what we set


def retry_asked(body: dict[str, Any]) -> bool:
    """Whether the user asked for the first choice back (the annotation has a value the fallback
    record has not seen): kopf does not call its update handlers for an annotation."""
    placement = (body.get("status") or {}).get("placement")
    if not placement:
        return False
    asked = ((body.get("metadata") or {}).get("annotations") or {}).get(RETRY_PREFERRED)
    return bool((asked or None) != placement.get("retryPreferred"))


def acknowledgement_given(body: dict[str, Any]) -> bool:
    """Whether a plan held for a recompile may now be acknowledged (the annotation is set while
    the object says RecompileRequired): kopf does not call its update handlers for it."""
    asked = ((body.get("metadata") or {}).get("annotations") or {}).get(ACKNOWLEDGED)
    return bool(asked) and any(
        c.get("type") == CONDITION_PLANNED and c.get("reason") == ReasonCode.RECOMPILE_REQUIRED
        for c in (body.get("status") or {}).get("conditions") or []
    )


def plan_summary(body: dict[str, Any]) -> Digest:
    status = body.get("status") or {}
    instance_type = (status.get("plan") or {}).get("instanceType")
    unplanned = next(
        (
            str(c.get("reason"))
            for c in status.get("conditions") or []
            if c.get("type") == CONDITION_PLANNED and c.get("status") == "False"
        ),
        None,
    )
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    contested = any(
        c.get("type") == CONDITION_DEGRADED and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return Digest(
        str(instance_type) if instance_type else None,
        unplanned,
        status.get("observedGeneration") != generation or retry_asked(body),
        contested,
    )
