"""The performance model against every published Neuron measurement it can represent.

The accuracy that counts is cross-validated: each architecture's figures predicted by a fit
that never saw them (calibration/validate.py). That run takes a few minutes, so it is done
once per test session and shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from calibration import architectures
from calibration.cases import Case, load_cases, predict
from calibration.fit import fit
from calibration.priors import FAMILY_PRIORS, GENERATION_PRIORS
from calibration.report import (
    MAX_CV_GROUP_MEDIAN,
    MAX_CV_MEAN,
    held_out,
    markdown,
    section_of,
    summarize_errors,
)
from calibration.validate import Held, cross_validate, with_guessed_flops

from neuron_operator.sizing.performance import CONSTANTS, FAMILY_COMPUTE_COST
from neuron_operator.sizing.profile import FLOPS_PER_WEIGHT

CASES = load_cases()
FITTED = [c for c in CASES if c.excluded is None]
ROOT = Path(__file__).resolve().parents[2]
# Within this share of its range from either end, a constant counts as sitting on a bound.
EDGE = 0.01
# The cross-validation refits the model once per architecture (about 40 fits): about a
# minute and a half on two cores. Its first user pays for it.
CROSS_VALIDATION = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def held() -> list[Held]:
    return cross_validate(FITTED)


def test_every_benchmark_file_contributes_cases() -> None:
    sources = {c.source.split(":")[0] for c in CASES}
    assert len(sources) >= 29
    assert len(FITTED) >= 1000
    assert {c.generation for c in FITTED} == {"v1", "v2"}
    assert len({c.architecture for c in FITTED}) >= 30


def test_no_fitted_constant_sits_on_a_bound() -> None:
    # A constant on its bound means the model's form is wrong there, not the constant.
    for (generation, name), prior in GENERATION_PRIORS.items():
        position = prior.position(getattr(CONSTANTS[generation], name))
        assert EDGE < position < 1 - EDGE, f"{generation}.{name} at {position:.1%} of its range"
    for family, prior in FAMILY_PRIORS.items():
        position = prior.position(FAMILY_COMPUTE_COST[family])
        assert EDGE < position < 1 - EDGE, f"{family} cost at {position:.1%} of its range"


def test_the_constants_in_the_engine_are_the_fit_of_the_data() -> None:
    # performance.py holds what `make calibrate` fits on calibration/data, nothing else.
    fitted = fit(FITTED)
    for generation, name in GENERATION_PRIORS:
        ours, theirs = (
            getattr(CONSTANTS[generation], name),
            getattr(fitted.constants[generation], name),
        )
        assert ours == pytest.approx(theirs, rel=2e-3), f"{generation}.{name}: run make calibrate"
    for family in FAMILY_PRIORS:
        assert FAMILY_COMPUTE_COST[family] == pytest.approx(fitted.costs[family], rel=2e-3)


@CROSS_VALIDATION
def test_cross_validated_error_is_within_the_documented_thresholds(
    held: list[Held], record_property: Callable[[str, object], None]
) -> None:
    rows, overall = summarize_errors(held_out(held))
    report = "\n".join(f"{r.group}: median {r.median:.0%} (n={r.count})" for r in rows)
    record_property("cross-validated", report)
    assert overall.mean <= MAX_CV_MEAN, report
    for row in rows:
        assert row.median <= MAX_CV_GROUP_MEDIAN, report


@CROSS_VALIDATION
def test_every_fitted_figure_is_predicted_out_of_sample(held: list[Held]) -> None:
    assert len(held) == sum(len(c.observed) for c in FITTED)


def test_published_figures_are_compared_not_copied() -> None:
    # The model must not be able to echo a published number: predictions come from the
    # engine's own estimate, so changing a case's batch changes the prediction.
    case: Case = next(c for c in FITTED if c.batch == 1 and "latency_ms" in c.observed)
    bigger = replace(case, batch=8)
    assert predict(bigger)["latency_ms"] > predict(case)["latency_ms"]


@CROSS_VALIDATION
def test_docs_show_the_current_error_table(held: list[Held]) -> None:
    assert section_of(ROOT / "docs" / "sizing.md") == markdown(CASES, held), (
        "docs/sizing.md is stale: run `make calibrate`"
    )


@CROSS_VALIDATION
def test_the_engines_uncertainty_bands_are_the_cross_validated_ones(held: list[Held]) -> None:
    from calibration import bands

    assert bands.PATH.read_text() == bands.render(held), (
        "sizing/data/uncertainty.json is stale: run `make calibrate`"
    )


@pytest.mark.parametrize(
    ("layers", "card"), [(architectures.openpose(), 52e6), (architectures.unet(), 31e6)]
)
def test_a_counted_architecture_has_its_cards_weights(
    layers: list[architectures.Conv], card: float
) -> None:
    # FLOPs counted from a misread architecture would not give the published weight count
    assert architectures.weights(layers) == pytest.approx(card, rel=0.02)


def test_a_cnn_predicted_as_if_its_flops_were_guessed() -> None:
    cases = {c.architecture: c for c in FITTED}
    openpose = cases["openpose"]
    guessed = with_guessed_flops(openpose)
    assert guessed is not None and guessed.profile.flops_estimated
    per_weight = FLOPS_PER_WEIGHT[openpose.profile.family]
    assert guessed.profile.flops_per_sample == per_weight * openpose.profile.parameters
    assert guessed.profile.flops_per_sample < openpose.profile.flops_per_sample / 10
    # transformers' FLOPs follow from their tokens: nothing to guess
    assert with_guessed_flops(cases["bert-base"]) is None
