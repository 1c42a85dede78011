"""The NeuronDeployment status: the applied plan, replica counts and Kubernetes conditions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from neuron_operator.api.plan import PlanRecord, Range
from neuron_operator.api.v1alpha1 import ApiModel, Compiled

CONDITION_PLANNED = "Planned"
CONDITION_AVAILABLE = "Available"
CONDITION_READY = "Ready"
# Only once someone has fought the operator over the Deployment: True while they do.
CONDITION_DEGRADED = "Degraded"
# Only while the plan in effect needs contiguous NeuronCores (more than one, less than a node):
# True when the Neuron scheduler extension is configured to place them, else False.
CONDITION_CONTIGUOUS_CORES = "ContiguousCores"
CONDITION_TYPES = (
    CONDITION_PLANNED,
    CONDITION_AVAILABLE,
    CONDITION_READY,
    CONDITION_DEGRADED,
    CONDITION_CONTIGUOUS_CORES,
)
# metav1.Condition's bound on a message; the operator truncates longer ones.
MAX_MESSAGE = 32768


class Condition(ApiModel):
    """A condition in the Kubernetes convention (KEP-1623)."""

    type: str = Field(description="Planned, Available, Ready, Degraded or ContiguousCores.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason code.")
    message: str = Field(
        default="", max_length=MAX_MESSAGE, description="What happened, for people."
    )
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the condition was set for."
    )


class TriedPlan(ApiModel):
    """A plan given up because its pods could not be scheduled (spec.placement.fallback)."""

    instance_type: str = Field(description="The instance type its pods waited for.")
    cores_per_replica: int | None = Field(default=None, description="Its core grouping.")
    given_up_at: str = Field(description="When the operator moved away from it (RFC 3339).")
    message: str = Field(description="How long the pods waited, and the scheduler's words.")
    capacity: str = Field(
        description=(
            "Fingerprint of the cluster's Neuron nodes and NodePools when it was given up: the "
            "plan is not tried again while it is the same."
        )
    )


class PlacementStatus(ApiModel):
    """Fallback's record for the current spec: the first choice, and what was given up."""

    generation: int | None = Field(
        default=None, description="The spec generation these tries belong to."
    )
    retry_preferred: str | None = Field(
        default=None,
        description="The neuron.dev/retry-preferred annotation's value when the record began.",
    )
    preferred: str | None = Field(
        default=None, description="The first choice for this spec, before any fallback."
    )
    tried: list[TriedPlan] = Field(
        default_factory=list, description="Plans given up, oldest first."
    )


class AutoscalingStatus(ApiModel):
    """The HorizontalPodAutoscaler's bounds, as spec.autoscaling and the plan set them."""

    min_replicas: int = Field(description="Fewest replicas.")
    max_replicas: int = Field(
        description="Most replicas (spec.autoscaling.maxReplicas, or what the budget pays for)."
    )
    starting_replicas: int = Field(description="The plan's replicas, where the HPA started.")
    metric: str = Field(description="What it scales on, for people.")
    hourly_cost: Range | None = Field(
        default=None,
        description="USD per hour of the nodes at the fewest and at the most replicas.",
    )
    autoscaler: str = Field(description="Name of the HorizontalPodAutoscaler.")


class RunStatus(ApiModel):
    """workload: training: the Job of the current run, as the Job controller reports it."""

    job: str = Field(description="Name of the run's Job.")
    run: int = Field(description="spec.training.run the Job was made for.")
    phase: Literal["Pending", "Running", "Succeeded", "Failed"] = Field(
        description="Pending (workers not all running), Running, Succeeded or Failed."
    )
    reason: str | None = Field(default=None, description="The Job's reason when it finished.")
    message: str | None = Field(default=None, description="The Job's message when it finished.")
    workers: int = Field(default=1, description="Worker pods the run has, one per node.")
    ready: int = Field(default=0, description="Worker pods ready.")
    active: int = Field(default=0, description="Worker pods running or pending.")
    succeeded: int = Field(default=0, description="Workers that completed.")
    failed: int = Field(default=0, description="Worker pods that failed.")
    start_time: str | None = Field(default=None, description="When the Job started.")
    completion_time: str | None = Field(default=None, description="When it succeeded.")


class CompiledShape(Compiled):
    """The shapes a plan's model is compiled for, and the model they are for."""

    pipeline_parallel_size: int | None = Field(
        default=None,
        description="Pipeline stages across nodes, for a replica across nodes (else unset).",
    )
    model: str | None = Field(
        default=None,
        description="The model (family, weights, dtype): another one is a new artifact anyway.",
    )


class PodSecurityStatus(ApiModel):
    """The Pod Security Standard level the rendered pods meet."""

    level: Literal["restricted", "baseline", "privileged"] = Field(
        description=(
            "The highest Pod Security level the pods meet: a namespace that enforces a higher "
            "one refuses them."
        )
    )
    unmet: list[str] = Field(
        default_factory=list,
        description=(
            "What keeps them from the next level, field by field (the NeuronDeployment's "
            "paths); empty at restricted."
        ),
    )


class NeuronDeploymentStatus(ApiModel):
    """What the operator decided and observed."""

    observed_generation: int | None = Field(
        default=None, description="The most recent generation the operator has acted on."
    )
    plan: PlanRecord | None = Field(
        default=None,
        description=(
            "The plan the Deployment runs (the `plan` command's output, with each alternative "
            "in brief). When a later spec has no feasible plan, this stays the plan in effect "
            "and the Planned condition says why the new spec was not applied."
        ),
    )
    placement: PlacementStatus | None = Field(
        default=None,
        description="Fallback's record: present once spec.placement.fallback moved the workload.",
    )
    autoscaling: AutoscalingStatus | None = Field(
        default=None, description="Present while spec.autoscaling is: the HPA's bounds."
    )
    run: RunStatus | None = Field(
        default=None, description="workload: training: the current run's Job and its state."
    )
    shape: CompiledShape | None = Field(
        default=None,
        description=(
            "The shapes the running plan's model is compiled for (serving). A later plan of "
            "other shapes is not rolled out until they are acknowledged: the Planned condition "
            "says RecompileRequired and how (spec.compiled, or the annotation "
            "neuron.dev/recompiled-for)."
        ),
    )
    pod_security: PodSecurityStatus | None = Field(
        default=None,
        description="The Pod Security level the pods of the plan in effect meet, and why not more.",
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
        "Deployment has its minimum available), Ready (both, for the current generation), "
        "Degraded once someone has kept changing what the operator sets on the Deployment, and "
        "ContiguousCores while the plan needs side-by-side NeuronCores (False: no Neuron "
        "scheduler extension is configured to place them).",
    )
