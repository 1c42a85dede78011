"""The engine's check chain: the first refusal wins, and its stage is its position."""

from __future__ import annotations

from neuron_operator.api.reasons import ReasonCode
from neuron_operator.sizing.checks import (
    CANDIDATE_CHECKS,
    CANDIDATE_STEPS,
    CONSTRAINTS_STAGE,
    GROUPING_STAGE,
    INSTANCE_CHECKS,
    INSTANCE_STEPS,
    Chain,
    Refusal,
    first_refusal,
    unroll,
)


def passes(_: int) -> Refusal | None:
    return None


def too_big(n: int) -> Refusal | None:
    return Refusal(ReasonCode.EXCEEDS_MEMORY, f"{n} is too big", n) if n > 10 else None


def too_slow(n: int) -> Refusal | None:
    return Refusal(ReasonCode.LATENCY_UNREACHABLE, f"{n} is too slow") if n > 5 else None


def test_the_first_refusal_wins_and_its_stage_is_its_position() -> None:
    chain: Chain[int] = ((passes,), (too_slow, too_big), (passes,))
    steps = unroll(chain, first_stage=3)
    assert first_refusal(steps, 1) is None
    assert first_refusal(steps, 7) == (4, Refusal(ReasonCode.LATENCY_UNREACHABLE, "7 is too slow"))
    found = first_refusal(steps, 20)
    assert found is not None and found[1].reason == ReasonCode.LATENCY_UNREACHABLE


def test_stages_are_the_positions_in_the_instance_then_the_candidate_chain() -> None:
    # constraints, the compiled target, the cluster's capacity, plans given up | fit, dtype,
    # Inf1 limit, price | the compiled grouping, memory | latency | replicas, training nodes,
    # a group across nodes |
    # budget
    assert [stage for stage, _ in INSTANCE_STEPS] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [stage for stage, _ in CANDIDATE_STEPS] == [2, 2, 3, 4, 4, 4, 5]
    assert CONSTRAINTS_STAGE == 0
    assert len(INSTANCE_CHECKS) == GROUPING_STAGE == CANDIDATE_STEPS[0][0]
    assert len(CANDIDATE_CHECKS) == 4
