"""What `plan -o manifests` prints goes through kubectl: Go's YAML reads a hex digest such as
8180704057357e82 as a number unless it is quoted (3 of 1,000 rendered Deployments once)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from tests.kube import Cluster

from neuron_operator.kube_yaml import dump

DIGEST = "8180704057357e82"


def config_map(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "annotations": {"neuron.dev/desired-hash": DIGEST}},
        "data": {"digest": DIGEST},
    }


def test_kubectl_reads_our_yaml_back_as_written(cluster: Cluster) -> None:
    code, output = cluster.attempt(
        "apply", "--dry-run=server", "-n=default", "-o=json", "-f=-", stdin=dump(config_map("a"))
    )
    assert code == 0, output
    applied = json.loads(output)
    assert applied["metadata"]["annotations"]["neuron.dev/desired-hash"] == DIGEST
    assert applied["data"]["digest"] == DIGEST


def test_plain_pyyaml_is_not_enough(cluster: Cluster) -> None:
    # Why the dumper exists: the same object as PyYAML alone writes it is refused.
    code, output = cluster.attempt(
        "apply", "--dry-run=server", "-n=default", "-f=-", stdin=yaml.safe_dump(config_map("b"))
    )
    assert code != 0 and "cannot unmarshal number" in output, output
