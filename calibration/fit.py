"""Fit the performance model's constants on the published Neuron measurements.

    python calibration/fit.py            # fit, print the constants and the error table
    python calibration/fit.py --write    # also rewrite the constants block in performance.py

Regularised, robust least squares (scipy's trust-region solver) in each constant's
transformed coordinate (calibration/priors.py), so no constant can leave its physical range:

- data: ln(predicted / published) for every figure, through a soft-L1 (pseudo-Huber) loss so
  a few rows the model cannot represent do not drag the rest; each family/generation group
  counts as at most GROUP_CAP figures, so the 180 decoder figures do not drown the 14 CNN
  figures on Inf1.
- priors: (x - centre) / PRIOR_WIDTH per constant.

The fit is deterministic: it starts from the priors' centres, never from the constants in
performance.py.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calibration.cases import Case, load_cases, p95_ratio, predict_all  # noqa: E402
from calibration.priors import (  # noqa: E402
    FAMILY_PRIORS,
    GENERATION_PRIORS,
    PIPELINE_WEIGHTS_PER_CORE,
    PRIOR_WIDTH,
)
from neuron_operator.api.v1alpha1 import ModelFamily  # noqa: E402
from neuron_operator.sizing.performance import CONSTANTS, GenerationConstants  # noqa: E402

# Typical log error of a published figure the model represents well: the data residual's scale.
SIGMA = 0.25
# Beyond this |log error| a figure's pull grows linearly, not quadratically (soft L1).
ROBUST_SCALE = 0.5
GROUP_CAP = 25
GENERATIONS = ("v1", "v2")


@dataclass(frozen=True)
class Fitted:
    constants: dict[str, GenerationConstants]
    costs: dict[ModelFamily, float]
    xs: tuple[float, ...]


def _keys() -> list[tuple[str, str]]:
    return list(GENERATION_PRIORS)


def _families() -> list[ModelFamily]:
    return list(FAMILY_PRIORS)


def _base() -> dict[str, GenerationConstants]:
    """The constants no fit touches: the tail ratio from published p50/p99, and the ones a
    generation does not use (kept at its prior centre or at v2's value)."""
    base = {
        "v1": replace(
            CONSTANTS["v1"],
            p95_over_p50=p95_ratio(["inf1"]),
            cached_weights_per_core=PIPELINE_WEIGHTS_PER_CORE,
        ),
        "v2": replace(CONSTANTS["v2"], p95_over_p50=p95_ratio(["inf2", "trn1"])),
    }
    for (generation, name), prior in GENERATION_PRIORS.items():
        base[generation] = replace(base[generation], **{name: prior.centre})
    base["v2"] = replace(
        base["v2"], cached_weights_per_core=0.0, core_bandwidth_share=1.0, overlapped_overhead=0.0
    )
    return base


def decode(xs: Sequence[float]) -> tuple[dict[str, GenerationConstants], dict[ModelFamily, float]]:
    constants = _base()
    keys = _keys()
    for x, (generation, name) in zip(xs, keys, strict=False):
        value = GENERATION_PRIORS[(generation, name)].to_value(x)
        constants[generation] = replace(constants[generation], **{name: value})
    costs = dict.fromkeys(ModelFamily, 1.0)
    for x, family in zip(xs[len(keys) :], _families(), strict=True):
        costs[family] = FAMILY_PRIORS[family].to_value(x)
    return constants, costs


def start() -> list[float]:
    return [GENERATION_PRIORS[k].centre_x for k in _keys()] + [
        FAMILY_PRIORS[f].centre_x for f in _families()
    ]


def _robust(r: np.ndarray) -> np.ndarray:
    """A residual whose square is the soft-L1 loss of r."""
    f = ROBUST_SCALE
    robust: np.ndarray = np.sign(r) * np.sqrt(2 * f * f * (np.sqrt(1 + (r / f) ** 2) - 1))
    return robust


def _weights(cases: list[Case]) -> list[float]:
    counts: Counter[str] = Counter()
    for case in cases:
        counts[case.group] += len(case.observed)
    return [math.sqrt(min(counts[c.group], GROUP_CAP) / counts[c.group]) / SIGMA for c in cases]


@dataclass(frozen=True)
class _Problem:
    """The cases as the optimiser sees them: many rows repeat one configuration (the same
    model, instance and batch in several releases), so each configuration is predicted once
    and compared with all of its published figures."""

    configurations: list[Case]  # one representative per configuration
    # per published figure: configuration index, metric, ln(published), weight
    figures: list[tuple[int, str, float, float]]
    centres: np.ndarray  # the priors' centres, in the fit's coordinates

    @classmethod
    def of(cls, cases: list[Case]) -> _Problem:
        index: dict[tuple[object, ...], int] = {}
        configurations: list[Case] = []
        figures = []
        for case, weight in zip(cases, _weights(cases), strict=True):
            key = (
                case.profile,
                case.instance,
                case.grouping,
                case.batch,
                case.busy_cores_per_chip,
                case.requests_in_flight,
            )
            if key not in index:
                index[key] = len(configurations)
                configurations.append(case)
            for metric, value in case.observed.items():
                figures.append((index[key], metric, math.log(value), weight))
        return cls(configurations, figures, np.array(start()))


def _residuals(xs: np.ndarray, problem: _Problem) -> np.ndarray:
    constants, costs = decode(list(xs))
    predictions = [
        predict_all(case, constants[case.generation], costs) for case in problem.configurations
    ]
    data = [
        weight * (math.log(predictions[i][metric]) - published)
        for i, metric, published, weight in problem.figures
    ]
    prior = (xs - problem.centres) / PRIOR_WIDTH
    return np.concatenate([_robust(np.array(data)), prior])


def fit(cases: list[Case], initial: Sequence[float] | None = None) -> Fitted:
    x0 = np.array(initial if initial is not None else start())
    result = least_squares(
        _residuals, x0, args=(_Problem.of(cases),), method="trf", x_scale=1.0, max_nfev=400
    )
    xs = tuple(float(x) for x in result.x)
    constants, costs = decode(xs)
    return Fitted(constants=constants, costs=costs, xs=xs)


def _number(value: float) -> str:
    """Four significant digits, written as ruff's formatter writes them (5.3e06, not 5.3e+06)."""
    return f"{value:.4g}".replace("e+", "e")


def render_constants(fitted: Fitted) -> str:
    lines = ["CONSTANTS: dict[str, GenerationConstants] = {"]
    for generation in GENERATIONS:
        c = fitted.constants[generation]
        lines.append(f'    "{generation}": GenerationConstants(')
        for name in GenerationConstants.__dataclass_fields__:
            lines.append(f"        {name}={_number(getattr(c, name))},")
        lines.append("    ),")
    lines.append("}")
    lines.append("FAMILY_COMPUTE_COST: dict[ModelFamily, float] = {")
    for family in ModelFamily:
        lines.append(f"    ModelFamily.{family.name}: {_number(fitted.costs[family])},")
    lines.append("}")
    return "\n".join(lines)


def write_constants(fitted: Fitted) -> Path:
    path = ROOT / "operator/neuron_operator/sizing/performance.py"
    text = path.read_text()
    pattern = re.compile(
        r"(# --- fitted by calibration/fit.py.*?---\n).*?(# --- end of fitted constants ---)",
        re.S,
    )
    block = render_constants(fitted)
    path.write_text(pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update performance.py")
    args = parser.parse_args()
    cases = [c for c in load_cases() if c.excluded is None]
    fitted = fit(cases)
    print(render_constants(fitted))
    for (generation, name), prior in GENERATION_PRIORS.items():
        value = getattr(fitted.constants[generation], name)
        print(f"{generation} {name:26s} {value:10.4g}  at {prior.position(value):5.1%} of range")
    for family, prior in FAMILY_PRIORS.items():
        value = fitted.costs[family]
        print(f"   {family.value:30s} {value:10.4g}  at {prior.position(value):5.1%} of range")
    if args.write:
        print(f"wrote {write_constants(fitted)}")


if __name__ == "__main__":
    main()
