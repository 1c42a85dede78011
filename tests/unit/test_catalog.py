"""The checked-in catalog against the facts it was built from (facts §1.2, §2.1, §2.3)."""

from __future__ import annotations

import pytest

from neuron_operator.sizing.catalog import GENERATIONS, load_catalog

CATALOG = load_catalog()

EXPECTED_SIZES = {
    "inf1": {"inf1.xlarge", "inf1.2xlarge", "inf1.6xlarge", "inf1.24xlarge"},
    "inf2": {"inf2.xlarge", "inf2.8xlarge", "inf2.24xlarge", "inf2.48xlarge"},
    "trn1": {"trn1.2xlarge", "trn1.32xlarge"},
    "trn1n": {"trn1n.32xlarge"},
    "trn2": {"trn2.3xlarge", "trn2.48xlarge"},
}


def test_every_size_of_every_family_is_listed() -> None:
    for family, sizes in EXPECTED_SIZES.items():
        assert {i.name for i in CATALOG.instances if i.family == family} == sizes


@pytest.mark.parametrize("instance", CATALOG.instances, ids=lambda i: i.name)
def test_entries_are_internally_consistent(instance: object) -> None:
    from neuron_operator.sizing.catalog import InstanceType

    assert isinstance(instance, InstanceType)
    assert instance.cores == instance.devices * instance.cores_per_device
    assert instance.allocatable_neuroncore == instance.cores
    assert instance.allocatable_neuron == instance.devices
    assert instance.core_version in GENERATIONS
    assert instance.sources, "every entry carries its sources"
    assert instance.device_groups[0] == 1
    assert max(instance.device_groups) <= instance.devices


@pytest.mark.parametrize(
    ("name", "devices", "cores", "memory_per_core_gib", "price"),
    [
        ("inf1.xlarge", 1, 4, 2.0, 0.228),
        ("inf1.24xlarge", 16, 64, 2.0, 4.721),
        ("inf2.xlarge", 1, 2, 16.0, 0.7582),
        ("inf2.48xlarge", 12, 24, 16.0, 12.98127),
        ("trn1.2xlarge", 1, 2, 16.0, 1.34375),
        ("trn1.32xlarge", 16, 32, 16.0, 21.50),
        ("trn1n.32xlarge", 16, 32, 16.0, 24.78),
        ("trn2.3xlarge", 1, 4, 24.0, None),
        ("trn2.48xlarge", 16, 64, 24.0, None),
    ],
)
def test_published_figures(
    name: str, devices: int, cores: int, memory_per_core_gib: float, price: float | None
) -> None:
    instance = CATALOG.get(name)
    assert instance is not None
    assert (instance.devices, instance.cores) == (devices, cores)
    assert instance.memory_gib_per_core == memory_per_core_gib
    assert instance.price_per_hour == price


def test_torus_topologies_place_only_1_4_8_16_devices() -> None:
    for name in ("trn1.32xlarge", "trn1n.32xlarge", "trn2.48xlarge"):
        instance = CATALOG.get(name)
        assert instance is not None
        assert instance.device_groups == (1, 4, 8, 16)
    ring = CATALOG.get("inf2.48xlarge")
    assert ring is not None
    assert ring.device_groups == tuple(range(1, 13))


def test_catalog_version_is_stamped() -> None:
    assert CATALOG.version.startswith("2026-08-21.")


def test_every_entry_carries_its_sources_and_dates() -> None:
    import json
    from importlib import resources

    raw = json.loads(
        resources.files("neuron_operator.sizing").joinpath("data/catalog.json").read_text()
    )
    for entry in raw["instances"]:
        assert entry["sources"], entry["name"]
        assert set(entry["asOf"]) == {"hardware", "price", "kubernetes"}, entry["name"]
