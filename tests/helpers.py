"""Builders shared by tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


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


def example_spec(name: str, **override: Any) -> dict[str, Any]:
    """The spec of examples/<name>.yaml, with top-level fields replaced by `override`."""
    manifest = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    spec: dict[str, Any] = manifest["spec"]
    return {**spec, **override}
