"""The reason codes the operator writes into conditions and events, in one place: users'
alerts and dashboards match on them, so they are stable API. (The engine's rejection codes,
such as ExceedsMemory, come from the engine's rules and pass through unchanged.)"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    # Planned
    PLANNED = "Planned"  # the current spec has a plan and it was applied
    INVALID_SPEC = "InvalidSpec"  # the spec does not parse (the API server let it through)
    TEMPLATE_NOT_ALLOWED = "TemplateNotAllowed"  # the pod template asks for forbidden power
    IMAGE_NOT_ALLOWED = "ImageNotAllowed"  # an image outside the operator's allowlist
    NO_FEASIBLE_PLAN = "NoFeasiblePlan"  # the engine gave no plan and no reason
    SIZING_FAILED = "SizingFailed"  # the engine raised: a bug, reported instead of crashing
    NAME_CONFLICT = "NameConflict"  # a Deployment of this name belongs to someone else
    DEPLOYMENT_REJECTED = "DeploymentRejected"  # the API server refused the Deployment
    FORBIDDEN = "Forbidden"  # the operator's service account lacks a permission
    STATUS_REJECTED = "StatusRejected"  # the API server refused the full status document
    # Available
    NO_DEPLOYMENT = "NoDeployment"
    DEPLOYMENT_UNAVAILABLE = "DeploymentUnavailable"
    MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
    # Ready
    READY = "Ready"
    NOT_PLANNED = "NotPlanned"
    UNAVAILABLE = "Unavailable"
    ROLLING_OUT = "RollingOut"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    POD_CREATION_FAILED = "PodCreationFailed"  # the ReplicaSet cannot create pods (quota, PSA)
    # Degraded
    EXTERNAL_MODIFICATION = "ExternalModification"  # someone keeps reverting what we set
    NO_EXTERNAL_MODIFICATION = "NoExternalModification"
    # Events only
    DEPLOYMENT_CREATED = "DeploymentCreated"
    DEPLOYMENT_UPDATED = "DeploymentUpdated"
    PLAN_CHANGED = "PlanChanged"
