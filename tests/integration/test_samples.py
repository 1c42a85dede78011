"""crds/samples/: the minimal and full samples are accepted by the API server; each invalid
sample is refused naming its field, and together they break every rule the CRD declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.kube import Cluster

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "crds" / "samples"
VALID = [SAMPLES / "minimal.yaml", SAMPLES / "full.yaml"]
INVALID = sorted(SAMPLES.glob("invalid-*.yaml"))
# The field each invalid sample gets wrong, as the API server names it.
FIELD = {
    "invalid-parameters.yaml": "spec.model.parameters",
    "invalid-kv-heads.yaml": "spec.model",
    "invalid-output-tokens.yaml": "spec.model",
    "invalid-trainium-cores.yaml": "spec.overrides",
    "invalid-batch-size.yaml": "spec",
    "invalid-family.yaml": "spec.model.family",
}


def dry_run(cluster: Cluster, path: Path) -> tuple[int, str]:
    return cluster.attempt("apply", "--dry-run=server", "--namespace=default", "-f", str(path))


def crd_rules() -> list[str]:
    """The message of every CEL rule in the CRD."""
    crd = yaml.safe_load((ROOT / "crds" / "neuron.dev_neurondeployments.yaml").read_text())
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for rule in node.get("x-kubernetes-validations") or []:
                found.append(" ".join(str(rule["message"]).split()))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"])
    return found


def test_every_invalid_sample_says_which_field() -> None:
    assert {p.name for p in INVALID} == set(FIELD)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_samples_are_accepted(cluster: Cluster, crd_installed: None, path: Path) -> None:
    code, output = dry_run(cluster, path)
    assert code == 0, output
    assert "(server dry run)" in output


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_samples_are_refused_naming_the_field(
    cluster: Cluster, crd_installed: None, path: Path
) -> None:
    code, output = dry_run(cluster, path)
    assert code != 0, output
    assert "is invalid" in output
    assert FIELD[path.name] in output, output


def test_the_invalid_samples_break_every_rule_of_the_crd(
    cluster: Cluster, crd_installed: None
) -> None:
    refusals = " ".join(" ".join(dry_run(cluster, path)[1].split()) for path in INVALID)
    rules = crd_rules()
    assert rules
    unbroken = [rule for rule in rules if rule not in refusals]
    assert not unbroken, f"no sample in crds/samples/ breaks: {unbroken}"
