"""Public architecture facts of the models in the Neuron benchmark tables.

The benchmark CSVs name models but not their sizes; these are the sizes from the models' own
cards and papers (parameter counts, layers, widths, heads; GFLOPs where the parameter count
misleads about compute: ALBERT shares one layer's weights across 12 layers, CLIP runs two
towers, the CNNs' figures are torchvision's published GMACs × 2). No benchmark result is used
here.
"""

from __future__ import annotations

from typing import Any

from calibration.architectures import gflops, openpose, unet

# key: a prefix of the CSV "Model" column (matched case-insensitively, longest first)
MODELS: dict[str, dict[str, Any]] = {
    # --- transformer encoders ---
    "bert-base": {
        "family": "transformer-encoder",
        "parameters": 110e6,
        "layers": 12,
        "hiddenSize": 768,
        "attentionHeads": 12,
    },
    "bert base": {
        "family": "transformer-encoder",
        "parameters": 110e6,
        "layers": 12,
        "hiddenSize": 768,
        "attentionHeads": 12,
    },
    "bert-large": {
        "family": "transformer-encoder",
        "parameters": 335e6,
        "layers": 24,
        "hiddenSize": 1024,
        "attentionHeads": 16,
    },
    "huggingface bert-large": {
        "family": "transformer-encoder",
        "parameters": 335e6,
        "layers": 24,
        "hiddenSize": 1024,
        "attentionHeads": 16,
    },
    "distilbert": {
        "family": "transformer-encoder",
        "parameters": 66e6,
        "layers": 6,
        "hiddenSize": 768,
        "attentionHeads": 12,
    },
    "distilroberta": {
        "family": "transformer-encoder",
        "parameters": 82e6,
        "layers": 6,
        "hiddenSize": 768,
        "attentionHeads": 12,
    },
    # ALBERT-base: 12 M weights, but 12 applications of a BERT-base-sized layer (85 M).
    "albert-base-v2": {
        "family": "transformer-encoder",
        "parameters": 11.7e6,
        "layers": 12,
        "hiddenSize": 768,
        "attentionHeads": 12,
        "gflopsPerInference": 22.1,
    },
    "google/electra-base": {
        "family": "transformer-encoder",
        "parameters": 110e6,
        "layers": 12,
        "hiddenSize": 768,
        "attentionHeads": 12,
    },
    "roberta-base": {
        "family": "transformer-encoder",
        "parameters": 125e6,
        "layers": 12,
        "hiddenSize": 768,
        "attentionHeads": 12,
    },
    "roberta-large": {
        "family": "transformer-encoder",
        "parameters": 355e6,
        "layers": 24,
        "hiddenSize": 1024,
        "attentionHeads": 16,
    },
    # CamemBERT-base: RoBERTa-base's shape with a 32 k vocabulary.
    "camembert-base": {
        "family": "transformer-encoder",
        "parameters": 110e6,
        "layers": 12,
        "hiddenSize": 768,
        "attentionHeads": 12,
    },
    "xlm-roberta-base": {
        "family": "transformer-encoder",
        "parameters": 278e6,
        "layers": 12,
        "hiddenSize": 768,
        "attentionHeads": 12,
    },
    # --- vision transformers ---
    "google/vit-base-patch16-224": {
        "family": "vision-transformer",
        "parameters": 86.6e6,
        "layers": 12,
        "hiddenSize": 768,
        "attentionHeads": 12,
        "sequenceLength": 197,
    },
    "huggingface vit-base": {
        "family": "vision-transformer",
        "parameters": 86.6e6,
        "layers": 12,
        "hiddenSize": 768,
        "attentionHeads": 12,
        "sequenceLength": 197,
    },
    # CLIP: a ViT tower (image, 50 or 257 patches) plus a text tower (77 tokens).
    "openai/clip-vit-base-patch32": {
        "family": "vision-transformer",
        "parameters": 151e6,
        "layers": 12,
        "hiddenSize": 768,
        "sequenceLength": 50,
        "gflopsPerInference": 18.5,
    },
    "huggingface clip-base": {
        "family": "vision-transformer",
        "parameters": 151e6,
        "layers": 12,
        "hiddenSize": 768,
        "sequenceLength": 50,
        "gflopsPerInference": 18.5,
    },
    "openai/clip-vit-large-patch14": {
        "family": "vision-transformer",
        "parameters": 428e6,
        "layers": 24,
        "hiddenSize": 1024,
        "sequenceLength": 257,
        "gflopsPerInference": 175.0,
    },
    # --- CNNs (torchvision GMACs × 2) ---
    "resnet18": {"family": "cnn", "parameters": 11.7e6, "gflopsPerInference": 3.64},
    "resnet34": {"family": "cnn", "parameters": 21.8e6, "gflopsPerInference": 7.34},
    "resnet50": {"family": "cnn", "parameters": 25.6e6, "gflopsPerInference": 8.18},
    "resnet-50": {"family": "cnn", "parameters": 25.6e6, "gflopsPerInference": 8.18},
    "resnet101": {"family": "cnn", "parameters": 44.5e6, "gflopsPerInference": 15.6},
    "resnet152": {"family": "cnn", "parameters": 60.2e6, "gflopsPerInference": 23.0},
    "vgg11": {"family": "cnn", "parameters": 132.9e6, "gflopsPerInference": 15.2},
    "vgg16": {"family": "cnn", "parameters": 138.4e6, "gflopsPerInference": 31.0},
    # At the input size each benchmark states (its image size, or its tutorial's):
    # UNet at 224x224 (the table's image size), counted in calibration/architectures.py.
    "unet": {"family": "cnn", "parameters": 31e6, "gflopsPerInference": gflops(unet(), 224, 224)},
    # YOLOv4 at 608x608 (the tutorial's resize): 128.5 BFLOPs, AlexeyAB/darknet's README.
    "yolo v4": {"family": "cnn", "parameters": 64e6, "gflopsPerInference": 128.5},
    # OpenPose at 656x368, the tutorial's net_resolution (its log shows a 46x82x57 output).
    "openpose": {
        "family": "cnn",
        "parameters": 52e6,
        "gflopsPerInference": gflops(openpose(), 368, 656),
    },
    # --- diffusion (all pipeline weights; latent positions = (pixels / 8)²) ---
    "stable diffusion 1.5": {"family": "diffusion", "parameters": 1.07e9},
    "stable diffusion 2 inpainting": {"family": "diffusion", "parameters": 1.29e9},
    "stable diffusion 2.1": {"family": "diffusion", "parameters": 1.29e9},
    "stable diffusion xl base & refiner": {"family": "diffusion", "parameters": 5.8e9},
    "stable diffusion xl base": {"family": "diffusion", "parameters": 3.5e9},
    "pixart alpha": {"family": "diffusion", "parameters": 0.61e9},
    "pixart sigma": {"family": "diffusion", "parameters": 0.61e9},
    # --- decoders ---
    "llama-2-7b": {
        "family": "transformer-decoder",
        "parameters": 6.74e9,
        "layers": 32,
        "hiddenSize": 4096,
        "kvHeads": 32,
    },
    "llama2-7b": {
        "family": "transformer-decoder",
        "parameters": 6.74e9,
        "layers": 32,
        "hiddenSize": 4096,
        "kvHeads": 32,
    },
    "llama-2-13b": {
        "family": "transformer-decoder",
        "parameters": 13.0e9,
        "layers": 40,
        "hiddenSize": 5120,
        "kvHeads": 40,
    },
    "codellama-13b": {
        "family": "transformer-decoder",
        "parameters": 13.0e9,
        "layers": 40,
        "hiddenSize": 5120,
        "kvHeads": 40,
    },
    "llama-2-70b": {
        "family": "transformer-decoder",
        "parameters": 69.0e9,
        "layers": 80,
        "hiddenSize": 8192,
        "kvHeads": 8,
    },
    "llama-3-8b": {
        "family": "transformer-decoder",
        "parameters": 8.03e9,
        "layers": 32,
        "hiddenSize": 4096,
        "kvHeads": 8,
    },
    "llama-3.1-8b": {
        "family": "transformer-decoder",
        "parameters": 8.03e9,
        "layers": 32,
        "hiddenSize": 4096,
        "kvHeads": 8,
    },
    "llama-3-70b": {
        "family": "transformer-decoder",
        "parameters": 70.6e9,
        "layers": 80,
        "hiddenSize": 8192,
        "kvHeads": 8,
    },
    "mistral-7b": {
        "family": "transformer-decoder",
        "parameters": 7.24e9,
        "layers": 32,
        "hiddenSize": 4096,
        "kvHeads": 8,
    },
    # --- encoder-decoders (layers per stack) ---
    "t5-3b": {
        "family": "transformer-encoder-decoder",
        "parameters": 2.85e9,
        "layers": 24,
        "hiddenSize": 1024,
        "attentionHeads": 32,
    },
    "google/flan-t5-xl": {
        "family": "transformer-encoder-decoder",
        "parameters": 2.85e9,
        "layers": 24,
        "hiddenSize": 2048,
        "attentionHeads": 32,
    },
}

# Rows the engine cannot represent, with the reason; reported, never fitted.
UNMODELLED = {
    "perceiver": "Perceiver IO is outside the engine's model families",
    "perveriver": "Perceiver IO (spelt Perveriver in the table) is outside the model families",
    "gpt3": "pipeline-parallel training across nodes is not planned by the engine",
    "gpt2": "one forward pass of a decoder (raw output): the engine plans decoders as generators",
    "opt-": "tensor-parallel rows of the first Inf2 page (2.9) without a degree",
    "llama-3.1-70b": "pipeline-parallel training across nodes is not planned by the engine",
}


# Whole names (not prefixes) the engine cannot represent.
UNMODELLED_NAMES = {
    "stable diffusion xl": "the table does not say whether base or base & refiner ran",
}


def model_key(name: str) -> str | None:
    """The MODELS key a benchmark's model name starts with (the longest), or None."""
    lowered = name.lower()
    for key in sorted(MODELS, key=len, reverse=True):
        if lowered.startswith(key):
            return key
    return None


def lookup(name: str) -> dict[str, Any] | None:
    key = model_key(name)
    return None if key is None else MODELS[key]
