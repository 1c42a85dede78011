"""Builders shared by tests."""

from __future__ import annotations

from typing import Any


def spec(family: str, parameters: str | int, **extra: Any) -> dict[str, Any]:
    """A NeuronDeployment spec; `model_*` keywords go into spec.model, the rest into spec."""
    model: dict[str, Any] = {"family": family, "parameters": parameters}
    rest: dict[str, Any] = {}
    for key, value in extra.items():
        if key.startswith("model_"):
            model[key.removeprefix("model_")] = value
        else:
            rest[key] = value
    return {"model": model, **rest}
