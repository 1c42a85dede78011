"""Error of the performance model on the published measurements, per family and generation:
cross-validated (the accuracy the engine quotes) beside in-sample (how well the fit remembers).

Used by the calibration tests (which fail above the thresholds below) and printed in
docs/sizing.md by `python calibration/report.py --write docs/sizing.md`.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.cases import Case, load_cases, log_errors, predict
from calibration.validate import Held, cross_validate

# Thresholds on the cross-validated error (documented in docs/sizing.md): the mean |error| of
# all published figures together, and the median |error| of every family/generation group.
# |error| = |predicted / published - 1|.
MAX_CV_MEAN = 0.35
MAX_CV_GROUP_MEDIAN = 0.75


@dataclass(frozen=True)
class GroupError:
    group: str
    count: int
    median: float  # relative error, e.g. 0.2 = 20 %
    mean: float
    bias: float  # median signed error: > 0 predicts slower/lower than published


def relative(log_error: float) -> float:
    return abs(math.exp(log_error) - 1)


def _row(group: str, errors: list[float]) -> GroupError:
    return GroupError(
        group=group,
        count=len(errors),
        median=statistics.median(relative(e) for e in errors),
        mean=statistics.fmean(relative(e) for e in errors),
        bias=math.exp(statistics.median(errors)) - 1,
    )


def summarize_errors(
    errors: Iterable[tuple[str, str, float]],
) -> tuple[list[GroupError], GroupError]:
    """(group, metric, log error) triples -> one row per group, and one for everything."""
    by_group: dict[str, list[float]] = {}
    for group, _metric, error in errors:
        by_group.setdefault(group, []).append(error)
    rows = [_row(group, by_group[group]) for group in sorted(by_group)]
    return rows, _row("all", [e for values in by_group.values() for e in values])


def in_sample(cases: list[Case]) -> list[tuple[str, str, float]]:
    return [
        (case.group, metric, error)
        for case in cases
        for metric, error in log_errors(case, predict(case)).items()
    ]


def held_out(held: list[Held]) -> list[tuple[str, str, float]]:
    return [(h.case.group, h.metric, h.log_error) for h in held]


def by_metric(held: list[Held]) -> list[str]:
    """Cross-validated error of throughput and of latency (TTFT and TPOT count as latency),
    per NeuronCore generation: the terms the engine's accuracy targets are stated in."""
    kinds: dict[str, list[float]] = {}
    for h in held:
        kind = "throughput" if h.metric == "throughput" else "latency"
        for key in (f"{kind}/{h.case.generation}", f"{kind}/all"):
            kinds.setdefault(key, []).append(h.log_error)
    lines = [
        "| figure / generation | published figures | cross-validated mean | median |",
        "|---|---|---|---|",
    ]
    for key in sorted(kinds):
        row = _row(key, kinds[key])
        lines.append(f"| {key} | {row.count} | {row.mean:.0%} | {row.median:.0%} |")
    return lines


def markdown(cases: list[Case], held: list[Held]) -> str:
    fitted = [c for c in cases if c.excluded is None]
    cv_rows, cv_all = summarize_errors(held_out(held))
    in_rows, in_all = summarize_errors(in_sample(fitted))
    inside = {r.group: r for r in in_rows}
    lines = [
        "| family / generation | published figures | cross-validated median | "
        "cross-validated mean | bias | in-sample median |",
        "|---|---|---|---|---|---|",
    ]
    for row in [*cv_rows, cv_all]:
        mine = inside.get(row.group, in_all)
        name = f"**{row.group}**" if row.group == "all" else row.group
        lines.append(
            f"| {name} | {row.count} | {row.median:.0%} | {row.mean:.0%} | {row.bias:+.0%} | "
            f"{mine.median:.0%} |"
        )
    lines += ["", *by_metric(held)]
    excluded: dict[tuple[str, str], list[float]] = {}
    for case in cases:
        if case.excluded is not None:
            errors = log_errors(case, predict(case))
            worst = max(abs(e) for e in errors.values())
            excluded.setdefault((case.architecture, case.excluded), []).append(relative(worst))
    if excluded:
        lines.append("")
        lines.append("Reported but not fitted:")
        for (architecture, why), offs in sorted(excluded.items()):
            lines.append(
                f"- {architecture}, {len(offs)} rows: off by {min(offs):.0%} to "
                f"{max(offs):.0%} — {why}"
            )
    return "\n".join(lines)


def current() -> tuple[list[Case], list[Held]]:
    cases = load_cases()
    return cases, cross_validate([c for c in cases if c.excluded is None])


SECTION_START = "<!-- calibration:start -->"
SECTION_END = "<!-- calibration:end -->"


def update(path: Path, text: str) -> None:
    """Replace the marked section of a Markdown file with the given table."""
    before, rest = path.read_text().split(SECTION_START, 1)
    after = rest.split(SECTION_END, 1)[1]
    path.write_text(f"{before}{SECTION_START}\n{text}\n{SECTION_END}{after}")


def section_of(path: Path) -> str:
    text = path.read_text()
    return text.split(SECTION_START, 1)[1].split(SECTION_END, 1)[0].strip("\n")


if __name__ == "__main__":
    from calibration import bands

    cases, held = current()
    table = markdown(cases, held)
    if len(sys.argv) > 2 and sys.argv[1] == "--write":
        update(Path(sys.argv[2]), table)
        print(f"wrote {sys.argv[2]} and {bands.write(held)}")
    else:
        print(table)
        print(bands.render(held))
