"""The performance model's tuned constants: each one's physical range and prior centre.

A fit moves a constant only as far from its prior as the published measurements demand
(calibration/fit.py adds (x - centre) / PRIOR_WIDTH to the residuals, in the constant's own
transformed coordinate), and a constant is never allowed onto the edge of its range:
tests/unit/test_calibration.py fails if a fitted value sits within 1 % of a bound, because
a constant pinned to a bound means the model's form is wrong, not the constant.

Ranges and centres come from hardware facts, not from the benchmarks:
- compute efficiency: compiled transformer graphs reach well below peak on every accelerator;
  (0.05, 0.9), centre 0.4.
- half-saturation rows: a 128-row systolic array (NeuronCore-v2's tensor engine is 128×128)
  is half busy at a few tens to hundreds of rows; (4, 4096), centre 128, log scale.
- memory efficiency: DRAM streams reach 50–90 % of the nominal bandwidth; (0.3, 0.95).
- overhead: a model execution's launch and host round trip, tens of µs to a few ms.
- overlapped overhead (Inf1): the share of an execution's fixed cost that is host work, done
  while the device runs another request; anywhere in (0, 1), centre 0.5. Inf2/Trn figures were
  all measured with one request in flight per copy, so there it is 0, not fitted.
- core bandwidth share (Inf1): a chip's four cores share its DRAM; one core's DMA engines
  draw between a quarter and all of it.
- collective latency: one all-reduce step over NeuronLink or on chip, 2–500 µs; ring
  bandwidth per core 5–400 GB/s (NeuronLink-v2 is 192 GiB/s per Inferentia2 chip).
- cached weights per core (Inf1) is not fitted: NeuronCore Pipeline's rule of thumb, 4 cores
  per 2e7 weights, states it (5e6 per core, PIPELINE_WEIGHTS_PER_CORE), and a data-parallel
  copy keeps as much on its own core. Fitted, it traded against DRAM bandwidth, and with
  BERT-base (the only pipelined model in the tables) held out it fell to half the rule.
  NeuronCore-v2 and later stream weights from HBM (their SBUF is working memory): 0.
- family compute cost: how much a family's FLOPs cost relative to a transformer encoder's
  matmuls (depthwise convolutions, attention softmax, vector-engine work); centre 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from neuron_operator.api.v1alpha1 import ModelFamily

# Neuron's NeuronCore Pipeline rule of thumb: 4 cores per 2e7 weights.
PIPELINE_WEIGHTS_PER_CORE = 5e6

# Width of the prior in the transformed coordinate (logit of the position in the range):
# 1.5 lets a constant cover most of its range when the data ask for it.
PRIOR_WIDTH = 1.5


@dataclass(frozen=True)
class Prior:
    low: float
    high: float
    centre: float
    log: bool = False  # spread on a log scale (rates, times, counts spanning decades)

    def _unit(self, value: float) -> float:
        if self.log:
            return (math.log(value) - math.log(self.low)) / (
                math.log(self.high) - math.log(self.low)
            )
        return (value - self.low) / (self.high - self.low)

    def to_x(self, value: float) -> float:
        u = min(max(self._unit(value), 1e-9), 1 - 1e-9)
        return math.log(u / (1 - u))

    def to_value(self, x: float) -> float:
        u = 1 / (1 + math.exp(-max(-40.0, min(40.0, x))))
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def position(self, value: float) -> float:
        """Where a value sits in the range, 0 at the low bound and 1 at the high one."""
        return self._unit(value)

    @property
    def centre_x(self) -> float:
        return self.to_x(self.centre)


# (generation, constant) -> prior. NeuronCore-v1 runs no tensor-parallel, generative or
# training work, and v2 has no NeuronCore Pipeline: those constants are not fitted there.
GENERATION_PRIORS: dict[tuple[str, str], Prior] = {
    ("v1", "compute_efficiency"): Prior(0.05, 0.9, 0.4),
    ("v1", "half_saturation_rows"): Prior(4, 4096, 128, log=True),
    ("v1", "memory_efficiency"): Prior(0.3, 0.95, 0.7),
    ("v1", "overhead_ms"): Prior(0.02, 10, 1, log=True),
    ("v1", "overlap_penalty"): Prior(0.01, 0.99, 0.3),
    ("v1", "overlapped_overhead"): Prior(0.0, 1.0, 0.5),
    ("v1", "core_bandwidth_share"): Prior(0.25, 1.0, 0.5),
    ("v1", "pipeline_stage_ms"): Prior(0.005, 2, 0.1, log=True),
    ("v1", "pipeline_balance"): Prior(0.2, 1.0, 0.7),
    ("v2", "compute_efficiency"): Prior(0.05, 0.9, 0.4),
    ("v2", "half_saturation_rows"): Prior(4, 4096, 128, log=True),
    ("v2", "memory_efficiency"): Prior(0.3, 0.95, 0.7),
    ("v2", "overhead_ms"): Prior(0.02, 10, 0.2, log=True),
    ("v2", "overlap_penalty"): Prior(0.01, 0.99, 0.3),
    ("v2", "collective_latency_us"): Prior(2, 500, 30, log=True),
    ("v2", "collective_gbps"): Prior(5, 400, 50, log=True),
    ("v2", "training_efficiency"): Prior(0.05, 0.9, 0.35),
    # Collective libraries reach most of a link's line rate on large buffers; gradients are.
    ("v2", "efa_efficiency"): Prior(0.2, 1.0, 0.7),
}

# The encoder is the reference (cost 1); the others are fitted around it.
FAMILY_PRIORS: dict[ModelFamily, Prior] = {
    family: Prior(0.2, 5.0, 1.0, log=True)
    for family in (
        ModelFamily.TRANSFORMER_DECODER,
        ModelFamily.TRANSFORMER_ENCODER_DECODER,
        ModelFamily.CNN,
        ModelFamily.VISION_TRANSFORMER,
        ModelFamily.DIFFUSION,
    )
}
