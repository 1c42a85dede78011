"""Fit the performance model's constants on the published Neuron benchmarks.

    python calibration/fit.py            # fit and print the constants and the error table
    python calibration/fit.py --write    # also rewrite the constants block in performance.py

Loss: mean over (family, generation) groups of the mean squared log error of every published
metric in the group, each error clipped at ±1.5 so that a few rows the model cannot represent
do not drag the rest; groups weigh equally so the 180 decoder rows do not drown the 8 CNN rows
on Inf1. The optimiser is a plain Nelder-Mead with restarts (no SciPy needed).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calibration.cases import DATA, Case, load_cases, log_errors, predict  # noqa: E402
from neuron_operator.api.v1alpha1 import ModelFamily  # noqa: E402
from neuron_operator.sizing.performance import GenerationConstants  # noqa: E402

CLIP = 1.5
FITTED_FAMILIES = (
    ModelFamily.CNN,
    ModelFamily.VISION_TRANSFORMER,
    ModelFamily.DIFFUSION,
    ModelFamily.TRANSFORMER_DECODER,
    ModelFamily.TRANSFORMER_ENCODER_DECODER,
)
# (generation, field, transform) — "unit": logistic into (0, 1); "pos": exp into (0, inf).
PARAMETERS: list[tuple[str, str, str]] = [
    ("v1", "compute_efficiency", "unit"),
    ("v1", "memory_efficiency", "unit"),
    ("v1", "overhead_ms", "pos"),
    ("v1", "overlap_penalty", "unit"),
    ("v1", "pipeline_efficiency", "unit"),
    ("v2", "compute_efficiency", "unit"),
    ("v2", "prefill_efficiency", "unit"),
    ("v2", "memory_efficiency", "unit"),
    ("v2", "overhead_ms", "pos"),
    ("v2", "overlap_penalty", "unit"),
    ("v2", "collective_ms_per_layer", "pos"),
    ("v2", "training_efficiency", "unit"),
]


def _to_value(x: float, kind: str) -> float:
    x = max(-30.0, min(30.0, x))
    return 1 / (1 + math.exp(-x)) if kind == "unit" else math.exp(x)


def _to_x(value: float, kind: str) -> float:
    if kind == "unit":
        value = min(max(value, 1e-6), 1 - 1e-6)
        return math.log(value / (1 - value))
    return math.log(max(value, 1e-9))


def decode(
    xs: Sequence[float], base: dict[str, GenerationConstants]
) -> tuple[dict[str, GenerationConstants], dict[ModelFamily, float]]:
    constants = dict(base)
    for x, (generation, name, kind) in zip(xs, PARAMETERS, strict=False):
        constants[generation] = replace(constants[generation], **{name: _to_value(x, kind)})
    # NeuronCore-v1 never runs generative, tensor-parallel or training work.
    v2 = constants["v2"]
    constants["v1"] = replace(
        constants["v1"],
        prefill_efficiency=v2.prefill_efficiency,
        collective_ms_per_layer=v2.collective_ms_per_layer,
        training_efficiency=v2.training_efficiency,
    )
    factors = dict.fromkeys(ModelFamily, 1.0)
    for x, family in zip(xs[len(PARAMETERS) :], FITTED_FAMILIES, strict=True):
        # A family's kernels may use the engines better or worse than an encoder's, within
        # reason: a factor outside [1/4, 4] would be the fit absorbing a missing mechanism.
        factors[family] = min(4.0, max(0.25, _to_value(x, "pos")))
    return constants, factors


def errors_by_group(
    cases: list[Case],
    constants: dict[str, GenerationConstants] | None = None,
    factors: dict[ModelFamily, float] | None = None,
) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = defaultdict(list)
    for case in cases:
        c = constants[case.generation] if constants else None
        for error in log_errors(case, predict(case, c, factors)).values():
            groups[case.group].append(error)
    return groups


def loss(cases: list[Case], xs: Sequence[float], base: dict[str, GenerationConstants]) -> float:
    constants, factors = decode(xs, base)
    groups = errors_by_group(cases, constants, factors)
    return statistics.fmean(
        statistics.fmean(min(CLIP, abs(e)) ** 2 for e in errors) for errors in groups.values()
    )


def nelder_mead(
    f: Callable[[list[float]], float], start: list[float], step: float, iterations: int
) -> tuple[list[float], float]:
    n = len(start)
    simplex = [list(start)]
    for i in range(n):
        point = list(start)
        point[i] += step
        simplex.append(point)
    values = [f(p) for p in simplex]
    for _ in range(iterations):
        order = sorted(range(n + 1), key=lambda i: values[i])
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        centroid = [sum(p[i] for p in simplex[:-1]) / n for i in range(n)]
        worst = simplex[-1]
        reflected = [c + (c - w) for c, w in zip(centroid, worst, strict=True)]
        fr = f(reflected)
        if fr < values[0]:
            expanded = [c + 2 * (c - w) for c, w in zip(centroid, worst, strict=True)]
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = [c + 0.5 * (w - c) for c, w in zip(centroid, worst, strict=True)]
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                best = simplex[0]
                simplex = [best] + [
                    [b + 0.5 * (p - b) for b, p in zip(best, point, strict=True)]
                    for point in simplex[1:]
                ]
                values = [values[0]] + [f(p) for p in simplex[1:]]
    winner = min(range(n + 1), key=lambda i: values[i])
    return simplex[winner], values[winner]


def p95_ratio(generation_dirs: Sequence[str]) -> float:
    """p95/p50 from published p50 and p99, interpolated with a normal tail:
    p95 - p50 = (1.645 / 2.326) (p99 - p50)."""
    import csv

    ratios = []
    for directory in generation_dirs:
        for path in (DATA / directory).glob("*.csv"):
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    for key, value in row.items():
                        if key and "P50" in key and value:
                            p99 = row.get(key.replace("P50", "P99"))
                            if p99 and float(value) > 0:
                                ratios.append(float(p99) / float(value))
    tail = statistics.median(ratios)
    return round(1 + (1.645 / 2.326) * (tail - 1), 3)


def render_constants(
    constants: dict[str, GenerationConstants], factors: dict[ModelFamily, float]
) -> str:
    lines = ["CONSTANTS: dict[str, GenerationConstants] = {"]
    for generation in ("v1", "v2"):
        c = constants[generation]
        lines.append(f'    "{generation}": GenerationConstants(')
        for name in GenerationConstants.__dataclass_fields__:
            lines.append(f"        {name}={getattr(c, name):.4g},")
        lines.append("    ),")
    lines.append("}")
    lines.append("FAMILY_TIME_FACTOR: dict[ModelFamily, float] = {")
    for family in ModelFamily:
        lines.append(f"    ModelFamily.{family.name}: {factors[family]:.4g},")
    lines.append("}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update performance.py")
    parser.add_argument("--iterations", type=int, default=4000)
    args = parser.parse_args()

    cases = [c for c in load_cases() if c.excluded is None]
    # Start from neutral guesses, not from the constants in the file, so a fit is reproducible.
    neutral = GenerationConstants(0.5, 0.5, 0.5, 0.5, 0.5, 0.05, 0.3, 0.8, 1.0)
    base = {"v1": neutral, "v2": neutral}
    base["v1"] = replace(base["v1"], p95_over_p50=p95_ratio(["inf1"]))
    base["v2"] = replace(base["v2"], p95_over_p50=p95_ratio(["inf2", "trn1"]))
    start = [_to_x(getattr(base[g], name), kind) for g, name, kind in PARAMETERS]
    start += [0.0 for _ in FITTED_FAMILIES]

    def objective(xs: list[float]) -> float:
        return loss(cases, xs, base)

    best, value = start, objective(start)
    print(f"start loss {value:.4f} on {len(cases)} cases", flush=True)
    for restart in range(3):
        best, value = nelder_mead(objective, best, 0.5 / (restart + 1), args.iterations)
        print(f"restart {restart}: loss {value:.4f}", flush=True)
    constants, factors = decode(best, base)
    block = render_constants(constants, factors)
    print(block)
    for group, errors in sorted(errors_by_group(cases, constants, factors).items()):
        median = statistics.median(abs(e) for e in errors)
        print(f"{group:34s} n={len(errors):3d} median |error| {math.exp(median) - 1:6.1%}")
    if args.write:
        path = ROOT / "operator/neuron_operator/sizing/performance.py"
        text = path.read_text()
        pattern = re.compile(
            r"(# --- fitted by calibration/fit.py.*?---\n).*?(# --- end of fitted constants ---)",
            re.S,
        )
        path.write_text(pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
