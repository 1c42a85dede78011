"""The performance model against every published Neuron benchmark row it can represent."""

from __future__ import annotations

from collections.abc import Callable

from calibration.cases import load_cases
from calibration.report import MAX_GROUP_MEDIAN, MAX_OVERALL_MEDIAN, markdown, summarize

CASES = load_cases()
FITTED = [c for c in CASES if c.excluded is None]


def test_every_benchmark_file_contributes_cases() -> None:
    sources = {c.source.split(":")[0] for c in CASES}
    assert len(sources) >= 25
    assert len(FITTED) >= 200
    assert {c.generation for c in FITTED} == {"v1", "v2"}


def test_error_per_family_and_overall_is_within_the_documented_thresholds(
    record_property: Callable[[str, object], None],
) -> None:
    rows, overall = summarize(FITTED)
    record_property("calibration", markdown())
    report = "\n".join(f"{r.group}: median {r.median:.0%} (n={r.count})" for r in rows)
    assert overall <= MAX_OVERALL_MEDIAN, report
    for row in rows:
        assert row.median <= MAX_GROUP_MEDIAN, report


def test_published_figures_are_compared_not_copied() -> None:
    # The model must not be able to echo a published number: predictions come from the
    # engine's own estimate, so changing a case's batch changes the prediction.
    from dataclasses import replace

    from calibration.cases import predict

    case = next(c for c in FITTED if c.batch == 1 and "latency_ms" in c.observed)
    bigger = replace(case, batch=8)
    assert predict(bigger)["latency_ms"] > predict(case)["latency_ms"]


def test_docs_show_the_current_error_table() -> None:
    from pathlib import Path

    from calibration.report import section_of

    root = Path(__file__).resolve().parents[2]
    assert section_of(root / "docs" / "sizing.md") == markdown(), (
        "docs/sizing.md is stale: run `make calibrate` (or calibration/report.py --write)"
    )
