"""The CRD is generated from the API types, checked in unchanged, and documents every field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from neuron_operator.crdgen import PRINTER_COLUMNS, crd, crd_yaml

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "crds" / "neuron.dev_neurondeployments.yaml"
IN_CHART = ROOT / "charts" / "neuron-operator" / "files" / "neuron.dev_neurondeployments.yaml"


@pytest.mark.parametrize("path", [CHECKED_IN, IN_CHART], ids=["crds", "chart"])
def test_checked_in_crd_is_the_generated_one(path: Path) -> None:
    assert path.read_text() == crd_yaml(), f"{path.relative_to(ROOT)} is stale: run `make crds`"


def test_crd_command_prints_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "neuron_operator", "crd"], capture_output=True, text=True, check=True
    )
    assert yaml.safe_load(done.stdout) == crd()


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for name, child in (schema.get("properties") or {}).items():
        found += walk(child, f"{path}.{name}")
    if "items" in schema:
        found += walk(schema["items"], f"{path}[]")
    return found


SCHEMA = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_every_spec_and_status_field_has_a_description() -> None:
    missing = [
        path
        for path, node in walk(SCHEMA["properties"]["spec"], ".spec")
        + walk(SCHEMA["properties"]["status"], ".status")
        if not path.endswith("[]") and not node.get("description")
    ]
    assert missing == []


def test_schema_is_structural() -> None:
    for path, node in walk(SCHEMA):
        assert "$ref" not in node and "anyOf" not in node and "oneOf" not in node, path
        assert node.get("additionalProperties") is not False, path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path


def test_printer_columns_point_at_real_fields() -> None:
    paths = {p for p, _ in walk(SCHEMA)}
    for column in PRINTER_COLUMNS:
        json_path = column["jsonPath"].split("[?")[0]
        if json_path.startswith(".metadata"):
            continue
        assert json_path in paths, column


def test_names_and_subresources() -> None:
    spec = crd()["spec"]
    assert spec["group"] == "neuron.dev"
    assert spec["names"]["shortNames"] == ["nd", "ndep"]
    assert spec["names"]["categories"] == ["all"]
    version = spec["versions"][0]
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.overrides.replicas"
