"""How far off an estimate is likely to be: bands from the model's cross-validated errors.

`make calibrate` predicts every published figure with constants fitted without its model
(calibration/validate.py) and writes, per family and generation, the 10th and 90th
percentiles of the time error ln(predicted time / published time) to data/uncertainty.json
(a throughput error counts with its sign flipped: too much throughput is too little time).
An estimate's likely range is where the truth fell for 80 % of the published figures the
engine had not seen:

    time:       predicted × [exp(-p90), exp(-p10)]
    throughput: predicted × [exp(p10), exp(p90)]

Where a family's FLOPs may come from the spec or from a rule of thumb (CNNs, diffusion), the
band is taken from the figures of the same kind when there are enough: a model whose FLOPs
the user gave is predicted better than one whose FLOPs the engine guessed. A group with too few
figures uses its generation's band, and Trn2 (NeuronCore-v3, no published figures) uses v2's:
it is an extrapolation, and its band is no narrower than that.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

from neuron_operator.api.v1alpha1 import ModelFamily, Workload


@dataclass(frozen=True)
class Band:
    """Multipliers of an estimate: the likely range of the true figure."""

    low: float  # p10 of the time error
    high: float  # p90 of the time error
    figures: int  # published figures behind it

    def time(self, predicted: float) -> tuple[float, float]:
        return predicted * math.exp(-self.high), predicted * math.exp(-self.low)

    def rate(self, predicted: float) -> tuple[float, float]:
        return predicted * math.exp(self.low), predicted * math.exp(self.high)


@dataclass(frozen=True)
class Bands:
    interval: float
    groups: dict[str, Band]
    generations: dict[str, Band]

    def band(
        self, family: ModelFamily, generation: str, workload: Workload, flops_estimated: bool
    ) -> Band:
        measured = "v2" if generation == "v3" else generation
        group = f"{family.value}/{measured}" + (
            "/training" if workload == Workload.TRAINING else ""
        )
        found = self.groups.get(group + flops_suffix(flops_estimated)) or self.groups.get(group)
        return found or self.generations.get(measured) or self.generations["all"]


def flops_suffix(flops_estimated: bool) -> str:
    return "/flops-estimated" if flops_estimated else "/flops-given"


def _band(raw: dict[str, float]) -> Band:
    return Band(low=raw["p10"], high=raw["p90"], figures=int(raw["figures"]))


@cache
def load_bands() -> Bands:
    text = resources.files("neuron_operator.sizing").joinpath("data/uncertainty.json").read_text()
    raw = json.loads(text)
    return Bands(
        interval=float(raw["interval"]),
        groups={name: _band(entry) for name, entry in raw["groups"].items()},
        generations={name: _band(entry) for name, entry in raw["generations"].items()},
    )
