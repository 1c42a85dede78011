"""Hypothesis strategies shared by the unit and integration property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

FAMILIES = [
    "transformer-encoder",
    "transformer-decoder",
    "transformer-encoder-decoder",
    "cnn",
    "rcnn",
    "lstm",
    "vision-transformer",
    "diffusion",
]


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    family = draw(st.sampled_from(FAMILIES))
    model: dict[str, Any] = {
        "family": family,
        "parameters": draw(st.integers(min_value=1_000_000, max_value=200_000_000_000)),
        "dtype": draw(st.sampled_from(["fp32", "bf16", "fp16", "fp8", "int8"])),
    }
    if draw(st.booleans()):
        model["sequenceLength"] = draw(st.sampled_from([64, 128, 512, 2048, 8192]))
    if draw(st.booleans()):
        model["batchSize"] = draw(st.sampled_from([1, 2, 4, 8, 16]))
    result: dict[str, Any] = {
        "model": model,
        "workload": draw(st.sampled_from(["inference", "inference", "training"])),
        "objective": draw(st.sampled_from(["latency", "throughput", "cost"])),
    }
    slo: dict[str, Any] = {}
    if draw(st.booleans()):
        slo["throughput"] = draw(st.floats(min_value=0.01, max_value=50_000))
    if draw(st.booleans()):
        slo["latencyMs"] = draw(st.floats(min_value=1, max_value=600_000))
    result["slo"] = slo
    if draw(st.booleans()):
        result["budget"] = {"maxHourlyCost": draw(st.floats(min_value=0.1, max_value=500))}
    if draw(st.booleans()):
        result["constraints"] = {
            "instanceFamilies": draw(
                st.lists(
                    st.sampled_from(["inf1", "inf2", "trn1", "trn1n", "trn2"]),
                    min_size=1,
                    max_size=3,
                    unique=True,
                )
            )
        }
    return result
