"""The published Neuron benchmark rows as calibration cases, and the model's predictions of them.

Each CSV row becomes a Case: the model (from calibration/models.py), the instance, the core
grouping and batch the benchmark ran, and the figures it published (median latency, throughput,
TTFT, TPOT). `predict` runs the engine's own performance model on the same setup.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration.models import MODELS, UNMODELLED, UNMODELLED_NAMES, model_key
from neuron_operator.api.plan import ParallelismMode
from neuron_operator.api.v1alpha1 import ModelFamily, ModelSpec, Workload
from neuron_operator.sizing.catalog import InstanceType, load_catalog
from neuron_operator.sizing.grouping import Grouping
from neuron_operator.sizing.performance import (
    DataParallel,
    GenerationConstants,
    Performance,
    estimate,
)
from neuron_operator.sizing.profile import ModelProfile, build_profile

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Case:
    source: str  # file:row
    model: str
    architecture: str  # the calibration/models.py entry: one model, however a table spells it
    family: str
    generation: str
    instance: InstanceType
    profile: ModelProfile
    grouping: Grouping
    batch: int
    busy_cores_per_chip: int
    observed: dict[str, float]  # metric -> published value
    requests_in_flight: int = 1  # per model copy, as the benchmark ran it
    layout: DataParallel | None = None  # training: where the data-parallel ranks ran
    excluded: str | None = None  # why the row is reported but not fitted
    notes: list[str] = field(default_factory=list)

    @property
    def group(self) -> str:
        training = "/training" if self.profile.workload.value == "training" else ""
        return f"{self.family}/{self.generation}{training}"


# Table spellings of one architecture (the same weights under another name).
_ARCHITECTURE_ALIASES = {
    "bert base": "bert-base",
    "huggingface bert-large": "bert-large",
    "resnet-50": "resnet50",
    "huggingface vit-base": "google/vit-base-patch16-224",
    "huggingface clip-base": "openai/clip-vit-base-patch32",
    "llama2-7b": "llama-2-7b",
    "llama-3.1-8b": "llama-3-8b",
    "codellama-13b": "llama-2-13b",
    "google/flan-t5-xl": "t5-3b",
}


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    return float(value) if value else None


def _instance(name: str) -> InstanceType:
    found = load_catalog().get(name.strip().lower().split("/")[0])
    if found is None:
        raise KeyError(name)
    return found


# calibration/data/extra/ holds measurements from other pages and releases in one normalised
# form (its PROVENANCE.md); they are mapped onto the Neuron tables' columns and read alike.
EXTRA = "extra"
_MODES = {"data-parallel": "Data Parallel", "pipeline": "Model Pipeline"}


def _stated(pattern: str, row: dict[str, str]) -> str:
    found = re.search(pattern, row["note"])
    return found.group(1) if found else ""


def _from_normalised(row: dict[str, str]) -> dict[str, str] | None:
    """A row of calibration/data/extra/ in the Neuron tables' columns; None for what the
    engine cannot compare with (tensor-parallel generation from serving benchmarks, figures
    a source gives only approximately, tokens/s)."""
    if row["mode"] not in _MODES or row["throughput_unit"] not in ("inferences/s", ""):
        return None
    if row["note"].startswith("APPROXIMATE"):
        return None
    details = re.search(r"model details=([^;]*)", row["note"])
    model = row["model"]
    if details and "distilbert" in details.group(1).lower() and "distil" not in model.lower():
        model = "distilbert"  # the table's "BERT base" rows that its details say are DistilBERT
    # "Num Cores" as the tables use it: the pipeline's length, or the cores a run used.
    cores = row["cores_per_copy"] if row["mode"] == "pipeline" else ""
    cores = cores or _stated(r"num_cores=(\d+)", row)
    return {
        "Model": model,
        "Inst. Type": row["instance"],
        "Batch Size": row["batch"],
        "Sequence Length": row["sequence_length"],
        "Throughput (inference/second)": row["throughput"],
        "Latency P50 (ms)": row["latency_p50_ms"],
        "Latency P99 (ms)": row["latency_p99_ms"],
        "N Models": row["copies"],
        "Run Mode": _MODES[row["mode"]],
        "Num Cores": cores,
        "Model Data Type": row["dtype"],
        "Image Size": _stated(r"image size=([0-9x]+)", row),
        "Autocast": "none" if "autocast None" in row["dtype"] else "",
        "Workers per Model": _stated(r"(?:workers_per_model|NEURON_MAX_NUM_INFERS)=(\d+)", row),
    }


def _rows() -> Iterator[tuple[str, dict[str, str]]]:
    for path in sorted(DATA.glob("*/*.csv")):
        normalised = path.parent.name == EXTRA
        with path.open(newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                clean = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                mapped = _from_normalised(clean) if normalised else clean
                if mapped is not None:
                    yield f"{path.parent.name}/{path.name}:{number}", mapped


def _dtype(row: dict[str, str]) -> str:
    weights = row.get("Weight Storage Data Type", "").lower()
    if weights == "int8":
        return "int8"
    training = row.get("Training Data-Type", "")
    if training == "FP32":
        return "fp32"
    details = (row.get("Model details", "") + row.get("Model Data Type", "")).lower()
    if "fp16" in details and "fp32" not in details:
        return "fp16"
    return "fp32" if training == "" else "bf16"


def _latent_positions(image_size: str) -> int:
    sizes = [int(x) for x in re.findall(r"\d+", image_size)][-2:]
    return (sizes[0] // 8) * (sizes[1] // 8)


def _case(source: str, row: dict[str, str]) -> Case | None:
    model = row.get("Model") or row.get("Name") or ""
    if "distilbert" in row.get("Model details", "").lower() and "distil" not in model.lower():
        model = "distilbert"  # the Inf1 tables' "BERT base" rows that are DistilBERT
    lowered = model.lower()
    unmodelled = UNMODELLED_NAMES.get(lowered) or next(
        (why for key, why in UNMODELLED.items() if key in lowered), None
    )
    topology = row.get("Topology", "")
    if "PP=" in topology and "PP=1" not in topology:
        unmodelled = "pipeline-parallel training across nodes is not planned by the engine"
    if unmodelled:
        return None
    key = model_key(model)
    if key is None:
        raise KeyError(f"{source}: no architecture facts for {model!r}")
    meta = dict(MODELS[key])
    training = "Training Data-Type" in row
    instance = _instance(row.get("Inst. Type") or row.get("Instance-Type") or "")
    batch = int(_float(row.get("Batch Size") or row.get("Microbatch")) or 1)
    family = ModelFamily(meta["family"])

    spec: dict[str, Any] = {k: v for k, v in meta.items() if k != "family"}
    spec["family"] = family.value
    spec["parameters"] = int(spec["parameters"])
    spec["dtype"] = _dtype(row)
    sequence = _float(row.get("Sequence Length") or row.get("Seq. Length"))
    if family == ModelFamily.DIFFUSION and row.get("Image Size"):
        spec["sequenceLength"] = _latent_positions(row["Image Size"])
    elif sequence:
        spec["sequenceLength"] = int(sequence)
    elif "ph2" in lowered:
        spec["sequenceLength"] = 512  # BERT pre-training phase 2 runs 512-token sequences
    elif family == ModelFamily.TRANSFORMER_ENCODER:
        spec["sequenceLength"] = 128  # rows without the column are the 128-token runs
    elif training and "llama2" in lowered:
        spec["sequenceLength"] = 4096
    out = _float(row.get("Output Length"))
    if out and not training:
        spec["outputTokens"] = int(out)
        if family == ModelFamily.TRANSFORMER_ENCODER_DECODER:
            spec["sequenceLength"] = int(_float(row.get("Input Length")) or 128)
    profile = build_profile(
        ModelSpec.model_validate(spec), Workload.TRAINING if training else Workload.INFERENCE
    )

    observed: dict[str, float] = {}
    notes: list[str] = []
    in_flight_per_copy = 1
    node_cores = instance.allocatable_neuroncore
    tp = int(_float(row.get("TP Degree")) or 0)
    run_mode = row.get("Run Mode", "")
    layout = None
    if training:
        nodes = int(_float(row.get("Nodes")) or 1)
        tp_match = re.search(r"TP=(\d+)", topology)
        tp = int(tp_match.group(1)) if tp_match else 1
        mode = ParallelismMode.TENSOR if tp > 1 else ParallelismMode.DATA
        grouping = Grouping(mode, tp, node_cores // tp)
        # Gradients are summed once per optimizer step: global batch / (micro-batch x ranks)
        # micro-batches apart.
        ranks = grouping.copies * nodes
        global_batch = _float(row.get("Globalbatch")) or batch * ranks
        layout = DataParallel(nodes, grouping.copies, max(1, round(global_batch / (batch * ranks))))
        per_second = _float(row.get("Performance [seq/sec]"))
        if per_second:
            observed["throughput"] = per_second / nodes
        busy = instance.cores_per_device
    elif tp:
        grouping = Grouping(ParallelismMode.TENSOR, tp, 1)
        busy = instance.cores_per_device
        if family == ModelFamily.TRANSFORMER_DECODER:
            for metric, column in (
                ("ttft_ms", "TTFT Latency P50 (ms)"),
                ("tpot_ms", "TPOT Latency P50 (ms)"),
            ):
                value = _float(row.get(column))
                if value:
                    observed[metric] = value
        else:
            per_token = _float(row.get("Latency per Token P50 (ms)"))
            tokens = (_float(row.get("Input Length")) or 0) + (out or 0)
            if per_token:
                observed["latency_ms"] = per_token * tokens
    elif run_mode == "Model Pipeline":
        cores = int(_float(row.get("Num Cores") or row.get("Num. Cores")) or node_cores)
        grouping = Grouping(ParallelismMode.PIPELINE, cores, 1)
        busy = instance.cores_per_device
        observed["latency_ms"] = _float(row.get("Latency P50 (ms)")) or math.nan
        observed["throughput"] = _float(row.get("Avg Throughput (/sec)")) or math.nan
    else:
        throughput = _float(
            row.get("Throughput (inference/second)")
            or row.get("Throughput (inference/sec)")
            or row.get("Avg Throughput (/sec)")
        )
        latency = _float(row.get("Latency P50 (ms)"))
        # Little's law: batches in flight = throughput x latency / batch. It tells how many
        # model copies ran (the CSVs rarely say) and whether the latency includes queueing.
        in_flight = throughput * latency / 1e3 / batch if throughput and latency else None
        copies = int(_float(row.get("N Models")) or 0)
        cores_used = int(_float(row.get("Num Cores") or row.get("Num. Cores")) or 0)
        if (
            not copies
            and in_flight is not None
            and in_flight <= 1.3
            and cores_used > 1
            and batch % cores_used == 0
        ):
            # One batch in flight over several cores: the framework split each batch across
            # them (its data-parallel wrapper), so each core ran a slice of it.
            copies, batch = cores_used, batch // cores_used
            notes.append(f"one batch split over {cores_used} cores: {batch} per core")
        if not copies:
            copies = node_cores if in_flight is None else round(in_flight)
        copies = max(1, min(node_cores, copies))
        # Requests in flight per copy: as the table states it (workers per model), else from
        # Little's law, else one.
        stated = int(_float(row.get("Workers per Model")) or 0)
        if stated:
            in_flight_per_copy = stated
        elif in_flight is not None:
            in_flight_per_copy = max(1, round(in_flight / copies))
        if family == ModelFamily.DIFFUSION:
            # A diffusion pipeline takes the whole device (both cores): one copy per instance.
            grouping = Grouping(ParallelismMode.TENSOR, instance.cores_per_device, 1)
        else:
            grouping = Grouping(ParallelismMode.DATA, 1, copies)
        busy = min(instance.cores_per_device, grouping.cores)
        if in_flight is not None and in_flight < 0.5:
            # A row whose throughput is under half a batch per latency measured an idle
            # instance (one published Inf2 row: 41 inferences/s at 1 ms): not its throughput.
            notes.append("throughput contradicts the latency (Little's law): latency only")
        elif throughput:
            observed["throughput"] = throughput
        if latency and (in_flight is None or in_flight <= 1.3 * grouping.copies):
            observed["latency_ms"] = latency
        else:
            notes.append("latency includes queueing behind other requests: throughput only")
    excluded = None
    if row.get("Autocast") == "none":
        excluded = "compiled without auto-cast (fp32 matmuls), which the engine never plans"
    if lowered.startswith("xlm-roberta"):
        excluded = (
            "40x slower than roberta-base, which has the same depth and width, on the same "
            "hardware: not representative of the NeuronCore"
        )
    return Case(
        source=source,
        model=model,
        architecture=_ARCHITECTURE_ALIASES.get(key, key),
        family=family.value,
        generation=instance.core_version,
        instance=instance,
        profile=profile,
        grouping=grouping,
        batch=batch,
        busy_cores_per_chip=busy,
        requests_in_flight=in_flight_per_copy,
        layout=layout,
        observed={k: v for k, v in observed.items() if not math.isnan(v)},
        excluded=excluded,
        notes=notes,
    )


def load_cases() -> list[Case]:
    cases = []
    for source, row in _rows():
        case = _case(source, row)
        if case is not None and case.observed:
            cases.append(case)
    return cases


def predict_all(
    case: Case,
    constants: GenerationConstants | None = None,
    costs: dict[ModelFamily, float] | None = None,
) -> dict[str, float]:
    """Every figure the engine predicts for the case's configuration."""
    performance: Performance = estimate(
        case.profile,
        case.instance,
        case.grouping,
        case.batch,
        case.busy_cores_per_chip,
        constants,
        costs,
        case.requests_in_flight,
        case.layout,
    )
    values = {
        "latency_ms": performance.latency_p50_ms,
        "throughput": performance.throughput_per_replica,
        "ttft_ms": performance.ttft_ms,
        "tpot_ms": performance.tpot_ms,
    }
    return {k: v for k, v in values.items() if v is not None}


def predict(
    case: Case,
    constants: GenerationConstants | None = None,
    costs: dict[ModelFamily, float] | None = None,
) -> dict[str, float]:
    """The engine's prediction of each figure the case publishes."""
    predicted = predict_all(case, constants, costs)
    return {k: v for k, v in predicted.items() if k in case.observed}


def log_errors(case: Case, predicted: dict[str, float]) -> dict[str, float]:
    """Signed log error per metric: ln(predicted / published)."""
    return {k: math.log(predicted[k] / case.observed[k]) for k in predicted}


def p95_ratio(generation_dirs: list[str]) -> float:
    """p95/p50 from published p50 and p99, interpolated with a normal tail:
    p95 - p50 = (1.645 / 2.326) (p99 - p50)."""
    ratios = []
    for directory in generation_dirs:
        for path in (DATA / directory).glob("*.csv"):
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    for key, value in row.items():
                        if key and "P50" in key and value:
                            p99 = row.get(key.replace("P50", "P99"))
                            if p99 and float(value) > 0:
                                ratios.append(float(p99) / float(value))
    tail = statistics.median(ratios)
    return round(1 + (1.645 / 2.326) * (tail - 1), 3)
