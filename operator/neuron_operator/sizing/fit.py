"""Architecture fit: model family × NeuronCore generation × workload.

Source: Neuron's "Model Architecture Fit Guidelines" (aws-neuron-sdk
general/arch/model-architecture-fit.rst, last version e0ef8a1a, 2023-05-05, removed from the
docs in 2.18). The table has columns for NeuronCore-v1 (Inf1) and NeuronCore-v2 (Inf2/Trn1);
NeuronCore-v3 (Trn2) is not in it and is judged like v2, its predecessor, which the plan says.
"Roadmap" entries (2023) are planned as `limited`: the hardware fits, the software support was
not confirmed when the table was last published.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuron_operator.api.plan import FitVerdict
from neuron_operator.api.reasons import ReasonCode
from neuron_operator.api.v1alpha1 import DType, ModelFamily, Workload
from neuron_operator.sizing.catalog import InstanceType

F = ModelFamily
V = FitVerdict


@dataclass(frozen=True)
class FitJudgement:
    verdict: FitVerdict
    reason: ReasonCode
    message: str

    @property
    def allowed(self) -> bool:
        return self.verdict in (FitVerdict.GOOD, FitVerdict.LIMITED)


_FAMILY_NAMES = {
    F.TRANSFORMER_ENCODER: "transformer encoders",
    F.TRANSFORMER_DECODER: "decoders",
    F.TRANSFORMER_ENCODER_DECODER: "encoder-decoders",
    F.CNN: "CNNs",
    F.RCNN: "R-CNNs",
    F.LSTM: "LSTMs",
    F.VISION_TRANSFORMER: "vision transformers",
    F.DIFFUSION: "diffusion models",
}

# Inference on NeuronCore-v1 (Inf1, torch-neuron): hardware fit and framework support.
_INF1_INFERENCE: dict[ModelFamily, tuple[FitVerdict, str]] = {
    F.TRANSFORMER_ENCODER: (V.GOOD, "good fit and supported on Inf1"),
    F.TRANSFORMER_DECODER: (
        V.POOR,
        "decoders are not a good fit for Inf1 (NeuronCore-v1): every output token re-reads "
        "the weights from device DRAM; allow inf2 or trn1",
    ),
    F.TRANSFORMER_ENCODER_DECODER: (
        V.POOR,
        "encoder-decoders are not a good fit for Inf1 (NeuronCore-v1): the decoder runs once "
        "per output token; allow inf2 or trn1",
    ),
    F.LSTM: (V.GOOD, "good fit and supported on Inf1"),
    F.VISION_TRANSFORMER: (V.GOOD, "good fit and supported on Inf1"),
    F.DIFFUSION: (
        V.UNSUPPORTED,
        "diffusion models are not supported on Inf1 (their weights exceed the 2 GB limit of "
        "Inf1's compilers); allow inf2",
    ),
    F.CNN: (V.GOOD, "good fit and supported on Inf1"),
    F.RCNN: (
        V.LIMITED,
        "R-CNNs are supported on Inf1 with limitations: RoI Align runs on the CPU, best with "
        "fewer than 100 boxes and a large ResNet backbone",
    ),
}

# Inference on NeuronCore-v2 (Inf2/Trn1, torch-neuronx).
_V2_INFERENCE: dict[ModelFamily, tuple[FitVerdict, str]] = {
    F.TRANSFORMER_ENCODER: (V.GOOD, "good fit and supported"),
    F.TRANSFORMER_DECODER: (V.GOOD, "good fit and supported"),
    F.TRANSFORMER_ENCODER_DECODER: (V.GOOD, "good fit; supported through NeuronX Distributed"),
    F.LSTM: (
        V.LIMITED,
        "LSTMs fit the hardware, but torch-neuronx inference support was on the roadmap when "
        "Neuron last published its fit table (2023)",
    ),
    F.VISION_TRANSFORMER: (V.GOOD, "good fit and supported"),
    F.DIFFUSION: (V.GOOD, "good fit and supported"),
    F.CNN: (V.GOOD, "good fit and supported"),
    F.RCNN: (
        V.LIMITED,
        "R-CNNs fit the hardware, but torch-neuronx inference support was on the roadmap when "
        "Neuron last published its fit table (2023)",
    ),
}

# Training on Trn1 (torch-neuronx); Trn2 judged the same.
_TRAINING: dict[ModelFamily, tuple[FitVerdict, str]] = {
    F.TRANSFORMER_ENCODER: (V.GOOD, "training supported"),
    F.TRANSFORMER_DECODER: (V.GOOD, "training supported"),
    F.TRANSFORMER_ENCODER_DECODER: (V.GOOD, "training supported"),
    F.VISION_TRANSFORMER: (V.GOOD, "training supported"),
    F.LSTM: (V.LIMITED, "LSTM training was on the torch-neuronx roadmap (2023)"),
    F.DIFFUSION: (V.LIMITED, "diffusion training was on the torch-neuronx roadmap (2023)"),
    F.CNN: (V.LIMITED, "CNN training was on the torch-neuronx roadmap (2023)"),
    F.RCNN: (V.LIMITED, "R-CNN training was on the torch-neuronx roadmap (2023)"),
}


def _code(verdict: FitVerdict) -> ReasonCode:
    return {
        V.GOOD: ReasonCode.ARCHITECTURE_GOOD_FIT,
        V.LIMITED: ReasonCode.ARCHITECTURE_SUPPORTED_WITH_LIMITATIONS,
        V.POOR: ReasonCode.ARCHITECTURE_NOT_A_GOOD_FIT,
        V.UNSUPPORTED: ReasonCode.ARCHITECTURE_NOT_SUPPORTED,
    }[verdict]


def judge_fit(family: ModelFamily, workload: Workload, instance: InstanceType) -> FitJudgement:
    generation = instance.core_version
    if workload == Workload.TRAINING:
        if not instance.generation.trains:
            return FitJudgement(
                V.UNSUPPORTED,
                ReasonCode.WORKLOAD_NOT_SUPPORTED,
                f"{instance.family} is built for inference; training runs on trn1, trn1n or trn2",
            )
        if instance.family.startswith("inf"):
            return FitJudgement(
                V.UNSUPPORTED,
                ReasonCode.WORKLOAD_NOT_SUPPORTED,
                "Inf2 is built for inference; training runs on trn1, trn1n or trn2",
            )
        verdict, text = _TRAINING[family]
    elif generation == "v1":
        verdict, text = _INF1_INFERENCE[family]
    else:
        verdict, text = _V2_INFERENCE[family]
    if generation == "v3" and verdict in (V.GOOD, V.LIMITED):
        text += " (Trn2's NeuronCore-v3 is judged like v2: Neuron's fit table predates it)"
    return FitJudgement(verdict, _code(verdict), text)


def judge_dtype(dtype: DType, instance: InstanceType) -> FitJudgement | None:
    """None when the generation can run the dtype; otherwise why not."""
    if dtype == DType.FP8 and instance.generation.fp8_tflops is None:
        return FitJudgement(
            V.UNSUPPORTED,
            ReasonCode.DTYPE_NOT_SUPPORTED,
            "fp8 needs NeuronCore-v2 or later (Inf1 has no FP8); allow inf2, trn1 or trn2, "
            "or use bf16/int8",
        )
    return None


def family_name(family: ModelFamily) -> str:
    return _FAMILY_NAMES[family]
