"""The NeuronDeployment API, version v1alpha1, as pydantic models.

These types are the single source of truth for the CRD schema (descriptions become
`kubectl explain` text) and for what the sizing engine reads. Field names are the
Kubernetes camelCase names; Python attributes are snake_case.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

GROUP = "neuron.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "NeuronDeployment"
# The most replicas one NeuronDeployment runs: a bound on what a typo or an extreme SLO can
# ask of the cluster (and of the budget). A larger fleet is several NeuronDeployments.
MAX_REPLICAS = 1000


class ApiModel(BaseModel):
    """Base for API types: camelCase on the wire, unknown fields refused (typos get named)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )


class Workload(StrEnum):
    INFERENCE = "inference"
    TRAINING = "training"


class ModelFamily(StrEnum):
    TRANSFORMER_ENCODER = "transformer-encoder"
    TRANSFORMER_DECODER = "transformer-decoder"
    TRANSFORMER_ENCODER_DECODER = "transformer-encoder-decoder"
    CNN = "cnn"
    RCNN = "rcnn"
    LSTM = "lstm"
    VISION_TRANSFORMER = "vision-transformer"
    DIFFUSION = "diffusion"

    @property
    def generative(self) -> bool:
        """Families that produce output token by token (prefill, then one step per token)."""
        return self in (ModelFamily.TRANSFORMER_DECODER, ModelFamily.TRANSFORMER_ENCODER_DECODER)

    @property
    def transformer(self) -> bool:
        return self in (
            ModelFamily.TRANSFORMER_ENCODER,
            ModelFamily.TRANSFORMER_DECODER,
            ModelFamily.TRANSFORMER_ENCODER_DECODER,
            ModelFamily.VISION_TRANSFORMER,
        )


class DType(StrEnum):
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"


class InstanceFamily(StrEnum):
    INF1 = "inf1"
    INF2 = "inf2"
    TRN1 = "trn1"
    TRN1N = "trn1n"
    TRN2 = "trn2"


class Objective(StrEnum):
    LATENCY = "latency"
    THROUGHPUT = "throughput"
    COST = "cost"


_SUFFIXES = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
_PARAMETERS_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT]?)\s*$", re.IGNORECASE)


def parse_parameters(value: Any) -> Any:
    """Accept 110000000, "110M", "1.5B", "175B"; leave anything else to pydantic to reject."""
    if isinstance(value, bool):
        raise ValueError("must be a number of parameters such as 7000000000 or '7B'")
    if isinstance(value, str):
        match = _PARAMETERS_RE.match(value)
        if not match:
            raise ValueError(
                f"{value!r} is not a parameter count; use an integer or a number with a "
                "K/M/B/T suffix, e.g. '110M', '1.5B', '175B'"
            )
        number, suffix = match.groups()
        return round(float(number) * _SUFFIXES.get(suffix.upper(), 1))
    return value


Parameters = Annotated[int, BeforeValidator(parse_parameters), Field(gt=0)]


class ModelSpec(ApiModel):
    """What the model is; the engine derives its memory and compute needs from this."""

    family: ModelFamily = Field(
        description=(
            "Architecture family. Decides which Neuron generations fit it (decoders and "
            "encoder-decoders are not a good fit for Inf1) and how it is parallelised."
        )
    )
    parameters: Parameters = Field(
        description=(
            "Number of weights: an integer or a string with a K/M/B/T suffix ('110M', '7B')."
        )
    )
    dtype: DType = Field(
        default=DType.BF16,
        description=(
            "Weight data type as served. fp32 models are compiled to bf16 by the Neuron "
            "compiler by default, so they are sized as bf16."
        ),
    )
    sequence_length: int | None = Field(
        default=None,
        ge=1,
        le=1_048_576,
        description=(
            "Tokens per request. Decoders: the whole context, prompt plus generated tokens. "
            "Encoder-decoders: encoder input tokens. Vision transformers: patches. "
            "Absent: a per-family default that the plan reports under assumptions."
        ),
    )
    output_tokens: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Generative families only: tokens generated per request. Absent: half the "
            "sequence length."
        ),
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description=(
            "The batch the model is compiled for (Neuron shapes are static). Absent: the "
            "engine chooses it."
        ),
    )
    layers: int | None = Field(default=None, ge=1, description="Transformer layers, if known.")
    hidden_size: int | None = Field(default=None, ge=1, description="Hidden size, if known.")
    attention_heads: int | None = Field(
        default=None,
        ge=1,
        description="Attention heads, if known; tensor-parallel degrees must divide them.",
    )
    kv_heads: int | None = Field(
        default=None,
        ge=1,
        description="Key/value heads for grouped-query attention, if known (sizes the KV cache).",
    )
    gflops_per_inference: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Compute of one forward pass of one sample, in GFLOPs, if known. Absent: "
            "estimated from parameters and sequence length (or a per-family default)."
        ),
    )

    @model_validator(mode="after")
    def _heads_consistent(self) -> ModelSpec:
        if (
            self.kv_heads is not None
            and self.attention_heads is not None
            and (self.kv_heads > self.attention_heads or self.attention_heads % self.kv_heads)
        ):
            raise ValueError(
                "kvHeads must divide attentionHeads (grouped-query attention shares each "
                "KV head between attentionHeads/kvHeads query heads)"
            )
        if (
            self.output_tokens is not None
            and self.family == ModelFamily.TRANSFORMER_DECODER
            and self.sequence_length is not None
            and self.output_tokens >= self.sequence_length
        ):
            raise ValueError(
                "outputTokens must be smaller than sequenceLength: for decoders the sequence "
                "length is the prompt plus the generated tokens"
            )
        return self


class Slo(ApiModel):
    """Service-level objectives the plan must meet."""

    latency_ms: float | None = Field(
        default=None,
        gt=0,
        description="p95 latency ceiling of one request batch, in milliseconds, at full load.",
    )
    throughput: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Inferences per second in total (training: samples per second). Drives the "
            "replica count."
        ),
    )


class Budget(ApiModel):
    """Spending limits."""

    max_hourly_cost: float | None = Field(
        default=None,
        gt=0,
        description="Ceiling on the on-demand price of all nodes the plan uses, USD per hour.",
    )


class Constraints(ApiModel):
    """Limits on where the model may run."""

    instance_families: list[InstanceFamily] | None = Field(
        default=None,
        min_length=1,
        description="Only these instance families (inf1, inf2, trn1, trn1n, trn2).",
    )
    instance_types: list[str] | None = Field(
        default=None, min_length=1, description="Only these instance types, e.g. inf2.xlarge."
    )
    max_replicas: int | None = Field(
        default=None,
        ge=1,
        le=MAX_REPLICAS,
        description=f"Never plan more replicas than this (at most {MAX_REPLICAS}, the default).",
    )


class Overrides(ApiModel):
    """Pin parts of the decision; the rest is still chosen and everything is still estimated."""

    instance_type: str | None = Field(default=None, description="Use exactly this instance type.")
    cores_per_replica: int | None = Field(
        default=None, ge=1, description="NeuronCores each replica (pod) gets."
    )
    batch_size: int | None = Field(default=None, ge=1, le=1024, description="Batch size.")
    replicas: int | None = Field(
        default=None, ge=1, le=MAX_REPLICAS, description="Number of replicas."
    )


class Fallback(ApiModel):
    """What to do when the chosen instance type cannot be had."""

    after_seconds: int = Field(
        ge=5,
        le=86400,
        description=(
            "Seconds the pods may stay Unschedulable (e.g. Insufficient "
            "aws.amazon.com/neuroncore) before the operator moves the workload to the next "
            "feasible plan within the spec's constraints: one that fits the free capacity now "
            "first, then the cheapest. Running pods are "
            "kept until their replacements are available; a plan given up is not tried again "
            "until the cluster's capacity changes. Annotate the object with "
            "neuron.dev/retry-preferred=<any new value>, or change its spec, to go back to the "
            "first choice."
        ),
    )


class MetricType(StrEnum):
    PODS = "Pods"  # a per-pod metric the model server exports, e.g. in-flight requests
    NEURONCORE_UTILIZATION = "NeuronCoreUtilization"  # neuron-monitor, through an adapter
    CPU = "CPU"  # the pods' CPU use against their requests


# neuron-monitor's per-core utilisation, as the Prometheus adapter serves it to the HPA.
NEURONCORE_UTILIZATION_METRIC = "neuroncore_utilization_ratio"


class ScalingMetric(ApiModel):
    """What the HorizontalPodAutoscaler scales on."""

    type: MetricType = Field(
        description=(
            "Pods: a per-pod metric of the model server named by `name` (the AWS samples scale "
            "Neuron inference on request concurrency); NeuronCoreUtilization: neuron-monitor's "
            f"{NEURONCORE_UTILIZATION_METRIC} through a metrics adapter; CPU: the pods' CPU use."
        )
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="Pods only: the metric's name, as the custom metrics API serves it.",
    )
    target: str = Field(
        min_length=1,
        max_length=64,
        description=(
            "The value to hold per pod: for Pods and NeuronCoreUtilization a quantity "
            '(averageValue, e.g. "4" requests or "700m" = 70 % busy); for CPU a '
            'percentage of the request (averageUtilization, e.g. "70").'
        ),
    )

    @model_validator(mode="after")
    def _named_when_needed(self) -> ScalingMetric:
        if self.type == MetricType.PODS and not self.name:
            raise ValueError("a Pods metric needs its name (e.g. name: inflight_requests)")
        if self.type != MetricType.PODS and self.name:
            raise ValueError(f"name is only for Pods metrics; a {self.type.value} metric has none")
        if self.type == MetricType.CPU and not self.target.isdigit():
            raise ValueError(
                f'a CPU target is a whole percentage such as "70", not {self.target!r}'
            )
        return self


class Autoscaling(ApiModel):
    """Scale the replicas with load, from the plan's count, within bounds."""

    min_replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS, description="Fewest replicas.")
    max_replicas: int | None = Field(
        default=None,
        ge=1,
        le=MAX_REPLICAS,
        description=(
            "Most replicas. Default: as many as budget.maxHourlyCost pays for, so that nothing "
            "autoscales past the budget; required without a budget."
        ),
    )
    metric: ScalingMetric = Field(description="What to scale on.")

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Autoscaling:
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError(
                f"maxReplicas ({self.max_replicas}) is below minReplicas ({self.min_replicas})"
            )
        return self


class CompiledTarget(StrEnum):
    """The NeuronCore an artifact was compiled for (the Neuron compiler's --target)."""

    INF1 = "inf1"  # NeuronCore-v1
    INF2 = "inf2"  # NeuronCore-v2, as Trn1's
    TRN1 = "trn1"  # NeuronCore-v2
    TRN2 = "trn2"  # NeuronCore-v3


class Compiled(ApiModel):
    """The compiled artifact the server loads. Neuron compiles for fixed shapes: every field
    given pins the plan to it."""

    batch_size: int | None = Field(
        default=None, ge=1, le=1024, description="Batch size it was compiled with."
    )
    sequence_length: int | None = Field(
        default=None, ge=1, le=1_048_576, description="Sequence length it was compiled with."
    )
    tensor_parallel_degree: int | None = Field(
        default=None,
        ge=1,
        le=128,
        description="NeuronCores one model copy spans (1: not tensor parallel).",
    )
    target: CompiledTarget | None = Field(
        default=None,
        description=(
            "The NeuronCore it was compiled for: inf1 (NeuronCore-v1), inf2 or trn1 "
            "(NeuronCore-v2: Inf2, Trn1, Trn1n), trn2 (NeuronCore-v3)."
        ),
    )
    logical_neuron_cores: Literal[1, 2] | None = Field(
        default=None,
        description=(
            "Trainium2: the logical NeuronCore config it was compiled for (the compiler's "
            "--logical-nc-config): physical cores per logical core. Pins the plan to Trainium2 "
            "at that config."
        ),
    )
    uri: str | None = Field(
        default=None, max_length=2048, description="Where the artifact is (s3://, a path)."
    )


class Training(ApiModel):
    """How a training run runs (workload: training): as an Indexed Job, one pod per node."""

    run: int = Field(
        default=1,
        ge=1,
        le=1_000_000,
        description=(
            "The run: a finished or running Job is never restarted or changed by the operator; "
            "set a higher number to start a new run with the current spec."
        ),
    )
    backoff_limit: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Failed pods a run tolerates before it is failed (the Job's backoffLimit).",
    )


class Placement(ApiModel):
    """Where the pods go when the cluster does not have what the plan wants."""

    fallback: Fallback | None = Field(
        default=None,
        description="Opt in to moving to another plan when the pods cannot be scheduled.",
    )


class NeuronDeploymentSpec(ApiModel):
    """What to run and what matters: the model, the objective, SLOs, budget, constraints,
    overrides and the model server's pod template."""

    workload: Workload = Field(
        default=Workload.INFERENCE,
        description="inference (a model server) or training (a training worker).",
    )
    model: ModelSpec = Field(description="The model to place.")
    objective: Objective = Field(
        default=Objective.COST,
        description=(
            "What to optimise. latency: lowest p95 latency of one request batch. throughput: "
            "most inferences per second from each instance you pay for, filled with replicas. "
            "cost: lowest cost "
            "per million inferences at full use or, with slo.throughput, the lowest hourly "
            "cost that meets it. Ties break toward lower cost."
        ),
    )
    slo: Slo = Field(default_factory=Slo, description="Service-level objectives.")
    budget: Budget = Field(default_factory=Budget, description="Spending limits.")
    constraints: Constraints = Field(
        default_factory=Constraints, description="Limits on where the model may run."
    )
    overrides: Overrides = Field(
        default_factory=Overrides, description="Parts of the decision pinned by the user."
    )
    compiled: Compiled | None = Field(
        default=None,
        description=(
            "The compiled artifact the server runs, if there is one: its shapes pin the plan "
            "(batch, sequence length, tensor-parallel degree, target NeuronCore)."
        ),
    )
    training: Training = Field(
        default_factory=Training,
        description="workload: training only: which run, and how many failures it tolerates.",
    )
    autoscaling: Autoscaling | None = Field(
        default=None,
        description=(
            "Scale with load: the operator renders a HorizontalPodAutoscaler that starts from "
            "the plan's replicas, and leaves the Deployment's replicas to it."
        ),
    )
    placement: Placement = Field(
        default_factory=Placement,
        description="What to do when the pods cannot be scheduled on the chosen type.",
    )
    template: dict[str, Any] | None = Field(
        default=None,
        description="Pod template of the model server (metadata and spec, as in a Deployment).",
    )
    progress_deadline_seconds: int | None = Field(
        default=None,
        ge=30,
        le=86400,
        description=(
            "Seconds a rollout may make no progress (pods not scheduled, not ready) before it is "
            "reported failed: the Deployment's progressDeadlineSeconds, whose default (600) "
            "applies when unset. Raise it for models that load for longer; Ready turns False "
            "with reason ProgressDeadlineExceeded when it passes."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _sequence_from_the_artifact(cls, data: Any) -> Any:
        """An artifact's sequence length is the model's when the model does not say."""
        if not isinstance(data, dict):
            return data
        compiled, model = data.get("compiled"), data.get("model")
        if not isinstance(compiled, dict) or not isinstance(model, dict):
            return data
        length = compiled.get("sequenceLength", compiled.get("sequence_length"))
        if length is not None and "sequenceLength" not in model and "sequence_length" not in model:
            return {**data, "model": {**model, "sequenceLength": length}}
        return data

    @model_validator(mode="after")
    def _artifact_consistent(self) -> NeuronDeploymentSpec:
        artifact = self.compiled
        if artifact is None:
            return self
        if artifact.sequence_length not in (None, self.model.sequence_length):
            raise ValueError(
                f"compiled.sequenceLength ({artifact.sequence_length}) contradicts "
                f"model.sequenceLength ({self.model.sequence_length}); set one of them"
            )
        for name, given in (
            ("overrides.batchSize", self.overrides.batch_size),
            ("model.batchSize", self.model.batch_size),
        ):
            if artifact.batch_size is not None and given not in (None, artifact.batch_size):
                raise ValueError(
                    f"compiled.batchSize ({artifact.batch_size}) contradicts {name} ({given}); "
                    "the artifact runs only at the batch it was compiled with"
                )
        return self

    @model_validator(mode="after")
    def _autoscaling_serves(self) -> NeuronDeploymentSpec:
        if self.autoscaling is not None and self.workload == Workload.TRAINING:
            raise ValueError(
                "autoscaling is for inference: a training run has the nodes its plan gives it; "
                "remove spec.autoscaling"
            )
        return self

    @model_validator(mode="after")
    def _batch_consistent(self) -> NeuronDeploymentSpec:
        pinned, compiled = self.overrides.batch_size, self.model.batch_size
        if pinned is not None and compiled is not None and pinned != compiled:
            raise ValueError(
                f"overrides.batchSize ({pinned}) contradicts model.batchSize ({compiled}); "
                "set one of them"
            )
        return self
