"""What the engine knows about a model: the spec plus documented estimates for what it lacks.

Every estimate made here is recorded in `assumptions`, which the plan shows, so a user can
supply the real figure (layers, hidden size, heads, GFLOPs) and get a sharper plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from neuron_operator.api.v1alpha1 import DType, ModelFamily, ModelSpec, Workload

F = ModelFamily

# Bytes per weight as compiled. The Neuron compiler casts fp32 to bf16 by default
# (neuronx-cc --auto-cast), so fp32 models are served, and sized, as bf16.
COMPILED_BYTES = {DType.FP32: 2, DType.BF16: 2, DType.FP16: 2, DType.FP8: 1, DType.INT8: 1}

# Defaults when the spec gives no sequence length: typical published configurations
# (BERT at 128 tokens, ViT-B/16 at 197 patches, Llama-class at 4096, T5 at 128, a
# 512x512 diffusion latent of 64x64 = 4096 positions).
DEFAULT_SEQUENCE = {
    F.TRANSFORMER_ENCODER: 128,
    F.TRANSFORMER_DECODER: 4096,
    F.TRANSFORMER_ENCODER_DECODER: 128,
    F.VISION_TRANSFORMER: 197,
    F.LSTM: 128,
    F.DIFFUSION: 4096,
}

# Forward FLOPs per weight per sample when neither GFLOPs nor a token count says more.
# CNNs: ResNet-50 is 4.1 GMACs for 25.6 M weights at 224x224 (~320 FLOPs/weight); VGG and
# other ResNets sit within 30 % of it. R-CNNs run the backbone at ~800x1333 (~20x the pixels).
FLOPS_PER_WEIGHT = {F.CNN: 320.0, F.RCNN: 6400.0}
# Diffusion: one denoising step touches every weight once per latent position; 50 steps.
DIFFUSION_STEPS = 50
# Weights of one standard transformer block: attention 4h², MLP 8h².
BLOCK_WEIGHTS_PER_H2 = 12
# Encoders whose embedding table is a large share of their weights: an execution gathers a few
# rows of it and multiplies by none, so their compute and weight traffic are the blocks'.
_EMBEDDING_HEAVY = {F.TRANSFORMER_ENCODER, F.VISION_TRANSFORMER}


@dataclass(frozen=True)
class ModelProfile:
    generative: bool = field(init=False)
    family: ModelFamily
    workload: Workload
    parameters: int
    dtype: DType
    bytes_per_weight: int
    sequence_length: int
    input_tokens: int  # prefill tokens (generative) or tokens per sample
    output_tokens: int  # generative: tokens generated; others: 0
    layers: int
    hidden_size: int
    attention_heads: int
    heads_known: bool
    kv_heads: int
    flops_per_sample: float  # forward pass, one sample (generative: the prefill)
    streamed_parameters: int  # weights one execution multiplies by (read from device memory)
    executions_per_sample: int  # model executions per sample (diffusion: denoising steps)
    flops_estimated: bool  # FLOPs from a per-weight rule of thumb, not the model's shape or spec
    assumptions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Read on every evaluation of the search: computed once.
        object.__setattr__(self, "generative", self.family.generative)

    @property
    def weight_bytes(self) -> float:
        return float(self.parameters * self.bytes_per_weight)

    @property
    def streamed_bytes(self) -> float:
        return float(self.streamed_parameters * self.bytes_per_weight)

    @property
    def rows_per_sample(self) -> float:
        """Rows one sample gives each weight matrix per execution (tokens for transformers,
        output positions for CNNs): how much work an execution gives the systolic array."""
        per_execution = self.flops_per_sample / self.executions_per_sample
        return max(1.0, per_execution / (2.0 * self.streamed_parameters))

    @property
    def head_dim(self) -> float:
        return self.hidden_size / self.attention_heads

    @property
    def decode_weights_fraction(self) -> float:
        """Share of the weights each decode step reads (encoder-decoders: the decoder half)."""
        return 0.5 if self.family == F.TRANSFORMER_ENCODER_DECODER else 1.0

    def kv_cache_bytes(self, batch: int) -> float:
        """K and V for every layer and position of `batch` sequences (0 for non-generative)."""
        if not self.generative:
            return 0.0
        positions = self.sequence_length
        if self.family == F.TRANSFORMER_ENCODER_DECODER:
            # decoder self-attention over its outputs plus cross-attention over the input
            positions = self.output_tokens + self.input_tokens
        per_position = 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_weight
        return batch * positions * per_position

    def decode_flops(self, context: float) -> float:
        """FLOPs of one generated token for one sequence at the given context length."""
        weights = self.parameters * self.decode_weights_fraction
        return 2.0 * weights + 4.0 * self.layers * context * self.hidden_size

    def activation_bytes(self, batch: int) -> float:
        """Live activations and scratch of one forward pass (inference) — a coarse estimate."""
        if self.family in (F.CNN, F.RCNN, F.DIFFUSION):
            per_sample = {F.CNN: 64, F.RCNN: 512, F.DIFFUSION: 1024}[self.family] * 2**20
            return batch * per_sample
        tokens = self.input_tokens
        # a few hidden-state buffers plus one layer's attention scores
        return batch * (
            8 * tokens * self.hidden_size * 2 + 2 * self.attention_heads * tokens * tokens
        )

    def training_state_bytes(self) -> float:
        """Weights, gradients and Adam state with BF16 autocast and FP32 master weights."""
        return self.parameters * 16.0

    def training_activation_bytes(self, batch: int) -> float:
        """Per-layer activations kept for the backward pass, 34·s·h bytes per sample and layer
        (Korthikanti et al., "Reducing Activation Recomputation", with selective recompute)."""
        return batch * self.layers * 34.0 * self.input_tokens * self.hidden_size


def _estimate_layers(parameters: int) -> int:
    # A power law through well-known shapes: 7 B→32 layers (Llama-2-7B), 110 M→9 (BERT-base
    # has 12), 70 B→64 (Llama-2-70B has 80); only used when the spec gives no layer count.
    layers = round(32 * math.pow(parameters / 7e9, 0.3))
    return max(4, min(128, layers))


def _estimate_hidden(parameters: int, layers: int) -> int:
    # Transformer blocks hold ~12·h² weights each (attention 4h², MLP 8h²).
    hidden = math.sqrt(parameters / (12 * layers))
    return max(64, round(hidden / 64) * 64)


def build_profile(model: ModelSpec, workload: Workload) -> ModelProfile:
    notes: list[str] = []
    family = model.family
    if model.dtype == DType.FP32:
        notes.append(
            "fp32 weights are compiled to bf16 by default (neuronx-cc auto-cast): sized as bf16"
        )

    sequence = model.sequence_length
    if sequence is None:
        sequence = DEFAULT_SEQUENCE.get(family, 1)
        if family in DEFAULT_SEQUENCE:
            notes.append(f"model.sequenceLength not set: assumed {sequence}")

    output_tokens = 0
    input_tokens = sequence
    if family.generative and workload == Workload.INFERENCE:
        output_tokens = model.output_tokens or max(1, sequence // 2)
        if model.output_tokens is None:
            notes.append(f"model.outputTokens not set: assumed {output_tokens} generated tokens")
        if family == F.TRANSFORMER_DECODER:
            input_tokens = max(1, sequence - output_tokens)

    layers = model.layers or _estimate_layers(model.parameters)
    hidden = model.hidden_size or _estimate_hidden(model.parameters, layers)
    if (model.layers is None or model.hidden_size is None) and (
        family.transformer or family == F.LSTM
    ):
        notes.append(
            f"layers/hiddenSize not set: estimated {layers} layers of width {hidden} from "
            "the parameter count"
        )
    heads = model.attention_heads or max(1, hidden // 128)
    kv_heads = model.kv_heads or heads
    if family.generative and model.kv_heads is None:
        notes.append("model.kvHeads not set: KV cache sized for full multi-head attention")

    streamed = model.parameters
    if family in _EMBEDDING_HEAVY and model.layers is not None and model.hidden_size is not None:
        streamed = min(streamed, BLOCK_WEIGHTS_PER_H2 * layers * hidden * hidden)
        if streamed < model.parameters:
            notes.append(
                f"{(model.parameters - streamed) / 1e6:.0f} M weights beyond {layers} blocks "
                f"of width {hidden} are taken for embeddings: looked up, not multiplied"
            )

    if model.gflops_per_inference is not None:
        flops = model.gflops_per_inference * 1e9
    elif family in FLOPS_PER_WEIGHT:
        flops = FLOPS_PER_WEIGHT[family] * model.parameters
        notes.append(
            f"model.gflopsPerInference not set: estimated {flops / 1e9:.1f} GFLOPs per sample "
            f"({FLOPS_PER_WEIGHT[family]:.0f} per weight, typical of {family.value}s)"
        )
    elif family == F.DIFFUSION:
        flops = 2.0 * model.parameters * sequence * DIFFUSION_STEPS
        notes.append(
            f"model.gflopsPerInference not set: estimated {flops / 1e9:.0f} GFLOPs per image "
            f"({DIFFUSION_STEPS} denoising steps over {sequence} latent positions)"
        )
    else:
        encoder_weights = streamed
        if family == F.TRANSFORMER_ENCODER_DECODER:
            encoder_weights = model.parameters // 2
        flops = 2.0 * encoder_weights * input_tokens
        if family.transformer:
            flops += 2.0 * layers * input_tokens * input_tokens * hidden
    return ModelProfile(
        family=family,
        workload=workload,
        parameters=model.parameters,
        dtype=model.dtype,
        bytes_per_weight=COMPILED_BYTES[model.dtype],
        sequence_length=sequence,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        layers=layers,
        hidden_size=hidden,
        attention_heads=heads,
        heads_known=model.attention_heads is not None,
        kv_heads=kv_heads,
        flops_per_sample=flops,
        streamed_parameters=streamed,
        executions_per_sample=DIFFUSION_STEPS if family == F.DIFFUSION else 1,
        flops_estimated=model.gflops_per_inference is None
        and (family in FLOPS_PER_WEIGHT or family == F.DIFFUSION),
        assumptions=tuple(notes),
    )
