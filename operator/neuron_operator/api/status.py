"""The NeuronDeployment status: the applied plan, replica counts and Kubernetes conditions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from neuron_operator.api.plan import Plan
from neuron_operator.api.v1alpha1 import ApiModel

CONDITION_PLANNED = "Planned"
CONDITION_AVAILABLE = "Available"
CONDITION_READY = "Ready"
# Only once someone has fought the operator over the Deployment: True while they do.
CONDITION_DEGRADED = "Degraded"
CONDITION_TYPES = (CONDITION_PLANNED, CONDITION_AVAILABLE, CONDITION_READY, CONDITION_DEGRADED)
# metav1.Condition's bound on a message; the operator truncates longer ones.
MAX_MESSAGE = 32768


class Condition(ApiModel):
    """A condition in the Kubernetes convention (KEP-1623)."""

    type: str = Field(description="Planned, Available, Ready or Degraded.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason code.")
    message: str = Field(
        default="", max_length=MAX_MESSAGE, description="What happened, for people."
    )
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the condition was set for."
    )


class NeuronDeploymentStatus(ApiModel):
    """What the operator decided and observed."""

    observed_generation: int | None = Field(
        default=None, description="The most recent generation the operator has acted on."
    )
    plan: Plan | None = Field(
        default=None,
        description=(
            "The plan the Deployment runs (the `plan` command's output). When a later spec has "
            "no feasible plan, this stays the plan in effect and the Planned condition says why "
            "the new spec was not applied."
        ),
    )
    replicas: int | None = Field(default=None, description="Pods the Deployment has.")
    ready_replicas: int | None = Field(default=None, description="Pods ready to serve.")
    available_replicas: int | None = Field(default=None, description="Pods available.")
    ready_summary: str | None = Field(
        default=None, description="ready/desired replicas, for `kubectl get`."
    )
    selector: str | None = Field(
        default=None, description="Label selector of the pods (for the scale subresource)."
    )
    deployment: str | None = Field(default=None, description="Name of the managed Deployment.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Planned (the current spec has a plan and was applied), Available (the "
        "Deployment has its minimum available), Ready (both, for the current generation), and "
        "Degraded once someone has kept changing what the operator sets on the Deployment.",
    )
