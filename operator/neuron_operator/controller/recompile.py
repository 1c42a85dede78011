"""Compiled shapes: what a plan needs its model compiled for, and when a new plan must wait for
a new artifact. Pure.

Neuron compiles a model for fixed shapes: the NeuronCore generation (and Trainium2's logical
NeuronCore config), the cores one copy spans
(tensor parallel degree, or an Inf1 pipeline's length), the batch size and the sequence length.
A server handed an artifact of other shapes refuses it or crash-loops (optimum-neuron checks the
tensor-parallel degree and instance type). So a plan whose shapes differ from the running one's
is never rolled out on its own:
- with `spec.compiled`, a difference in a field it pins is the user's own (a new artifact, a
  new spec); a difference in any other field needs another artifact;
- without it, the running plan's shapes are what the server was compiled for (status.shape),
  and any difference needs one.
A spec naming another model is a new artifact anyway: no hold. Either way the object keeps
running its plan and says RecompileRequired with the shapes the
new plan wants, until the user acknowledges them: the annotation ACKNOWLEDGED set to the new
shapes' key, as the message prints it.
"""

from __future__ import annotations

from typing import Any

from neuron_operator.api.plan import Option, ParallelismMode, PlanRecord
from neuron_operator.api.status import CompiledShape
from neuron_operator.api.v1alpha1 import CompiledTarget, NeuronDeploymentSpec
from neuron_operator.sizing.catalog import load_catalog

ACKNOWLEDGED = "neuron.dev/recompiled-for"
# The compiler target each instance family is compiled for (inf2 and trn1 share NeuronCore-v2,
# which is what shapes are compared by).
TARGET_OF_FAMILY = {
    "inf1": CompiledTarget.INF1,
    "inf2": CompiledTarget.INF2,
    "trn1": CompiledTarget.TRN1,
    "trn1n": CompiledTarget.TRN1,
    "trn2": CompiledTarget.TRN2,
}
CORE_OF_TARGET = {
    CompiledTarget.INF1: "v1",
    CompiledTarget.INF2: "v2",
    CompiledTarget.TRN1: "v2",
    CompiledTarget.TRN2: "v3",
}
FIELDS = (
    "target",
    "logical_neuron_cores",
    "tensor_parallel_degree",
    "batch_size",
    "sequence_length",
)
# Compared, but never pinned by spec.compiled: a replica's stages across nodes.
SHAPE_FIELDS = (*FIELDS, "pipeline_parallel_size")


def model_of(spec: NeuronDeploymentSpec) -> str:
    m = spec.model
    return f"{m.family.value} {m.parameters} {m.dtype.value}"


def shape_of(plan: PlanRecord | Option, spec: NeuronDeploymentSpec) -> CompiledShape | None:
    """The shapes a feasible plan's (or option's) server is compiled for (None: not known)."""
    instance = load_catalog().get(str(plan.instance_type))
    if instance is None or plan.parallelism is None or plan.batch_size is None:
        return None
    degree = plan.parallelism.degree if plan.parallelism.mode != ParallelismMode.DATA else 1
    return CompiledShape(
        target=TARGET_OF_FAMILY.get(instance.family),
        logical_neuron_cores=plan.logical_neuron_cores,
        tensor_parallel_degree=degree,
        pipeline_parallel_size=plan.nodes_per_replica,
        batch_size=plan.batch_size,
        sequence_length=spec.model.sequence_length,
        model=model_of(spec),
    )


def _core(shape: CompiledShape) -> str | None:
    return CORE_OF_TARGET[shape.target] if shape.target is not None else None


def _value(shape: CompiledShape, field: str) -> Any:
    return _core(shape) if field == "target" else getattr(shape, field)


def key(shape: CompiledShape) -> str:
    """The shapes as one line: what the acknowledgement annotation is set to."""
    stages, lnc = shape.pipeline_parallel_size, shape.logical_neuron_cores
    return (
        f"neuroncore={_core(shape)},"
        + (f"lnc={lnc}," if lnc else "")
        + f"tp={shape.tensor_parallel_degree},"
        + (f"pp={stages}," if stages else "")
        + f"batch={shape.batch_size},seq={shape.sequence_length or 'default'}"
    )


def differences(running: CompiledShape, wanted: CompiledShape) -> list[str]:
    """The fields whose values differ (inf2 and trn1 targets are one NeuronCore: no difference)."""
    return [f for f in SHAPE_FIELDS if _value(running, f) != _value(wanted, f)]


def pinned(spec: NeuronDeploymentSpec) -> set[str]:
    """The fields spec.compiled gives: a difference there is the user's declared artifact."""
    compiled = spec.compiled
    if compiled is None:
        return set()
    return {f for f in FIELDS if getattr(compiled, f) is not None}


def recompile_needed(
    spec: NeuronDeploymentSpec,
    running: CompiledShape | None,
    wanted: CompiledShape | None,
    annotations: dict[str, str],
) -> str | None:
    """Why a plan of shapes `wanted` must not replace the running one (compiled for `running`:
    status.shape as recorded when it was applied) yet, or None. A spec naming another model is
    the user's new artifact: nothing is held for it."""
    if running is None or wanted is None:
        return None
    if running.model is not None and running.model != wanted.model:
        return None
    changed = [f for f in differences(running, wanted) if f not in pinned(spec)]
    if not changed or annotations.get(ACKNOWLEDGED) == key(wanted):
        return None
    fields = ", ".join(f.replace("_", " ") for f in changed)
    artifact = "spec.compiled's artifact" if spec.compiled is not None else "the running server"
    return (
        f"the new plan needs the model compiled for {key(wanted)}, but {artifact} is compiled "
        f"for {key(running)} ({fields} differ); it keeps running until you compile for the new "
        f"shapes and either set them in spec.compiled or annotate the object "
        f"{ACKNOWLEDGED}={key(wanted)}"
    )


def runs_as_is(
    spec: NeuronDeploymentSpec, running: CompiledShape | None, option: PlanRecord | Option
) -> bool:
    """Whether the server compiled for `running` runs `option` without another artifact."""
    return recompile_needed(spec, running, shape_of(option, spec), {}) is None
