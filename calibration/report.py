"""Error of the performance model on the published benchmarks, per family and generation.

Used by the calibration test (which fails above the thresholds below) and printed in
docs/sizing.md by `python calibration/report.py`.
"""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.cases import Case, load_cases, log_errors, predict

# Thresholds (documented in docs/sizing.md): the median error of every group, and of all
# published figures together. |error| = |predicted / published - 1| in log terms, shown as %.
MAX_GROUP_MEDIAN = 0.75
MAX_OVERALL_MEDIAN = 0.40


@dataclass(frozen=True)
class GroupError:
    group: str
    count: int
    median: float  # relative error, e.g. 0.2 = 20 %
    p90: float
    bias: float  # median signed error: > 0 predicts slower/lower than published


def _relative(log_error: float) -> float:
    return math.exp(abs(log_error)) - 1


def summarize(cases: list[Case]) -> tuple[list[GroupError], float]:
    by_group: dict[str, list[float]] = {}
    for case in cases:
        for error in log_errors(case, predict(case)).values():
            by_group.setdefault(case.group, []).append(error)
    rows = []
    for group, errors in sorted(by_group.items()):
        magnitudes = sorted(abs(e) for e in errors)
        rows.append(
            GroupError(
                group=group,
                count=len(errors),
                median=_relative(statistics.median(magnitudes)),
                p90=_relative(magnitudes[min(len(magnitudes) - 1, int(0.9 * len(magnitudes)))]),
                bias=math.exp(statistics.median(errors)) - 1,
            )
        )
    everything = [abs(e) for errors in by_group.values() for e in errors]
    return rows, _relative(statistics.median(everything))


def markdown() -> str:
    cases = load_cases()
    fitted = [c for c in cases if c.excluded is None]
    rows, overall = summarize(fitted)
    lines = [
        "| family / generation | published figures | median error | 90th percentile | bias |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.group} | {row.count} | {row.median:.0%} | {row.p90:.0%} | {row.bias:+.0%} |"
        )
    lines.append(f"| **all** | {sum(r.count for r in rows)} | **{overall:.0%}** | | |")
    excluded = [c for c in cases if c.excluded is not None]
    if excluded:
        lines.append("")
        lines.append("Reported but not fitted:")
        for case in excluded:
            errors = log_errors(case, predict(case))
            worst = max(abs(e) for e in errors.values())
            lines.append(
                f"- {case.source} ({case.model}): off by {_relative(worst):.0%} — {case.excluded}"
            )
    return "\n".join(lines)


SECTION_START = "<!-- calibration:start -->"
SECTION_END = "<!-- calibration:end -->"


def update(path: Path) -> None:
    """Replace the marked section of a Markdown file with the current error table."""
    before, rest = path.read_text().split(SECTION_START, 1)
    after = rest.split(SECTION_END, 1)[1]
    path.write_text(f"{before}{SECTION_START}\n{markdown()}\n{SECTION_END}{after}")


def section_of(path: Path) -> str:
    text = path.read_text()
    return text.split(SECTION_START, 1)[1].split(SECTION_END, 1)[0].strip("\n")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--write":
        update(Path(sys.argv[2]))
    else:
        print(markdown())
