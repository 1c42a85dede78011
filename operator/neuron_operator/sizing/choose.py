"""Enumerate every placement, size replicas and nodes, and keep what meets the request.

Every instance type, and then every core grouping and batch size on it, runs the checks in
checks.py in order; the first that fails becomes its rejection (a reason code, a message and
the stage it reached). Survivors are ranked by the objective (objective.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from neuron_operator.api.reasons import ReasonCode
from neuron_operator.api.v1alpha1 import NeuronDeploymentSpec
from neuron_operator.sizing.candidate import (
    Candidate,
    Draft,
    Ladder,
    Memo,
    may_request_whole_devices,
    shared_memo,
)
from neuron_operator.sizing.capacity import Capacity
from neuron_operator.sizing.catalog import Catalog, InstanceType
from neuron_operator.sizing.checks import (
    CONSTRAINTS_STAGE,
    GROUPING_STAGE,
    INSTANCE_STEPS,
    InstanceInput,
    Steps,
    candidate_steps,
    first_refusal,
)
from neuron_operator.sizing.fit import FitJudgement, judge_fit
from neuron_operator.sizing.grouping import Grouping
from neuron_operator.sizing.profile import ModelProfile

# Batch sizes tried when the spec does not fix one. Neuron's LLM guidance: "up to batch=256.
# A larger batch-size typically does not help"; beyond 64 the gains are small everywhere in the
# published tables, so the search stops there.
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Rejected:
    instance: str
    reason: ReasonCode
    message: str
    cores: int | None = None
    batch: int | None = None
    grouping: Grouping | None = None  # when the rejection is about one core grouping
    stage: int = 0  # how far it got: the stage of the check that failed (checks.Chain)
    value: float | None = None  # the figure that failed the check (checks.Refusal)


@dataclass
class Search:
    candidates: list[Candidate]
    rejected: list[Rejected]


def _batches(spec: NeuronDeploymentSpec) -> tuple[int, ...]:
    compiled = spec.compiled.batch_size if spec.compiled else None
    pinned = spec.overrides.batch_size or spec.model.batch_size or compiled
    return (pinned,) if pinned is not None else BATCH_SIZES


# A rejection for these ends a grouping's batch ladder: larger batches only need more memory
# and take longer.
ENDS_THE_LADDER = frozenset({ReasonCode.EXCEEDS_MEMORY, ReasonCode.LATENCY_UNREACHABLE})


def _options(
    spec: NeuronDeploymentSpec,
    memo: Memo,
    instance: InstanceType,
    fit: FitJudgement,
    steps: Steps[Draft],
    found: Search,
) -> None:
    """Every core grouping and batch size on `instance`, into `found`'s candidates or its
    rejections (the loop every plan runs a few hundred times: kept flat)."""
    candidates, rejected = found.candidates, found.rejected
    groupings, problems = memo.groupings(instance, spec.overrides.cores_per_replica)
    for problem in problems:
        rejected.append(
            Rejected(
                instance.name,
                problem.reason,
                problem.message,
                problem.cores,
                grouping=problem.grouping,
                stage=GROUPING_STAGE,
            )
        )
    if not groupings and not problems:
        rejected.append(
            Rejected(
                instance.name,
                ReasonCode.CORE_GROUP_NOT_PLACEABLE,
                f"no core grouping of {spec.overrides.cores_per_replica} cores suits this model",
                spec.overrides.cores_per_replica,
                stage=GROUPING_STAGE,
            )
        )
    batches = _batches(spec)
    for grouping in groupings:
        # Cores always; on Inf1 also whole devices, which cost more and keep neighbours away.
        for whole_devices in (
            (False, True) if may_request_whole_devices(instance, grouping) else (False,)
        ):
            ladder = Ladder(spec, memo, instance, grouping, whole_devices)
            for batch in batches:
                draft = Draft(spec, fit, ladder, batch)
                failed = first_refusal(steps, draft)
                if failed is None:
                    candidates.append(draft.candidate)
                    continue
                stage, (reason, message, value) = failed
                rejected.append(
                    Rejected(
                        instance.name,
                        reason,
                        message,
                        grouping.cores,
                        batch,
                        grouping,
                        stage,
                        value,
                    )
                )
                if reason in ENDS_THE_LADDER:
                    break


def _unknown_instance_types(spec: NeuronDeploymentSpec, catalog: Catalog) -> list[Rejected]:
    named = list(spec.constraints.instance_types or [])
    if spec.overrides.instance_type is not None:
        named.append(spec.overrides.instance_type)
    known = ", ".join(i.name for i in catalog.instances)
    return [
        Rejected(
            name,
            ReasonCode.UNKNOWN_INSTANCE_TYPE,
            f"{name} is not a Neuron instance type in catalog {catalog.version}; known: {known}",
            stage=CONSTRAINTS_STAGE,
        )
        for name in dict.fromkeys(named)
        if catalog.get(name) is None
    ]


def search(
    spec: NeuronDeploymentSpec,
    profile: ModelProfile,
    catalog: Catalog,
    capacity: Capacity | None = None,
    leader_worker_set: bool = True,
) -> Search:
    result = Search(candidates=[], rejected=_unknown_instance_types(spec, catalog))
    memo = shared_memo(profile, leader_worker_set)
    steps = candidate_steps(spec, memo)
    for instance in (v for i in catalog.instances for v in i.lnc_variants):
        fit = judge_fit(profile.family, spec.workload, instance)
        checked = InstanceInput(spec, profile, instance, fit, capacity)
        failed = first_refusal(INSTANCE_STEPS, checked)
        if failed is not None:
            stage, (reason, message, _) = failed
            result.rejected.append(Rejected(instance.name, reason, message, stage=stage))
            continue
        _options(spec, memo, instance, fit, steps, result)
    return result
