"""The engine's answer: the Plan that `plan` prints as JSON, and the PlanRecord of it that
`status.plan` holds (each alternative in brief).

Reasons are CamelCase codes plus a one-line message a user understands; they flow unchanged
into conditions, events and CLI output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from neuron_operator.api.v1alpha1 import ApiModel

D_INSTANCE_TYPE = "EC2 instance type the replicas run on."
D_CORES = "NeuronCores each replica (pod) requests."
D_PARALLELISM = "How each replica uses its cores."
D_BATCH = "Batch size the model is compiled and served with."
D_REPLICAS = "Number of replicas (pods)."
D_PER_NODE = "Replicas placed on one node."
D_NODES = "Nodes the replicas need."
D_LNC = (
    "Trainium2: the logical NeuronCore config the plan runs at (physical cores per logical "
    "core, 1 or 2; NEURON_LOGICAL_NC_CONFIG). Unset on other generations."
)
D_NODES_PER_REPLICA = (
    "Nodes one replica spans when the model is too large for one node's memory: a "
    "LeaderWorkerSet group of this size, one pod on each node. Unset for replicas on one node."
)
D_ESTIMATE = "Predicted latency, throughput and cost at full use."
D_FITTING_NOW = (
    "Replicas the free Neuron capacity of the cluster's existing nodes holds now (the rest "
    "wait for new nodes); absent when planned without a cluster."
)
D_PRICE_SOURCE = (
    "Where the hourly price came from: the catalog's list price and its date, or the "
    "operator's pricing settings."
)
D_MEMORY = "Device memory each replica needs and owns."
D_FIT = "How well the architecture fits the chosen NeuronCore generation."
D_RESOURCES = (
    "Neuron extended resources each pod requests (and limits), exactly as the operator renders "
    "them: aws.amazon.com/neuroncore when the estimate holds with any neighbours on the same "
    "devices, aws.amazon.com/neuron (whole devices) when it relies on devices to itself."
)

# The Neuron device plugin's extended resources.
NEURONCORE_RESOURCE = "aws.amazon.com/neuroncore"
NEURON_DEVICE_RESOURCE = "aws.amazon.com/neuron"


class ParallelismMode(StrEnum):
    DATA = "data"  # one model copy per NeuronCore
    PIPELINE = (
        "pipeline"  # Inf1 NeuronCore Pipeline: layers sharded over cores, weights cached on chip
    )
    TENSOR = "tensor"  # Inf2/Trn tensor parallelism: every layer split over `degree` cores


class FitVerdict(StrEnum):
    GOOD = "good"
    LIMITED = "limited"  # runs, with documented limitations
    POOR = "poor"  # "not a good fit": rejected
    UNSUPPORTED = "unsupported"  # rejected


class Reason(ApiModel):
    reason: str = Field(description="CamelCase code, stable for automation.")
    message: str = Field(description="What is wrong and what to change.")


class RejectedOption(ApiModel):
    instance_type: str = Field(description="The instance type this applies to.")
    cores_per_replica: int | None = Field(
        default=None, description="The core grouping, when the rejection is about one grouping."
    )
    batch_size: int | None = Field(default=None, description="The batch size, when relevant.")


class Rejection(Reason, RejectedOption):
    """One option ruled out, and why (PlanRecord.rejections())."""


class RejectionGroup(Reason):
    """One reason and message, and every option it rules out: a plan rejects a dozen options
    for the same reason often, and the status is written whole on every change."""

    options: list[RejectedOption] = Field(
        default_factory=list, description="The instance types or configurations it rules out."
    )

    @classmethod
    def gather(cls, rejections: Iterable[Rejection]) -> list[RejectionGroup]:
        """Grouped by reason and message, each group where its first option came."""
        groups: dict[tuple[str, str], list[RejectedOption]] = {}
        for r in rejections:
            groups.setdefault((r.reason, r.message), []).append(
                RejectedOption(
                    instance_type=r.instance_type,
                    cores_per_replica=r.cores_per_replica,
                    batch_size=r.batch_size,
                )
            )
        return [cls(reason=k[0], message=k[1], options=v) for k, v in groups.items()]


def _grouped(entries: object) -> object:
    """status.plan.rejected as written before it was grouped: one entry per option (with its
    instanceType, or without once the API server has pruned the fields the schema no longer
    has). Read as groups, so an upgraded operator reads the statuses it wrote before."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return entries  # validation names what is wrong
    if all("options" in e for e in entries):
        return entries
    groups: dict[tuple[object, object], dict[str, Any]] = {}
    for entry in entries:
        reason, message = entry.get("reason"), entry.get("message")
        group = groups.setdefault(
            (reason, message), {"reason": reason, "message": message, "options": []}
        )
        if "options" in entry:
            group["options"].extend(entry["options"])
        elif "instanceType" in entry or "instance_type" in entry:
            group["options"].append(
                {k: v for k, v in entry.items() if k not in ("reason", "message")}
            )
    return list(groups.values())


class Parallelism(ApiModel):
    mode: ParallelismMode = Field(description="data, pipeline (Inf1) or tensor (Inf2/Trn).")
    degree: int = Field(
        description=(
            "NeuronCores one model copy spans: 1 for data parallel, the pipeline length for "
            "pipeline, the tensor-parallel degree for tensor."
        )
    )
    copies: int = Field(
        default=1, description="Model copies each replica runs (coresPerReplica = degree × copies)."
    )


class Range(ApiModel):
    low: float = Field(description="Low end.")
    high: float = Field(description="High end.")


D_LIKELY = (
    "Likely range: where the true figure fell for 80 % of the published Neuron measurements "
    "the engine had not seen (cross-validated errors of this model family and generation)."
)


class HeadlineEstimate(ApiModel):
    """An alternative's figures as the status keeps them: what its objective is judged by."""

    # Statuses written before alternatives were summarised carry every figure: read, not kept.
    model_config = ConfigDict(extra="ignore")

    latency_ms: float = Field(description="Predicted p95 latency of one request batch, ms.")
    throughput: float = Field(description="All replicas together, per second.")
    hourly_cost: float | None = Field(
        default=None,
        description="USD per hour of the nodes used (see priceSource); null when unknown.",
    )
    cost_per_million: float | None = Field(
        default=None,
        description="USD per million inferences at full use; null when the price is unknown.",
    )


class Estimate(HeadlineEstimate):
    model_config = ConfigDict(extra="forbid")

    latency_ms_range: Range = Field(
        description=f"p95 latency, ms. {D_LIKELY} SLOs are checked at its high end."
    )
    latency_p50_ms: float = Field(description="Predicted median latency of one request batch, ms.")
    throughput_per_replica: float = Field(
        description="Inferences (training: samples) per second one replica sustains at full use."
    )
    throughput_range: Range = Field(
        description=f"All replicas' throughput, per second. {D_LIKELY} Replicas are sized at "
        "its low end."
    )
    time_to_first_token_ms: float | None = Field(
        default=None, description="Generative models: prefill time of a batch, ms (median)."
    )
    time_per_output_token_ms: float | None = Field(
        default=None, description="Generative models: one decode step of the batch, ms (median)."
    )
    output_tokens_per_second: float | None = Field(
        default=None, description="Generative models: generated tokens per second per replica."
    )


class Memory(ApiModel):
    weights_gib: float = Field(description="Weights as compiled, per replica (all its cores).")
    kv_cache_gib: float = Field(description="KV cache at the planned batch and sequence length.")
    activations_gib: float = Field(description="Activations and scratch (estimate).")
    runtime_reserve_gib: float = Field(description="Runtime overhead reserved per replica.")
    required_gib: float = Field(description="Total the replica needs on device.")
    available_gib: float = Field(description="Device memory its cores own.")


class Fit(ApiModel):
    verdict: FitVerdict = Field(description="good, limited, poor or unsupported.")
    message: str = Field(description="The fit rule that applies, for people.")


class Alternative(ApiModel):
    """A runner-up as the status keeps it: what it would run and the figures its objective is
    judged by. `kubectl neuron plan -f` prints each in full (an Option)."""

    model_config = ConfigDict(extra="ignore")  # as HeadlineEstimate

    instance_type: str = Field(description=D_INSTANCE_TYPE)
    cores_per_replica: int = Field(description=D_CORES)
    parallelism: Parallelism = Field(description=D_PARALLELISM)
    resources: dict[str, int] = Field(description=D_RESOURCES)
    batch_size: int = Field(description=D_BATCH)
    replicas: int = Field(description=D_REPLICAS)
    nodes: int = Field(description=D_NODES)
    nodes_per_replica: int | None = Field(default=None, description=D_NODES_PER_REPLICA)
    estimate: HeadlineEstimate = Field(description=D_ESTIMATE)

    @classmethod
    def of(cls, option: Alternative) -> Alternative:
        """The option in brief (itself when it is brief already)."""
        if type(option) is Alternative:
            return option
        figures = {name: getattr(option.estimate, name) for name in HeadlineEstimate.model_fields}
        fields = {name: getattr(option, name) for name in cls.model_fields}
        return cls.model_validate({**fields, "estimate": HeadlineEstimate(**figures)})


class Option(Alternative):
    """One fully sized configuration."""

    model_config = ConfigDict(extra="forbid")

    devices_per_replica: int = Field(
        description="Neuron devices the replica's cores span (cores may share a device)."
    )
    replicas_per_node: int = Field(description=D_PER_NODE)
    logical_neuron_cores: int | None = Field(default=None, description=D_LNC)
    replicas_fitting_now: int | None = Field(default=None, description=D_FITTING_NOW)
    price_source: str | None = Field(default=None, description=D_PRICE_SOURCE)
    estimate: Estimate = Field(description=D_ESTIMATE)
    memory: Memory = Field(description=D_MEMORY)
    fit: Fit = Field(description=D_FIT)


class PlanRecord(ApiModel):
    """A plan as status.plan records it: the decision, the chosen option's fields at the top
    level, then the explanation, with each alternative in brief. Everything the operator runs
    and reports is here; a Plan (the engine's answer) adds every alternative in full."""

    feasible: bool = Field(description="Whether any option meets the request.")
    objective: str = Field(description="The objective the plan optimised.")
    catalog_version: str = Field(description="Version of the instance catalog used.")
    pricing: str | None = Field(
        default=None,
        description="Fingerprint of the operator's pricing settings used; null: list prices.",
    )
    capacity_type: str | None = Field(
        default=None,
        description="spot or on-demand: the nodes the prices are for, required of the pods.",
    )
    instance_type: str | None = Field(default=None, description=D_INSTANCE_TYPE)
    cores_per_replica: int | None = Field(default=None, description=D_CORES)
    devices_per_replica: int | None = Field(
        default=None, description="Neuron devices the replica's cores span."
    )
    parallelism: Parallelism | None = Field(default=None, description=D_PARALLELISM)
    resources: dict[str, int] | None = Field(default=None, description=D_RESOURCES)
    batch_size: int | None = Field(default=None, description=D_BATCH)
    replicas: int | None = Field(default=None, description=D_REPLICAS)
    replicas_per_node: int | None = Field(default=None, description=D_PER_NODE)
    nodes: int | None = Field(default=None, description=D_NODES)
    nodes_per_replica: int | None = Field(default=None, description=D_NODES_PER_REPLICA)
    logical_neuron_cores: int | None = Field(default=None, description=D_LNC)
    replicas_fitting_now: int | None = Field(default=None, description=D_FITTING_NOW)
    price_source: str | None = Field(default=None, description=D_PRICE_SOURCE)
    estimate: Estimate | None = Field(default=None, description=D_ESTIMATE)
    memory: Memory | None = Field(default=None, description=D_MEMORY)
    fit: Fit | None = Field(default=None, description=D_FIT)
    why: str = Field(default="", description="One line on why this option won.")
    assumptions: list[str] = Field(
        default_factory=list, description="Estimates the engine made for what the spec lacks."
    )
    alternatives: Sequence[Alternative] = Field(
        default_factory=list,
        description="The next best options, best first, in brief (`kubectl neuron plan -f` "
        "prints each in full).",
    )
    rejected: list[RejectionGroup] = Field(
        default_factory=list,
        description="Every instance type or configuration ruled out, grouped by why.",
    )
    reasons: list[Reason] = Field(
        default_factory=list, description="When infeasible: why, and what to change."
    )

    _read_flat_rejections = field_validator("rejected", mode="before")(_grouped)

    def rejections(self) -> list[Rejection]:
        """Every option ruled out, one by one, with its reason and message."""
        return [
            Rejection(reason=g.reason, message=g.message, **o.model_dump())
            for g in self.rejected
            for o in g.options
        ]

    @property
    def chosen(self) -> Option | None:
        if not self.feasible:
            return None
        fields = {name: getattr(self, name) for name in Option.model_fields}
        return Option.model_validate(fields)

    def record(self) -> PlanRecord:
        """What status.plan keeps of this plan: each alternative in brief."""
        if type(self) is PlanRecord:
            return self
        fields = {name: getattr(self, name) for name in PlanRecord.model_fields}
        alternatives = [Alternative.of(option) for option in self.alternatives]
        return PlanRecord.model_validate({**fields, "alternatives": alternatives})


class Plan(PlanRecord):
    """The engine's answer, as `plan` prints it: a PlanRecord with every alternative in full."""

    alternatives: Sequence[Option] = Field(
        default_factory=list, description="The next best options, best first."
    )
