"""Every reason code the operator and its sizing engine write, in one place: users' alerts and
dashboards match on them, so the strings are stable API. The operator's codes go into
conditions and events; the engine's say why an instance type or a configuration was rejected
(`Plan.rejected`, `Plan.reasons`), and the first of them becomes the Planned condition's reason
when nothing is feasible."""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    # --- The operator: conditions and events ---
    # Planned
    PLANNED = "Planned"  # the current spec has a plan and it was applied
    INVALID_SPEC = "InvalidSpec"  # the spec does not parse (the API server let it through)
    TEMPLATE_NOT_ALLOWED = "TemplateNotAllowed"  # the pod template asks for forbidden power
    IMAGE_NOT_ALLOWED = "ImageNotAllowed"  # an image outside the operator's allowlist
    # the rendered pods meet a lower Pod Security level than the operator's minimum
    POD_SECURITY_BELOW_MINIMUM = "PodSecurityBelowMinimum"
    NO_FEASIBLE_PLAN = "NoFeasiblePlan"  # the engine gave no plan and no reason
    SIZING_FAILED = "SizingFailed"  # the engine raised: a bug, reported instead of crashing
    NAME_CONFLICT = "NameConflict"  # a Deployment of this name belongs to someone else
    # the new plan needs the model compiled for other shapes: held until acknowledged
    RECOMPILE_REQUIRED = "RecompileRequired"
    # the new plan needs another controller kind (Deployment <-> LeaderWorkerSet): held
    CONTROLLER_KIND_CHANGE = "ControllerKindChange"
    DEPLOYMENT_REJECTED = "DeploymentRejected"  # the API server refused the Deployment
    FORBIDDEN = "Forbidden"  # the operator's service account lacks a permission
    AUTOSCALING_NOT_BOUNDED = "AutoscalingNotBounded"  # no maxReplicas and no budget to bound it
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
    # Available and Ready of a training run (workload: training)
    RUN_PENDING = "RunPending"  # not every worker is ready yet
    RUN_RUNNING = "RunRunning"  # every worker runs
    RUN_SUCCEEDED = "RunSucceeded"  # the Job completed
    RUN_FAILED = "RunFailed"  # the Job failed (its reason in the message)
    RUN_IN_PROGRESS = "RunInProgress"  # Ready of a run that has not finished
    # Degraded
    EXTERNAL_MODIFICATION = "ExternalModification"  # someone keeps reverting what we set
    NO_EXTERNAL_MODIFICATION = "NoExternalModification"
    # ContiguousCores
    NEURON_SCHEDULER = "NeuronScheduler"  # the configured scheduler extension places them
    NO_NEURON_SCHEDULER = "NoNeuronScheduler"  # none configured: cores may land apart
    DEVICE_CLAIM = "DeviceClaim"  # DRA: a claim constrained to one connected device group
    # Events only
    DEPLOYMENT_CREATED = "DeploymentCreated"
    DEPLOYMENT_UPDATED = "DeploymentUpdated"
    GROUP_SET_CREATED = "LeaderWorkerSetCreated"  # a plan across nodes: its LeaderWorkerSet
    GROUP_SET_UPDATED = "LeaderWorkerSetUpdated"
    PLAN_CHANGED = "PlanChanged"
    RUN_STARTED = "RunStarted"  # a run's Job was created
    FELL_BACK = "FellBack"  # pods stayed Unschedulable: moved to the next feasible plan
    NO_FALLBACK = "NoFallback"  # pods stayed Unschedulable and no other plan is feasible
    PREFERRED_PLAN_RESTORED = "PreferredPlanRestored"  # the user asked to try the first choice
    AUTOSCALER_APPLIED = "AutoscalerApplied"  # the HorizontalPodAutoscaler created or changed
    AUTOSCALER_DELETED = "AutoscalerDeleted"  # spec.autoscaling removed: the HPA with it

    # --- The sizing engine: rejections, in the order of its checks ---
    # Constraints
    UNKNOWN_INSTANCE_TYPE = "UnknownInstanceType"  # the spec names a type the catalog lacks
    EXCLUDED_BY_CONSTRAINTS = "ExcludedByConstraints"  # constraints or overrides rule it out
    NOT_PROVISIONABLE = "NotProvisionable"  # no such node, and no NodePool can make one
    # its pods waited Unschedulable past spec.placement.fallback.afterSeconds (fallback)
    STAYED_UNSCHEDULABLE = "StayedUnschedulable"
    # spec.compiled: the artifact's target or shapes rule this out
    NOT_THE_COMPILED_SHAPE = "NotTheCompiledShape"
    # Architecture fit (a verdict's code; good and limited fits are not rejections)
    ARCHITECTURE_GOOD_FIT = "ArchitectureGoodFit"
    ARCHITECTURE_SUPPORTED_WITH_LIMITATIONS = "ArchitectureSupportedWithLimitations"
    ARCHITECTURE_NOT_A_GOOD_FIT = "ArchitectureNotAGoodFit"
    ARCHITECTURE_NOT_SUPPORTED = "ArchitectureNotSupported"
    WORKLOAD_NOT_SUPPORTED = "WorkloadNotSupported"  # training on an inference instance
    DTYPE_NOT_SUPPORTED = "DTypeNotSupported"  # fp8 before NeuronCore-v2
    EXCEEDS_INF1_COMPILE_LIMIT = "ExceedsInf1CompileLimit"  # weights over Inf1's 2 GB
    PRICE_UNKNOWN = "PriceUnknown"  # cost objective or budget, and no public price
    # Core grouping and memory
    CORE_GROUP_NOT_PLACEABLE = "CoreGroupNotPlaceable"  # the Neuron scheduler cannot place it
    HEADS_NOT_DIVISIBLE = "HeadsNotDivisible"  # TP degree does not divide the attention heads
    EXCEEDS_MEMORY = "ExceedsMemory"  # a model copy does not fit its cores' memory
    # The request
    LATENCY_UNREACHABLE = "LatencyUnreachable"  # p95 over slo.latencyMs
    MAX_REPLICAS_EXCEEDED = "MaxReplicasExceeded"  # slo.throughput needs too many replicas
    MULTI_NODE_NEEDS_EFA = "MultiNodeNeedsEfa"  # training across nodes on a size without EFA
    # a replica across nodes, and the cluster has no LeaderWorkerSet CRD to run it with
    LEADER_WORKER_SET_NOT_INSTALLED = "LeaderWorkerSetNotInstalled"
    OVER_BUDGET = "OverBudget"  # the nodes cost more than budget.maxHourlyCost
