"""Build the engine's instance catalog (JSON, stdlib-readable) from the research catalog.

Run by `make catalog`. The product never reads the research notes at run time: this script
copies what the engine needs, with each entry's sources and the date of its data, into
operator/neuron_operator/sizing/data/catalog.json, which is checked in.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

FAMILIES = ("inf1", "inf2", "trn1", "trn1n", "trn2")
# Dates of the sources the research catalog cites (see its `sources` block).
DATA_AS_OF = {
    "hardware": "2026-08-21 (aws-neuron-sdk docs snapshot 81ce03ae)",
    "prices": "2026-07-20 (Karpenter generated us-east-1 on-demand pricing)",
    "kubernetes": "2026-08-21 (karpenter-provider-aws 1d927085 instance-types reference)",
}
# Device counts the Neuron scheduler (or DRA driver) can place for one container; see
# facts §2.3: ring topologies take any contiguous count, Trn torus topologies only 1/4/8/16.
TORUS_DEVICE_GROUPS = [1, 4, 8, 16]


def bandwidth_gib_per_s(text: str) -> float:
    """Parse '50 GiB/s' or '2.9 TB/s (…)' into GiB/s per device."""
    match = re.match(r"\s*([\d.]+)\s*(GiB|TB|GB)/s", text)
    if not match:
        raise ValueError(f"unparseable bandwidth {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    if unit == "GiB":
        return value
    scale = 1e12 if unit == "TB" else 1e9
    return round(value * scale / 2**30, 1)


def device_groups(entry: dict[str, Any]) -> list[int]:
    devices = int(entry["devices"])
    if devices == 1:
        return [1]
    if entry["family"] in ("trn1", "trn1n", "trn2"):
        return [g for g in TORUS_DEVICE_GROUPS if g <= devices]
    return list(range(1, devices + 1))


def convert(entry: dict[str, Any]) -> dict[str, Any]:
    cores = int(entry["cores"])
    devices = int(entry["devices"])
    return {
        "name": entry["name"],
        "family": entry["family"],
        "chip": entry["chip"],
        "coreVersion": entry["core_version"],
        "devices": devices,
        "coresPerDevice": cores // devices,
        "cores": cores,
        "physicalCoresPerCore": (entry["cores_physical"] or cores) // cores,
        "memoryGiBPerDevice": entry["accel_mem_gib_per_device"],
        "memoryBandwidthGiBpsPerDevice": bandwidth_gib_per_s(entry["accel_mem_bw_per_device"]),
        "vcpus": entry["vcpus"],
        # EFA interfaces (vpc.amazonaws.com/efa) and baseline network bandwidth, as Karpenter
        # lists them: what gradients and activations cross nodes over.
        "efaInterfaces": entry["efa_interfaces"] or 0,
        "networkGbps": entry["network_baseline_gbps_karpenter"],
        "hostMemoryGiB": entry["host_mem_gib"],
        "priceUsdPerHour": entry["price_usd_per_hour_us_east_1"],
        "maxPods": entry["max_pods_eks_default"],
        "allocatableNeuron": entry["k8s_allocatable_neuron"] or devices,
        "allocatableNeuronCore": entry["k8s_allocatable_neuroncore"] or cores,
        "acceleratorName": (entry["karpenter_instance_accelerator_name"] or "").split(" ")[0]
        or None,
        "tensorParallelDegrees": entry["tp_degrees_nxdi"] or [],
        "deviceGroups": device_groups(entry),
        "notes": entry.get("notes") or [],
        "sources": entry["source"],
        "asOf": {
            "hardware": DATA_AS_OF["hardware"][:10],
            "price": DATA_AS_OF["prices"][:10],
            "kubernetes": DATA_AS_OF["kubernetes"][:10],
        },
    }


def main(src: str, dest: str) -> None:
    raw = yaml.safe_load(Path(src).read_text())
    instances = [convert(e) for e in raw["instances"] if e["family"] in FAMILIES]
    body = json.dumps(instances, sort_keys=True).encode()
    catalog = {
        "version": "2026-08-21." + hashlib.sha256(body).hexdigest()[:8],
        "provenance": {
            "builtFrom": "shared/neuron/catalog.yaml (research notes), by scripts/build_catalog.py",
            "dataAsOf": DATA_AS_OF,
            "prices": "us-east-1 on-demand USD/hour; null where no public price was found",
            "excluded": "Trn3 servers (no EC2 instance-type name is documented) and trn2u.48xlarge"
            " (sold only as part of a Trn2 UltraServer)",
        },
        "instances": instances,
    }
    Path(dest).write_text(json.dumps(catalog, indent=1) + "\n")
    print(f"wrote {len(instances)} instance types to {dest} (version {catalog['version']})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
