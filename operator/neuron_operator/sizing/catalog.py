"""The instance catalog (checked-in data) and the per-generation NeuronCore specs.

`data/catalog.json` is produced by `scripts/build_catalog.py` from the research catalog and
carries each entry's sources; nothing here reads outside the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from functools import cache, cached_property
from importlib import resources
from typing import Any

from neuron_operator.api.v1alpha1 import DType

GIB = 2**30


@dataclass(frozen=True)
class CoreGeneration:
    """Peak figures of one NeuronCore (logical core at the default LNC) of a generation.

    Per-chip figures from the Neuron architecture pages (aws-neuron-sdk 81ce03ae,
    about-neuron/arch/neuron-hardware/{inferentia,inferentia2,trainium,trainium2}.rst),
    divided by the cores software sees per chip.
    """

    name: str  # NeuronCore-v1 / -v2 / -v3
    bf16_tflops: float
    fp32_tflops: float
    fp8_tflops: float | None  # None: the generation has no FP8
    int8_tops: float
    # Inf1's device DRAM is shared by the chip's four cores, so the bandwidth one core gets
    # depends on how many of them are busy; v2/v3 cores each own their HBM share.
    bandwidth_shared_by_chip: bool
    trains: bool

    def peak_flops(self, dtype: DType, *, training: bool = False) -> float:
        """FLOP/s one core reaches on the model's compute type.

        int8 and fp8 on v2/v3 are weight formats that the serving libraries compute in bf16
        (or cFP8 where the hardware has it). fp32 inference is compiled to bf16 by default;
        fp32 training (no autocast) runs at the FP32 rate.
        """
        if training and dtype == DType.FP32:
            return self.fp32_tflops * 1e12
        if dtype == DType.INT8 and self.name == "NeuronCore-v1":
            return self.int8_tops * 1e12
        if dtype == DType.FP8 and self.fp8_tflops is not None:
            return self.fp8_tflops * 1e12
        return self.bf16_tflops * 1e12


GENERATIONS: dict[str, CoreGeneration] = {
    # Inferentia: 64 FP16/BF16 TFLOPS, 128 INT8 TOPS per chip, 4 cores.
    # (No FP32 figure is published for Inf1; its compiler always casts FP32 down.)
    "v1": CoreGeneration("NeuronCore-v1", 16.0, 16.0, None, 32.0, True, trains=False),
    # Inferentia2 / Trainium: 190 FP16/BF16/cFP8, 47.5 FP32 TFLOPS, 380 INT8 TOPS per chip,
    # 2 cores.
    "v2": CoreGeneration("NeuronCore-v2", 95.0, 23.75, 95.0, 190.0, False, trains=True),
    # Trainium2: 667 BF16, 181 FP32, 1,299 FP8 TFLOPS per chip, 4 logical cores at LNC=2.
    "v3": CoreGeneration("NeuronCore-v3", 166.75, 45.25, 324.75, 324.75, False, trains=True),
}


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    chip: str
    core_version: str
    devices: int
    cores_per_device: int
    cores: int
    physical_cores_per_core: int
    memory_gib_per_device: float
    bandwidth_gib_per_device: float
    vcpus: int
    host_memory_gib: float
    price_per_hour: float | None
    max_pods: int | None
    allocatable_neuron: int
    allocatable_neuroncore: int
    accelerator_name: str | None
    tensor_parallel_degrees: tuple[int, ...]
    device_groups: tuple[int, ...]
    sources: tuple[str, ...]
    efa_interfaces: int = 0  # vpc.amazonaws.com/efa a node offers (0: no EFA)
    network_gbps: float | None = None  # baseline network bandwidth
    price_as_of: str | None = None  # the list price's date
    # Where price_per_hour came from, for people (sizing/pricing.py replaces both).
    price_source: str = ""
    # Trainium2's logical NeuronCore config (physical cores per logical core, 1 or 2; None on
    # generations without it). The catalog describes the default, LNC=2; at_lnc(1) the other.
    lnc: int | None = None
    # Share of the generation's per-core peak one core of this configuration has.
    peak_share: float = 1.0

    def __hash__(self) -> int:
        # The engine keys its memos by instance type (sizing/candidate.py): hashed once, not
        # field by field on every lookup. Frozen, so the hash never goes stale.
        found: int | None = self.__dict__.get("_hash")
        if found is None:
            found = hash(tuple(getattr(self, f.name) for f in fields(self)))
            self.__dict__["_hash"] = found
        return found

    @cached_property
    def lnc_variants(self) -> tuple[InstanceType, ...]:
        """This type at each logical NeuronCore config a node may run (the default first);
        made once per type, so the engine's memos see the same objects every search."""
        if self.lnc is None:
            return (self,)
        return tuple(self.at_lnc(lnc) for lnc in (self.lnc, *(n for n in (2, 1) if n != self.lnc)))

    def at_lnc(self, lnc: int) -> InstanceType:
        """The type with nodes set to `lnc` physical cores per logical core: LNC=1 presents
        twice the cores (128 on trn2.48xlarge), each with half the memory, bandwidth and
        FLOP/s, and allows tensor-parallel degrees up to the new core count
        (about-neuron/arch/neuron-features/logical-neuroncore-config.rst)."""
        if self.lnc is None or lnc == self.lnc:
            return self
        if lnc not in (1, 2):
            raise ValueError(f"logical NeuronCore config {lnc}: Trainium2 runs 1 or 2")
        factor = self.lnc / lnc

        def scaled(n: int) -> int:
            return round(n * factor)

        cores = scaled(self.cores)
        degrees = sorted({scaled(d) for d in self.tensor_parallel_degrees if scaled(d)} | {1, 2})
        return replace(
            self,
            cores=cores,
            cores_per_device=scaled(self.cores_per_device),
            physical_cores_per_core=lnc,
            allocatable_neuroncore=scaled(self.allocatable_neuroncore),
            tensor_parallel_degrees=tuple(d for d in degrees if d <= cores),
            lnc=lnc,
            peak_share=self.peak_share / factor,
        )

    @property
    def generation(self) -> CoreGeneration:
        return GENERATIONS[self.core_version]

    @cached_property
    def core_shape(self) -> tuple[str, int, float, float, int]:
        """What one core's speed and memory depend on: sizes of a family share it."""
        return (
            self.core_version,
            self.cores_per_device,
            self.memory_gib_per_device,
            self.bandwidth_gib_per_device,
            self.physical_cores_per_core,
        )

    @property
    def memory_gib_per_core(self) -> float:
        """Device memory one core owns (Inf1: its quarter of the chip's shared 8 GiB)."""
        return self.memory_gib_per_device / self.cores_per_device

    @property
    def bandwidth_gib_per_core(self) -> float:
        return self.bandwidth_gib_per_device / self.cores_per_device

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> InstanceType:
        return cls(
            name=raw["name"],
            family=raw["family"],
            chip=raw["chip"],
            core_version=raw["coreVersion"],
            devices=raw["devices"],
            cores_per_device=raw["coresPerDevice"],
            cores=raw["cores"],
            physical_cores_per_core=raw["physicalCoresPerCore"],
            memory_gib_per_device=float(raw["memoryGiBPerDevice"]),
            bandwidth_gib_per_device=float(raw["memoryBandwidthGiBpsPerDevice"]),
            vcpus=raw["vcpus"],
            host_memory_gib=float(raw["hostMemoryGiB"]),
            price_per_hour=raw["priceUsdPerHour"],
            max_pods=raw["maxPods"],
            allocatable_neuron=raw["allocatableNeuron"],
            allocatable_neuroncore=raw["allocatableNeuronCore"],
            accelerator_name=raw["acceleratorName"],
            tensor_parallel_degrees=tuple(raw["tensorParallelDegrees"]),
            device_groups=tuple(raw["deviceGroups"]),
            sources=tuple(raw["sources"]),
            efa_interfaces=int(raw.get("efaInterfaces") or 0),
            network_gbps=raw.get("networkGbps"),
            price_as_of=(raw.get("asOf") or {}).get("price"),
            price_source=list_price_source(
                raw["priceUsdPerHour"], (raw.get("asOf") or {}).get("price")
            ),
            # Trainium2 describes logical cores at its default LNC (2 physical per logical).
            lnc=raw["physicalCoresPerCore"] if raw["coreVersion"] == "v3" else None,
        )


def list_price_source(price: float | None, as_of: str | None) -> str:
    if price is None:
        return "no public on-demand price"
    return f"catalog list price, on-demand us-east-1, as of {as_of or 'unknown'}"


@dataclass(frozen=True)
class Catalog:
    version: str
    instances: tuple[InstanceType, ...]
    # With your prices (sizing/pricing.py): their fingerprint, and the nodes they are for.
    pricing: str | None = None
    capacity_type: str | None = None

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.family for i in self.instances))

    def get(self, name: str, lnc: int | None = None) -> InstanceType | None:
        """The type by name (at logical NeuronCore config `lnc`, where it has one)."""
        found = next((i for i in self.instances if i.name == name), None)
        return found.at_lnc(lnc) if found is not None and lnc is not None else found


@cache
def load_catalog() -> Catalog:
    text = resources.files("neuron_operator.sizing").joinpath("data/catalog.json").read_text()
    raw = json.loads(text)
    return Catalog(
        version=raw["version"],
        instances=tuple(InstanceType.from_json(entry) for entry in raw["instances"]),
    )
