"""Write the engine's uncertainty bands (operator/neuron_operator/sizing/data/uncertainty.json)
from the cross-validated errors: see sizing/uncertainty.py for what they mean.

A family/generation group gets a band of its own from MIN_FIGURES held-out figures on; the
rest use their generation's. Where the engine guesses a family's FLOPs from its weights
(CNNs), the group also gets a band for figures whose FLOPs were given and one for the same
figures predicted with the guess: a plan without gflopsPerInference gets the latter. Every
band is at least as wide as MIN_HALF_WIDTH either side (a group whose figures all agree still
does not promise better than the model's form).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from calibration.validate import Held
from neuron_operator.sizing.uncertainty import flops_suffix

ROOT = Path(__file__).resolve().parents[1]
PATH = ROOT / "operator" / "neuron_operator" / "sizing" / "data" / "uncertainty.json"
INTERVAL = 0.8
MIN_FIGURES = 20
MIN_HALF_WIDTH = 0.05  # ln: ±5 %


def time_error(held: Held) -> float:
    """ln(predicted time / published time); a throughput error with its sign flipped."""
    return -held.log_error if held.metric == "throughput" else held.log_error


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _band(errors: list[float]) -> dict[str, float]:
    tail = (1 - INTERVAL) / 2
    low, high = _quantile(errors, tail), _quantile(errors, 1 - tail)
    middle = statistics.median(errors)
    low, high = min(low, middle - MIN_HALF_WIDTH), max(high, middle + MIN_HALF_WIDTH)
    return {"p10": round(low, 4), "p90": round(high, 4), "figures": len(errors)}


def time_error_of_guess(held: Held) -> float | None:
    error = held.guessed_flops_log_error
    if error is None:
        return None
    return -error if held.metric == "throughput" else error


def split_by_flops(by_kind: dict[str, list[float]]) -> dict[str, list[float]]:
    """The given/estimated-FLOPs subsets of the groups where a plan can hold either kind."""
    guessing = {kind.rsplit("/", 1)[0] for kind in by_kind if kind.endswith(flops_suffix(True))}
    return {kind: errors for kind, errors in by_kind.items() if kind.rsplit("/", 1)[0] in guessing}


def bands(held: list[Held]) -> dict[str, object]:
    by_group: dict[str, list[float]] = {}
    by_kind: dict[str, list[float]] = {}  # the group's figures whose FLOPs were given/estimated
    by_generation: dict[str, list[float]] = {"all": []}
    for h in held:
        error = time_error(h)
        by_group.setdefault(h.case.group, []).append(error)
        kind = h.case.group + flops_suffix(h.case.profile.flops_estimated)
        by_kind.setdefault(kind, []).append(error)
        guess = time_error_of_guess(h)
        if guess is not None:
            by_kind.setdefault(h.case.group + flops_suffix(True), []).append(guess)
        by_generation.setdefault(h.case.generation, []).append(error)
        by_generation["all"].append(error)
    return {
        "source": "calibration/bands.py from leave-one-architecture-out cross-validation "
        "(calibration/validate.py) of the published figures in calibration/data",
        "interval": INTERVAL,
        "groups": {
            group: _band(errors)
            for group, errors in sorted([*by_group.items(), *split_by_flops(by_kind).items()])
            if len(errors) >= MIN_FIGURES
        },
        "generations": {name: _band(errors) for name, errors in sorted(by_generation.items())},
    }


def render(held: list[Held]) -> str:
    return json.dumps(bands(held), indent=2) + "\n"


def write(held: list[Held]) -> Path:
    PATH.write_text(render(held))
    return PATH
