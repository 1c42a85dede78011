"""Leave-one-group-out cross-validation of the performance model.

For each held-out group (an architecture: every published figure of one model, however the
tables spell its name; or a source file), the constants are refitted on everything else and
the held-out figures are predicted with them. The errors collected that way are the only
accuracy the engine quotes: an in-sample error says how well the fit remembers, not how well
it predicts a model it has not seen.

    python calibration/validate.py             # by architecture (the default)
    python calibration/validate.py --by source # by source file
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.cases import Case, load_cases, log_errors, predict
from calibration.fit import fit
from neuron_operator.sizing.profile import FLOPS_PER_WEIGHT

GROUPINGS: dict[str, Callable[[Case], str]] = {
    "architecture": lambda case: case.architecture,
    "source": lambda case: case.source.split(":")[0],
}


@dataclass(frozen=True)
class Held:
    """One published figure predicted by a fit that never saw its group."""

    case: Case
    metric: str
    log_error: float  # ln(predicted / published)
    # The same figure's error had the spec left out gflopsPerInference, where the engine would
    # then guess it from the weights (CNNs): what a plan without FLOPs should expect.
    guessed_flops_log_error: float | None = None


def with_guessed_flops(case: Case) -> Case | None:
    """The case as the engine sees it when the spec gives no FLOPs, or None where it would
    not guess (the FLOPs were already a guess, or the family's follow from its tokens)."""
    per_weight = FLOPS_PER_WEIGHT.get(case.profile.family)
    if per_weight is None or case.profile.flops_estimated:
        return None
    guessed = replace(
        case.profile, flops_per_sample=per_weight * case.profile.parameters, flops_estimated=True
    )
    return replace(case, profile=guessed)


# The cases of the run in progress: worker processes inherit them when they fork, so a fold's
# job carries only the name of the group it holds out.
_CASES: list[Case] = []


def _fold(args: tuple[str, str]) -> list[Held]:
    by, group = args
    cases = _CASES
    key = GROUPINGS[by]
    training = [c for c in cases if key(c) != group]
    fitted = fit(training)
    out = []
    for case in cases:
        if key(case) != group:
            continue
        constants = fitted.constants[case.generation]
        errors = log_errors(case, predict(case, constants, fitted.costs))
        guessed = with_guessed_flops(case)
        guessed_errors = (
            {}
            if guessed is None
            else log_errors(guessed, predict(guessed, constants, fitted.costs))
        )
        for metric, error in errors.items():
            out.append(Held(case, metric, error, guessed_errors.get(metric)))
    return out


def cross_validate(cases: list[Case], by: str = "architecture", workers: int = 2) -> list[Held]:
    key = GROUPINGS[by]
    groups = sorted({key(c) for c in cases})
    _CASES[:] = cases
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [held for fold in pool.map(_fold, [(by, g) for g in groups]) for held in fold]


def main() -> None:
    from calibration.report import summarize_errors

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--by", choices=sorted(GROUPINGS), default="architecture")
    args = parser.parse_args()
    cases = [c for c in load_cases() if c.excluded is None]
    held = cross_validate(cases, args.by)
    rows, overall = summarize_errors([(h.case.group, h.metric, h.log_error) for h in held])
    for row in [*rows, overall]:
        print(
            f"{row.group:36s} figures {row.count:5d}  median {row.median:5.0%}  "
            f"mean {row.mean:5.0%}  bias {row.bias:+.0%}"
        )


if __name__ == "__main__":
    main()
